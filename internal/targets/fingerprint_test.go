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

package targets

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeFingerprint(t *testing.T) {
	base := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"pool": "a"}},
			Spec:       corev1.NodeSpec{ProviderID: "qcloud:///100003/ins-abcdefgh"},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*corev1.Node)
		matters bool
	}{
		{"autoscaler taint", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: clusterAutoscalerDeleteTaint}} }, true},
		{"karpenter taint", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: karpenterDisruptedTaint}} }, true},
		{"deleting", func(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }, true},
		{"exclude label", func(n *corev1.Node) { n.Labels[excludeFromLBLabel] = "" }, true},
		{"selector label", func(n *corev1.Node) { n.Labels["pool"] = "b" }, true},
		{"not ready", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"provider ID", func(n *corev1.Node) { n.Spec.ProviderID = "qcloud:///100003/ins-zzzzzzzz" }, true},
		{"another taint", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "dedicated"}} }, false},
		{"cordoned", func(n *corev1.Node) { n.Spec.Unschedulable = true }, false},
		{"annotation", func(n *corev1.Node) { n.Annotations = map[string]string{"a": "b"} }, false},
		{"heartbeat", func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base()
			tc.edit(n)
			if changed := NodeFingerprint(base()) != NodeFingerprint(n); changed != tc.matters {
				t.Fatalf("fingerprint changed = %v, want %v", changed, tc.matters)
			}
		})
	}
}

func TestPodFingerprint(t *testing.T) {
	base := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"},
			Spec:       corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: ourGate}}},
			Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}, Conditions: []corev1.PodCondition{
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: ourGate, Status: corev1.ConditionFalse}}},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*corev1.Pod)
		matters bool
	}{
		{"containers not ready", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"gate true", func(p *corev1.Pod) { p.Status.Conditions[1].Status = corev1.ConditionTrue }, true},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }, true},
		{"new IP", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.2"}} }, true},
		{"a condition's probe time", func(p *corev1.Pod) { p.Status.Conditions[0].LastProbeTime = metav1.Now() }, false},
		{"annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": "b"} }, false},
		{"weight annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{weightAnnotation: "30"} }, true},
		{"empty weight annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{weightAnnotation: ""} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.edit(p)
			if changed := PodFingerprint(base()) != PodFingerprint(p); changed != tc.matters {
				t.Fatalf("fingerprint changed = %v, want %v", changed, tc.matters)
			}
		})
	}
}
