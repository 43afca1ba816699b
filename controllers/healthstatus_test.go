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

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// status.healthy has one source, the health poller, and the binding listens to it: it follows a
// health change within a poll, with or without readiness gates.
var _ = Describe("The binding's healthy count", func() {
	It("follows the CLB's health within a poll interval, with readiness gates off", func() {
		f := newFixture()
		lis := f.listener(80)
		f.webService()
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.ReadinessGate = new(false) })
		f.expectReady(key, 2)
		DeferCleanup(func() { sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "") })

		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		// A steady load balancer is polled every 30 s, one with failing backends every 2 s.
		Eventually(func() int32 { return f.get(key).Status.Healthy }, 40*time.Second).Should(BeZero())

		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Alive")
		start := time.Now()
		Eventually(func() int32 { return f.get(key).Status.Healthy }, 5*time.Second, 50*time.Millisecond).Should(BeEquivalentTo(2),
			"status.healthy within a fast poll (2 s) of the change")
		AddReportEntry(fmt.Sprintf("healthy count followed the CLB in %s", time.Since(start).Round(time.Millisecond)))
		Expect(f.get(key).Status.Conditions).To(ContainElement(HaveField("Reason", networkingv1alpha1.BindingSyncedReason)))
	})
})
