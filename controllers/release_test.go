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
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/controllers"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// loadBalancerSeries counts the metric series of the manager that name lbID.
func loadBalancerSeries(lbID string) int {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "load_balancer" && l.GetValue() == lbID {
					n++
				}
			}
		}
	}
	return n
}

var _ = Describe("State the controllers keep per object", func() {
	It("is released when its pods and bindings are deleted", func() {
		// 50 bindings, each with one pod held back by its gate: proportionate for envtest, and each
		// map is counted back to zero.
		const n = 50
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		// No health verdict: every gate waits, so every registered pod has its fail-open timer.
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Unknown")
		counts := func() map[string]int { return controllers.StateCounts(f.ns) }
		none := map[string]int{"binding memory": 0, "registeredSince bindings": 0, "registeredSince pods": 0, "forbidden": 0}
		Expect(counts()).To(Equal(none))

		By(fmt.Sprintf("binding %d pods, each held back only by the gate of its own binding, on %d listeners", n, n))
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: f.ns, Name: "web-gated", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(targetPort)), Protocol: new(corev1.ProtocolTCP)}},
		}
		pods := make([]*corev1.Pod, n)
		for i := range n {
			ip := fmt.Sprintf("10.3.%d.%d", i/250, i%250+1)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("gated-%d", i), Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					NodeName:   "node-a",
					Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
					ReadinessGates: []corev1.PodReadinessGate{{
						ConditionType: corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(fmt.Sprintf("b-%d", i))),
					}},
				},
			}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			created := pod.DeepCopy()
			pod.Status = corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
				Conditions: []corev1.PodCondition{
					{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady"},
				},
			}
			Expect(k8sClient.Status().Patch(ctx, pod, client.MergeFrom(created))).To(Succeed())
			pods[i] = pod
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: new(false), Serving: new(false), Terminating: new(false)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: f.ns, Name: pod.Name, UID: pod.UID},
			})
		}
		Expect(k8sClient.Create(ctx, slice)).To(Succeed())
		keys := make([]types.NamespacedName, n)
		for i := range n {
			keys[i] = f.binding(fmt.Sprintf("b-%d", i), f.listener(int64(1000+i)), "web")
		}
		for _, key := range keys {
			Eventually(func(g Gomega) {
				var h networkingv1alpha1.CLBHealth
				g.Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
				patch := client.MergeFrom(h.DeepCopy())
				h.Spec.TimeoutSeconds = new(int32(3600))
				g.Expect(k8sClient.Patch(ctx, &h, patch)).To(Succeed())
			}).Should(Succeed())
		}
		Eventually(counts).Should(Equal(map[string]int{
			"binding memory": n, "registeredSince bindings": n, "registeredSince pods": n, "forbidden": 0,
		}), "each binding remembers its desired state, and when its pod was registered")
		Expect(loadBalancerSeries(f.lbID)).To(BeNumerically(">", 0), "the metrics of the load balancer's worker")

		By("deleting half of the pods: their bindings forget when they were registered")
		for _, pod := range pods[:n/2] {
			Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		}
		Eventually(counts).Should(Equal(map[string]int{
			"binding memory": n, "registeredSince bindings": n / 2, "registeredSince pods": n / 2, "forbidden": 0,
		}))

		By("deleting the bindings, while the other pods stay: nothing of the bindings is left")
		f.deleteBindings()
		Eventually(counts).Should(Equal(none))
		Eventually(func() int { return loadBalancerSeries(f.lbID) }).Should(BeZero(), "the load balancer's worker is reaped, with its metrics")
		for _, key := range keys {
			_, ok := controllers.RunningSyncer().Status(key)
			Expect(ok).To(BeFalse(), "the workers' status of %s", key)
		}
		_, ok := controllers.RunningPoller().View(f.lbID)
		Expect(ok).To(BeFalse(), "the health view of a load balancer nobody watches")
	})
})
