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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ReadinessPolicy says how a pod's readiness gate follows the CLB health check.
// +kubebuilder:validation:Enum=OnceHealthy;FollowHealth
type ReadinessPolicy string

const (
	// ReadinessPolicyOnceHealthy sets the gate True the first time the CLB reports the pod healthy
	// and leaves it True, as the AWS and GKE controllers do: a later CLB health failure does not
	// take the pod out of its Service.
	ReadinessPolicyOnceHealthy ReadinessPolicy = "OnceHealthy"
	// ReadinessPolicyFollowHealth keeps the gate equal to the CLB's current view of the pod.
	ReadinessPolicyFollowHealth ReadinessPolicy = "FollowHealth"
)

// HealthCheckType is the kind of probe CLB sends to backends. Which types a listener takes
// depends on its protocol: UDP PING or CUSTOM; TCP TCP, HTTP or CUSTOM; TCP_SSL and QUIC TCP or
// HTTP; the rules of HTTP listeners HTTP or GRPC, those of HTTPS listeners HTTPS too.
// +kubebuilder:validation:Enum=TCP;HTTP;HTTPS;GRPC;PING;CUSTOM
type HealthCheckType string

// Health-check types.
const (
	HealthCheckTCP    HealthCheckType = "TCP"
	HealthCheckHTTP   HealthCheckType = "HTTP"
	HealthCheckHTTPS  HealthCheckType = "HTTPS"
	HealthCheckGRPC   HealthCheckType = "GRPC"
	HealthCheckPING   HealthCheckType = "PING"
	HealthCheckCUSTOM HealthCheckType = "CUSTOM"
)

// HTTPVersion is the HTTP version an HTTP check of a TCP listener speaks.
// +kubebuilder:validation:Enum="HTTP/1.0";"HTTP/1.1"
type HTTPVersion string

// CustomContextType says how the payloads of a CUSTOM check are written.
// +kubebuilder:validation:Enum=HEX;TEXT
type CustomContextType string

// Payload encodings of a CUSTOM check.
const (
	// CustomContextHex: the payloads are bytes in hexadecimal, two characters 0-9A-F a byte.
	CustomContextHex CustomContextType = "HEX"
	// CustomContextText: the payloads are ASCII text.
	CustomContextText CustomContextType = "TEXT"
)

// CustomHealthCheck is the request a CUSTOM check sends to a backend of a TCP or UDP listener,
// and what the answer must hold for the backend to count as healthy.
// +kubebuilder:validation:XValidation:rule="self.contextType != 'HEX' || self.send.matches('^([0-9A-F]{2})+$')",message="custom.send must be an even number of the characters 0-9 and A-F while custom.contextType is HEX",fieldPath=".send"
// +kubebuilder:validation:XValidation:rule="self.contextType != 'HEX' || self.receive.matches('^([0-9A-F]{2})+$')",message="custom.receive must be an even number of the characters 0-9 and A-F while custom.contextType is HEX",fieldPath=".receive"
type CustomHealthCheck struct {
	// ContextType is HEX (send and receive are bytes written as hexadecimal, for example 0A1B)
	// or TEXT (they are ASCII text).
	// +required
	ContextType CustomContextType `json:"contextType"`

	// Send is what the check sends to the backend: visible ASCII characters and spaces.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=500
	// +kubebuilder:validation:Pattern=`^[ -~]+$`
	// +required
	Send string `json:"send"`

	// Receive is what the backend's answer must hold: visible ASCII characters and spaces.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=500
	// +kubebuilder:validation:Pattern=`^[ -~]+$`
	// +required
	Receive string `json:"receive"`
}

// HealthCheckSpec are the CLB health-check settings of the bound listener or rule. Fields left
// out keep the value the listener or rule already has. The controller checks the settings
// against the listener's protocol before it writes them, and refuses (condition
// HealthCheckApplied False, reason InvalidHealthCheck) what the CLB API would refuse.
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type != 'CUSTOM' || has(self.custom)",message="healthCheck.custom is required when healthCheck.type is CUSTOM",fieldPath=".custom"
// +kubebuilder:validation:XValidation:rule="!has(self.custom) || (has(self.type) && self.type == 'CUSTOM')",message="healthCheck.custom is only allowed with healthCheck.type CUSTOM",fieldPath=".custom"
// +kubebuilder:validation:XValidation:rule="!has(self.httpVersion) || !has(self.type) || self.type == 'HTTP'",message="healthCheck.httpVersion is only allowed with healthCheck.type HTTP",fieldPath=".httpVersion"
// +kubebuilder:validation:XValidation:rule="!has(self.httpDomain) || !has(self.type) || self.type in ['HTTP', 'HTTPS', 'GRPC']",message="healthCheck.httpDomain is only allowed with healthCheck.type HTTP, HTTPS or GRPC",fieldPath=".httpDomain"
// +kubebuilder:validation:XValidation:rule="!has(self.httpPath) || !has(self.type) || self.type in ['HTTP', 'HTTPS', 'GRPC']",message="healthCheck.httpPath is only allowed with healthCheck.type HTTP, HTTPS or GRPC",fieldPath=".httpPath"
// +kubebuilder:validation:XValidation:rule="!has(self.httpCodes) || !has(self.type) || self.type in ['HTTP', 'HTTPS']",message="healthCheck.httpCodes is only allowed with healthCheck.type HTTP or HTTPS",fieldPath=".httpCodes"
type HealthCheckSpec struct {
	// Enabled turns the CLB health check on or off. With it off, CLB reports every backend as
	// Close and readiness gates pass as soon as the pod is registered.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Type of the probe: TCP, HTTP, HTTPS, GRPC, PING or CUSTOM. Which types a listener takes
	// depends on its protocol: UDP PING or CUSTOM; TCP TCP, HTTP or CUSTOM; TCP_SSL and QUIC TCP
	// or HTTP; HTTP rules HTTP or GRPC; HTTPS rules HTTP, HTTPS or GRPC. An HTTP check of a TCP,
	// TCP_SSL or QUIC listener needs httpDomain.
	// +optional
	Type HealthCheckType `json:"type,omitempty"`

	// IntervalSeconds between two probes of one backend.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=300
	// +optional
	IntervalSeconds *int32 `json:"intervalSeconds,omitempty"`

	// TimeoutSeconds a probe may take; it must be less than intervalSeconds.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=60
	// +optional
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`

	// HealthyThreshold is the number of consecutive successes that make a backend healthy.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=10
	// +optional
	HealthyThreshold *int32 `json:"healthyThreshold,omitempty"`

	// UnhealthyThreshold is the number of consecutive failures that make a backend unhealthy.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=10
	// +optional
	UnhealthyThreshold *int32 `json:"unhealthyThreshold,omitempty"`

	// HTTPPath probed by HTTP and HTTPS checks, for example /healthz.
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:validation:MaxLength=200
	// +optional
	HTTPPath string `json:"httpPath,omitempty"`

	// HTTPDomain sent as Host by HTTP and HTTPS checks. An HTTP check of a TCP, TCP_SSL or QUIC
	// listener needs it.
	// +kubebuilder:validation:MaxLength=80
	// +optional
	HTTPDomain string `json:"httpDomain,omitempty"`

	// HTTPVersion an HTTP check of a TCP, TCP_SSL or QUIC listener speaks: HTTP/1.0 or HTTP/1.1
	// (the default). The checks of HTTP and HTTPS rules do not use it.
	// +optional
	HTTPVersion HTTPVersion `json:"httpVersion,omitempty"`

	// HTTPCodes is the CLB bit mask of HTTP status classes counted as healthy:
	// 1=1xx, 2=2xx, 4=3xx, 8=4xx, 16=5xx; for example 2 or 6. The CLB's default is 31, every
	// class.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31
	// +optional
	HTTPCodes *int32 `json:"httpCodes,omitempty"`

	// Custom is the request and the expected answer of a CUSTOM check (TCP and UDP listeners);
	// required with type CUSTOM, and only allowed with it.
	// +optional
	Custom *CustomHealthCheck `json:"custom,omitempty"`
}

// CLBHealthSpec says how the CLB's health view of a binding's backends is used.
// +kubebuilder:validation:XValidation:rule="!has(self.healthCheck) || !has(self.healthCheck.intervalSeconds) || !has(self.healthCheck.timeoutSeconds) || self.healthCheck.timeoutSeconds < self.healthCheck.intervalSeconds",message="healthCheck.timeoutSeconds must be less than healthCheck.intervalSeconds",fieldPath=".healthCheck.timeoutSeconds"
type CLBHealthSpec struct {
	// ReadinessPolicy is OnceHealthy (the default: a pod's gate stays True once set) or
	// FollowHealth (the gate follows the CLB's current health view).
	// +kubebuilder:default=OnceHealthy
	// +optional
	ReadinessPolicy ReadinessPolicy `json:"readinessPolicy,omitempty"`

	// TimeoutSeconds, when set, turns a readiness gate True with reason HealthCheckTimeout once the
	// pod has been registered this long without the CLB ever reporting it healthy (fail open).
	// Unset means wait for the CLB for ever.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +optional
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`

	// HealthCheck settings the controller applies to the bound listener or rule. Absent means the
	// controller never touches the health-check settings.
	// +optional
	HealthCheck *HealthCheckSpec `json:"healthCheck,omitempty"`
}

// The HealthCheckApplied condition of a CLBHealth with spec.healthCheck, and its reasons.
const (
	// HealthCheckAppliedCondition is True once the listener or rule has spec.healthCheck.
	HealthCheckAppliedCondition = "HealthCheckApplied"
	// HealthCheckAppliedReason: the listener or rule has the settings of spec.healthCheck.
	HealthCheckAppliedReason = "Applied"
	// HealthCheckApplyingReason: the settings are not written yet, for example because the
	// binding's listener is not resolved yet.
	HealthCheckApplyingReason = "Applying"
	// HealthCheckInvalidReason: the CLB API does not accept the settings on the listener (its
	// protocol does not take them, or a field they need is missing). Nothing was written; the
	// controller tries again when spec.healthCheck or the listener changes.
	HealthCheckInvalidReason = "InvalidHealthCheck"
	// HealthCheckCloudErrorReason: writing the settings failed; the message has the error.
	HealthCheckCloudErrorReason = "CloudError"
)

// UnhealthyTarget is one backend the CLB does not report healthy.
type UnhealthyTarget struct {
	// IP of the backend (pod IP in Pod mode).
	// +optional
	IP string `json:"ip,omitempty"`

	// InstanceID of the backend's CVM in Node mode.
	// +optional
	InstanceID string `json:"instanceId,omitempty"`

	// Port of the backend.
	Port int32 `json:"port"`

	// Pod behind the backend, in Pod mode.
	// +optional
	Pod string `json:"pod,omitempty"`

	// State as CLB reports it: Dead, Unknown, or Pending (registered, never probed yet).
	State string `json:"state"`

	// Since is when the backend was first seen in this state.
	Since metav1.Time `json:"since"`
}

// BackendHealth is the CLB's health state of one of the binding's registered backends, and since
// when it has been in that state. Kept short: a binding may have hundreds of backends.
type BackendHealth struct {
	// IP of the backend (pod IP in Pod mode).
	// +optional
	IP string `json:"ip,omitempty"`

	// InstanceID of the backend's CVM in Node mode.
	// +optional
	InstanceID string `json:"instanceId,omitempty"`

	// Port of the backend.
	Port int32 `json:"port"`

	// State as CLB reports it: Alive, Dead, Close (health check off), or Unknown (not judged yet).
	State string `json:"state"`

	// Since is when the controller first saw the backend in this state.
	Since metav1.Time `json:"since"`

	// RegisteredSince is when the controller first saw the backend registered: the first health
	// poll that listed it (the first poll after an upgrade or after the backend was beyond the
	// listed maximum, for backends registered before).
	// +optional
	RegisteredSince *metav1.Time `json:"registeredSince,omitempty"`
}

// MaxBackendsListed bounds status.backends of a CLBHealth.
const MaxBackendsListed = 1000

// CLBHealthStatus is the CLB's health view of a binding's backends.
type CLBHealthStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when every registered backend is healthy; HealthCheckApplied,
	// present while spec.healthCheck is set, is True once the listener or rule has it.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Registered is the number of the binding's backends on the CLB.
	// +optional
	Registered int32 `json:"registered"`

	// Healthy is the number of backends the CLB reports Alive (or Close, with checks off).
	// +optional
	Healthy int32 `json:"healthy"`

	// Unhealthy is the number of backends the CLB reports Dead.
	// +optional
	Unhealthy int32 `json:"unhealthy"`

	// Unknown is the number of backends the CLB has not judged yet.
	// +optional
	Unknown int32 `json:"unknown"`

	// Summary is "healthy/registered", for kubectl get.
	// +optional
	Summary string `json:"summary,omitempty"`

	// UnhealthyTargets lists up to 50 backends that are not healthy, oldest first.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	UnhealthyTargets []UnhealthyTarget `json:"unhealthyTargets,omitempty"`

	// Backends lists every registered backend of the binding with its CLB health state and since
	// when, sorted by address, up to 1000 (when there are more, those not healthy come first):
	// what kubectl clbind shows per backend. Registered tells whether the list is complete.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	Backends []BackendHealth `json:"backends,omitempty"`

	// LastProbeTime is when the controller read the health view this status shows. The
	// controller polls the CLB's health every 30 s (2 s while a gate waits) but writes the status
	// only when it changes, so on a steady binding this is when the last change was seen, not
	// the last poll. When polls of the load balancer fail, the Ready condition's message says
	// since when.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`
}

// CLBHealth carries the CLB's health view of one CLBBackendBinding's backends and decides how pod
// readiness gates follow it. The controller creates one per binding, with the same name and owned
// by it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=clbh,categories=clbind
// +kubebuilder:printcolumn:name="Healthy",type=string,JSONPath=`.status.summary`,description="healthy/registered"
// +kubebuilder:printcolumn:name="Unhealthy",type=integer,JSONPath=`.status.unhealthy`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.readinessPolicy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Change",type=date,JSONPath=`.status.lastProbeTime`,priority=1,description="when the health view shown was read"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CLBHealth struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata"`

	// spec says how readiness gates follow the CLB health check.
	// +optional
	Spec CLBHealthSpec `json:"spec"`

	// status is the CLB's current health view.
	// +optional
	Status CLBHealthStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// CLBHealthList contains a list of CLBHealth.
type CLBHealthList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []CLBHealth `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &CLBHealth{}, &CLBHealthList{})
		return nil
	})
}
