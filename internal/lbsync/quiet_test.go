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
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// TestQuietDriftChecksStillFindChangesMadeByHand: once a load balancer is settled, its periodic
// reads that find the backends as they were do nothing else (quiet passes), yet a weight changed
// by hand is still put back at the next read, a change of the binding is still written at once,
// and the worker settles again after both.
func TestQuietDriftChecksStillFindChangesMadeByHand(t *testing.T) {
	const ttl = time.Minute
	clk := clocktesting.NewFakeClock(time.Now())
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) {
		o.Window, o.MaxWindow, o.Clock, o.TargetsTTL = 0, 0, clk, ttl
	})
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2", "10.1.0.3")
	e.syncer.Expect(b.Key, e.lbID)
	reconciled(e.syncer, b)
	e.await("the sync", e.synced(b, lis))

	// driftCheck moves the clock past the TTL and waits for the read it starts and its pass, which
	// reads once: a check that is not quiet hands its read to the full pass.
	driftCheck := func(what string) {
		t.Helper()
		e.await("the worker to wait for its drift check", workerParked)
		reads := describeTargets(e)
		clk.Step(ttl)
		e.await(what, func() bool { return describeTargets(e) > reads })
		e.await("the worker to wait for its next drift check", workerParked)
		if n := describeTargets(e) - reads; n != 1 {
			t.Fatalf("%s: %d DescribeTargets, want 1", what, n)
		}
	}
	// The first check reads the backends the registration wrote into the cache: a full pass,
	// which settles the worker. The next ones find the same answer and are quiet.
	driftCheck("the first drift check")
	base := lbsync.QuietPasses(e.lbID)
	driftCheck("a quiet drift check")
	driftCheck("another quiet drift check")
	if got := lbsync.QuietPasses(e.lbID) - base; got != 2 {
		t.Fatalf("%v quiet passes in two drift checks of a settled load balancer, want 2", got)
	}

	// A weight changed by hand is a new answer: the next check is a full pass and repairs it.
	key := targets.Key{ListenerID: lis, EniIP: "10.1.0.2", Port: 8080}
	if _, err := e.cloud.ModifyTargetWeights(context.Background(), e.lbID, []targets.Target{{Key: key, Weight: 77}}); err != nil {
		t.Fatal(err)
	}
	driftCheck("the drift check after the change by hand")
	e.await("the repair", func() bool { return slices.Equal(e.backends(lis), wanted(b)) })
	if len(e.notifier.repairs()) == 0 {
		t.Fatal("the repair was not reported")
	}

	// A change of the binding on a settled worker is written at once, with no clock step.
	driftCheck("the drift check that settles the worker again")
	grown := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4")
	reconciled(e.syncer, grown)
	e.await("the new backend", e.synced(grown, lis))

	// After the write, the first check is full again (the cache holds our write), then quiet.
	driftCheck("the drift check after the write")
	base = lbsync.QuietPasses(e.lbID)
	driftCheck("a quiet drift check after the write")
	if got := lbsync.QuietPasses(e.lbID) - base; got != 1 {
		t.Fatalf("%v quiet passes after the write, want 1", got)
	}
	if n := writeCalls(e.srv.Sim); n != 4 {
		t.Fatalf("%d writes in all, want 4: the registration, the change by hand, its repair, the new backend", n)
	}
}

// TestBindingRecreatedOnAnotherLoadBalancerLeavesTheFirst: a binding re-created under the same
// name on another load balancer is synced there, and the first load balancer's worker, which
// held only it, is gone.
func TestBindingRecreatedOnAnotherLoadBalancerLeavesTheFirst(t *testing.T) {
	e, _ := frozenEnv(t)
	first := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: first}, "10.1.0.1")
	reconciled(e.syncer, b)
	e.await("the sync on the first load balancer", e.synced(b, first))

	otherLB := e.srv.Sim.AddLoadBalancer("other")
	second := e.srv.Sim.AddListener(otherLB, "TCP", 80)
	moved := b
	moved.LoadBalancerID, moved.Listener = otherLB, lbsync.ListenerRef{ID: second}
	reconciled(e.syncer, moved)
	e.await("the sync on the other load balancer", func() bool {
		st, _ := e.syncer.Status(b.Key)
		return st.Synced && st.ListenerID == second
	})
	counts := lbsync.StateCounts(e.syncer, e.lbID)
	if counts["workers"] != 1 || counts["bindings held"] != 1 || counts["worker bindings"] != 1 {
		t.Fatalf("state after the move = %v, want one worker holding the one binding", counts)
	}
}

// TestRestartInSyncKeepsTheStoredSyncTime: a restarted manager's worker, which has no status of
// a binding yet, finds its backends on the CLB as a previous manager left them: it writes
// nothing and reports the binding's stored lastSyncTime, so the binding's status is not written
// again. A binding whose backends it must write gets the time of that write.
func TestRestartInSyncKeepsTheStoredSyncTime(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	other := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	inSync := e.binding("in-sync", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	behind := e.binding("behind", lbsync.ListenerRef{ID: other}, "10.1.0.3", "10.1.0.4")
	// What the previous manager registered: all of in-sync's backends, one of behind's.
	left := slices.Concat(wantedTargets(inSync, lis), wantedTargets(behind, other)[:1])
	if _, err := e.cloud.RegisterTargets(t.Context(), e.lbID, left); err != nil {
		t.Fatal(err)
	}
	stored := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	inSync.StoredSyncTime, behind.StoredSyncTime = stored, stored
	e.syncer.Update(inSync)
	e.syncer.Update(behind)
	e.await("both synced", func() bool { return e.synced(inSync, lis)() && e.synced(behind, other)() })
	if st, _ := e.syncer.Status(inSync.Key); !st.LastSyncTime.Equal(stored) {
		t.Errorf("in-sync binding: lastSyncTime %v, want the stored %v (nothing happened to it)", st.LastSyncTime, stored)
	}
	if st, _ := e.syncer.Status(behind.Key); !st.LastSyncTime.After(stored) {
		t.Errorf("binding whose backend was written: lastSyncTime %v, want the time of the write", st.LastSyncTime)
	}
	if n := e.calls("BatchRegisterTargets", "OK"); n != 2 {
		t.Errorf("%d BatchRegisterTargets, want 2: the previous manager's and the restarted one's", n)
	}

	// The stored time following the reports is no change of the binding: it wakes nothing.
	e.await("the worker to wait", workerParked)
	passes := lbsync.Passes(e.lbID)
	inSync.StoredSyncTime = stored.Add(time.Hour)
	e.syncer.Update(inSync)
	time.Sleep(200 * time.Millisecond) // a pass it started would run now: the window is 20 ms
	if n := lbsync.Passes(e.lbID); n != passes {
		t.Errorf("a new stored sync time started %d passes", n-passes)
	}
}

// wantedTargets are b's desired targets on listenerID, as its worker writes them.
func wantedTargets(b lbsync.Binding, listenerID string) []targets.Target {
	out := slices.Clone(b.Desired)
	for i := range out {
		out[i].ListenerID, out[i].Tag = listenerID, b.OwnerTag
	}
	return out
}

// TestListenerRereadKeepsDriftChecksQuiet: the periodic re-read of the listeners that finds them
// as they were is no news, so a settled worker's drift check stays quiet; a listener added since
// is news, and that check is a full pass.
func TestListenerRereadKeepsDriftChecksQuiet(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) {
		o.Window, o.MaxWindow, o.Clock, o.TargetsTTL = 0, 0, clk, lbsync.ListenerTTL
	})
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	e.syncer.Expect(b.Key, e.lbID)
	reconciled(e.syncer, b)
	e.await("the sync", e.synced(b, lis))
	listenerReads := func() int { return callsOf(e, "DescribeListeners") }
	// Both caches expire together: each check reads the listeners and the backends again.
	check := func(what string) {
		t.Helper()
		e.await("the worker to wait for its next check", workerParked)
		listeners, backends := listenerReads(), describeTargets(e)
		clk.Step(lbsync.ListenerTTL)
		e.await(what, func() bool { return listenerReads() > listeners && describeTargets(e) > backends })
		e.await("the worker to wait for its next check", workerParked)
	}
	check("the first check, which reads our registration and settles the worker")
	base := lbsync.QuietPasses(e.lbID)
	check("a check that finds the listeners and the backends as they were")
	if got := lbsync.QuietPasses(e.lbID) - base; got != 1 {
		t.Fatalf("%v quiet passes in a check that found nothing new, want 1", got)
	}

	e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	base = lbsync.QuietPasses(e.lbID)
	check("a check that finds a new listener")
	if got := lbsync.QuietPasses(e.lbID) - base; got != 0 {
		t.Fatalf("%v quiet passes in a check that found a new listener, want a full pass", got)
	}
	if n := writeCalls(e.srv.Sim); n != 1 {
		t.Fatalf("%d writes, want the registration only", n)
	}
}
