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
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Slow start: new backends begin at a fifth of their weight and reach it in four steps, each one
// weight write for the load balancer, timed from the pod's ContainersReady transition.
var _ = Describe("Slow start", func() {
	It("ramps three new pods from 10 to 50 in at most four weight writes over 8 s", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		readyAt := metav1.NewTime(time.Now().Truncate(time.Second))
		for _, ep := range eps {
			var pod corev1.Pod
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: ep.pod}, &pod)).To(Succeed())
			for i := range pod.Status.Conditions {
				if pod.Status.Conditions[i].Type == corev1.ContainersReady {
					pod.Status.Conditions[i].LastTransitionTime = readyAt
				}
			}
			Expect(k8sClient.Status().Update(ctx, &pod)).To(Succeed())
		}
		sim.ResetCalls()
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Weight = new(int32(50))
			b.Spec.ReadinessGate = new(false)
			b.Spec.SlowStart = &networkingv1alpha1.SlowStartSpec{Seconds: 8}
		})
		tag := ownerTag(key)

		// The weights the listener goes through, as a user polling the CLB would see them.
		var seen []int64
		Eventually(func() []string {
			got := backendsOn(f.lbID, lis)
			for _, t := range sim.Targets(f.lbID) {
				if t.ListenerID == lis && (len(seen) == 0 || seen[len(seen)-1] != t.Weight) {
					seen = append(seen, t.Weight)
				}
			}
			return got
		}, 20*time.Second, 100*time.Millisecond).Should(ConsistOf(podBackends(tag, 50, eps...)))
		AddReportEntry("weights seen", seen)
		Expect(seen[0]).To(BeNumerically("<=", 20), "registered at a fifth or two of the weight: %v", seen)
		Expect(slices.IsSorted(seen)).To(BeTrue(), "the weight only rises: %v", seen)
		writes := cloudWrites()
		Expect(writes["BatchRegisterTargets"]).To(Equal(1))
		Expect(writes["BatchModifyTargetWeight"]).To(BeNumerically("<=", 4), "one write per step for the three pods")
		Expect(writes["BatchModifyTargetWeight"]).To(BeNumerically(">=", 3))
		Consistently(func() []string { return backendsOn(f.lbID, lis) }, 3*time.Second).Should(ConsistOf(podBackends(tag, 50, eps...)))
		Expect(cloudWrites()).To(Equal(writes), "nothing more once the ramp is over")
	})
})
