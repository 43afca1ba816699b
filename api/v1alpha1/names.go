/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

const (
	// ReadinessGatePrefix starts every pod readiness gate condition type this controller owns;
	// the binding name follows it.
	ReadinessGatePrefix = "health.clbind.io/"

	// InjectReadinessGateLabel opts a namespace into readiness gate injection when set to
	// InjectReadinessGateEnabled.
	InjectReadinessGateLabel = "clbind.io/readiness-gate-inject"
	// InjectReadinessGateEnabled is the value of InjectReadinessGateLabel that turns injection on.
	InjectReadinessGateEnabled = "enabled"

	// DeregisterTargetsFinalizer holds a binding until its backends are off the CLB.
	DeregisterTargetsFinalizer = "clbind.io/deregister-targets"

	// SkipCloudCleanupAnnotation, set to "true" on a binding being deleted, lets the deletion
	// finish without deregistering its backends: the way out when the load balancer is gone, the
	// credentials are revoked or the cloud keeps refusing. The controller records which backends
	// it left on which listener in a Warning Event.
	SkipCloudCleanupAnnotation = "clbind.io/skip-cloud-cleanup"

	// PodWeightAnnotation on a pod sets the weight of the pod's backends, a whole number from 0
	// to 100, in place of the binding's spec.weight. A value that is not one is ignored: the
	// binding's weight is used and a Warning Event with reason InvalidWeight is recorded on the
	// pod. A terminating pod's backends still drain at weight 0, and spec.notReadyBackends
	// KeepAtWeightZero still holds a not-ready pod at 0. Pod targets only: Node targets register
	// CVMs, not pods, and ignore it.
	PodWeightAnnotation = "clbind.io/weight"
)

// ReadinessGateConditionType is the pod condition type of the readiness gate for a binding.
func ReadinessGateConditionType(bindingName string) string {
	return ReadinessGatePrefix + bindingName
}

// Condition types and reasons of CLBBackendBinding.
const (
	// BindingReadyCondition is True when the CLB backends match the Service's endpoints.
	BindingReadyCondition = "Ready"

	// BindingSyncedReason: the backends match the desired set.
	BindingSyncedReason = "Synced"
	// BindingSwitchingReason: the Service switched pods; the old backends keep serving until the
	// new ones are healthy on the CLB (make before break). The message says what it waits for.
	BindingSwitchingReason = "Switching"
	// BindingDriftedReason: the CLB no longer holds what the binding wants although the binding did
	// not change: someone changed it outside the controller, and writing the repair failed. The
	// message says what was found and why the repair failed; it is retried with backoff.
	BindingDriftedReason = "Drifted"
	// BindingProgressingReason: changes are queued or being written to the CLB.
	BindingProgressingReason = "Progressing"
	// BindingLoadBalancerNotFoundReason: the load balancer does not exist in this region.
	BindingLoadBalancerNotFoundReason = "LoadBalancerNotFound"
	// BindingLoadBalancerInAnotherVPCReason: the load balancer is not in the controller's VPC (--vpc-id).
	BindingLoadBalancerInAnotherVPCReason = "LoadBalancerInAnotherVPC"
	// BindingListenerNotFoundReason: the listener does not exist on the load balancer.
	BindingListenerNotFoundReason = "ListenerNotFound"
	// BindingRuleNotFoundReason: the rule does not exist on the listener.
	BindingRuleNotFoundReason = "RuleNotFound"
	// BindingServiceNotFoundReason: the referenced Service or its port does not exist.
	BindingServiceNotFoundReason = "ServiceNotFound"
	// BindingConflictReason: another binding in the cluster already owns the listener or rule.
	BindingConflictReason = "Conflict"
	// BindingInvalidSpecReason: the spec cannot work with what exists (for example a rule on an
	// L4 listener given by ID).
	BindingInvalidSpecReason = "InvalidSpec"
	// BindingBackendNotRoutableReason: some backends are not addresses the load balancer can
	// reach (pod IPs outside its VPC without a cross-VPC binding); the others are registered.
	BindingBackendNotRoutableReason = "BackendNotRoutable"
	// BindingQuotaExceededReason: the listener or rule holds as many backends as the CLB's quota
	// (TOTAL_TARGET_BIND_QUOTA) allows; backends past it are not registered.
	BindingQuotaExceededReason = "QuotaExceeded"
	// BindingForbiddenReason: no CLBBindingPolicy allows the binding's namespace to bind this load
	// balancer or listener (or exclusively, or shared with another namespace). Nothing is written
	// to the CLB for it; what it registered before stays until it is deleted or allowed again.
	BindingForbiddenReason = "Forbidden"
	// BindingOwnershipConflictReason: backends carrying this binding's tag appeared on the CLB
	// that this controller did not write, so another manager uses the same --cluster-id. They are
	// left alone instead of being fought over.
	BindingOwnershipConflictReason = "OwnershipConflict"
	// BindingCloudErrorReason: the CLB API keeps failing; the message has the last error.
	BindingCloudErrorReason = "CloudError"
	// BindingDeletingReason: the binding is deleting its backends from the CLB.
	BindingDeletingReason = "Deleting"
)

// Condition types and reasons of CLBHealth.
const (
	// HealthReadyCondition is True when every registered backend passes the CLB health check.
	HealthReadyCondition = "Ready"

	// HealthAllHealthyReason: every registered backend is healthy.
	HealthAllHealthyReason = "AllHealthy"
	// HealthUnhealthyReason: some backends fail the CLB health check.
	HealthUnhealthyReason = "Unhealthy"
	// HealthPendingReason: some backends have not been judged by the CLB yet.
	HealthPendingReason = "HealthCheckPending"
	// HealthNoTargetsReason: the binding has no backends registered.
	HealthNoTargetsReason = "NoTargets"
	// HealthBindingMissingReason: the owning binding does not exist.
	HealthBindingMissingReason = "BindingMissing"
)

// Reasons of the pod readiness gate condition health.clbind.io/<binding>.
const (
	// GateHealthyReason: the pod is registered and the CLB reports it healthy.
	GateHealthyReason = "Healthy"
	// GateRegistrationPendingReason: the pod is not registered on the CLB yet.
	GateRegistrationPendingReason = "RegistrationPending"
	// GateHealthCheckPendingReason: the pod is registered; the CLB has not judged it yet.
	GateHealthCheckPendingReason = "HealthCheckPending"
	// GateUnhealthyReason: the CLB reports the pod unhealthy.
	GateUnhealthyReason = "Unhealthy"
	// GateBindingMissingReason: no binding of that name exists yet; the gate waits a short grace
	// for it (pods and their binding are often applied together), then is released.
	GateBindingMissingReason = "BindingMissing"
	// GateBindingDeletedReason: the binding was deleted; the gate is released so pods are not stuck.
	GateBindingDeletedReason = "BindingDeleted"
	// GateHealthCheckTimeoutReason: the CLB never reported the pod healthy within
	// CLBHealth spec.timeoutSeconds, and the gate failed open.
	GateHealthCheckTimeoutReason = "HealthCheckTimeout"
)

// The TrafficShare condition of a CLBBackendBinding with spec.trafficShare: whether the bindings
// sharing its listener or rule get the shares of new connections they ask for.
const (
	// TrafficShareCondition is True when the binding's share is reached within 1 percentage point.
	TrafficShareCondition = "TrafficShare"
	// TrafficShareReachedReason: the weights give the binding its share within 1 percentage point.
	TrafficShareReachedReason = "Reached"
	// TrafficShareUnreachableReason: the weight range (1 to 100 a backend) cannot give the share
	// with the pods there are; the message says the closest share and what to change.
	TrafficShareUnreachableReason = "Unreachable"
	// TrafficShareDoNotAddUpReason: the shares of the bindings on the listener or rule do not add
	// up to 100; the weights on the CLB are kept until they do.
	TrafficShareDoNotAddUpReason = "SharesDoNotAddUp"
	// TrafficShareNotSharedReason: no other binding shares the listener or rule.
	TrafficShareNotSharedReason = "NotShared"
)
