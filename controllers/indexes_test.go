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
	discoveryv1 "k8s.io/api/discovery/v1"
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

// TestPodBindings: a pod event reaches the bindings of the Services whose EndpointSlices list the
// pod and the bindings whose gate it carries, and no other binding of its namespace.
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
	slice := func(ns, name, svc string, pods ...string) client.Object {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if svc != "" {
			s.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
		}
		for _, p := range pods {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p}})
		}
		return s
	}
	objs := []client.Object{
		binding("shop", "web", "web", ""), binding("shop", "web-canary", "web", ""), binding("shop", "api", "api", ""),
		binding("shop", "web-nodes", "web", networkingv1alpha1.TargetTypeNode), binding("shop", "legacy", "legacy", ""),
		binding("blog", "web", "web", ""),
		slice("shop", "web-1", "web", "web-a", "web-b"), slice("shop", "web-2", "web", "web-c"),
		slice("shop", "api-1", "api", "api-a"),
		slice("shop", "legacy-1", "legacy", "web-b"), // a Service without a selector, its slice written by hand
		slice("shop", "orphan", "", "web-a"),         // no Service label: no binding follows it
		slice("blog", "web-1", "web", "web-a"),
	}
	builder := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	for _, ix := range cacheIndexes {
		builder = builder.WithIndex(ix.obj, ix.field, ix.fn)
	}
	c := builder.Build()
	pod := func(name string, gates ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
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
		{"in one Service's slices", pod("web-a"), []string{"shop/web", "shop/web-canary"}},
		{"in another slice of the same Service", pod("web-c"), []string{"shop/web", "shop/web-canary"}},
		{"in two Services' slices", pod("web-b"), []string{"shop/legacy", "shop/web", "shop/web-canary"}},
		{"in no slice", pod("new"), nil},
		{"in no slice, retiring behind a gate", pod("old", "api"), []string{"shop/api"}},
		{"a gate of a binding it is listed for too", pod("api-a", "api"), []string{"shop/api"}},
		{"a gate of a binding that does not exist", pod("old", "gone"), nil},
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
