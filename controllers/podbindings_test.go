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

package controllers

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// expectingSyncer records which bindings the mapping told the workers to expect.
type expectingSyncer struct {
	BindingSyncer
	expected []string
}

func (s *expectingSyncer) Expect(key types.NamespacedName, _ string) {
	s.expected = append(s.expected, key.String())
}

// TestPodBindings: a pod event reaches the bindings of the Services that select it and the
// bindings whose gate it carries, and no other binding of its namespace; a Service without a
// selector (its EndpointSlices written by hand) may list any pod of its namespace.
func TestPodBindings(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, networkingv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	binding := func(ns, name, svc string, mode networkingv1alpha1.TargetType) client.Object {
		return &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingv1alpha1.CLBBackendBindingSpec{ServiceRef: networkingv1alpha1.ServiceReference{Name: svc}, TargetType: mode}}
	}
	service := func(ns, name string, selector map[string]string) client.Object {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
	}
	objs := []client.Object{
		service("shop", "web", map[string]string{"app": "web"}), service("shop", "api", map[string]string{"app": "api", "tier": "backend"}),
		binding("shop", "web", "web", ""), binding("shop", "web-canary", "web", ""), binding("shop", "api", "api", ""),
		binding("shop", "web-nodes", "web", networkingv1alpha1.TargetTypeNode),
		service("blog", "web", map[string]string{"app": "web"}), binding("blog", "web", "web", ""),
		service("ops", "legacy", nil), binding("ops", "legacy", "legacy", ""),
	}
	builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	for _, ix := range cacheIndexes {
		builder = builder.WithIndex(ix.obj, ix.field, ix.fn)
	}
	c := builder.Build()
	pod := func(ns, name string, labels map[string]string, gates ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
		for _, g := range gates {
			p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(networkingv1alpha1.ReadinessGatePrefix + g)})
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"selected by one Service", pod("shop", "web-a", map[string]string{"app": "web", "pod-template-hash": "5d8f"}),
			[]string{"shop/web", "shop/web-canary"}},
		{"every pair of the selector must match", pod("shop", "api-a", map[string]string{"app": "api"}), nil},
		{"selected with all its pairs", pod("shop", "api-b", map[string]string{"app": "api", "tier": "backend"}), []string{"shop/api"}},
		{"selected by none", pod("shop", "db-a", map[string]string{"app": "db"}), nil},
		{"no longer selected, retiring behind a gate", pod("shop", "old", map[string]string{"app": "old"}, "api"), []string{"shop/api"}},
		{"a gate of a binding it is selected for too", pod("shop", "api-c", map[string]string{"app": "api", "tier": "backend"}, "api"),
			[]string{"shop/api"}},
		{"a gate of a binding that does not exist", pod("shop", "old", nil, "gone"), nil},
		{"any pod for a Service without a selector", pod("ops", "tool", nil), []string{"ops/legacy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			syncer := &expectingSyncer{}
			r := &CLBBackendBindingReconciler{Client: c, Syncer: syncer}
			var got []string
			for _, req := range r.podBindings(context.Background(), tc.pod) {
				got = append(got, req.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("pod %s reaches %v, want %v", tc.pod.Name, got, tc.want)
			}
			slices.Sort(syncer.expected)
			if !slices.Equal(syncer.expected, tc.want) {
				t.Errorf("the workers were told to expect %v, want %v", syncer.expected, tc.want)
			}
		})
	}
}
