-- Argo CD health of a CLBBackendBinding (networking.clbind.io/v1alpha1).
--
-- The controller writes status.observedGeneration and a Ready condition on every reconcile, in
-- the shape kstatus reads (test/argocd checks both agree). Ready=True is Healthy. Ready=False is
-- Progressing while the controller converges (reason Progressing, Deleting, ...) and Degraded for
-- reasons that stay until someone changes the spec or the cloud side.
-- Uses only the base library, so it runs with Argo CD's standard libraries off.
local degradedReasons = {
  LoadBalancerNotFound = true,
  LoadBalancerInAnotherVPC = true,
  BackendNotRoutable = true,
  QuotaExceeded = true,
  ListenerNotFound = true,
  RuleNotFound = true,
  ServiceNotFound = true,
  Conflict = true,
  InvalidSpec = true,
  CloudError = true,
  Forbidden = true,
  OwnershipConflict = true,
}

local hs = { status = "Progressing", message = "Waiting for the controller to report status" }
if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the controller to observe generation " .. generation .. " (status is from " .. observed .. ")"
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
if ready == nil then
  hs.message = "Waiting for the Ready condition"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.message = "Waiting for the Ready condition of generation " .. generation
  return hs
end

hs.message = ready.message or ""
if ready.reason ~= nil and ready.reason ~= "" then
  if hs.message == "" then
    hs.message = ready.reason
  else
    hs.message = ready.reason .. ": " .. hs.message
  end
end
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and degradedReasons[ready.reason] then
  hs.status = "Degraded"
end
return hs
