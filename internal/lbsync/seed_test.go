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
	"fmt"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// A worker's first read of its listeners is the DescribeTargets of its bindings' listeners, which
// names their protocols, ports and rules (seedListeners): these tests count the calls.

// startAll hands the bindings to the Syncer as a starting manager's reconciles do, all expected
// first, so that the worker's first pass holds them all.
func startAll(e *fidelityEnv, bs ...lbsync.Binding) {
	for _, b := range bs {
		e.syncer.Expect(b.Key, e.lbID)
	}
	for _, b := range bs {
		reconciled(e.syncer, b)
	}
}

// TestRestartReadsEachListenerOnce: a restarted manager whose bindings name their listeners by ID
// finds them and their backends as the previous manager left them with ⌈listeners/20⌉
// DescribeTargets and no DescribeListeners, writes nothing, and its first drift check, which reads
// the same listeners, is quiet.
func TestRestartReadsEachListenerOnce(t *testing.T) {
	const ttl = time.Minute
	clk := clocktesting.NewFakeClock(time.Now())
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) {
		o.Window, o.MaxWindow, o.Clock, o.TargetsTTL = 0, 0, clk, ttl
	})
	bindings := make([]lbsync.Binding, 0, 26)
	left := make([]targets.Target, 0, 51) // what the previous manager registered
	for i := range 25 {
		lis := e.srv.Sim.AddListener(e.lbID, "TCP", int64(1000+i))
		b := e.binding(fmt.Sprintf("tcp-%d", i), lbsync.ListenerRef{ID: lis}, ipOf(2*i), ipOf(2*i+1))
		bindings, left = append(bindings, b), append(left, wantedTargets(b, lis)...)
	}
	web := e.srv.Sim.AddListener(e.lbID, "HTTP", 8080)
	loc := e.srv.Sim.AddRule(e.lbID, web, "a.example.com", "/api")
	l7 := e.binding("web", lbsync.ListenerRef{ID: web}, ipOf(100))
	l7.Rule = &lbsync.RuleRef{Domain: "a.example.com", URL: "/api"}
	for _, tg := range wantedTargets(l7, web) {
		tg.LocationID = loc
		left = append(left, tg)
	}
	bindings = append(bindings, l7)
	if _, err := e.cloud.RegisterTargets(t.Context(), e.lbID, left); err != nil {
		t.Fatal(err)
	}
	writes, reads := writeCalls(e.srv.Sim), describeTargets(e)

	startAll(e, bindings...)
	e.await("every binding synced", func() bool {
		return !slices.ContainsFunc(bindings, func(b lbsync.Binding) bool {
			st, _ := e.syncer.Status(b.Key)
			return !st.Synced
		})
	})
	if st, _ := e.syncer.Status(l7.Key); st.LocationID != loc {
		t.Errorf("the L7 binding resolved to rule %q, want %s", st.LocationID, loc)
	}
	if n := callsOf(e, "DescribeListeners"); n != 0 {
		t.Errorf("%d DescribeListeners at the start, want 0: DescribeTargets names the listeners", n)
	}
	if n := describeTargets(e) - reads; n != 2 {
		t.Errorf("%d DescribeTargets at the start, want ⌈26/20⌉ = 2", n)
	}
	if n := writeCalls(e.srv.Sim) - writes; n != 0 {
		t.Errorf("%d writes at the start, want 0: the CLB is as the previous manager left it", n)
	}

	e.await("the worker to wait for its drift check", workerParked)
	base, reads := lbsync.QuietPasses(e.lbID), describeTargets(e)
	clk.Step(ttl)
	e.await("the drift check", func() bool { return lbsync.QuietPasses(e.lbID) > base })
	e.await("the worker to wait again", workerParked)
	if n := describeTargets(e) - reads; n != 2 {
		t.Errorf("%d DescribeTargets in the drift check, want 2", n)
	}
	if n := callsOf(e, "DescribeListeners"); n != 0 {
		t.Errorf("%d DescribeListeners by the first drift check, want 0 (the listeners are read every %v)", n, lbsync.ListenerTTL)
	}
}

// TestStartByPortReadsEveryListenerOnce: a binding that names its listener by port and protocol
// is resolved from one DescribeTargets of every listener of the load balancer.
func TestStartByPortReadsEveryListenerOnce(t *testing.T) {
	e, _ := frozenEnv(t)
	e.srv.Sim.AddListener(e.lbID, "UDP", 53)
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 53)
	b := e.binding("dns", lbsync.ListenerRef{Port: 53, Protocol: "TCP"}, "10.1.0.1")
	startAll(e, b)
	e.await("the sync", e.synced(b, lis))
	if n := callsOf(e, "DescribeListeners"); n != 0 {
		t.Errorf("%d DescribeListeners, want 0", n)
	}
	if n := describeTargets(e); n != 1 {
		t.Errorf("%d DescribeTargets, want 1 (of every listener)", n)
	}
}

// TestMissingListenerIsConfirmedByAFullRead: DescribeTargets may leave out a listener or rule
// without backends (undocumented), so a binding whose listener or rule its answer does not hold is
// told so only after DescribeListeners, in the same pass. The clock stands still: the re-read
// that an unresolved binding makes once per RetryBase never comes.
func TestMissingListenerIsConfirmedByAFullRead(t *testing.T) {
	e, _ := frozenEnv(t)
	web := e.srv.Sim.AddListener(e.lbID, "HTTP", 8080)
	e.srv.Sim.AddRule(e.lbID, web, "a.example.com", "/")
	gone := e.binding("gone", lbsync.ListenerRef{ID: "lbl-00000000"}, "10.1.0.1")
	noRule := e.binding("no-rule", lbsync.ListenerRef{ID: web}, "10.1.0.2")
	noRule.Rule = &lbsync.RuleRef{Domain: "b.example.com", URL: "/"}
	startAll(e, gone, noRule)
	e.await("both reported", func() bool {
		return len(e.notifier.withReason(networkingv1alpha1.BindingListenerNotFoundReason)) > 0 &&
			len(e.notifier.withReason(networkingv1alpha1.BindingRuleNotFoundReason)) > 0
	})
	if n := callsOf(e, "DescribeListeners"); n != 1 {
		t.Errorf("%d DescribeListeners before reporting the listener and rule missing, want 1", n)
	}
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Errorf("%d writes, want 0", n)
	}
}

// TestHealthCheckAfterTheFirstReadReadsTheListeners: the first read holds no health checks, so a
// health check asked for after it reads the listeners in full first, and finding the listener
// already has it, writes nothing.
func TestHealthCheckAfterTheFirstReadReadsTheListeners(t *testing.T) {
	e, _ := frozenEnv(t)
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	check := clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP, IntervalSeconds: 7, TimeoutSeconds: 3,
		HealthyThreshold: 3, UnhealthyThreshold: 4}
	if err := e.cloud.ModifyListenerHealthCheck(t.Context(), e.lbID, lis, check); err != nil {
		t.Fatal(err)
	}
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1")
	startAll(e, b)
	e.await("the sync", e.synced(b, lis))
	if n := callsOf(e, "DescribeListeners"); n != 0 {
		t.Fatalf("%d DescribeListeners before any health check was asked for, want 0", n)
	}

	req := lbsync.HealthCheckRequest{ListenerID: lis, Check: check, Generation: 1}
	e.syncer.SetHealthCheck(b.Key, e.lbID, req)
	var out lbsync.HealthCheckOutcome
	e.await("the health check's outcome", func() bool {
		var ok bool
		out, ok = e.syncer.HealthCheckResult(b.Key)
		return ok && out.For(req) && out.Final()
	})
	if !out.Applied || out.Wrote {
		t.Errorf("outcome %+v, want applied without a write: the listener has the check", out)
	}
	if n := callsOf(e, "DescribeListeners"); n != 1 {
		t.Errorf("%d DescribeListeners, want 1", n)
	}
	if n := callsOf(e, "ModifyListener"); n != 1 {
		t.Errorf("%d ModifyListener, want 1 (the test's own)", n)
	}
}

// TestStartingWorkersShareLoadBalancerReads: with the VPC check on, every worker reads its load
// balancer when it starts. A starting manager queues every binding for a reconcile (Expect)
// before the reconciles start the workers one at a time: those reads, each alone when made,
// share ⌈load balancers/20⌉ DescribeLoadBalancers calls.
func TestStartingWorkersShareLoadBalancerReads(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.VpcID = simtest.VpcID })
	const n = 45
	bindings := make([]lbsync.Binding, n)
	listeners := make([]string, n)
	for i := range n {
		lbID := e.srv.Sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i))
		listeners[i] = e.srv.Sim.AddListener(lbID, "TCP", 80)
		bindings[i] = e.binding(fmt.Sprintf("web-%d", i), lbsync.ListenerRef{ID: listeners[i]}, ipOf(i))
		bindings[i].LoadBalancerID = lbID
	}
	for _, b := range bindings {
		e.syncer.Expect(b.Key, b.LoadBalancerID)
	}
	for i, b := range bindings {
		reconciled(e.syncer, b)
		e.await("the sync of "+b.Key.Name, func() bool {
			st, _ := e.syncer.Status(b.Key)
			return st.Synced && st.ListenerID == listeners[i]
		})
	}
	if n := callsOf(e, "DescribeLoadBalancers"); n != 3 {
		t.Errorf("%d DescribeLoadBalancers for 45 load balancers read one at a time, want ⌈45/20⌉ = 3", n)
	}
}
