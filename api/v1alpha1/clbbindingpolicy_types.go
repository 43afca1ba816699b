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

// NamespaceSelection names namespaces by name, by label, or both (a namespace matches when
// either matches).
// +kubebuilder:validation:XValidation:rule="(has(self.names) && size(self.names) > 0) || has(self.selector)",message="give names, a selector, or both"
type NamespaceSelection struct {
	// Names of namespaces.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Names []string `json:"names,omitempty"`

	// Selector selects namespaces by their labels. An empty selector ({}) selects every namespace.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// LoadBalancerTag is a CLB resource tag, as set in the Tencent Cloud console or with the tag API
// and read with DescribeLoadBalancers.
type LoadBalancerTag struct {
	// Key of the tag.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Key string `json:"key"`

	// Value of the tag. Empty matches any value of the key.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Value string `json:"value,omitempty"`
}

// LoadBalancerMatch names load balancers by ID or by a resource tag.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.tag)",message="give either id or tag"
type LoadBalancerMatch struct {
	// ID of a load balancer, for example lb-1a2b3c4d.
	// +kubebuilder:validation:Pattern=`^lb-[a-z0-9]{8}$`
	// +optional
	ID string `json:"id,omitempty"`

	// Tag matches every load balancer that carries this resource tag. The controller reads the
	// tags with DescribeLoadBalancers, and again every few minutes: removing the tag takes the
	// permission away.
	// +optional
	Tag *LoadBalancerTag `json:"tag,omitempty"`
}

// ListenerMatch names a listener by ID or by port (and, optionally, protocol).
// +kubebuilder:validation:XValidation:rule="has(self.id) ? !has(self.port) && !has(self.protocol) : has(self.port)",message="give either id, or port with an optional protocol"
type ListenerMatch struct {
	// ID of a listener, for example lbl-1a2b3c4d.
	// +kubebuilder:validation:Pattern=`^lbl-[a-z0-9]{8}$`
	// +optional
	ID string `json:"id,omitempty"`

	// Port of the listener.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// Protocol of the listener; any protocol when not given.
	// +optional
	Protocol ListenerProtocol `json:"protocol,omitempty"`
}

// ExclusiveOwnership says whether bindings allowed by a policy may own their listener or rule
// exclusively, removing every backend there that is not theirs.
// +kubebuilder:validation:Enum=Allowed;Forbidden
type ExclusiveOwnership string

const (
	// ExclusiveAllowed lets bindings without spec.multiCluster own their listener or rule: they
	// remove every other backend on it.
	ExclusiveAllowed ExclusiveOwnership = "Allowed"
	// ExclusiveForbidden allows only multiCluster bindings, which change and remove only the
	// backends they registered themselves.
	ExclusiveForbidden ExclusiveOwnership = "Forbidden"
)

// CLBBindingPolicySpec says which namespaces may bind which load balancers and listeners.
type CLBBindingPolicySpec struct {
	// Namespaces whose bindings the policy allows.
	Namespaces NamespaceSelection `json:"namespaces"`

	// LoadBalancers the namespaces may bind: a load balancer is allowed when any entry matches it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	LoadBalancers []LoadBalancerMatch `json:"loadBalancers"`

	// Listeners limits the policy to these listeners of the load balancers. Without it, every
	// listener of the load balancers is allowed.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Listeners []ListenerMatch `json:"listeners,omitempty"`

	// Exclusive says whether the bindings may own their listener or rule exclusively (no
	// spec.multiCluster), which removes every backend there that is not theirs: Allowed (the
	// default) or Forbidden, which allows only multiCluster bindings.
	// +kubebuilder:default=Allowed
	// +optional
	Exclusive ExclusiveOwnership `json:"exclusive,omitempty"`

	// SharedAcrossNamespaces lets multiCluster bindings of different namespaces share one listener
	// or rule, each changing only its own backends. Every one of those bindings must be allowed by
	// a policy that sets it. Without it, a listener or rule bound from one namespace is refused to
	// bindings of every other namespace.
	// +optional
	SharedAcrossNamespaces bool `json:"sharedAcrossNamespaces,omitempty"`
}

// CLBBindingPolicy allows the CLBBackendBindings of some namespaces to manage the backends of
// some load balancers (and, optionally, only some of their listeners). While the manager enforces
// policies (its default), a binding that no policy allows is refused at admission and gets no
// cloud write. Policies are cluster-scoped: only cluster admins create them.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cbp,categories=clbind
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.spec.namespaces.names`
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.namespaces.selector.matchLabels`,priority=1
// +kubebuilder:printcolumn:name="Load Balancers",type=string,JSONPath=`.spec.loadBalancers[*].id`
// +kubebuilder:printcolumn:name="Tags",type=string,JSONPath=`.spec.loadBalancers[*].tag.key`,priority=1
// +kubebuilder:printcolumn:name="Listeners",type=string,JSONPath=`.spec.listeners[*].port`,priority=1
// +kubebuilder:printcolumn:name="Exclusive",type=string,JSONPath=`.spec.exclusive`
// +kubebuilder:printcolumn:name="Shared",type=boolean,JSONPath=`.spec.sharedAcrossNamespaces`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CLBBindingPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata"`

	// spec says which namespaces may bind which load balancers.
	// +required
	Spec CLBBindingPolicySpec `json:"spec"`
}

// +kubebuilder:object:root=true

// CLBBindingPolicyList contains a list of CLBBindingPolicy.
type CLBBindingPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []CLBBindingPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &CLBBindingPolicy{}, &CLBBindingPolicyList{})
		return nil
	})
}
