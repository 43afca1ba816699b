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
	"strconv"
	"strings"
	"testing"
	"time"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

func describeTargets(e *fidelityEnv) int { return callsOf(e, "DescribeTargets") }

// callsOf counts clbsim's calls of action, whatever their result.
func callsOf(e *fidelityEnv, action string) int {
	n := 0
	for _, c := range e.srv.Sim.Calls()[action] {
		n += c
	}
	return n
}

// TestDriftIsFoundByThePeriodicRead: with no event at all, a backend removed by hand, one added by
// hand on an exclusive listener and a weight changed by hand are all put back at the next read of
// the listener, one DescribeTargets per TargetsTTL, and the pass says it repaired them.
func TestDriftIsFoundByThePeriodicRead(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.TargetsTTL = time.Second })
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2", "10.1.0.3")
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, lis))

	ctx := context.Background()
	key := func(ip string) targets.Key { return targets.Key{ListenerID: lis, EniIP: ip, Port: 8080} }
	if _, err := e.cloud.DeregisterTargets(ctx, e.lbID, []targets.Target{{Key: key("10.1.0.1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cloud.RegisterTargets(ctx, e.lbID, []targets.Target{{Key: key("10.9.9.9"), Weight: 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cloud.ModifyTargetWeights(ctx, e.lbID, []targets.Target{{Key: key("10.1.0.2"), Weight: 77}}); err != nil {
		t.Fatal(err)
	}
	e.srv.Sim.ResetCalls()
	start := time.Now()
	e.await("the repair", func() bool { return slices.Equal(e.backends(lis), wanted(b)) })
	t.Logf("repaired %s after the changes", time.Since(start).Round(time.Millisecond))
	e.await("the repair report", func() bool { return len(e.notifier.repairs()) > 0 })
	c := e.notifier.repairs()[0]
	if c.Registered != 1 || c.Deregistered != 1 || c.Reweighted != 1 || c.DeregisteredNames != "10.9.9.9:8080" {
		t.Fatalf("repair = %+v, want 1 re-registered, 1 removed (10.9.9.9:8080), 1 re-weighted", c)
	}
	if drifted := e.notifier.withReason(networkingv1alpha1.BindingDriftedReason); len(drifted) != 0 {
		t.Fatalf("Drifted reports = %+v after a repair that went through", drifted)
	}

	// A repair that fails reports Drifted, saying what was found and why the repair failed.
	if _, err := e.cloud.ModifyTargetWeights(ctx, e.lbID, []targets.Target{{Key: key("10.1.0.3"), Weight: 66}}); err != nil {
		t.Fatal(err)
	}
	e.srv.Sim.InjectFault(clbsim.Fault{Action: "BatchModifyTargetWeight", Code: "InternalError", Rate: 1})
	e.await("Drifted", func() bool { return len(e.notifier.withReason(networkingv1alpha1.BindingDriftedReason)) > 0 })
	st := e.notifier.withReason(networkingv1alpha1.BindingDriftedReason)[0]
	wantMsg := "the CLB was changed outside the controller: listener " + lis + " has 1 with another weight: the repair failed: "
	if st.Synced || !strings.HasPrefix(st.Message, wantMsg) {
		t.Fatalf("Drifted report = %+v, want not synced, message starting %q", st, wantMsg)
	}
	e.srv.Sim.ClearFaults()
	e.await("the repair after the fault", func() bool { return slices.Equal(e.backends(lis), wanted(b)) })
	e.await("Synced again", func() bool { st, _ := e.syncer.Status(b.Key); return st.Synced })

	// Steady: one read per TargetsTTL, no write, and the binding Synced again.
	e.srv.Sim.ResetCalls()
	time.Sleep(3500 * time.Millisecond)
	if st, _ := e.syncer.Status(b.Key); !st.Synced || st.Reason != "" {
		t.Fatalf("status after the repair = %+v, want Synced", st)
	}
	if n := describeTargets(e); n < 2 || n > 4 {
		t.Fatalf("DescribeTargets = %d in 3.5 s with a 1 s TTL, want 3 or so", n)
	}
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Fatalf("%d writes while nothing changed", n)
	}
}

// TestDriftIsFoundByTheHealthRead: the health poller's read of the load balancer shows a backend
// gone; the worker reads that listener at once, long before its TTL, and puts it back. A health
// read that shows what the worker knows costs nothing.
func TestDriftIsFoundByTheHealthRead(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.TargetsTTL = time.Hour })
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, lis))
	health := func() map[targets.Key]clb.TargetHealth {
		h, err := e.cloud.DescribeTargetHealth(context.Background(), []string{e.lbID})
		if err != nil {
			t.Fatal(err)
		}
		view := map[targets.Key]clb.TargetHealth{}
		for _, th := range h[e.lbID] {
			view[th.Key] = th
		}
		return view
	}
	later := e.clock.Now().Add(time.Minute) // past the settle time after the last pass

	e.srv.Sim.ResetCalls()
	e.syncer.HealthSeen(e.lbID, health(), later, later)
	time.Sleep(300 * time.Millisecond)
	if n := describeTargets(e); n != 0 {
		t.Fatalf("a health read that matches cost %d DescribeTargets", n)
	}

	if _, err := e.cloud.DeregisterTargets(context.Background(), e.lbID, []targets.Target{
		{Key: targets.Key{ListenerID: lis, EniIP: "10.1.0.1", Port: 8080}}}); err != nil {
		t.Fatal(err)
	}
	// A view read right after the worker's last pass is not compared (its write may not show
	// yet); the poller hands the worker every read, so the next one finds the change.
	e.syncer.HealthSeen(e.lbID, health(), e.clock.Now(), e.clock.Now())
	time.Sleep(300 * time.Millisecond)
	if n := describeTargets(e); n != 0 {
		t.Fatalf("a health view read within the settle time cost %d DescribeTargets", n)
	}
	changed := later.Add(time.Second) // the poller's view changed: a new view
	e.syncer.HealthSeen(e.lbID, health(), changed, changed)
	e.await("the repair", func() bool { return slices.Equal(e.backends(lis), wanted(b)) })
	if n := describeTargets(e); n != 1 {
		t.Fatalf("DescribeTargets = %d, want the one read of the drifted listener", n)
	}
}

// TestListenerRecreatedOutOfBand: a listener deleted and re-created on the same port (a new ID)
// is found at the next read; a binding given by port moves its backends to the new listener, one
// given by ID reports ListenerNotFound and no longer names the old ID.
func TestListenerRecreatedOutOfBand(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.TargetsTTL = time.Second })
	byPort := e.binding("by-port", lbsync.ListenerRef{Port: 80, Protocol: "TCP"}, "10.1.0.1", "10.1.0.2")
	old := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	byIDListener := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	byID := e.binding("by-id", lbsync.ListenerRef{ID: byIDListener}, "10.1.0.3")
	e.syncer.Update(byPort)
	e.syncer.Update(byID)
	e.await("the sync", func() bool { return e.synced(byPort, old)() && e.synced(byID, byIDListener)() })

	e.srv.Sim.DeleteListener(e.lbID, old)
	e.srv.Sim.DeleteListener(e.lbID, byIDListener)
	recreated := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	// The backends land on the new listener before the pass that wrote them stores its status.
	e.await("the backends on the new listener, and the status naming it", func() bool {
		st, _ := e.syncer.Status(byPort.Key)
		return e.synced(byPort, recreated)() && st.ListenerID == recreated
	})
	e.await("ListenerNotFound", func() bool {
		st, _ := e.syncer.Status(byID.Key)
		return st.Reason == networkingv1alpha1.BindingListenerNotFoundReason && st.ListenerID == ""
	})
}

// TestSteadyReadsFillEachCall: listeners whose caches were read at different times (bindings
// added apart) are read together once a call has room, so a steady load balancer with 15 bound
// listeners costs one DescribeTargets per TargetsTTL, not one per group read apart.
func TestSteadyReadsFillEachCall(t *testing.T) {
	const ttl = 500 * time.Millisecond
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.TargetsTTL = ttl })
	for i := range 15 {
		lis := e.srv.Sim.AddListener(e.lbID, "TCP", int64(80+i))
		b := e.binding("web-"+strconv.Itoa(i), lbsync.ListenerRef{ID: lis}, "10.1.0."+strconv.Itoa(i+1))
		e.syncer.Update(b)
		e.await("the sync of "+b.Key.Name, e.synced(b, lis))
		if i == 7 {
			time.Sleep(ttl / 2) // the second group's caches are read half a TTL later
		}
	}

	e.srv.Sim.ResetCalls()
	const window = 10 * ttl
	time.Sleep(window)
	// One read per TTL; the worker wakes at expiry, so a slow machine reads less, never more.
	if n := describeTargets(e); n > int(window/ttl)+1 {
		t.Fatalf("DescribeTargets = %d in %v with a %v TTL and 15 listeners, want at most %d (one call reads 20)", n, window, ttl, int(window/ttl)+1)
	} else if n == 0 {
		t.Fatalf("no DescribeTargets in %v with a %v TTL", window, ttl)
	}
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Fatalf("%d writes while nothing changed", n)
	}
}
