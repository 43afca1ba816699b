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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// What the real CLB does that a lenient fake would not, as the user sees it through the binding:
// it refuses pod IPs its VPC cannot route, bounds the backends of a listener by a quota, refuses
// to deregister a backend already gone, and keeps backends registered by hand at the keys a
// binding wants. internal/lbsync/fidelity_test.go covers the same at the worker's level, with
// the clock moved on where the controller waits minutes (the re-try of refused addresses).

const (
	// farPrefix is outside RFC 1918, so outside the VPC of clbsim's load balancers (no CIDRs
	// configured): the pod CIDR of a GlobalRouter cluster the load balancer has no route to.
	farPrefix = "198.19.0."
	// foreignTag is the owner tag of a binding of another cluster.
	foreignTag = "cbb-othercluster00000"
)

// fidelityCase is one row of the table, in the shape of badInput: arrange builds the row's
// world, which may write to the cloud; the call counters are reset after it. It returns act,
// which does what the row is about and returns the binding to watch and a phrase of the
// message it must end up with.
type fidelityCase struct {
	arrange func(f *fixture) (act func() (types.NamespacedName, string))
	// reason is the Ready condition's reason; Synced means Ready=True.
	reason string
	// phrases are more phrases the condition's message must hold.
	phrases []string
	// registered and desired are the status counts the binding ends with.
	registered, desired int
	// warnings are the reasons of the Warning events on the binding, one event each.
	warnings []string
	// writes are the cloud writes act causes, by action; none when empty.
	writes map[string]int
	// answers are clbsim's answers to the writes (and reads) named, by action and result
	// ("OK" or the error code); actions not named are not checked.
	answers map[string]map[string]int
	// check, when set, asserts more about the outcome.
	check func(f *fixture, key types.NamespacedName)
}

var _ = Describe("Fidelity to the real CLB", func() {
	DescribeTable("shows the user what the CLB refused or holds, and ends with exactly the backends it can have",
		func(row fidelityCase) {
			f := newFixture()
			act := row.arrange(f)
			sim.ResetCalls()
			start := time.Now()
			key, phrase := act()

			synced := row.reason == networkingv1alpha1.BindingSyncedReason
			Eventually(func(g Gomega) {
				b := f.get(key)
				c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.ObservedGeneration).To(Equal(b.Generation))
				g.Expect(c.Reason).To(Equal(row.reason))
				g.Expect(c.Status).To(Equal(boolCondition(synced)))
				g.Expect(c.Message).To(ContainSubstring(phrase))
				for _, p := range row.phrases {
					g.Expect(c.Message).To(ContainSubstring(p))
				}
				g.Expect(b.Status.Registered).To(BeEquivalentTo(row.registered))
				g.Expect(b.Status.Desired).To(BeEquivalentTo(row.desired))
				g.Expect(b.Status.Backends).To(Equal(fmt.Sprintf("%d/%d", row.registered, row.desired)))
			}).Should(Succeed(), f.dump(key))
			AddReportEntry(fmt.Sprintf("time to %s: %s", row.reason, time.Since(start).Round(time.Millisecond)))

			want := row.writes
			if want == nil {
				want = map[string]int{}
			}
			Eventually(cloudWrites).Should(Equal(want), "cloud writes")
			Consistently(cloudWrites, time.Second).Should(Equal(want), "cloud writes, and no more")
			calls := sim.Calls()
			for action, results := range row.answers {
				Expect(calls[action]).To(Equal(results), "clbsim's answers to %s", action)
			}
			AddReportEntry("calls", calls)

			if !synced {
				Eventually(func() []eventsv1.Event { return warnings(key) }).Should(ContainElement(And(
					HaveField("Reason", row.reason), HaveField("Note", ContainSubstring(phrase)))),
					"a Warning event with the condition's reason on the binding")
			}
			if row.check != nil {
				row.check(f, key)
			}
			// Events are written in the background; the second of quiet above gave them time.
			Eventually(func() []string { return warningReasons(key) }).WithTimeout(5*time.Second).Should(ConsistOf(row.warnings),
				describeWarnings(key))
		},

		Entry("pod IPs the load balancer's VPC cannot route: the others are registered, and the refused ones are not sent again", unroutableRow()),

		Entry("a listener shared with backends added by hand up to its quota (multiCluster)", quotaRow()),

		Entry("backends removed by hand, then leaving the Service: the refused deregistration is mended in the same pass", removedByHandRow()),

		Entry("backends registered by hand at the keys an exclusive binding wants are adopted and re-tagged, never deregistered", adoptedRow()),
	)
})

// unroutableRow: a Service of a GlobalRouter cluster whose pods are partly outside the load
// balancer's VPC. The binding registers the 3 it can, says which 2 it cannot and what to enable
// (SnatPro), and keeps quiet on the cloud about them while its other pods come and go: the CLB
// refused them once, and the controller tries them again only after unroutableTTL (5 minutes,
// too long to wait for here: internal/lbsync's TestUnroutableBackendsAreLeftOut moves its clock).
func unroutableRow() fidelityCase {
	var lis string
	var near, far []endpoint
	return fidelityCase{
		arrange: func(f *fixture) func() (types.NamespacedName, string) {
			lis = f.listener(80)
			f.service("web", corev1.ServiceTypeClusterIP)
			near = f.webPods(5)
			far = []endpoint{ready("far-0", farPrefix+"4"), ready("far-1", farPrefix+"5")}
			f.setEndpoints("web", append(near[:3:3], far...)...)
			return func() (types.NamespacedName, string) {
				return f.binding("web", lis, "web"), fmt.Sprintf("2 of the binding's backends cannot be registered on %s: "+
					"the load balancer cannot route to %s4, %s5", f.lbID, farPrefix, farPrefix)
			}
		},
		reason:     networkingv1alpha1.BindingBackendNotRoutableReason,
		phrases:    []string{"cross-VPC binding (SnatPro)", "CCN", "tried again every 5m0s"},
		registered: 3, desired: 5,
		// Only this one: the refusal is the condition itself, not the cloud failing on the way, and
		// the refused addresses are not retried (CloudRetried would say both).
		warnings: []string{networkingv1alpha1.BindingBackendNotRoutableReason},
		// The whole registration is refused, then sent again without the 2 addresses it names.
		writes:  map[string]int{"BatchRegisterTargets": 2},
		answers: map[string]map[string]int{"BatchRegisterTargets": {"InvalidParameterValue": 1, "OK": 1}},
		check: func(f *fixture, key types.NamespacedName) {
			tag := ownerTag(key)
			Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, near[:3]...)))

			By("the binding's other pods come and go for 2 s; the refused addresses are not sent again")
			hold := time.Now()
			for _, eps := range [][]endpoint{near[:4], near[:5], near[1:5]} {
				f.setEndpoints("web", append(slices.Clip(eps), far...)...)
				f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps...))
			}
			refused := func() int { return sim.Calls()["BatchRegisterTargets"]["InvalidParameterValue"] }
			Consistently(refused, max(2*time.Second-time.Since(hold), 500*time.Millisecond)).Should(Equal(1),
				"registrations refused: the refused addresses were sent again")
			Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, near[1:5]...)))
			b := f.get(key)
			c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
			Expect(c.Reason).To(Equal(networkingv1alpha1.BindingBackendNotRoutableReason))
			Expect(c.Message).To(And(ContainSubstring(farPrefix+"4"), ContainSubstring(farPrefix+"5")))
			Expect(b.Status.Registered).To(BeEquivalentTo(4))
			Expect(b.Status.Desired).To(BeEquivalentTo(6))
			events := warningsOf(key, networkingv1alpha1.BindingBackendNotRoutableReason)
			Expect(events).To(HaveLen(1), "still one BackendNotRoutable Warning event")
			AddReportEntry("the BackendNotRoutable event after the hold", describeSeries(events[0]))
		},
	}
}

// quotaRow: the listener already holds backends added by hand (or by other clusters) up to 2
// short of TOTAL_TARGET_BIND_QUOTA. The suite's clbsim quota (5,000) cannot be lowered for one
// spec, and a Service with more endpoints than that is too heavy for envtest: filling the
// listener by hand reaches the quota with a Service of 5 pods. A multiCluster binding leaves the
// hand-added backends alone, so 2 of its 5 fit: it registers those, says so, and no write is
// refused for the quota.
func quotaRow() fidelityCase {
	var lis string
	var eps []endpoint
	var quota int
	return fidelityCase{
		arrange: func(f *fixture) func() (types.NamespacedName, string) {
			lis = f.listener(80)
			f.service("web", corev1.ServiceTypeClusterIP)
			eps = f.webPods(5)
			f.setEndpoints("web", eps...)
			var err error
			quota, err = cloud.TargetQuota(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(quota).To(BeNumerically("<=", 10000), "too many backends to add by hand in a spec")
			hand := make([]targets.Target, quota-2)
			for i := range hand {
				hand[i] = targets.Target{Key: targets.Key{
					ListenerID: lis, EniIP: fmt.Sprintf("10.200.%d.%d", i/250, i%250+1), Port: targetPort}, Weight: 5}
			}
			res, err := cloud.RegisterTargets(ctx, f.lbID, hand)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.FailedListenerIDs).To(BeEmpty())
			// Later specs dump the whole cloud (lbBusy): leave it small.
			DeferCleanup(func() { sim.RemoveBackends(f.lbID, func(t clbsim.Target) bool { return t.Tag == "" }) })
			return func() (types.NamespacedName, string) {
				key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.MultiCluster = true })
				return key, fmt.Sprintf("listener %s of %s would need %d backends, but the CLB allows %d per listener or rule "+
					"(quota TOTAL_TARGET_BIND_QUOTA): 3 of the binding's 5 wanted backends are not registered", lis, f.lbID, quota+3, quota)
			}
		},
		reason:     networkingv1alpha1.BindingQuotaExceededReason,
		phrases:    []string{"ask Tencent Cloud to raise the quota"},
		registered: 2, desired: 5,
		warnings: []string{networkingv1alpha1.BindingQuotaExceededReason},
		writes:   map[string]int{"BatchRegisterTargets": 1},
		// One registration of the 2 that fit, none refused (LimitExceeded).
		answers: map[string]map[string]int{"BatchRegisterTargets": {"OK": 1}},
		check: func(f *fixture, key types.NamespacedName) {
			// The quota is the account's, read once for all load balancers: an earlier spec of the
			// suite may have read it already.
			Expect(sim.Calls()["DescribeQuota"]["OK"]).To(BeNumerically("<=", 1), "DescribeQuota calls")
			tag := ownerTag(key)
			var ours []string
			for _, t := range sim.Targets(f.lbID) {
				if t.Tag == tag {
					ours = append(ours, backend(t.EniIP, t.Port, t.Weight, t.Tag))
				}
			}
			Expect(ours).To(HaveLen(2))
			Expect(podBackends(tag, defaultWeight, eps...)).To(ContainElements(ours))
			Expect(backendsOn(f.lbID, lis)).To(HaveLen(quota), "the listener is at its quota, the hand-added backends untouched")
		},
	}
}

// removedByHandRow: 5 of a synced binding's 30 backends are removed in the console; the
// controller's view of the listener is minutes fresh, so it does not know. Then 10 pods leave
// the Service, those 5 among them: the CLB refuses the whole deregistration for naming backends
// it no longer has, and the controller reads the listener again and deregisters the other 5 in
// the same pass. The binding stays Synced, with no CloudError.
func removedByHandRow() fidelityCase {
	var lis string
	var eps []endpoint
	return fidelityCase{
		arrange: func(f *fixture) func() (types.NamespacedName, string) {
			lis = f.listener(80)
			f.service("web", corev1.ServiceTypeClusterIP)
			// 20 running pods, and 10 ready endpoints of pods already gone (the controller
			// registers those too): removing the 10 from the Service is then one change, without
			// make-before-break holding any, and one pass of the worker writes it.
			eps = f.webPods(20)
			for i := range 10 {
				eps = append(eps, ready(fmt.Sprintf("gone-%d", i), fmt.Sprintf("10.9.0.%d", i+1)))
			}
			f.setEndpoints("web", eps...)
			key := f.binding("web", lis, "web")
			f.expectBackends(key, lis, podBackends(ownerTag(key), defaultWeight, eps...))
			f.expectReady(key, 30)
			return func() (types.NamespacedName, string) {
				byHand := map[string]bool{}
				for _, ep := range eps[20:25] {
					byHand[ep.ip] = true
				}
				Expect(sim.RemoveBackends(f.lbID, func(t clbsim.Target) bool { return t.ListenerID == lis && byHand[t.EniIP] })).To(Equal(5))
				f.setEndpoints("web", eps[:20]...)
				return key, "20 backends registered on listener " + lis
			}
		},
		reason:     networkingv1alpha1.BindingSyncedReason,
		registered: 20, desired: 20,
		// The pass's writes went through; the user hears that someone removed backends behind the
		// controller's back, not that the cloud was flaky.
		warnings: []string{"BackendsRemovedOutOfBand"},
		writes:   map[string]int{"BatchDeregisterTargets": 2},
		answers:  map[string]map[string]int{"BatchDeregisterTargets": {"InvalidParameter": 1, "OK": 1}},
		check: func(f *fixture, key types.NamespacedName) {
			Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(ownerTag(key), defaultWeight, eps[:20]...)))
		},
	}
}

// adoptedRow: backends registered by hand before the binding, untagged or tagged by another
// cluster, at the very keys the binding wants. They serve the right pods already: the binding
// fixes their weight and re-tags them in place, and registers only the pod that has none.
func adoptedRow() fidelityCase {
	var lis string
	var eps []endpoint
	return fidelityCase{
		arrange: func(f *fixture) func() (types.NamespacedName, string) {
			lis = f.listener(80)
			f.service("web", corev1.ServiceTypeClusterIP)
			eps = f.webPods(3)
			f.setEndpoints("web", eps...)
			res, err := cloud.RegisterTargets(ctx, f.lbID, []targets.Target{
				{Key: targets.Key{ListenerID: lis, EniIP: eps[0].ip, Port: targetPort}, Weight: defaultWeight},
				{Key: targets.Key{ListenerID: lis, EniIP: eps[1].ip, Port: targetPort}, Weight: 7, Tag: foreignTag},
			})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.FailedListenerIDs).To(BeEmpty())
			return func() (types.NamespacedName, string) {
				return f.binding("web", lis, "web"), "3 backends registered on listener " + lis
			}
		},
		reason:     networkingv1alpha1.BindingSyncedReason,
		registered: 3, desired: 3,
		writes: map[string]int{"BatchModifyTargetWeight": 1, "BatchRegisterTargets": 1, "BatchModifyTargetTag": 1},
		answers: map[string]map[string]int{
			"BatchModifyTargetWeight": {"OK": 1}, "BatchRegisterTargets": {"OK": 1}, "BatchModifyTargetTag": {"OK": 1},
		},
		check: func(f *fixture, key types.NamespacedName) {
			tag := ownerTag(key)
			Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(tag, defaultWeight, eps...)))
			for _, t := range sim.Targets(f.lbID) {
				Expect(t.Tag).To(Equal(tag), "backend %s:%d carries the binding's tag", t.EniIP, t.Port)
			}
		},
	}
}

// warningReasons lists the reasons of the Warning events on a binding, one per Event object.
func warningReasons(key types.NamespacedName) []string {
	events := warnings(key)
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.Reason)
	}
	return out
}

// warningsOf lists the Warning events of one reason on a binding. The event recorder folds
// repeats of one reason into the first Event's series, so there is one unless the recorder's
// cache forgot it.
func warningsOf(key types.NamespacedName, reason string) []eventsv1.Event {
	var out []eventsv1.Event
	for _, e := range warnings(key) {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// describeWarnings lists the Warning events on a binding for a failure message.
func describeWarnings(key types.NamespacedName) func() string {
	return func() string {
		var sb strings.Builder
		sb.WriteString("the Warning events on the binding, one Event of each reason; they are:\n")
		for _, e := range warnings(key) {
			fmt.Fprintf(&sb, "  %s\n", describeSeries(e))
		}
		return sb.String()
	}
}

func describeSeries(e eventsv1.Event) string {
	if e.Series == nil {
		return fmt.Sprintf("%s, once: %q", e.Reason, e.Note)
	}
	return fmt.Sprintf("%s, %d times: %q", e.Reason, e.Series.Count, e.Note)
}
