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

package lbsync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// These tests run the workers against clbsim with the real CLB's stricter behaviours on (the
// post-write busy time included) and check what a user would see: the backends on the CLB and
// the binding's status.

// shiftedClock is the real clock moved forward on demand, so a test can let caches expire
// without waiting for them; timers still run in real time.
type shiftedClock struct {
	clock.RealClock
	offset atomic.Int64
}

func (c *shiftedClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *shiftedClock) advance(d time.Duration)         { c.offset.Add(int64(d)) }

// recordingNotifier keeps every status the worker reports.
type recordingNotifier struct {
	mu      sync.Mutex
	reports []lbsync.Status
	changes []lbsync.Changes
}

func (n *recordingNotifier) Synced(_ types.NamespacedName, _ types.UID, st lbsync.Status, c lbsync.Changes) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reports = append(n.reports, st)
	n.changes = append(n.changes, c)
}

// repairs returns the reported changes that undid changes made outside the controller.
func (n *recordingNotifier) repairs() []lbsync.Changes {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []lbsync.Changes
	for _, c := range n.changes {
		if c.Repaired {
			out = append(out, c)
		}
	}
	return out
}

// withReason returns the reports with reason.
func (n *recordingNotifier) withReason(reason string) []lbsync.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []lbsync.Status
	for _, st := range n.reports {
		if st.Reason == reason {
			out = append(out, st)
		}
	}
	return out
}

// failures returns the reports of failed passes.
func (n *recordingNotifier) failures() []lbsync.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []lbsync.Status
	for _, st := range n.reports {
		if st.Err != nil || st.Reason == networkingv1alpha1.BindingCloudErrorReason {
			out = append(out, st)
		}
	}
	return out
}

type fidelityEnv struct {
	t *testing.T
	// logs, when set before the Syncer starts, receives its log lines (the audit log).
	logs     *logLines
	srv      *simtest.Server
	cloud    *clb.Client
	syncer   *lbsync.Syncer
	notifier *recordingNotifier
	clock    *shiftedClock
	lbID     string
}

func startFidelityEnv(t *testing.T, opts clbsim.Options, edit ...func(*lbsync.Options)) *fidelityEnv {
	t.Helper()
	return startEnv(t, opts, nil, edit...)
}

// startEnv starts the Syncer with logs, when not nil, receiving its log lines.
func startEnv(t *testing.T, opts clbsim.Options, logs *logLines, edit ...func(*lbsync.Options)) *fidelityEnv {
	t.Helper()
	srv, err := simtest.Start(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Sim.SetLatency(clbsim.DefaultBusy())
	cfg := srv.ClientConfig(nil)
	cfg.Retry = clb.RetryConfig{MaxRetries: 3, BaseDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	cloud, err := clb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &fidelityEnv{t: t, srv: srv, cloud: cloud, notifier: &recordingNotifier{}, clock: &shiftedClock{}, logs: logs}
	syncOpts := lbsync.Options{
		Window: 20 * time.Millisecond, MaxWindow: 100 * time.Millisecond, RetryBase: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		StartupRecheck: time.Millisecond, Clock: e.clock,
	}
	for _, ed := range edit {
		ed(&syncOpts)
	}
	e.syncer, err = lbsync.New(cloud, e.notifier, syncOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx())
	t.Cleanup(cancel)
	go func() { _ = e.syncer.Start(ctx) }()
	e.lbID = srv.Sim.AddLoadBalancer("fidelity")
	return e
}

func (e *fidelityEnv) binding(name string, listener lbsync.ListenerRef, ips ...string) lbsync.Binding {
	uid := types.UID("uid-" + name)
	b := lbsync.Binding{
		Key: types.NamespacedName{Namespace: "ns", Name: name}, UID: uid, LoadBalancerID: e.lbID, Listener: listener,
		OwnerTag: targets.OwnerTag("cls-test", uid), Exclusive: true, CreatedAt: time.Now(),
	}
	return withIPs(b, ips...)
}

func withIPs(b lbsync.Binding, ips ...string) lbsync.Binding {
	b.Desired = nil
	for _, ip := range ips {
		b.Desired = append(b.Desired, targets.Target{Key: targets.Key{EniIP: ip, Port: 8080}, Weight: 10})
	}
	return b
}

// await polls until cond holds (5 s at most); the worker runs on real timers.
func (e *fidelityEnv) await(what string, cond func() bool) {
	e.t.Helper()
	e.awaitFor(what, 5*time.Second, cond)
}

// awaitFor polls until cond holds, for timeout at most.
func (e *fidelityEnv) awaitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backends returns "ip:port@weight" of every backend of the listener on the CLB.
func (e *fidelityEnv) backends(listenerID string) []string {
	var out []string
	for _, t := range e.srv.Sim.Targets(e.lbID) {
		if t.ListenerID == listenerID {
			out = append(out, fmt.Sprintf("%s:%d@%d", t.EniIP+t.InstanceID, t.Port, t.Weight))
		}
	}
	slices.Sort(out)
	return out
}

func wanted(b lbsync.Binding) []string {
	out := make([]string, 0, len(b.Desired))
	for _, t := range b.Desired {
		out = append(out, fmt.Sprintf("%s:%d@%d", t.EniIP, t.Port, t.Weight))
	}
	slices.Sort(out)
	return out
}

func (e *fidelityEnv) calls(action, result string) int { return e.srv.Sim.Calls()[action][result] }

func (e *fidelityEnv) synced(b lbsync.Binding, listenerID string) func() bool {
	return func() bool {
		st, _ := e.syncer.Status(b.Key)
		return st.Synced && slices.Equal(e.backends(listenerID), wanted(b))
	}
}

func ipOf(i int) string { return fmt.Sprintf("10.1.%d.%d", i/250, i%250+1) }

// TestBackendsRemovedOutOfBandDuringChurn: while 50 of 500 backends change at each step, someone
// removes by hand some of the backends the controller is about to deregister or reweight. The
// real CLB refuses a whole write that names a backend it no longer has; the worker re-reads,
// drops those and writes the rest in the same pass, so no pass fails and the CLB ends with
// exactly the desired backends.
func TestBackendsRemovedOutOfBandDuringChurn(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{MaxTargetsPerRule: 5000})
	listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	other := e.srv.Sim.AddListener(e.lbID, "TCP", 81) // a second listener shares the batches
	next := 0
	ips := make([]string, 500)
	for i := range ips {
		ips[i], next = ipOf(next), next+1
	}
	b := e.binding("churn", lbsync.ListenerRef{ID: listenerID}, ips...)
	side := e.binding("side", lbsync.ListenerRef{ID: other}, "10.9.0.1", "10.9.0.2")
	e.syncer.Update(b)
	e.syncer.Update(side)
	e.await("the first sync", e.synced(b, listenerID))

	rng := rand.New(rand.NewPCG(1, 2))
	removedByHand := 0
	for step := range 10 {
		// 50 backends leave, 50 arrive, and 20 of those that stay get a new weight.
		perm := rng.Perm(len(ips))
		leaving, reweighted := perm[:50], perm[50:70]
		gone := map[string]bool{}
		for _, i := range leaving[:5] { // deregistered by hand before the controller does
			gone[ips[i]] = true
		}
		for _, i := range reweighted[:3] { // and some whose weight is about to change
			gone[ips[i]] = true
		}
		removedByHand += e.srv.Sim.RemoveBackends(e.lbID, func(t clbsim.Target) bool { return t.ListenerID == listenerID && gone[t.EniIP] })
		for _, i := range leaving {
			ips[i], next = ipOf(next), next+1
		}
		b = withIPs(b, ips...)
		for _, i := range reweighted {
			for j := range b.Desired {
				if b.Desired[j].EniIP == ips[i] {
					b.Desired[j].Weight = int64(20 + step)
				}
			}
		}
		e.syncer.Update(b)
		e.await(fmt.Sprintf("step %d", step), e.synced(b, listenerID))
	}
	refused := e.calls("BatchDeregisterTargets", "InvalidParameter") + e.calls("BatchModifyTargetWeight", "InvalidParameter")
	t.Logf("%d backends removed by hand; %d writes refused for naming them, each mended in its pass; calls %v",
		removedByHand, refused, e.srv.Sim.Calls())
	if removedByHand == 0 || refused == 0 {
		t.Fatalf("the test did not exercise the refusal: %d removed by hand, %d writes refused", removedByHand, refused)
	}
	if f := e.notifier.failures(); len(f) > 0 {
		t.Errorf("%d passes failed, the first: %s %s", len(f), f[0].Reason, f[0].Message)
	}
	if got := e.backends(other); !slices.Equal(got, wanted(side)) {
		t.Errorf("the other listener holds %v, want %v", got, wanted(side))
	}
	if n := e.calls("BatchRegisterTargets", "FailedOperation.ResourceInOperating") + e.calls("BatchDeregisterTargets", "FailedOperation.ResourceInOperating") +
		e.calls("BatchModifyTargetWeight", "FailedOperation.ResourceInOperating"); n > 0 {
		t.Errorf("%d writes met a busy load balancer; the worker waits for the previous batch's task", n)
	}
}

// TestBatchWritesWaitForTheBusyLoadBalancer: after a large batch the load balancer stays busy;
// the next write waits for the task rather than meeting FailedOperation.ResourceInOperating.
func TestBatchWritesWaitForTheBusyLoadBalancer(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{MaxTargetsPerRule: 5000})
	listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	ips := make([]string, 1200)
	for i := range ips {
		ips[i] = ipOf(i)
	}
	b := e.binding("busy", lbsync.ListenerRef{ID: listenerID}, ips...)
	e.syncer.Update(b)
	e.await("1,200 backends", e.synced(b, listenerID))
	// Then a change with every kind of write: weights, registrations, deregistrations.
	b = withIPs(b, append(ips[600:], ipOf(5000), ipOf(5001))...)
	b.Desired[0].Weight = 30
	e.syncer.Update(b)
	e.await("the change", e.synced(b, listenerID))
	busy := 0
	for action, results := range e.srv.Sim.Calls() {
		if clbsim.IsWrite(action) {
			busy += results["FailedOperation.ResourceInOperating"]
		}
	}
	t.Logf("calls: %v", e.srv.Sim.Calls())
	if busy > 0 {
		t.Errorf("%d writes met a busy load balancer", busy)
	}
	if e.calls("DescribeTaskStatus", "OK") == 0 {
		t.Errorf("no DescribeTaskStatus: the writes did not wait on the batch tasks")
	}
}

// TestVanishedListenerIsFoundByDescribeListeners: a listener deleted and re-created on the same
// port (a new ID) is left out of DescribeTargets' answer; the worker reads the listeners again
// in the same pass, moves a binding given by port to the new listener, and reports
// ListenerNotFound for one given by the old ID.
func TestVanishedListenerIsFoundByDescribeListeners(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	oldID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	byPort := e.binding("by-port", lbsync.ListenerRef{Port: 80, Protocol: "TCP"}, "10.0.0.1", "10.0.0.2")
	byID := e.binding("by-id", lbsync.ListenerRef{ID: oldID}, "10.0.0.3")
	byID.Exclusive, byPort.Exclusive = false, false // both on one listener
	e.syncer.Update(byPort)
	e.syncer.Update(byID)
	e.await("the first sync", func() bool {
		a, _ := e.syncer.Status(byPort.Key)
		b, _ := e.syncer.Status(byID.Key)
		return a.Synced && b.Synced
	})
	// The listener cache is read again after 5 minutes, the backends after 10: move on 6 minutes
	// and let a pass read the listeners, so that only the backends are stale 5 minutes later.
	e.clock.advance(6 * time.Minute)
	e.syncer.Update(withIPs(byPort, "10.0.0.1", "10.0.0.2", "10.0.0.4"))
	e.await("the listeners read again", e.synced(withIPs(byPort, "10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.3"), oldID))

	e.srv.Sim.DeleteListener(e.lbID, oldID)
	newID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.clock.advance(5 * time.Minute)
	e.srv.Sim.ResetCalls()
	byPort = withIPs(byPort, "10.0.0.1", "10.0.0.2")
	e.syncer.Update(byPort)
	e.syncer.Update(byID)
	e.await("the binding given by port on the new listener", func() bool {
		st, _ := e.syncer.Status(byPort.Key)
		return st.Synced && st.ListenerID == newID && slices.Equal(e.backends(newID), wanted(byPort))
	})
	st, _ := e.syncer.Status(byID.Key)
	if st.Reason != networkingv1alpha1.BindingListenerNotFoundReason || !strings.Contains(st.Message, oldID) {
		t.Errorf("binding given by the deleted listener's ID: %s %q, want ListenerNotFound naming %s", st.Reason, st.Message, oldID)
	}
	if n := e.calls("DescribeListeners", "OK"); n != 1 {
		t.Errorf("%d DescribeListeners calls after the listener vanished, want 1 (in the pass that found it)", n)
	}
	if f := e.notifier.failures(); len(f) > 0 {
		t.Errorf("%d passes failed, the first: %s", len(f), f[0].Message)
	}
}

// TestUnroutableBackendsAreLeftOut: pod IPs outside the load balancer's VPC are refused by the
// CLB. The reachable backends are registered, the binding says which are not and what to enable,
// and the refused addresses are not sent again in a loop; once the load balancer gets its
// cross-VPC binding and a route, they are registered.
func TestUnroutableBackendsAreLeftOut(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("global-router", lbsync.ListenerRef{ID: listenerID}, "10.0.0.1", "10.0.0.2", "172.31.0.3", "198.19.0.4", "198.19.0.5")
	e.syncer.Update(b)
	e.await("the reachable backends", func() bool {
		st, _ := e.syncer.Status(b.Key)
		return st.Reason == networkingv1alpha1.BindingBackendNotRoutableReason && len(e.backends(listenerID)) == 3
	})
	st, _ := e.syncer.Status(b.Key)
	for _, want := range []string{"198.19.0.4", "198.19.0.5", "SnatPro", "CCN"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not name %s", st.Message, want)
		}
	}
	if st.Unroutable != 2 || st.Registered != 3 || st.Synced {
		t.Errorf("status %+v: want 2 unroutable, 3 registered, not synced", st)
	}
	// Reconciles keep coming (every resync, every endpoint change): no write is refused again.
	for range 10 {
		e.syncer.Update(b)
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.calls("BatchRegisterTargets", "InvalidParameterValue"); n != 1 {
		t.Errorf("%d registrations refused, want exactly 1 (the refused addresses are remembered)", n)
	}

	if err := e.srv.Sim.SetCrossVPC(e.lbID, true, []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(6 * time.Minute) // past the time a refused address is left out
	e.syncer.Update(b)
	e.await("every backend once the load balancer routes the container CIDR", e.synced(b, listenerID))
}

// TestQuotaIsPerListener: TOTAL_TARGET_BIND_QUOTA bounds each listener, read once with
// DescribeQuota. A binding that wants more gets as many as fit and QuotaExceeded with the
// numbers, and no write is refused; a binding on another listener is not affected.
func TestQuotaIsPerListener(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{MaxTargetsPerRule: 10})
	first := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	second := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	many := make([]string, 0, 12)
	for i := range 12 {
		many = append(many, ipOf(i))
	}
	big := e.binding("big", lbsync.ListenerRef{ID: first}, many...)
	small := e.binding("small", lbsync.ListenerRef{ID: second}, many[:8]...)
	e.syncer.Update(big)
	e.syncer.Update(small)
	e.await("the quota reported", func() bool {
		st, _ := e.syncer.Status(big.Key)
		return st.Reason == networkingv1alpha1.BindingQuotaExceededReason && len(e.backends(first)) == 10
	})
	e.await("the other listener synced", e.synced(small, second))
	st, _ := e.syncer.Status(big.Key)
	for _, want := range []string{"12", "allows 10", "2 of the binding's 12"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not say %q", st.Message, want)
		}
	}
	if st.OverQuota != 2 || st.Registered != 10 {
		t.Errorf("status %+v: want 2 over quota, 10 registered", st)
	}
	for range 5 {
		e.syncer.Update(big)
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.calls("BatchRegisterTargets", "LimitExceeded"); n > 0 {
		t.Errorf("%d registrations refused for the quota; the worker registers up to it", n)
	}
	// A second load balancer shares the account's quota, read once for all.
	otherLB := e.srv.Sim.AddLoadBalancer("fidelity-2")
	third := e.srv.Sim.AddListener(otherLB, "TCP", 80)
	elsewhere := e.binding("elsewhere", lbsync.ListenerRef{ID: third}, many[:3]...)
	elsewhere.LoadBalancerID = otherLB
	e.syncer.Update(elsewhere)
	e.await("the other load balancer synced", func() bool {
		st, _ := e.syncer.Status(elsewhere.Key)
		return st.Synced && len(e.srv.Sim.Targets(otherLB)) == 3
	})
	if n := e.calls("DescribeQuota", "OK"); n != 1 {
		t.Errorf("%d DescribeQuota calls for two load balancers, want 1 (the account's quota, cached)", n)
	}
	// At the quota, a rolling update swaps backends over two passes.
	big = withIPs(big, append(many[2:10], ipOf(100), ipOf(101))...)
	e.syncer.Update(big)
	e.await("the rolling update at the quota", e.synced(big, first))
}

// TestAdoptedBackendsAreRetagged: backends an exclusive binding finds at its wanted keys with
// another tag, or none, serve the right pods already: they are re-tagged in place with
// BatchModifyTargetTag, never deregistered to be registered again.
func TestAdoptedBackendsAreRetagged(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	_, err := e.cloud.RegisterTargets(t.Context(), e.lbID, []targets.Target{
		{Key: targets.Key{ListenerID: listenerID, EniIP: "10.0.0.1", Port: 8080}, Weight: 10},
		{Key: targets.Key{ListenerID: listenerID, EniIP: "10.0.0.2", Port: 8080}, Weight: 10, Tag: "by-hand"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.binding("adopt", lbsync.ListenerRef{ID: listenerID}, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	e.syncer.Update(b)
	e.await("adopted and re-tagged", func() bool {
		ts := e.srv.Sim.Targets(e.lbID)
		return len(ts) == 3 && !slices.ContainsFunc(ts, func(t clbsim.Target) bool { return t.Tag != b.OwnerTag })
	})
	if n := e.calls("BatchDeregisterTargets", "OK"); n != 0 {
		t.Errorf("%d deregistrations: an adopted backend must stay registered", n)
	}
	if n := e.calls("BatchModifyTargetTag", "OK"); n != 1 {
		t.Errorf("%d BatchModifyTargetTag calls, want 1", n)
	}
}

// TestBackendsLandOnTheResolvedRule: a binding's desired targets name no listener or rule; the
// worker puts them on the rule it resolved, and leaves the listener's other rule alone.
func TestBackendsLandOnTheResolvedRule(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	web := e.srv.Sim.AddListener(e.lbID, "HTTP", 8080)
	other := e.srv.Sim.AddRule(e.lbID, web, "other.example.com", "/")
	loc := e.srv.Sim.AddRule(e.lbID, web, "web.example.com", "/")
	b := e.binding("web", lbsync.ListenerRef{Port: 8080, Protocol: "HTTP"}, "10.0.0.1", "10.0.0.2")
	b.Rule = &lbsync.RuleRef{Domain: "web.example.com", URL: "/"}
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, web))
	for _, got := range e.srv.Sim.Targets(e.lbID) {
		if got.ListenerID != web || got.LocationID != loc || got.Tag != b.OwnerTag {
			t.Errorf("backend %+v, want it on rule %s of listener %s with the binding's tag (not on rule %s)", got, loc, web, other)
		}
	}
	if st, _ := e.syncer.Status(b.Key); st.ListenerID != web || st.LocationID != loc {
		t.Errorf("status names %s/%s, want %s/%s", st.ListenerID, st.LocationID, web, loc)
	}
}

// TestTargetShapesDoNotChangeTheDiff: however DescribeTargets presents a pod's backend (Type ENI,
// CVM, cvm, GLOBALROUTE, CCN, with or without the node's instance ID), the worker recognises it
// as the pod's, so a re-read of the backends writes nothing.
func TestTargetShapesDoNotChangeTheDiff(t *testing.T) {
	for _, shape := range []clbsim.TargetShape{
		{}, {ENIType: "CVM", ENITargetID: "instance"}, {ENIType: "cvm"}, {ENIType: "GLOBALROUTE"}, {ENIType: "CCN"},
	} {
		t.Run(fmt.Sprintf("%+v", shape), func(t *testing.T) {
			e := startFidelityEnv(t, clbsim.Options{})
			e.srv.Sim.SetTargetShape(shape)
			listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
			b := e.binding("shape", lbsync.ListenerRef{ID: listenerID}, "10.0.0.1", "10.0.0.2", "10.0.0.3")
			e.syncer.Update(b)
			e.await("the first sync", e.synced(b, listenerID))
			e.clock.advance(11 * time.Minute) // every cache stale: the backends are read again
			e.srv.Sim.ResetCalls()
			e.syncer.Update(withIPs(b, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"))
			e.await("one more backend", e.synced(withIPs(b, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"), listenerID))
			if e.calls("DescribeTargets", "OK") == 0 {
				t.Fatalf("the backends were not read again")
			}
			for action, results := range e.srv.Sim.Calls() {
				if clbsim.IsWrite(action) && action != "BatchRegisterTargets" {
					t.Errorf("%s %v: the re-read backends were taken for someone else's", action, results)
				}
			}
			if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
				t.Errorf("%d registrations, want 1 (the new backend only)", n)
			}
		})
	}
}

// TestRefusedRegistrationDoesNotHoldUpADrain: in one pass a terminating backend goes to weight 0
// while a new backend's registration is refused (not routable): the drain is written all the
// same, first, because its pod's preStop clock is already running.
func TestRefusedRegistrationDoesNotHoldUpADrain(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	listenerID := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: listenerID}, "10.0.0.1", "10.0.0.2")
	e.syncer.Update(b)
	e.await("the first sync", e.synced(b, listenerID))

	next := withIPs(b, "10.0.0.1", "10.0.0.2", "198.19.0.9")
	next.Desired[1].Weight, next.Desired[1].Draining = 0, true
	e.syncer.Update(next)
	e.await("the drain written and the refusal reported", func() bool {
		st, _ := e.syncer.Status(b.Key)
		return st.Reason == networkingv1alpha1.BindingBackendNotRoutableReason &&
			slices.Equal(e.backends(listenerID), []string{"10.0.0.1:8080@10", "10.0.0.2:8080@0"})
	})
	if n := e.calls("BatchModifyTargetWeight", "OK"); n != 1 {
		t.Fatalf("BatchModifyTargetWeight = %d, want the one drain write", n)
	}
}
