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
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TargetType says what a binding registers on the CLB for each backend.
// +kubebuilder:validation:Enum=Pod;Node
type TargetType string

const (
	// TargetTypePod registers each endpoint's pod IP as an ENI IP backend with the endpoint's port:
	// CLB talks to the pod directly, with no NodePort and no NAT (direct mode).
	TargetTypePod TargetType = "Pod"
	// TargetTypeNode registers each eligible node's CVM instance with the Service's nodePort.
	TargetTypeNode TargetType = "Node"
)

// ListenerProtocol is the protocol of a CLB listener.
// +kubebuilder:validation:Enum=TCP;UDP;TCP_SSL;QUIC;HTTP;HTTPS
type ListenerProtocol string

// Listener protocols as CLB names them.
const (
	ProtocolTCP    ListenerProtocol = "TCP"
	ProtocolUDP    ListenerProtocol = "UDP"
	ProtocolTCPSSL ListenerProtocol = "TCP_SSL"
	ProtocolQUIC   ListenerProtocol = "QUIC"
	ProtocolHTTP   ListenerProtocol = "HTTP"
	ProtocolHTTPS  ListenerProtocol = "HTTPS"
)

// IsLayer7 reports whether targets on listeners of this protocol live on forwarding rules.
func (p ListenerProtocol) IsLayer7() bool { return p == ProtocolHTTP || p == ProtocolHTTPS }

// ListenerReference names an existing CLB listener, either by ID or by port and protocol.
// The binding never creates or deletes the listener.
// +kubebuilder:validation:XValidation:rule="has(self.id) ? !has(self.port) && !has(self.protocol) : has(self.port) && has(self.protocol)",message="give the listener either by id, or by port and protocol, not both"
type ListenerReference struct {
	// ID of the listener, as shown in the CLB console, for example lbl-1a2b3c4d.
	// +kubebuilder:validation:Pattern=`^lbl-[a-z0-9]{8}$`
	// +optional
	ID string `json:"id,omitempty"`

	// Port the listener listens on. Used with protocol when the ID is not given; the controller
	// resolves it to an ID once and records it in status.listenerId.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// Protocol of the listener: TCP, UDP, TCP_SSL, QUIC, HTTP or HTTPS.
	// HTTP and HTTPS listeners take backends only on rules, so they need spec.rule.
	// +optional
	Protocol ListenerProtocol `json:"protocol,omitempty"`
}

// RuleReference names an existing forwarding rule of an HTTP or HTTPS listener, either by its
// location ID or by domain and URL path.
// +kubebuilder:validation:XValidation:rule="has(self.locationId) ? !has(self.domain) && !has(self.url) : has(self.domain) && has(self.url)",message="give the rule either by locationId, or by domain and url, not both"
type RuleReference struct {
	// LocationID of the rule, for example loc-1a2b3c4d.
	// +kubebuilder:validation:Pattern=`^loc-[a-z0-9]{8}$`
	// +optional
	LocationID string `json:"locationId,omitempty"`

	// Domain of the rule, for example www.example.com or *.example.com.
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$`
	// +optional
	Domain string `json:"domain,omitempty"`

	// URL path of the rule, for example /api. It starts with a slash.
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	URL string `json:"url,omitempty"`
}

// ServiceReference names a Service in the binding's namespace and one of its ports.
type ServiceReference struct {
	// Name of the Service, in the same namespace as the binding.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Port of the Service, by number (the Service's port, not the targetPort) or by name.
	// Pod targets use the matching endpoint port; Node targets use the port's nodePort.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 && self <= 65535 : self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self) <= 15",message="must be a port number between 1 and 65535 or a port name (lowercase alphanumerics and '-', at most 15 characters)"
	Port intstr.IntOrString `json:"port"`
}

// NotReadyBackendsPolicy says what happens to the backend of a pod that is not ready and not
// terminating, such as a pod failing its readiness probe.
// +kubebuilder:validation:Enum=Deregister;KeepAtWeightZero
type NotReadyBackendsPolicy string

const (
	// NotReadyDeregister removes the backend of a pod that stops being ready and registers it
	// again once the pod is ready (the default).
	NotReadyDeregister NotReadyBackendsPolicy = "Deregister"
	// NotReadyKeepAtWeightZero keeps the backend of a pod that is not ready registered with
	// weight 0 and gives it its weight back once the pod is ready: no deregister and register
	// calls, and the CLB keeps the connections already established.
	NotReadyKeepAtWeightZero NotReadyBackendsPolicy = "KeepAtWeightZero"
)

// DrainSpec controls how terminating backends leave the CLB.
type DrainSpec struct {
	// Seconds a terminating backend is kept on the CLB with weight 0 before it is deregistered,
	// so in-flight connections can finish. It is deregistered earlier if its pod goes away.
	// 0 deregisters terminating backends at once.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +kubebuilder:default=30
	Seconds int32 `json:"seconds"`
}

// MakeBeforeBreakSpec bounds make before break: when the Service stops selecting pods that still
// run and are ready (its selector switched to other pods, a pod was relabelled, the port
// changed), their backends keep serving until the backends that replace them are healthy on the
// CLB, then drain and leave.
type MakeBeforeBreakSpec struct {
	// TimeoutSeconds is the longest the old backends wait for their replacements; then they leave
	// whatever the CLB health says, with a Warning Event. 0 turns make before break off: backends
	// leave as soon as the Service stops selecting their pods.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +kubebuilder:default=120
	TimeoutSeconds int32 `json:"timeoutSeconds"`
}

// DefaultMakeBeforeBreakSeconds is the bound of make before break when spec.makeBeforeBreak is
// not given.
const DefaultMakeBeforeBreakSeconds = 120

// CLBBackendBindingSpec binds one CLB listener (or L7 rule) to the endpoints of a Service.
// +kubebuilder:validation:XValidation:rule="!has(self.rule) || !has(self.listener.protocol) || self.listener.protocol in ['HTTP', 'HTTPS']",message="rule is only allowed for HTTP and HTTPS listeners",fieldPath=".rule"
// +kubebuilder:validation:XValidation:rule="!has(self.listener.protocol) || !(self.listener.protocol in ['HTTP', 'HTTPS']) || has(self.rule)",message="HTTP and HTTPS listeners take backends only on rules: set rule",fieldPath=".rule"
// +kubebuilder:validation:XValidation:rule="has(self.rule) == has(oldSelf.rule)",message="rule is immutable: create a new binding for another rule",fieldPath=".rule"
// +kubebuilder:validation:XValidation:rule="!has(self.nodeSelector) || self.targetType == 'Node'",message="nodeSelector is only allowed with targetType Node",fieldPath=".nodeSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.notReadyBackends) || self.notReadyBackends == 'Deregister' || !has(self.targetType) || self.targetType != 'Node'",message="notReadyBackends KeepAtWeightZero is only allowed with targetType Pod: Node targets are CVMs, registered while their node is Ready",fieldPath=".notReadyBackends"
type CLBBackendBindingSpec struct {
	// LoadBalancerID of the CLB instance, for example lb-1a2b3c4d. Immutable.
	// +kubebuilder:validation:Pattern=`^lb-[a-z0-9]{8}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="loadBalancerId is immutable: create a new binding for another load balancer"
	LoadBalancerID string `json:"loadBalancerId"`

	// Listener on that load balancer whose backends this binding manages. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="listener is immutable: create a new binding for another listener"
	Listener ListenerReference `json:"listener"`

	// Rule of an HTTP or HTTPS listener whose backends this binding manages. Required for those
	// listeners, not allowed for others. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="rule is immutable: create a new binding for another rule"
	// +optional
	Rule *RuleReference `json:"rule,omitempty"`

	// ServiceRef is the Service whose endpoints become the listener's backends.
	ServiceRef ServiceReference `json:"serviceRef"`

	// TargetType is what gets registered: Pod (the default) registers pod IPs directly as ENI IP
	// backends; Node registers the nodes' CVM instances with the Service's nodePort. Immutable.
	// +kubebuilder:default=Pod
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetType is immutable: create a new binding to switch between Pod and Node"
	// +optional
	TargetType TargetType `json:"targetType,omitempty"`

	// NodeSelector limits Node targets to the nodes it selects. Only for targetType Node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// Weight of every registered backend, 0 to 100. Weight 0 keeps backends registered but sends
	// them no new connections. A pod's annotation clbind.io/weight (0 to 100) overrides it for
	// that pod's backends; an invalid value is ignored with a Warning Event on the pod. The
	// annotation applies to Pod targets only.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=10
	// +optional
	Weight *int32 `json:"weight,omitempty"`

	// Drain keeps terminating backends on the CLB with weight 0 for a while before removing them.
	// Without it, terminating backends are removed at once.
	// +optional
	Drain *DrainSpec `json:"drain,omitempty"`

	// NotReadyBackends says what happens to the backend of an endpoint that is not ready and not
	// terminating, such as a pod failing its readiness probe. Deregister (the default) removes it
	// and registers it again once the pod is ready. KeepAtWeightZero keeps it registered with
	// weight 0, so the CLB sends it no new connections but keeps the established ones, and gives
	// it its weight back once the pod is ready, with no deregister and register calls.
	// With KeepAtWeightZero every not-ready endpoint with an address is a backend at weight 0,
	// pods that were never ready included (they are registered at weight 0 while they start),
	// except a pod that carries this binding's readiness gate while the gate is not True: it is
	// registered at its full weight once its containers are ready, as with Deregister, so that the
	// gate still means the CLB sends the pod traffic. Terminating pods drain as spec.drain says
	// with either policy. Only for targetType Pod.
	// +kubebuilder:default=Deregister
	// +optional
	NotReadyBackends NotReadyBackendsPolicy `json:"notReadyBackends,omitempty"`

	// MakeBeforeBreak keeps the backends of pods the Service no longer selects, while those pods
	// still run and are ready, until their replacements are healthy on the CLB (a blue/green
	// switch of the Service's selector, an endpoint mistake). Without it, the bound is 120 s.
	// +optional
	MakeBeforeBreak *MakeBeforeBreakSpec `json:"makeBeforeBreak,omitempty"`

	// ReadinessGate, when true (the default), has pods selected by the Service carry the readiness
	// gate health.clbind.io/<binding name>, which turns True only once the pod is registered and
	// passes the CLB health check. Injection needs the namespace label
	// clbind.io/readiness-gate-inject=enabled.
	// +kubebuilder:default=true
	// +optional
	ReadinessGate *bool `json:"readinessGate,omitempty"`

	// MultiCluster shares the listener with other clusters or with hand-added backends: the
	// controller then only ever modifies or removes backends that carry this binding's tag.
	// Without it, the binding owns the listener (or rule) and removes any other backend there.
	// +optional
	MultiCluster bool `json:"multiCluster,omitempty"`

	// TrafficShare splits the listener's (or rule's) new connections between this binding and the
	// other bindings of its namespace on the same listener or rule that set it too, for a canary
	// or a blue/green cut-over: the percentage of new connections this binding's backends get.
	// The shares of the bindings on one listener or rule must add up to 100; while they do not
	// (one of two bindings updated), the weights on the CLB stay as they are. The controller sets
	// every backend's weight (1 to 100, keeping spec.weight and pod weights in proportion within
	// the binding) so that each binding gets its share whatever its number of pods;
	// status.trafficShare says what was achieved, and the TrafficShare condition when the weight
	// range cannot give the share. 0 keeps the backends registered at weight 0, ready to take
	// traffic at once.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	TrafficShare *int32 `json:"trafficShare,omitempty"`

	// SlowStart warms new backends up: a pod's backend starts at a fifth of its weight once the pod
	// is ready and gains a fifth at each of four steps over the given time, so a cold cache or JIT
	// is not handed its full share of new connections at once. Steps fall on the same instants for
	// every backend of the load balancer warming up with the same time, so each step is one weight
	// write. Without it backends get their full weight at once.
	// +optional
	SlowStart *SlowStartSpec `json:"slowStart,omitempty"`
}

// SlowStartSpec is the warm-up of new backends.
type SlowStartSpec struct {
	// Seconds from a pod being ready to its backend's full weight (reached after three quarters of
	// it at the earliest).
	// +kubebuilder:validation:Minimum=4
	// +kubebuilder:validation:Maximum=3600
	Seconds int32 `json:"seconds"`
}

// TrafficShareStatus is how a binding's spec.trafficShare is carried out on the CLB.
type TrafficShareStatus struct {
	// Applied is the share, in percent, that the weights on the CLB were computed for. Once it
	// equals spec.trafficShare and the binding is Ready, the CLB carries the split.
	Applied int32 `json:"applied"`
	// Achieved is the share of new connections those weights give the binding, in percent with
	// one decimal, for example "9.9".
	Achieved string `json:"achieved"`
}

// CLBBackendBindingStatus is the observed state of a binding.
type CLBBackendBindingStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready tells whether the CLB backends match the Service's endpoints.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ListenerID is the resolved ID of spec.listener.
	// +optional
	ListenerID string `json:"listenerId,omitempty"`

	// LocationID is the resolved ID of spec.rule, for HTTP and HTTPS listeners.
	// +optional
	LocationID string `json:"locationId,omitempty"`

	// Desired is the number of backends that should be registered now, draining ones included.
	// +optional
	Desired int32 `json:"desired"`

	// Registered is the number of this binding's backends that are registered on the CLB.
	// +optional
	Registered int32 `json:"registered"`

	// Healthy is the number of registered backends that pass the CLB health check.
	// +optional
	Healthy int32 `json:"healthy"`

	// Draining is the number of terminating backends kept with weight 0 until they are removed.
	// +optional
	Draining int32 `json:"draining"`

	// Retiring is the number of backends of pods the Service no longer selects that keep serving
	// until their replacements are healthy on the CLB (make before break).
	// +optional
	Retiring int32 `json:"retiring,omitempty"`

	// PodsMissingGate counts pods that should carry this binding's readiness gate but do not, for
	// example because they were created before the namespace was opted in.
	// +optional
	PodsMissingGate int32 `json:"podsMissingGate,omitempty"`

	// Backends is "registered/desired", for kubectl get.
	// +optional
	Backends string `json:"backends,omitempty"`

	// LastSyncTime is when the backends last matched the desired set on the CLB.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// TrafficShare is how spec.trafficShare is carried out on the CLB; absent without it.
	// +optional
	TrafficShare *TrafficShareStatus `json:"trafficShare,omitempty"`
}

// CLBBackendBinding binds one CLB listener (or HTTP/HTTPS rule) to the endpoints of a Service, so
// that the listener's life no longer belongs to a Service object: the controller keeps the
// listener's backends equal to the Service's ready endpoints (pod IPs or nodes).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cbb,categories=clbind
// +kubebuilder:printcolumn:name="LB",type=string,JSONPath=`.spec.loadBalancerId`
// +kubebuilder:printcolumn:name="Listener",type=string,JSONPath=`.status.listenerId`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.serviceRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.targetType`,priority=1
// +kubebuilder:printcolumn:name="Backends",type=string,JSONPath=`.status.backends`,description="registered/desired"
// +kubebuilder:printcolumn:name="Healthy",type=integer,JSONPath=`.status.healthy`
// +kubebuilder:printcolumn:name="Retiring",type=integer,JSONPath=`.status.retiring`
// +kubebuilder:printcolumn:name="Draining",type=integer,JSONPath=`.status.draining`,priority=1
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.trafficShare.achieved`,priority=1,description="share of new connections achieved, percent"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.readinessGate) || !self.spec.readinessGate || size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters while spec.readinessGate is true, because it names the pod condition health.clbind.io/<name>"
type CLBBackendBinding struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata"`

	// spec says which listener gets which Service's endpoints.
	// +required
	Spec CLBBackendBindingSpec `json:"spec"`

	// status is what the controller observed on the CLB.
	// +optional
	Status CLBBackendBindingStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// CLBBackendBindingList contains a list of CLBBackendBinding.
type CLBBackendBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []CLBBackendBinding `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &CLBBackendBinding{}, &CLBBackendBindingList{})
		return nil
	})
}
