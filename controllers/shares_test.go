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
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Traffic shares: a stable and a canary binding share one listener; spec.trafficShare splits its
// new connections, and the status says what the CLB carries.
var _ = Describe("Traffic shares", func() {
	withShare := func(share int32) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.TrafficShare = &share }
	}
	// weightShare is the binding's share of the listener's weight on the CLB, in percent.
	weightShare := func(f *fixture, lis string, key types.NamespacedName) float64 {
		tag := ownerTag(key)
		var mine, all int64
		for _, t := range sim.Targets(f.lbID) {
			if t.ListenerID == lis {
				all += t.Weight
				if t.Tag == tag {
					mine += t.Weight
				}
			}
		}
		if all == 0 {
			return 0
		}
		return 100 * float64(mine) / float64(all)
	}
	setShare := func(key types.NamespacedName, share int32) {
		b := &networkingv1alpha1.CLBBackendBinding{}
		Expect(k8sClient.Get(ctx, key, b)).To(Succeed())
		patch := client.MergeFrom(b.DeepCopy())
		b.Spec.TrafficShare = &share
		Expect(k8sClient.Patch(ctx, b, patch)).To(Succeed())
	}
	// expectShare waits until the binding's TrafficShare condition is True for its generation with
	// status.trafficShare applied = share, and the CLB's weights give it share within 1 point.
	expectShare := func(f *fixture, lis string, key types.NamespacedName, share int32) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			b := f.get(key)
			c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.TrafficShareCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			g.Expect(c.ObservedGeneration).To(Equal(b.Generation))
			g.Expect(b.Status.TrafficShare).NotTo(BeNil())
			g.Expect(b.Status.TrafficShare.Applied).To(Equal(share))
			achieved, err := strconv.ParseFloat(b.Status.TrafficShare.Achieved, 64)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(achieved).To(BeNumerically("~", weightShare(f, lis, key), 0.05), "status matches the CLB")
			g.Expect(achieved).To(BeNumerically("~", float64(share), 1))
		}).Should(Succeed(), f.dump(key))
	}

	// stableAndCanary creates a stable and a canary Service with their pods, and a binding of
	// each on one listener with the given shares.
	stableAndCanary := func(f *fixture, stablePods, canaryPods int, stableShare, canaryShare int32) (string, types.NamespacedName, types.NamespacedName) {
		lis := f.listener(80)
		f.service("stable", corev1.ServiceTypeClusterIP)
		f.service("canary", corev1.ServiceTypeClusterIP)
		f.setEndpoints("stable", f.colourPods("stable", "10.3.0.", stablePods)...)
		f.setEndpoints("canary", f.colourPods("canary", "10.4.0.", canaryPods)...)
		return lis, f.binding("stable", lis, "stable", withShare(stableShare)), f.binding("canary", lis, "canary", withShare(canaryShare))
	}

	It("splits a listener 90/10 between a stable and a canary binding, then 50/50 in one weight write", func() {
		f := newFixture()
		lis, stable, canary := stableAndCanary(f, 9, 1, 90, 10)
		expectShare(f, lis, stable, 90)
		expectShare(f, lis, canary, 10)
		f.expectReady(canary, 1)
		sim.ResetCalls()

		By("moving to 50/50")
		setShare(canary, 50)
		setShare(stable, 50)
		expectShare(f, lis, canary, 50)
		expectShare(f, lis, stable, 50)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchModifyTargetWeight": 1}), "weights only, in one call")
		Expect(warningsOf(stable, "RepairedOutOfBand")).To(BeEmpty())
	})

	It("keeps the weights while the shares do not add up, and says so on both bindings", func() {
		f := newFixture()
		lis, stable, canary := stableAndCanary(f, 3, 1, 75, 25)
		expectShare(f, lis, canary, 25)
		sim.ResetCalls()

		setShare(canary, 60)
		for _, key := range []types.NamespacedName{stable, canary} {
			Eventually(func(g Gomega) {
				c := meta.FindStatusCondition(f.get(key).Status.Conditions, networkingv1alpha1.TrafficShareCondition)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(networkingv1alpha1.TrafficShareDoNotAddUpReason))
				g.Expect(c.Message).To(ContainSubstring("add up to 135%"))
			}).Should(Succeed(), f.dump(key))
		}
		Eventually(func() int { return len(warningsOf(canary, networkingv1alpha1.TrafficShareDoNotAddUpReason)) }).Should(BeNumerically(">=", 1))
		Expect(cloudWrites()).To(BeEmpty(), "no weight moves on an inconsistent split")
		Expect(weightShare(f, lis, canary)).To(BeNumerically("~", 25, 1))

		setShare(stable, 40)
		expectShare(f, lis, canary, 60)
	})

	It("says what to change when the pods cannot carry the share, and refuses a binding without one", func() {
		f := newFixture()
		lis, stable, canary := stableAndCanary(f, 150, 1, 50, 50)
		f.service("other", corev1.ServiceTypeClusterIP)
		f.setEndpoints("other", f.colourPods("other", "10.5.0.", 1)...)
		Eventually(func(g Gomega) {
			b := f.get(canary)
			c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.TrafficShareCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.TrafficShareUnreachableReason))
			g.Expect(c.Message).To(ContainSubstring("add"))
			g.Expect(b.Status.TrafficShare).NotTo(BeNil())
			g.Expect(b.Status.TrafficShare.Achieved).To(Equal("40.0"), "1 pod at 100 against 150 at 1 at least")
		}).Should(Succeed(), f.dump(canary))
		f.expectReady(stable, 150)

		By("a binding without spec.trafficShare on the same listener")
		intruder := f.binding("other", lis, "other")
		f.expectNotReady(intruder, networkingv1alpha1.BindingConflictReason)
		Expect(f.readyCondition(f.get(intruder)).Message).To(ContainSubstring("spec.trafficShare"))
	})
})
