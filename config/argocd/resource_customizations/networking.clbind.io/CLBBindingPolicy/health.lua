-- Argo CD health of a CLBBindingPolicy (networking.clbind.io/v1alpha1).
--
-- A policy has no status: the manager only reads it, at admission and before every cloud write.
-- It is Healthy once it exists; a binding it does not allow shows up on the binding (Ready=False,
-- reason Forbidden, Degraded). Uses only the base library.
local hs = { status = "Healthy", message = "" }
if obj.spec ~= nil and obj.spec.exclusive ~= nil then
  hs.message = "exclusive: " .. obj.spec.exclusive
end
return hs
