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

package webhooks

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

func binding(name, service string, mutate ...func(*networkingv1alpha1.CLBBackendBinding)) networkingv1alpha1.CLBBackendBinding {
	b := networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: "lb-00000001",
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: service},
		},
	}
	for _, m := range mutate {
		m(&b)
	}
	return b
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{Selector: selector}}
}

func gates(types ...string) []corev1.PodReadinessGate {
	out := make([]corev1.PodReadinessGate, 0, len(types))
	for _, t := range types {
		out = append(out, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(t)})
	}
	return out
}

func TestInjectReadinessGates(t *testing.T) {
	web := service("web", map[string]string{"app": "web"})
	services := map[string]*corev1.Service{
		"web":      web,
		"web-too":  service("web-too", map[string]string{"app": "web"}),
		"api":      service("api", map[string]string{"app": "api"}),
		"narrow":   service("narrow", map[string]string{"app": "web", "tier": "canary"}),
		"manual":   service("manual", nil),
		"missing":  nil,
		"headless": {ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "web"}}},
	}
	now := metav1.Now()
	tests := []struct {
		name       string
		existing   []corev1.PodReadinessGate
		bindings   []networkingv1alpha1.CLBBackendBinding
		wantGates  []corev1.PodReadinessGate
		wantAdded  []string
		podLabels  map[string]string
		skipLabels bool
	}{
		{
			name:      "two bindings whose Services select the pod give two gates, sorted",
			bindings:  []networkingv1alpha1.CLBBackendBinding{binding("b2", "web-too"), binding("b1", "web")},
			wantGates: gates("health.clbind.io/b1", "health.clbind.io/b2"),
			wantAdded: []string{"health.clbind.io/b1", "health.clbind.io/b2"},
		},
		{
			name:     "a Service that does not select the pod gives no gate",
			bindings: []networkingv1alpha1.CLBBackendBinding{binding("b", "api"), binding("c", "narrow")},
		},
		{
			name: "readinessGate false gives no gate; nil and true give one",
			bindings: []networkingv1alpha1.CLBBackendBinding{
				binding("off", "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.ReadinessGate = new(false) }),
				binding("on", "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.ReadinessGate = new(true) }),
				binding("unset", "web"),
			},
			wantGates: gates("health.clbind.io/on", "health.clbind.io/unset"),
			wantAdded: []string{"health.clbind.io/on", "health.clbind.io/unset"},
		},
		{
			name: "targetType Node gives no gate; explicit Pod does",
			bindings: []networkingv1alpha1.CLBBackendBinding{
				binding("node", "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.TargetType = networkingv1alpha1.TargetTypeNode }),
				binding("pod", "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.TargetType = networkingv1alpha1.TargetTypePod }),
			},
			wantGates: gates("health.clbind.io/pod"),
			wantAdded: []string{"health.clbind.io/pod"},
		},
		{
			name:     "a Service without selector, or a missing Service, gives no gate",
			bindings: []networkingv1alpha1.CLBBackendBinding{binding("manual", "manual"), binding("missing", "missing"), binding("unknown", "not-in-map")},
		},
		{
			name:      "a headless Service with a matching selector still gives a gate",
			bindings:  []networkingv1alpha1.CLBBackendBinding{binding("h", "headless")},
			wantGates: gates("health.clbind.io/h"),
			wantAdded: []string{"health.clbind.io/h"},
		},
		{
			name: "a binding being deleted gives no gate",
			bindings: []networkingv1alpha1.CLBBackendBinding{
				binding("gone", "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.DeletionTimestamp = &now }),
			},
		},
		{
			name:     "a name too long for a condition type is skipped rather than failing the pod",
			bindings: []networkingv1alpha1.CLBBackendBinding{binding(strings.Repeat("a", 64), "web")},
		},
		{
			name:      "existing gates are kept and never duplicated",
			existing:  gates("example.com/other", "health.clbind.io/b1"),
			bindings:  []networkingv1alpha1.CLBBackendBinding{binding("b1", "web"), binding("b2", "web")},
			wantGates: gates("example.com/other", "health.clbind.io/b1", "health.clbind.io/b2"),
			wantAdded: []string{"health.clbind.io/b2"},
		},
		{
			name:       "a pod without labels is selected by no Service",
			bindings:   []networkingv1alpha1.CLBBackendBinding{binding("b1", "web")},
			skipLabels: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web", "tier": "stable"}}}
			if tt.skipLabels {
				pod.Labels = nil
			}
			pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, tt.existing...)

			added := InjectReadinessGates(pod, tt.bindings, services)
			g.Expect(added).To(Equal(tt.wantAdded), cmp.Diff(tt.wantAdded, added))
			g.Expect(pod.Spec.ReadinessGates).To(Equal(tt.wantGates), cmp.Diff(tt.wantGates, pod.Spec.ReadinessGates))

			// Idempotent: a second pass (a retried admission, or reinvocation) changes nothing.
			again := InjectReadinessGates(pod, tt.bindings, services)
			g.Expect(again).To(BeEmpty())
			g.Expect(pod.Spec.ReadinessGates).To(Equal(tt.wantGates))
		})
	}
}
