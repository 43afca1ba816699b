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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// Make before break: when the Service stops selecting pods that still run (a blue/green switch of
// its selector, a typo), their backends keep serving until the new ones are healthy on the CLB.
var _ = Describe("Make before break", func() {
	withSwitch := func(drain, bound int32) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Drain = &networkingv1alpha1.DrainSpec{Seconds: drain}
			b.Spec.MakeBeforeBreak = &networkingv1alpha1.MakeBeforeBreakSpec{TimeoutSeconds: bound}
		}
	}

	It("keeps the old backends serving through a selector switch until the new ones are healthy, in three writes", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		blue := f.webPods(2)
		green := f.colourPods("green", "10.2.0.", 2)
		f.setEndpoints("web", blue...)
		key := f.binding("web", lis, "web", withSwitch(2, 120))
		f.expectReady(key, 2)
		tag := ownerTag(key)
		for _, ep := range green {
			sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID, IP: ep.ip}, "Dead")
		}
		DeferCleanup(func() { sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "") })
		sim.ResetCalls()

		By("switching the Service to the green pods, not yet healthy on the CLB")
		f.setEndpoints("web", green...)
		both := append(podBackends(tag, defaultWeight, blue...), podBackends(tag, defaultWeight, green...)...)
		f.expectBackends(key, lis, both)
		Eventually(func(g Gomega) {
			b := f.get(key)
			g.Expect(b.Status.Retiring).To(BeEquivalentTo(2))
			c := f.readyCondition(b)
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.BindingSwitchingReason))
			g.Expect(c.Message).To(ContainSubstring("2 old backends keep serving until 2 new ones are healthy on the CLB (0 are)"))
		}).Should(Succeed(), f.dump(key))
		Consistently(func() []string { return backendsOn(f.lbID, lis) }, 3*time.Second).Should(ConsistOf(both),
			"the blue backends keep their weight while no green one is healthy")

		By("the green backends turning healthy")
		start := time.Now()
		for _, ep := range green {
			sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID, IP: ep.ip}, "Alive")
		}
		f.expectBackends(key, lis, append(podBackends(tag, 0, blue...), podBackends(tag, defaultWeight, green...)...))
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, green...))
		f.expectReady(key, 2)
		Expect(f.get(key).Status.Retiring).To(BeZero())
		AddReportEntry(fmt.Sprintf("green healthy → blue gone in %s (2 s drain)", time.Since(start).Round(time.Millisecond)))
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1, "BatchModifyTargetWeight": 1, "BatchDeregisterTargets": 1}),
			"one register pass, one weight pass, one deregister pass")
	})

	It("keeps serving through a Service that loses every endpoint while its pods run, until the bound, and warns", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web", withSwitch(1, 4))
		f.expectReady(key, 2)
		tag := ownerTag(key)
		sim.ResetCalls()

		By("emptying the EndpointSlice, as a selector typo does")
		f.setEndpoints("web")
		Eventually(func(g Gomega) {
			c := f.readyCondition(f.get(key))
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.BindingSwitchingReason))
			g.Expect(c.Message).To(ContainSubstring("the Service selects no ready endpoint while 2 pods it selected before still run"))
		}).Should(Succeed(), f.dump(key))
		Eventually(func() int { return len(warningsOf(key, "EndpointsVanished")) }).Should(Equal(1))
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, eps...)))

		By("waiting out the bound")
		Eventually(func() int { return len(warningsOf(key, "MakeBeforeBreakTimedOut")) }, 15*time.Second).Should(Equal(1))
		f.expectBackends(key, lis, nil)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchModifyTargetWeight": 1, "BatchDeregisterTargets": 1}))
	})

	It("lets terminating pods drain as before when the Deployment scales to 0", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web", withSwitch(1, 120))
		f.expectReady(key, 2)
		tag := ownerTag(key)
		for _, ep := range eps {
			f.deletePod(ep.pod)
		}
		f.setEndpoints("web", terminating(eps[0]), terminating(eps[1]))
		f.expectBackends(key, lis, podBackends(tag, 0, eps...))
		Expect(f.get(key).Status.Retiring).To(BeZero())
		f.setEndpoints("web")
		f.expectBackends(key, lis, nil)
		Eventually(func() int32 { return f.get(key).Status.Retiring }).Should(BeZero())
	})
})

// colourPods creates n running, Ready pods <colour>-0 … of the Service web with IPs prefix1 …,
// and returns their endpoints.
func (f *fixture) colourPods(colour, prefix string, n int) []endpoint {
	return f.readyPods(colour, map[string]string{"colour": colour}, n, func(i int) string { return fmt.Sprintf("%s%d", prefix, i+1) })
}

// readyCondition is the binding's Ready condition, or an empty one.
func (f *fixture) readyCondition(b *networkingv1alpha1.CLBBackendBinding) metav1.Condition {
	for _, c := range b.Status.Conditions {
		if c.Type == networkingv1alpha1.BindingReadyCondition {
			return c
		}
	}
	return metav1.Condition{}
}
