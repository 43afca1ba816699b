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

// pendingBindings is the manager's clbind_lbsync_pending_bindings gauge of lbID: bindings whose
// change its worker has but the CLB does not match yet.
func pendingBindings(lbID string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != "clbind_lbsync_pending_bindings" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "load_balancer" && l.GetValue() == lbID {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
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
		pods := createGatedPods(f, n,
			func(i int) string { return networkingv1alpha1.ReadinessGateConditionType(fmt.Sprintf("b-%d", i)) },
			func(i int) string { return fmt.Sprintf("10.3.%d.%d", i/250, i%250+1) })
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
