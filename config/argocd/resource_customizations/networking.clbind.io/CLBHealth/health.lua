-- Argo CD health of a CLBHealth (networking.clbind.io/v1alpha1), the CLB's health-check view of
-- one binding's backends.
--
-- Ready=True (AllHealthy) is Healthy. Backends the CLB has not judged yet (HealthCheckPending) or
-- a binding with no backends yet (NoTargets) are Progressing; backends failing the CLB health
-- check (Unhealthy), a missing binding (BindingMissing) or a spec.healthCheck the listener
-- refuses (HealthCheckApplied=False, InvalidHealthCheck) are Degraded. Like the binding's check,
-- it waits for status.observedGeneration, and it uses only the base library.
local degradedReasons = {
  Unhealthy = true,
  BindingMissing = true,
}

local hs = { status = "Progressing", message = "Waiting for the controller to report status" }
if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the controller to apply generation " .. generation .. " (status is from " .. observed .. ")"
  return hs
end

local ready = nil
local applied = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "HealthCheckApplied" then
      applied = c
    end
  end
end
-- spec.healthCheck refused (the listener's protocol does not take it): nothing changes until the
-- spec does, whatever the backends' health.
if applied ~= nil and applied.status == "False" and applied.reason == "InvalidHealthCheck" then
  hs.status = "Degraded"
  hs.message = "InvalidHealthCheck: " .. (applied.message or "")
  return hs
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
