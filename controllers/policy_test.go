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
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// The controller's half of binding policies: the webhook can be bypassed or down (this suite has
// none), so the load balancer workers check every binding before they write for it. Each spec
// counts the cloud writes it causes, 0 where nothing may be written.
var _ = Describe("Binding policies", Ordered, func() {
	BeforeAll(func() {
		enforcePolicies, targetsTTL = true, 2*time.Second
		restartManager(nil)
		DeferCleanup(func() {
			enforcePolicies, targetsTTL = false, 0
			restartManager(nil)
		})
	})

	It("refuses a binding no policy allows, syncs it once one does, freezes it when the policy goes and resumes when it returns", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps[:2]...)
		sim.ResetCalls()

		By("creating the binding with no policy")
		key := f.binding("web", lis, "web")
		f.expectNotReady(key, networkingv1alpha1.BindingForbiddenReason)
		Expect(readyMessage(key)).To(And(
			ContainSubstring("no CLBBindingPolicy allows namespace "+f.ns+" to bind"), ContainSubstring(f.lbID),
			ContainSubstring("a cluster admin must create one"), ContainSubstring("nothing is written to the CLB")))
		Eventually(func() int { return len(warningsOf(key, networkingv1alpha1.BindingForbiddenReason)) }).Should(Equal(1))
		Consistently(cloudWrites, 2*time.Second).Should(BeEmpty(), "a binding no policy allows writes nothing")

		By("allowing its namespace to bind the load balancer")
		pol := allowPolicy(f.ns, f.lbID)
		f.expectReady(key, 2)
		tag := ownerTag(key)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[:2]...))
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1}))

		By("deleting the policy, then changing the endpoints")
		Expect(k8sClient.Delete(ctx, pol)).To(Succeed())
		f.expectNotReady(key, networkingv1alpha1.BindingForbiddenReason)
		sim.ResetCalls()
		f.deletePod(eps[0].pod) // gone for good: no make before break for it
		f.setEndpoints("web", eps[1:]...)
		Consistently(cloudWrites, 3*time.Second).Should(BeEmpty(), "a binding no longer allowed writes nothing")
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, eps[:2]...)),
			"nothing is yanked from production by a policy edit")

		By("restoring the policy")
		start := time.Now()
		allowPolicy(f.ns, f.lbID)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[1:]...))
		f.expectReady(key, 2)
		AddReportEntry(fmt.Sprintf("policy restored → synced in %s", time.Since(start).Round(time.Millisecond)))
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "allowed again → synced again within seconds")
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1, "BatchDeregisterTargets": 1}))
	})

	It("refuses exclusive ownership where the policy allows only multiCluster", func() {
		f := newFixture()
		lis := f.listener(80)
		f.webService()
		createPolicy(f.ns, f.lbID, func(p *networkingv1alpha1.CLBBindingPolicy) {
			p.Spec.Exclusive = networkingv1alpha1.ExclusiveForbidden
		})
		sim.ResetCalls()
		key := f.binding("web", lis, "web")
		f.expectNotReady(key, networkingv1alpha1.BindingForbiddenReason)
		Expect(readyMessage(key)).To(ContainSubstring("only with spec.multiCluster: true"))
		Consistently(cloudWrites, 2*time.Second).Should(BeEmpty())

		shared := f.binding("shared", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.MultiCluster = true })
		f.expectNotReady(shared, networkingv1alpha1.BindingConflictReason) // the older exclusive one still holds the listener
		Expect(k8sClient.Delete(ctx, f.get(key))).To(Succeed())
		f.expectGone(key)
		f.expectReady(shared, 2)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1}),
			"the forbidden exclusive binding left without a write, and took nothing with it")
	})

	It("keeps two namespaces off one listener unless their policies share it, and never touches the other's backends", func() {
		a := newFixture()
		lis := a.listener(80)
		b := &fixture{ns: newNamespace(), lbID: a.lbID}
		DeferCleanup(b.deleteBindings)
		multi := func(x *networkingv1alpha1.CLBBackendBinding) { x.Spec.MultiCluster = true }
		a.service("web", corev1.ServiceTypeClusterIP)
		epsA := a.webPods(2)
		a.setEndpoints("web", epsA...)
		b.service("web", corev1.ServiceTypeClusterIP)
		epsB := []endpoint{ready("b-0", "10.2.0.1"), ready("b-1", "10.2.0.2")}
		b.setEndpoints("web", epsB...)
		polA := allowPolicy(a.ns, a.lbID)
		polB := allowPolicy(b.ns, a.lbID)

		keyA := a.binding("web", lis, "web", multi)
		a.expectReady(keyA, 2)
		aBackends := podBackends(ownerTag(keyA), defaultWeight, epsA...)
		sim.ResetCalls()

		By("binding the same listener from namespace b")
		keyB := b.binding("web", lis, "web", multi)
		b.expectNotReady(keyB, networkingv1alpha1.BindingForbiddenReason)
		Expect(readyMessage(keyB)).To(ContainSubstring("while namespace " + a.ns + " binds it too"))
		Consistently(cloudWrites, 2*time.Second).Should(BeEmpty())
		Expect(backendsOn(a.lbID, lis)).To(ConsistOf(aBackends))

		By("letting only b's policy share: a's policy must allow it too")
		setShared(polB, true)
		b.expectNotReady(keyB, networkingv1alpha1.BindingForbiddenReason)
		Eventually(func() string { return readyMessage(keyB) }).Should(ContainSubstring("already bound from namespace " + a.ns))
		Consistently(cloudWrites, 2*time.Second).Should(BeEmpty())

		By("sharing on both sides")
		setShared(polA, true)
		b.expectReady(keyB, 2)
		Expect(backendsOn(a.lbID, lis)).To(ConsistOf(append(slices.Clone(aBackends), podBackends(ownerTag(keyB), defaultWeight, epsB...)...)))
		a.expectReady(keyA, 2)
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1}), "b registered its own backends, once")

		By("deleting b: only b's backends go")
		Expect(k8sClient.Delete(ctx, b.get(keyB))).To(Succeed())
		b.expectGone(keyB)
		Expect(backendsOn(a.lbID, lis)).To(ConsistOf(aBackends))
	})

	It("reports OwnershipConflict instead of fighting a second manager that writes with the same tag", func() {
		f := newFixture()
		lis := f.listener(80)
		f.webService()
		allowPolicy(f.ns, f.lbID)
		key := f.binding("web", lis, "web")
		f.expectReady(key, 2)
		tag := ownerTag(key)
		sim.ResetCalls()
		// Steady, and past the startup recheck, in which a backend appearing may be the previous
		// leader's last write.
		Consistently(cloudWrites, 4*time.Second).Should(BeEmpty(), "a steady binding writes nothing")

		By("registering, as a manager with the same --cluster-id would, a backend with the binding's tag")
		res, err := cloud.RegisterTargets(ctx, f.lbID, []targets.Target{
			{Key: targets.Key{ListenerID: lis, EniIP: "10.77.0.1", Port: targetPort}, Weight: defaultWeight, Tag: tag},
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.FailedListenerIDs).To(BeEmpty())
		// The worker finds it at its next read of the listener (every 2 s in this suite), once a
		// reconcile hands it the binding again.
		Eventually(func() string {
			f.touch(&corev1.Service{}, "web")
			return f.readyReason(key)
		}).WithPolling(time.Second).Should(Equal(networkingv1alpha1.BindingOwnershipConflictReason))
		f.expectNotReady(key, networkingv1alpha1.BindingOwnershipConflictReason)
		Expect(readyMessage(key)).To(And(ContainSubstring("same --cluster-id"), ContainSubstring(tag)))
		Eventually(func() int { return len(warningsOf(key, networkingv1alpha1.BindingOwnershipConflictReason)) }).Should(Equal(1))
		Consistently(func() []string { return backendsOn(f.lbID, lis) }, 3*time.Second).Should(ContainElement(
			backend("10.77.0.1", targetPort, defaultWeight, tag)), "the other manager's backend is left alone")
		Expect(cloudWrites()).To(Equal(map[string]int{"BatchRegisterTargets": 1}), "only the test's own write: no fight")

		By("the other manager removing it")
		_, err = cloud.DeregisterTargets(ctx, f.lbID, []targets.Target{
			{Key: targets.Key{ListenerID: lis, EniIP: "10.77.0.1", Port: targetPort}},
		})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string {
			f.touch(&corev1.Service{}, "web")
			return f.readyReason(key)
		}).WithPolling(time.Second).Should(Equal(networkingv1alpha1.BindingSyncedReason))
		f.expectReady(key, 2)
	})

	It("lets the owner finish a deletion the cloud refuses, and names what it left behind", func() {
		f := newFixture()
		lis := f.listener(80)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		allowPolicy(f.ns, f.lbID)
		key := f.binding("web", lis, "web")
		f.expectReady(key, 2)
		tag := ownerTag(key)

		By("revoking the credentials' right to deregister, and deleting the binding")
		DeferCleanup(sim.ClearFaults)
		sim.InjectFault(clbsim.Fault{Action: "BatchDeregisterTargets", Code: "AuthFailure.UnauthorizedOperation", Rate: 1})
		sim.ResetCalls()
		Expect(k8sClient.Delete(ctx, f.get(key))).To(Succeed())
		Eventually(func(g Gomega) {
			b := f.get(key)
			c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.BindingDeletingReason))
			g.Expect(c.Message).To(And(ContainSubstring("AuthFailure"), ContainSubstring(networkingv1alpha1.SkipCloudCleanupAnnotation)))
		}).Should(Succeed(), f.dump(key))
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, eps...)))

		By("annotating it to skip the cloud cleanup")
		b := f.get(key)
		patch := client.MergeFrom(b.DeepCopy())
		b.Annotations = map[string]string{networkingv1alpha1.SkipCloudCleanupAnnotation: "true"}
		Expect(k8sClient.Patch(ctx, b, patch)).To(Succeed())
		f.expectGone(key)
		Eventually(func(g Gomega) {
			ws := warningsOf(key, "CloudCleanupSkipped")
			g.Expect(ws).To(HaveLen(1))
			g.Expect(ws[0].Note).To(And(ContainSubstring("left 2 backends on listener "+lis+" of "+f.lbID),
				ContainSubstring(fmt.Sprintf("%s:%d", eps[0].ip, targetPort)), ContainSubstring(fmt.Sprintf("%s:%d", eps[1].ip, targetPort)),
				ContainSubstring(tag)))
		}).Should(Succeed())
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, eps...)), "nothing was removed")
		calls := sim.Calls()
		Expect(calls["BatchDeregisterTargets"]["OK"]).To(BeZero())
		Expect(cloudWrites()["BatchRegisterTargets"]).To(BeZero())
	})
})

// allowPolicy creates a policy that lets namespace bind lbID.
func allowPolicy(namespace, lbID string) *networkingv1alpha1.CLBBindingPolicy {
	return createPolicy(namespace, lbID)
}

// createPolicy creates a policy for namespace and lbID, edited by edit, and deletes it after
// the spec.
func createPolicy(namespace, lbID string, edit ...func(*networkingv1alpha1.CLBBindingPolicy)) *networkingv1alpha1.CLBBindingPolicy {
	GinkgoHelper()
	p := &networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: namespace + "-"},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:    networkingv1alpha1.NamespaceSelection{Names: []string{namespace}},
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{ID: lbID}},
		},
	}
	for _, e := range edit {
		e(p)
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	DeferCleanup(func() {
		err := k8sClient.Delete(ctx, p)
		Expect(err == nil || apierrors.IsNotFound(err)).To(BeTrue(), "deleting policy %s: %v", p.Name, err)
	})
	return p
}

func setShared(p *networkingv1alpha1.CLBBindingPolicy, shared bool) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.SharedAcrossNamespaces = shared
	Expect(k8sClient.Patch(ctx, p, patch)).To(Succeed())
}

// readyReason is the reason of the binding's Ready condition.
func (f *fixture) readyReason(key types.NamespacedName) string {
	if c := meta.FindStatusCondition(f.get(key).Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// readyMessage is the message of the binding's Ready condition.
func readyMessage(key types.NamespacedName) string {
	var b networkingv1alpha1.CLBBackendBinding
	if err := k8sClient.Get(ctx, key, &b); err != nil {
		return err.Error()
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		return c.Message
	}
	return ""
}
