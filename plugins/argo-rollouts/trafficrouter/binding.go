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

package trafficrouter

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// BindingResource is the CLBBackendBinding resource of the controller's API.
var BindingResource = schema.GroupVersionResource{
	Group:    "networking.clbind.io",
	Version:  "v1alpha1",
	Resource: "clbbackendbindings",
}

// The binding API's condition types and TrafficShare reasons the plugin reads (api/v1alpha1).
const (
	readyCondition        = "Ready"
	trafficShareCondition = "TrafficShare"
	reachedReason         = "Reached"
	unreachableReason     = "Unreachable"
	notSharedReason       = "NotShared"
	doNotAddUpReason      = "SharesDoNotAddUp"
)

// binding is the part of a CLBBackendBinding the plugin uses, read from an unstructured object.
type binding struct {
	namespace, name string
	generation      int64
	service         string
	// listenerKey names the listener or rule the binding's backends are on; bindings that split
	// traffic have the same key.
	listenerKey string
	// share is spec.trafficShare, nil when unset.
	share *int32
	// applied is status.trafficShare.applied, nil when unset; achieved is status.trafficShare.achieved.
	applied    *int32
	achieved   string
	conditions []metav1.Condition
}

func (b *binding) String() string { return b.namespace + "/" + b.name }

// bindingFrom reads the fields the plugin uses; a field of the wrong type is an error, a missing
// one is left zero.
func bindingFrom(u *unstructured.Unstructured) (*binding, error) {
	b := &binding{namespace: u.GetNamespace(), name: u.GetName(), generation: u.GetGeneration()}
	var err error
	if b.service, _, err = unstructured.NestedString(u.Object, "spec", "serviceRef", "name"); err != nil {
		return nil, fmt.Errorf("reading CLBBackendBinding %s: %w", b, err)
	}
	if b.share, err = nestedInt32(u, "spec", "trafficShare"); err != nil {
		return nil, fmt.Errorf("reading CLBBackendBinding %s: %w", b, err)
	}
	if b.applied, err = nestedInt32(u, "status", "trafficShare", "applied"); err != nil {
		return nil, fmt.Errorf("reading CLBBackendBinding %s: %w", b, err)
	}
	b.achieved, _, _ = unstructured.NestedString(u.Object, "status", "trafficShare", "achieved")
	if raw, ok, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); ok {
		var status struct {
			Conditions []metav1.Condition `json:"conditions"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"conditions": raw}, &status); err != nil {
			return nil, fmt.Errorf("reading the conditions of CLBBackendBinding %s: %w", b, err)
		}
		b.conditions = status.Conditions
	}
	b.listenerKey = listenerKey(u)
	return b, nil
}

// listenerKey is load balancer, listener and rule of a binding. The IDs the controller resolved
// (status.listenerId, status.locationId) win over the spec's port and protocol or domain and URL,
// so two bindings naming one listener differently still pair once both are resolved.
func listenerKey(u *unstructured.Unstructured) string {
	str := func(fields ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, fields...)
		return s
	}
	lb := str("spec", "loadBalancerId")
	listener := str("status", "listenerId")
	if listener == "" {
		listener = str("spec", "listener", "id")
	}
	if listener == "" {
		port, _, _ := unstructured.NestedInt64(u.Object, "spec", "listener", "port")
		listener = fmt.Sprintf("%s:%d", str("spec", "listener", "protocol"), port)
	}
	rule := str("status", "locationId")
	if rule == "" {
		rule = str("spec", "rule", "locationId")
	}
	if rule == "" {
		if _, hasRule, _ := unstructured.NestedMap(u.Object, "spec", "rule"); hasRule {
			rule = str("spec", "rule", "domain") + str("spec", "rule", "url")
		}
	}
	if rule == "" {
		return lb + " listener " + listener
	}
	return lb + " listener " + listener + " rule " + rule
}

func nestedInt32(u *unstructured.Unstructured, fields ...string) (*int32, error) {
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, fields...)
	if err != nil || !ok || v == nil {
		return nil, err
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int32:
		n = int64(x)
	case int:
		n = int64(x)
	case float64:
		n = int64(x)
	default:
		return nil, fmt.Errorf("%v is a %T, not an integer", fields, v)
	}
	i := int32(n)
	return &i, nil
}
