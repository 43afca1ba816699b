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
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// kubeletPod is a pod as the API server holds it: a Deployment's metadata, a full spec and the
// status a kubelet writes.
func kubeletPod(gates ...corev1.PodConditionType) *corev1.Pod {
	created, deleted := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", UID: "uid-1", ResourceVersion: "42", Generation: 1, CreationTimestamp: created,
			DeletionTimestamp: &deleted, DeletionGracePeriodSeconds: new(int64(30)),
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{"note": "dropped"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", UID: "rs-1"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "192.168.0.1", PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true}},
		},
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue,
			Reason: "Kubelet", Message: "long message", LastTransitionTime: created})
	}
	for _, g := range gates {
		p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: g})
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: g, Status: corev1.ConditionFalse,
			Reason: networkingv1alpha1.GateUnhealthyReason, Message: "dead", LastTransitionTime: created})
	}
	return p
}

func TestPodCacheTransform(t *testing.T) {
	ours := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType("web"))
	theirs := corev1.PodConditionType("example.com/other-gate")
	// ContainersReady keeps its transition time: slow start ramps from it.
	containersReady := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(time.Unix(1000, 0))}
	gateCondition := func(g corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: g, Status: corev1.ConditionFalse, Reason: networkingv1alpha1.GateUnhealthyReason,
			Message: "dead", LastTransitionTime: metav1.NewTime(time.Unix(1000, 0))}
	}
	tests := []struct {
		name           string
		gates          []corev1.PodConditionType
		wantConditions []corev1.PodCondition
	}{
		{"no gate: ContainersReady's status and transition time only", nil, []corev1.PodCondition{containersReady}},
		{"our gate: its whole condition", []corev1.PodConditionType{ours}, []corev1.PodCondition{containersReady, gateCondition(ours)}},
		{"another controller's gate too (it holds Ready)", []corev1.PodConditionType{ours, theirs},
			[]corev1.PodCondition{containersReady, gateCondition(ours), gateCondition(theirs)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			in := kubeletPod(tt.gates...)
			out, err := slimPod(in)
			g.Expect(err).NotTo(HaveOccurred())
			pod := out.(*corev1.Pod)

			g.Expect(pod.TypeMeta).To(Equal(in.TypeMeta))
			g.Expect(pod.ObjectMeta).To(Equal(metav1.ObjectMeta{
				Name: in.Name, Namespace: in.Namespace, UID: in.UID, ResourceVersion: in.ResourceVersion,
				CreationTimestamp: in.CreationTimestamp, DeletionTimestamp: in.DeletionTimestamp, Labels: in.Labels,
			}), "identity, labels, creation and deletion; no annotations, owners or managed fields")
			g.Expect(pod.Spec).To(Equal(corev1.PodSpec{ReadinessGates: in.Spec.ReadinessGates}))
			g.Expect(pod.Status).To(Equal(corev1.PodStatus{PodIP: in.Status.PodIP, PodIPs: in.Status.PodIPs, Conditions: tt.wantConditions}))
			// What the controllers derive from a pod is the same from the slim one.
			g.Expect(targets.PodInfoFromPod(pod)).To(Equal(targets.PodInfoFromPod(in)))
			g.Expect(targets.PodFingerprint(pod)).To(Equal(targets.PodFingerprint(in)))
			g.Expect(podCondition(pod, string(ours))).To(Equal(podCondition(in, string(ours))))
		})
	}
}

func TestPodCacheTransformKeepsTheWeightAnnotationOnly(t *testing.T) {
	g := NewWithT(t)
	in := kubeletPod()
	in.Annotations = map[string]string{"note": "dropped", networkingv1alpha1.PodWeightAnnotation: "30",
		"kubectl.kubernetes.io/last-applied-configuration": "{...}"}
	out, err := slimPod(in)
	g.Expect(err).NotTo(HaveOccurred())
	pod := out.(*corev1.Pod)
	g.Expect(pod.Annotations).To(Equal(map[string]string{networkingv1alpha1.PodWeightAnnotation: "30"}))
	g.Expect(targets.PodInfoFromPod(pod)).To(Equal(targets.PodInfoFromPod(in)))
	g.Expect(targets.PodFingerprint(pod)).To(Equal(targets.PodFingerprint(in)))

	// An empty value is still a value (an invalid one): it is kept, not taken for no annotation.
	in.Annotations[networkingv1alpha1.PodWeightAnnotation] = ""
	out, err = slimPod(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.(*corev1.Pod).Annotations).To(HaveKeyWithValue(networkingv1alpha1.PodWeightAnnotation, ""))
	g.Expect(targets.PodFingerprint(out.(*corev1.Pod))).To(Equal(targets.PodFingerprint(in)))
}

func TestPodCacheTransformPassesTombstones(t *testing.T) {
	g := NewWithT(t)
	tomb := toolscache.DeletedFinalStateUnknown{Key: "shop/web-1"}
	out, err := slimPod(tomb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(tomb))
}
