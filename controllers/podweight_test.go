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

package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Per-pod weights (the clbind.io/weight annotation) and not-ready backends
// (spec.notReadyBackends): both change weights only, so they must cost weight writes and never a
// deregister and register.
var _ = Describe("Per-pod weights and not-ready backends", func() {
	It("gives a pod the weight of its clbind.io/weight annotation, follows changes with weight writes, and warns on the pod about an invalid value", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setPodWeight(eps[0].pod, "30")
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web")
		tag := ownerTag(key)
		f.expectBackends(key, lis, []string{backend(eps[0].ip, targetPort, 30, tag), backend(eps[1].ip, targetPort, defaultWeight, tag)})
		f.expectReady(key, 2)

		By("changing the annotation of the running pod to 70")
		sim.ResetCalls()
		f.setPodWeight(eps[0].pod, "70")
		f.expectBackends(key, lis, []string{backend(eps[0].ip, targetPort, 70, tag), backend(eps[1].ip, targetPort, defaultWeight, tag)})
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchModifyTargetWeight": 1}), "a weight write, no deregister and register")

		By("setting an invalid value")
		sim.ResetCalls()
		f.setPodWeight(eps[0].pod, "abc")
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps...))
		Eventually(func(g Gomega) {
			events := invalidWeightWarnings(f.ns, eps[0].pod)
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Note).To(And(
				ContainSubstring(networkingv1alpha1.PodWeightAnnotation+`="abc"`),
				ContainSubstring("not a whole number from 0 to 100"),
				ContainSubstring("CLBBackendBinding web registers the pod at its spec.weight 10 instead"),
			))
			g.Expect(events[0].Related).NotTo(BeNil())
			g.Expect(events[0].Related.Name).To(Equal(key.Name))
		}).Should(Succeed())
		Consistently(cloudWrites, 2*time.Second).Should(Equal(map[string]int{"BatchModifyTargetWeight": 1}),
			"one weight write back to the binding's weight, then nothing: bad input does not loop")
		Expect(invalidWeightWarnings(f.ns, eps[0].pod)).To(HaveLen(1))
		Expect(invalidWeightWarnings(f.ns, eps[0].pod)[0].Series).To(BeNil(), "the Warning was recorded once, not on every reconcile")
		Expect(invalidWeightWarnings(f.ns, eps[1].pod)).To(BeEmpty())
	})

	It("keeps a not-ready backend at weight 0 with KeepAtWeightZero and gives it its weight back, with weight writes only", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setPodWeight(eps[1].pod, "30")
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.NotReadyBackends = networkingv1alpha1.NotReadyKeepAtWeightZero
		})
		tag := ownerTag(key)
		serving := []string{backend(eps[0].ip, targetPort, defaultWeight, tag), backend(eps[1].ip, targetPort, 30, tag)}
		f.expectBackends(key, lis, serving)
		f.expectReady(key, 2)

		By("the pod failing its readiness probe")
		sim.ResetCalls()
		f.setReady(eps[1], false)
		f.expectBackends(key, lis, []string{backend(eps[0].ip, targetPort, defaultWeight, tag), backend(eps[1].ip, targetPort, 0, tag)})
		f.expectReady(key, 2)
		Consistently(cloudWrites, time.Second).Should(Equal(map[string]int{"BatchModifyTargetWeight": 1}))

		By("the pod ready again")
		f.setReady(eps[1], true)
		f.expectBackends(key, lis, serving)
		f.expectReady(key, 2)
		Consistently(cloudWrites, time.Second).Should(Equal(map[string]int{"BatchModifyTargetWeight": 2}),
			"no BatchDeregisterTargets or BatchRegisterTargets")
	})

	It("deregisters a not-ready backend and registers it again with the default policy, as before", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web")
		Expect(f.get(key).Spec.NotReadyBackends).To(Equal(networkingv1alpha1.NotReadyDeregister), "the default")
		tag := ownerTag(key)
		f.expectReady(key, 2)

		By("the pod failing its readiness probe")
		sim.ResetCalls()
		f.setReady(eps[1], false)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[0]))
		f.expectReady(key, 1)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchDeregisterTargets": 1}))

		By("the pod ready again")
		f.setReady(eps[1], true)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps...))
		f.expectReady(key, 2)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchDeregisterTargets": 1, "BatchRegisterTargets": 1}))
	})
})

// setPodWeight sets the pod's clbind.io/weight annotation, leaving its other annotations alone.
func (f *fixture) setPodWeight(name, value string) {
	GinkgoHelper()
	var pod corev1.Pod
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, &pod)).To(Succeed())
	patch := client.MergeFrom(pod.DeepCopy())
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[networkingv1alpha1.PodWeightAnnotation] = value
	Expect(k8sClient.Patch(ctx, &pod, patch)).To(Succeed())
}

// setReady turns a pod's readiness on or off as a failing or passing readiness probe does: the
// kubelet's ContainersReady and Ready conditions, then the endpoint in the EndpointSlice of the
// Service web.
func (f *fixture) setReady(ep endpoint, isReady bool) {
	GinkgoHelper()
	status := corev1.ConditionFalse
	if isReady {
		status = corev1.ConditionTrue
	}
	var pod corev1.Pod
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: ep.pod}, &pod)).To(Succeed())
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.ContainersReady, Status: status},
		{Type: corev1.PodReady, Status: status},
	}
	Expect(k8sClient.Status().Update(ctx, &pod)).To(Succeed())

	var slice discoveryv1.EndpointSlice
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web-slice"}, &slice)).To(Succeed())
	found := false
	for i := range slice.Endpoints {
		if e := &slice.Endpoints[i]; len(e.Addresses) > 0 && e.Addresses[0] == ep.ip {
			e.Conditions = discoveryv1.EndpointConditions{Ready: new(isReady), Serving: new(isReady), Terminating: new(false)}
			found = true
		}
	}
	Expect(found).To(BeTrue(), "EndpointSlice web-slice has no endpoint %s", ep.ip)
	Expect(k8sClient.Update(ctx, &slice)).To(Succeed())
}

// invalidWeightWarnings lists the InvalidWeight Warning events recorded on a pod.
func invalidWeightWarnings(namespace, pod string) []eventsv1.Event {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "Pod" && e.Regarding.Name == pod && e.Type == corev1.EventTypeWarning && e.Reason == "InvalidWeight" {
			out = append(out, e)
		}
	}
	return out
}
