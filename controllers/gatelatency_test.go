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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// gateLatencySnapshot is the readiness gate latency histogram as the manager exports it.
type gateLatencySnapshot struct {
	count uint64
	sum   float64
	// le counts the observations at or below each bucket bound (cumulative, as exported).
	le map[float64]uint64
}

func gateLatencyNow() gateLatencySnapshot {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != "clbind_readiness_gate_latency_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		s := gateLatencySnapshot{count: h.GetSampleCount(), sum: h.GetSampleSum(), le: map[float64]uint64{}}
		for _, b := range h.GetBucket() {
			s.le[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		return s
	}
	Fail("clbind_readiness_gate_latency_seconds is not registered")
	return gateLatencySnapshot{}
}

// bindingReadySeries returns the clbind_binding_ready series of one binding: reason → value.
func bindingReadySeries(key types.NamespacedName) map[string]float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() != "clbind_binding_ready" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == key.Namespace && labels["binding"] == key.Name {
				out[labels["reason"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

var _ = Describe("Gate latency and binding readiness metrics", func() {
	It("observes each pod once, from its registration to its gate turning True, and exports the binding's Ready condition", func() {
		const binding = "web"
		gate := networkingv1alpha1.ReadinessGateConditionType(binding)
		// The CLB takes at least hold to judge the pods healthy.
		const hold = 3 * time.Second
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Unknown")
		before := gateLatencyNow()
		created := time.Now()
		pods := createGatedPods(f, 3, func(int) string { return gate }, func(i int) string { return fmt.Sprintf("10.3.0.%d", i+1) })
		key := f.binding(binding, lis, "web")

		gateOf := func(pod *corev1.Pod) func(g Gomega) corev1.PodCondition {
			return func(g Gomega) corev1.PodCondition {
				var current corev1.Pod
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &current)).To(Succeed())
				for _, c := range current.Status.Conditions {
					if string(c.Type) == gate {
						return c
					}
				}
				return corev1.PodCondition{}
			}
		}

		By("waiting for the health check of the registered pods, which the CLB holds for a while")
		for _, pod := range pods {
			Eventually(gateOf(pod)).Should(HaveField("Reason", networkingv1alpha1.GateHealthCheckPendingReason))
		}
		Consistently(func(g Gomega) {
			for _, pod := range pods {
				g.Expect(gateOf(pod)(g).Status).To(Equal(corev1.ConditionFalse))
			}
		}, hold).Should(Succeed())
		Expect(gateLatencyNow().count).To(Equal(before.count), "nothing observed while the gates wait")
		Expect(bindingReadySeries(key)).To(Equal(map[string]float64{networkingv1alpha1.BindingSyncedReason: 1}),
			"the binding is Ready: its backends are registered")

		By("observing one latency per pod when the CLB reports them healthy")
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Alive")
		for _, pod := range pods {
			Eventually(gateOf(pod)).Should(HaveField("Status", corev1.ConditionTrue))
		}
		elapsed := time.Since(created).Seconds()
		after := gateLatencyNow()
		Expect(after.count-before.count).To(BeEquivalentTo(3), "one observation per pod")
		Expect(after.le[2]-before.le[2]).To(BeZero(), "every pod waited at least %v on the health check", hold)
		mean := (after.sum - before.sum) / 3
		GinkgoWriter.Printf("GATE-LATENCY mean %.2fs (held %v, %.2fs since the pods were created)\n", mean, hold, elapsed)
		Expect(mean).To(And(BeNumerically(">=", hold.Seconds()), BeNumerically("<=", elapsed)))

		By("observing nothing more once the gates latch True, even when the CLB turns Dead")
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		Eventually(func() int32 { return f.get(key).Status.Healthy }).Should(BeZero())
		Expect(gateLatencyNow().count).To(Equal(after.count))

		By("dropping the binding's Ready series once it is deleted")
		f.deleteBindings()
		Eventually(func() map[string]float64 { return bindingReadySeries(key) }).Should(BeEmpty())
	})

	It("exports a binding that is not Ready with its reason", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		key := f.binding("web", "lbl-00000000", "web")
		f.expectNotReady(key, networkingv1alpha1.BindingListenerNotFoundReason)
		Eventually(func() map[string]float64 { return bindingReadySeries(key) }).Should(
			Equal(map[string]float64{networkingv1alpha1.BindingListenerNotFoundReason: 0}))
	})
})
