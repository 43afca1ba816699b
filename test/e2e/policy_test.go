//go:build e2e

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

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// The two teams of the policy spec: each a namespace, and the CLBBindingPolicy of the same name
// that a cluster admin gave it.
const (
	teamA = "team-a"
	teamB = "team-b"
)

// bindingDenied is how the API server words a refusal of the validating webhook.
const bindingDenied = `admission webhook "vclbbackendbinding.clbind.io" denied the request`

// attack is one of team B's attempts at team A's listener through the API (admission on).
type attack struct {
	Name     string
	Listener networkingv1alpha1.ListenerReference
	// MultiCluster joins the listener instead of owning it.
	MultiCluster bool
	// ConflictMayRefuse: the webhook checks that a listener is bound once before it asks the
	// policies, so a binding that would own A's listener (exclusive, named by ID like A's) may be
	// refused as a conflict with A's binding instead of by the policy. Any other attempt must be
	// refused by the policy.
	ConflictMayRefuse bool
}

var _ = Describe("binding policies", func() {
	JustAfterEach(dumpOnFailure)

	It("keeps team B off team A's listener in every mode while A rolls under load: refused at admission, nothing written when admission is bypassed, B served on its own listener, no failed request", func(ctx SpecContext) {
		specStart := time.Now()
		lbID := sb.LoadBalancerID()
		portA := nextPort
		lA, err := sb.AddListener(portA)
		Expect(err).NotTo(HaveOccurred())
		portB := nextPort + 1
		lB, err := sb.AddListener(portB)
		Expect(err).NotTo(HaveOccurred())
		nextPort += 2

		// What a cluster admin gives each team: A may bind the whole load balancer, exclusively
		// or not; B only its own listener of it, named by ID and by port.
		policyA := sandbox.AllowPolicy(teamA, []string{lbID}, teamA)
		policyA.Spec.Exclusive = networkingv1alpha1.ExclusiveAllowed
		policyB := sandbox.AllowPolicy(teamB, []string{lbID}, teamB)
		policyB.Spec.Listeners = []networkingv1alpha1.ListenerMatch{
			{ID: lB.ID}, {Port: int32(portB), Protocol: networkingv1alpha1.ProtocolTCP},
		}
		for _, p := range []*networkingv1alpha1.CLBBindingPolicy{policyA, policyB} {
			Expect(sb.ApplyPolicy(ctx, p)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) {
				Expect(client.IgnoreNotFound(sb.Client().Delete(ctx, &networkingv1alpha1.CLBBindingPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: p.Name}}))).To(Succeed())
			})
			manifest, err := sandbox.PolicyYAML(p)
			Expect(err).NotTo(HaveOccurred())
			logf("CLBBindingPolicy %s:\n%s", p.Name, manifest)
		}

		// A shares its listener with its other clusters (multiCluster): the case where the check
		// that a listener is bound once lets another multiCluster binding in, and only the
		// policy keeps B's pods out of A's traffic.
		appA := sandbox.App{Namespace: teamA, Name: "web", Replicas: 4, ListenerID: lA.ID, MultiCluster: true}
		appB := sandbox.App{Namespace: teamB, Name: "web", Replicas: 2, ListenerID: lB.ID}
		for _, app := range []sandbox.App{appA, appB} {
			Expect(sb.Deploy(ctx, app)).To(Succeed())
			DeferCleanup(removeApp, app, NodeTimeout(cleanupTimeout+10*time.Second))
		}
		waitSettled(ctx, appA)
		waitSettled(ctx, appB)
		exactBackends(ctx, appA)
		exactBackends(ctx, appB)
		Expect(readyReason(ctx, teamB, appB.Name)).To(Equal(networkingv1alpha1.BindingSyncedReason), "B's binding on its own listener")

		traffic := sandbox.StartTraffic(ctx, lA.DataPlane, requestEvery)
		DeferCleanup(traffic.Stop)
		Expect(sb.WaitFor(ctx, 15*time.Second, "requests to flow through "+lA.DataPlane, func(context.Context) (bool, string, error) {
			st := traffic.Stats()
			return st.Served >= 20, fmt.Sprintf("%d served, %d failed: %v", st.Served, st.Failed, st.Failures), nil
		})).To(Succeed())

		// (d) Admission bypassed: B's bindings on A's listener reach the API server unchecked.
		// The workers must write nothing for them, and A's backends stay as they are.
		shared := teamBinding("take-shared", lbID, networkingv1alpha1.ListenerReference{ID: lA.ID}, true)
		exclusive := teamBinding("take-exclusive", lbID, networkingv1alpha1.ListenerReference{ID: lA.ID}, false)
		beforeBypass := backendsOn(lA.ID)
		bypassStart := time.Now()
		Expect(sb.BypassAdmission(ctx, func(ctx context.Context) error {
			for _, b := range []*networkingv1alpha1.CLBBackendBinding{shared, exclusive} {
				if err := sb.Client().Create(ctx, b.DeepCopy()); err != nil {
					return fmt.Errorf("creating %s/%s with admission bypassed: %w", b.Namespace, b.Name, err)
				}
			}
			return nil
		})).To(Succeed())
		for _, b := range []*networkingv1alpha1.CLBBackendBinding{shared, exclusive} {
			DeferCleanup(deleteTakeover, b.Name, NodeTimeout(90*time.Second))
		}
		var sharedMsg string
		Expect(sb.WaitFor(ctx, 60*time.Second, "B's bypassing bindings to be stopped by the workers", func(ctx context.Context) (bool, string, error) {
			s, e := readyCondition(ctx, teamB, shared.Name), readyCondition(ctx, teamB, exclusive.Name)
			if s == nil || e == nil {
				return false, fmt.Sprintf("Ready conditions %v and %v", s, e), nil
			}
			sharedMsg = s.Message
			ok := s.Status == metav1.ConditionFalse && s.Reason == networkingv1alpha1.BindingForbiddenReason &&
				e.Status == metav1.ConditionFalse && slices.Contains([]string{networkingv1alpha1.BindingForbiddenReason, networkingv1alpha1.BindingConflictReason}, e.Reason)
			return ok, fmt.Sprintf("%s: %s %s (%s); %s: %s %s (%s)", shared.Name, s.Status, s.Reason, s.Message, exclusive.Name, e.Status, e.Reason, e.Message), nil
		})).To(Succeed())
		expectPolicyMessage(sharedMsg, lbID)
		exclusiveReason := readyReason(ctx, teamB, exclusive.Name)
		Eventually(ctx, func(ctx context.Context) []string {
			return warnings(ctx, bypassStart, "no CLBBindingPolicy allows namespace "+teamB, teamB, shared.Name)
		}).WithTimeout(30*time.Second).ShouldNot(BeEmpty(), "no Warning Event of %s/%s names the policy refusal", teamB, shared.Name)
		// Long enough for the workers' passes after the restart (the binding controller resyncs
		// and the workers write within a coalescing window): nothing of B lands meanwhile.
		time.Sleep(5 * time.Second)
		bypassWrites := writesTouching(callsSince(bypassStart), lA.ID)
		Expect(bypassWrites).To(BeEmpty(), "writes to A's listener %s while only B's bypassing bindings had a reason to write: %s", lA.ID, describeCalls(bypassWrites))
		Expect(backendsOn(lA.ID)).To(Equal(beforeBypass), "A's backends changed while B's bypassing bindings existed")
		exactBackends(ctx, appA)
		logf("bypass: %s Forbidden, %s %s, no write to %s in %v", shared.Name, exclusive.Name, exclusiveReason, lA.ID, since(bypassStart))

		// The exclusive one would be refused as a conflict by the webhook below before the
		// policies are asked: it goes, the multiCluster one stays through A's rollout, as a
		// Forbidden binding on the listener A's writes go to.
		deleteAndWait(ctx, exclusive.Name)

		// (a)-(c) through the API, during A's rolling update under load: B's attempts are refused.
		attempts := []attack{
			{Name: "exclusive-by-id", Listener: networkingv1alpha1.ListenerReference{ID: lA.ID}, ConflictMayRefuse: true},
			{Name: "multicluster-by-id", Listener: networkingv1alpha1.ListenerReference{ID: lA.ID}, MultiCluster: true},
			{Name: "exclusive-by-port", Listener: networkingv1alpha1.ListenerReference{Port: int32(portA), Protocol: networkingv1alpha1.ProtocolTCP}},
			{Name: "multicluster-by-port", Listener: networkingv1alpha1.ListenerReference{Port: int32(portA), Protocol: networkingv1alpha1.ProtocolTCP}, MultiCluster: true},
		}
		before, err := sb.Look(ctx, appA)
		Expect(err).NotTo(HaveOccurred())
		Expect(before.Settled(int(appA.Replicas))).To(BeTrue(), "A not settled before its rollout: %s", before.Summary())
		stBefore := traffic.Stats()
		var (
			refusals   = map[string]string{}
			attackedAt time.Duration
			rolledOut  = true
			samples    int
			minServing = -1
			after      sandbox.View
		)
		start := time.Now()
		Expect(sb.Restart(ctx, appA)).To(Succeed())
		Expect(sb.WaitFor(ctx, rolloutTimeout, "A's rollout to complete while B tries to take its listener",
			func(ctx context.Context) (bool, string, error) {
				if err := sb.ManagerRunning(); err != nil {
					return false, "", err
				}
				v, err := sb.Look(ctx, appA)
				if err != nil {
					return false, err.Error(), nil //nolint:nilerr // retried by the next poll
				}
				samples++
				if n := v.Serving(); minServing < 0 || n < minServing {
					minServing = n
				}
				if attackedAt == 0 {
					rolledOut = v.RolledOut
					for _, a := range attempts {
						msg, err := attempt(ctx, a, lbID)
						if err != nil {
							return false, "", err
						}
						refusals[a.Name] = msg
					}
					attackedAt = time.Since(start)
					// (e) B's binding on its own listener keeps syncing meanwhile.
					if err := sb.Scale(ctx, appB, 3); err != nil {
						return false, "", err
					}
				}
				after = v
				return v.Settled(int(appA.Replicas)) && rolledAll(before, v), v.Summary(), nil
			})).To(Succeed())
		took := time.Since(start)
		Expect(rolledOut).To(BeFalse(), "B's attempts came after A's rollout had completed")
		byPolicy := 0
		for _, a := range attempts {
			msg := refusals[a.Name]
			if strings.Contains(msg, "no CLBBindingPolicy allows namespace "+teamB) {
				byPolicy++
				expectPolicyMessage(msg, lbID)
				continue
			}
			Expect(a.ConflictMayRefuse).To(BeTrue(), "attempt %s was not refused by the policy: %s", a.Name, msg)
			Expect(msg).To(ContainSubstring("already bound by CLBBackendBinding %s/%s", teamA, appA.Name), "attempt %s", a.Name)
		}

		appB.Replicas = 3
		waitSettled(ctx, appB)
		exactBackends(ctx, appB)
		Expect(readyReason(ctx, teamB, appB.Name)).To(Equal(networkingv1alpha1.BindingSyncedReason), "B's binding on its own listener")
		exactBackends(ctx, appA)
		Expect(readyReason(ctx, teamA, appA.Name)).To(Equal(networkingv1alpha1.BindingSyncedReason), "A's binding")
		s := readyCondition(ctx, teamB, shared.Name)
		Expect(s).NotTo(BeNil())
		Expect(s.Reason).To(Equal(networkingv1alpha1.BindingForbiddenReason), "%s after A's rollout: %s", shared.Name, s.Message)
		deleteAndWait(ctx, shared.Name)

		st := traffic.Stop()
		sent, failed := st.Sent-stBefore.Sent, st.Failed-stBefore.Failed
		for _, p := range after.Pods {
			Expect(st.ByPod).To(HaveKey(p.Name), "new pod %s of A served no request", p.Name)
		}

		// What the managers wrote during the whole spec: nothing of B's on A's listener, only B's
		// on B's.
		vB, err := sb.Look(ctx, appB)
		Expect(err).NotTo(HaveOccurred())
		podsB := map[string]bool{}
		for _, p := range vB.Pods {
			podsB[p.IP] = true
		}
		calls := callsSince(specStart)
		onA, onB := writesTouching(calls, lA.ID), writesTouching(calls, lB.ID)
		var bOnA, notBOnB []sandbox.CloudCall
		for _, c := range onA {
			if slices.ContainsFunc(c.TargetsOn(lA.ID), func(ip string) bool { return podsB[ip] }) {
				bOnA = append(bOnA, c)
			}
		}
		for _, c := range onB {
			if slices.ContainsFunc(c.TargetsOn(lB.ID), func(ip string) bool { return !podsB[ip] }) {
				notBOnB = append(notBOnB, c)
			}
		}
		result("policies: %d attempts of team B on team A's listener refused at admission during A's rollout (%d by the policy, %d as a conflict); "+
			"with admission bypassed %s Forbidden and %s %s, 0 writes to A's listener; %d writes to A's listener in the spec, %d with B's pods; "+
			"A's rollout %v, failed=%d of %d (min serving %d over %d samples), failed=%d of %d all along; B synced on its own listener (%d writes)",
			len(attempts), byPolicy, len(attempts)-byPolicy, shared.Name, exclusive.Name, exclusiveReason, len(onA), len(bOnA),
			took.Round(100*time.Millisecond), failed, sent, minServing, samples, st.Failed, st.Sent, len(onB))
		Expect(bOnA).To(BeEmpty(), "writes to A's listener carried B's pods: %s", describeCalls(bOnA))
		Expect(notBOnB).To(BeEmpty(), "writes to B's listener carried addresses that are not B's pods: %s", describeCalls(notBOnB))
		Expect(st.Failed).To(BeZero(), "%d of %d requests to A failed (bypass, attempts and rollout): %s", st.Failed, st.Sent, strings.Join(st.Failures, "; "))
	}, SpecTimeout(10*time.Minute))
})

// teamBinding is a binding of team B's Service on listener l of the load balancer.
func teamBinding(name, lbID string, l networkingv1alpha1.ListenerReference, multiCluster bool) *networkingv1alpha1.CLBBackendBinding {
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: teamB, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lbID,
			Listener:       l,
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			ReadinessGate:  new(false),
			MultiCluster:   multiCluster,
		},
	}
}

// attempt creates team B's binding a through the API and returns the webhook's refusal. A
// binding admitted is deleted again and fails the attempt; an error other than the webhook's
// refusal (the webhook unreachable for a moment) is retried for a few seconds.
func attempt(ctx context.Context, a attack, lbID string) (string, error) {
	b := teamBinding("attempt-"+a.Name, lbID, a.Listener, a.MultiCluster)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := sb.Client().Create(ctx, b.DeepCopy())
		switch {
		case err == nil:
			_ = sb.Client().Delete(ctx, b)
			return "", fmt.Errorf("team B's binding %s on team A's listener was admitted", b.Name)
		case strings.Contains(err.Error(), bindingDenied):
			logf("attempt %s refused: %v", a.Name, err)
			return err.Error(), nil
		case time.Now().After(deadline) || ctx.Err() != nil:
			return "", fmt.Errorf("attempt %s: no refusal of the webhook, but %w", a.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectPolicyMessage checks a refusal of team B by the policies: it names the namespace, the
// load balancer, the policy that came closest and what an admin would have to add.
func expectPolicyMessage(msg, lbID string) {
	GinkgoHelper()
	Expect(msg).To(ContainSubstring("no CLBBindingPolicy allows namespace %s to bind", teamB))
	Expect(msg).To(ContainSubstring("of load balancer %s", lbID))
	Expect(msg).To(ContainSubstring("CLBBindingPolicy %s allows load balancer %s only on the listeners", teamB, lbID))
	Expect(msg).To(ContainSubstring("spec.listeners"))
}

// readyCondition is the Ready condition of team B's or A's binding (nil when unknown).
func readyCondition(ctx context.Context, ns, name string) *metav1.Condition {
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
		return nil
	}
	return meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
}

// backendsOn are the backends of a listener as ip:port weight=w, sorted.
func backendsOn(listenerID string) []string {
	var out []string
	for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
		if t.ListenerID == listenerID {
			out = append(out, fmt.Sprintf("%s:%d weight=%d", t.EniIP, t.Port, t.Weight))
		}
	}
	slices.Sort(out)
	return out
}

// writesTouching are the write calls among calls that name the listener.
func writesTouching(calls []sandbox.CloudCall, listenerID string) []sandbox.CloudCall {
	return slices.DeleteFunc(writesOf(calls), func(c sandbox.CloudCall) bool { return !c.Touches(listenerID) })
}

func describeCalls(calls []sandbox.CloudCall) string {
	parts := make([]string, 0, len(calls))
	for _, c := range calls {
		parts = append(parts, fmt.Sprintf("%s %s %s targets %v (%s)", c.Start.Format("15:04:05.000"), c.Replica, c.Action,
			c.Targets, c.Result))
	}
	return strings.Join(parts, "; ")
}

// deleteAndWait deletes team B's binding and waits until it is gone.
func deleteAndWait(ctx context.Context, name string) {
	GinkgoHelper()
	key := types.NamespacedName{Namespace: teamB, Name: name}
	Expect(client.IgnoreNotFound(sb.Client().Delete(ctx, &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}))).To(Succeed())
	Expect(sb.WaitFor(ctx, 60*time.Second, "binding "+key.String()+" to be deleted", func(ctx context.Context) (bool, string, error) {
		var b networkingv1alpha1.CLBBackendBinding
		err := sb.Client().Get(ctx, key, &b)
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, fmt.Sprintf("still there (finalizers %v, err %v)", b.Finalizers, err), nil
	})).To(Succeed())
}

// deleteTakeover is the cleanup of a bypassing binding after a failure: deleted, and if its
// deletion does not finish, let go without touching the cloud (the annotation an owner uses),
// so that the next specs run without it.
func deleteTakeover(ctx SpecContext, name string) {
	key := types.NamespacedName{Namespace: teamB, Name: name}
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, key, &b); apierrors.IsNotFound(err) {
		return
	}
	Expect(client.IgnoreNotFound(sb.Client().Delete(ctx, &b))).To(Succeed())
	gone := func(ctx context.Context) (bool, string, error) {
		err := sb.Client().Get(ctx, key, &b)
		return apierrors.IsNotFound(err), fmt.Sprintf("finalizers %v, err %v", b.Finalizers, err), nil
	}
	err := sb.WaitFor(ctx, 30*time.Second, key.String()+" to be deleted", gone)
	if err == nil {
		return
	}
	logf("%s not deleted (%v): skipping its cloud cleanup", key, err)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, networkingv1alpha1.SkipCloudCleanupAnnotation)
	Expect(client.IgnoreNotFound(sb.Client().Patch(ctx, &b, client.RawPatch(types.MergePatchType, []byte(patch))))).To(Succeed())
	Expect(sb.WaitFor(ctx, 30*time.Second, key.String()+" to be deleted without cloud cleanup", gone)).To(Succeed())
}
