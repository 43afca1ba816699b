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

package health_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

type changes struct {
	mu  sync.Mutex
	lbs []string
}

func (c *changes) record(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lbs = append(c.lbs, ids...)
}

func (c *changes) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lbs...)
}

func start(t *testing.T) (*simtest.Server, *clb.Client) {
	t.Helper()
	srv, err := simtest.Start(clbsim.Options{DefaultQPS: -1, HealthInterval: 100 * time.Millisecond}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestPollerSharesOneReadAcrossBindingsAndLoadBalancers(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	lbs := make([]string, 0, 31)
	for i := range 31 {
		lbs = append(lbs, srv.Sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i)))
	}
	p, err := health.New(c, nil, health.Options{Fast: 50 * time.Millisecond, Slow: time.Hour})
	g.Expect(err).NotTo(HaveOccurred())
	// Two bindings per load balancer: the load balancers are still read once per poll.
	for i, lb := range lbs {
		p.Watch(types.NamespacedName{Namespace: "a", Name: fmt.Sprint(i)}, lb, false)
		p.Watch(types.NamespacedName{Namespace: "b", Name: fmt.Sprint(i)}, lb, false)
	}
	ctx := t.Context()
	srv.Sim.ResetCalls()
	go func() { _ = p.Start(ctx) }()
	g.Eventually(func() bool { _, ok := p.View(lbs[30]); return ok }).Should(BeTrue())
	// Slow polling: one poll so far, and 31 load balancers take ⌈31/30⌉ = 2 calls.
	g.Consistently(func() int { return srv.Sim.Calls()["DescribeTargetHealth"]["OK"] }, 300*time.Millisecond).Should(Equal(2))
}

func TestPollerGoesFastWhileSomeoneWaitsAndReportsChanges(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	lb := srv.Sim.AddLoadBalancer("web")
	listener := srv.Sim.AddListener(lb, "TCP", 80)
	var seen changes
	clk := clocktesting.NewFakeClock(time.Now())
	const fast = 50 * time.Millisecond
	p, err := health.New(c, seen.record, health.Options{Fast: fast, Slow: time.Hour, Clock: clk})
	g.Expect(err).NotTo(HaveOccurred())
	owner := types.NamespacedName{Namespace: "ns", Name: "web"}
	p.Watch(owner, lb, true)
	ctx := t.Context()
	go func() { _ = p.Start(ctx) }()
	g.Eventually(seen.seen).Should(ContainElement(lb), "the first read is a change")

	target := targets.Target{Key: targets.Key{ListenerID: listener, EniIP: "10.0.0.1", Port: 8080}, Weight: 10}
	_, err = c.RegisterTargets(ctx, lb, []targets.Target{target})
	g.Expect(err).NotTo(HaveOccurred())
	key := target.Key
	// Each fast interval that passes while the poller waits for it is one poll.
	detail := func() string {
		if clk.HasWaiters() {
			clk.Step(fast)
		}
		v, _ := p.View(lb)
		return v.Targets[key].Detail
	}
	g.Eventually(detail).Should(Equal(clb.HealthAlive), "scripted health turns Alive and the fast poll sees it")

	srv.Sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lb}, "Dead")
	g.Eventually(detail).Should(Equal(clb.HealthDead))

	// Steady: nobody waits, so the slow interval applies and the calls stop. The fast poll the
	// poller already waits for still comes; it then waits for the slow interval.
	calls := func() int { return srv.Sim.Calls()["DescribeTargetHealth"]["OK"] }
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	p.Watch(owner, lb, false)
	clk.Step(fast)
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	before := calls()
	for range 6 {
		// A poll due now would take the fired timer away until it has read and waits again.
		clk.Step(fast)
		g.Eventually(clk.HasWaiters).Should(BeTrue())
		g.Expect(calls()).To(Equal(before), "polled at the fast interval while nobody waits")
	}
}

// heldHealthCloud holds every health read until the test lets it go.
type heldHealthCloud struct {
	health.Cloud
	entered chan struct{}
	release chan struct{}
}

func (c *heldHealthCloud) DescribeTargetHealth(ctx context.Context, lbIDs []string) (map[string][]clb.TargetHealth, error) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
	return c.Cloud.DescribeTargetHealth(ctx, lbIDs)
}

// TestPollerForgetsLoadBalancersNobodyWatches: 1,000 watchers over 100 load balancers leave no
// interest and no view behind once they are gone, without waiting for another poll; neither does
// a watcher that moves to another load balancer.
func TestPollerForgetsLoadBalancersNobodyWatches(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	// The clock never moves: only the first poll, at Start, runs.
	p, err := health.New(c, nil, health.Options{Clock: clocktesting.NewFakeClock(time.Now())})
	g.Expect(err).NotTo(HaveOccurred())
	owners := make([]types.NamespacedName, 0, 1000)
	for i := range 100 {
		lb := srv.Sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i))
		for j := range 10 {
			owner := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("b-%d-%d", i, j)}
			owners = append(owners, owner)
			p.Watch(owner, lb, false)
		}
	}
	go func() { _ = p.Start(t.Context()) }()
	g.Eventually(func() int { return health.StateCounts(p)["views"] }).Should(Equal(100))
	g.Expect(health.StateCounts(p)).To(Equal(map[string]int{"interests": 1000, "watchers": 100, "views": 100}))

	moved := owners[0]
	for _, owner := range owners[1:10] {
		p.Unwatch(owner)
	}
	p.Watch(moved, "lb-elsewhere", false)
	g.Expect(health.StateCounts(p)).To(Equal(map[string]int{"interests": 991, "watchers": 100, "views": 99}),
		"the view of a load balancer whose last watcher moved away")

	for _, owner := range owners {
		p.Unwatch(owner)
	}
	g.Expect(health.StateCounts(p)).To(Equal(map[string]int{"interests": 0, "watchers": 0, "views": 0}))
}

// TestPollerKeepsNoViewUnwatchedDuringItsRead: a load balancer whose last watcher goes while
// the poll reads it gets no view from that read.
func TestPollerKeepsNoViewUnwatchedDuringItsRead(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	cloud := &heldHealthCloud{Cloud: c, entered: make(chan struct{}, 1), release: make(chan struct{})}
	var seen changes
	p, err := health.New(cloud, seen.record, health.Options{Clock: clocktesting.NewFakeClock(time.Now())})
	g.Expect(err).NotTo(HaveOccurred())
	gone, kept := srv.Sim.AddLoadBalancer("gone"), srv.Sim.AddLoadBalancer("kept")
	p.Watch(types.NamespacedName{Namespace: "ns", Name: "gone"}, gone, false)
	p.Watch(types.NamespacedName{Namespace: "ns", Name: "kept"}, kept, false)
	go func() { _ = p.Start(t.Context()) }()
	g.Eventually(cloud.entered).Should(Receive())
	p.Unwatch(types.NamespacedName{Namespace: "ns", Name: "gone"})
	close(cloud.release)
	g.Eventually(seen.seen).Should(ContainElement(kept), "the read ends")
	g.Expect(seen.seen()).NotTo(ContainElement(gone))
	_, ok := p.View(gone)
	g.Expect(ok).To(BeFalse(), "a view of the unwatched load balancer")
	g.Expect(health.StateCounts(p)).To(Equal(map[string]int{"interests": 1, "watchers": 1, "views": 1}))
}

// TestPollerHandsEveryReadToOnRead: OnRead gets each view a poll read, also when nothing changed,
// so a reader that ignored a view (the workers do right after their own writes) sees it again
// at the next poll; the change callback hears only of changes.
func TestPollerHandsEveryReadToOnRead(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	lb := srv.Sim.AddLoadBalancer("web")
	srv.Sim.AddListener(lb, "TCP", 80)
	var seen changes
	var mu sync.Mutex
	reads := 0
	clk := clocktesting.NewFakeClock(time.Now())
	const fast = 50 * time.Millisecond
	p, err := health.New(c, seen.record, health.Options{Fast: fast, Slow: fast, Clock: clk,
		OnRead: func(lbID string, view health.Snapshot) {
			mu.Lock()
			defer mu.Unlock()
			if lbID == lb && !view.ReadAt.IsZero() {
				reads++
			}
		}})
	g.Expect(err).NotTo(HaveOccurred())
	p.Watch(types.NamespacedName{Namespace: "ns", Name: "web"}, lb, false)
	go func() { _ = p.Start(t.Context()) }()
	readsSoFar := func() int {
		mu.Lock()
		defer mu.Unlock()
		return reads
	}
	g.Eventually(readsSoFar).Should(Equal(1))
	for want := 2; want <= 4; want++ {
		g.Eventually(clk.HasWaiters).Should(BeTrue())
		clk.Step(fast)
		g.Eventually(readsSoFar).Should(Equal(want), "the read of an unchanged view")
	}
	g.Expect(seen.seen()).To(Equal([]string{lb}), "only the first read is a change")
}

// TestPollerReportsAFailingViewOnceAndItsRecovery: reads that start failing keep the last view
// and count as one change (FailingSince set); more failures are no change; the first read that
// succeeds again is one.
func TestPollerReportsAFailingViewOnceAndItsRecovery(t *testing.T) {
	g := NewWithT(t)
	srv, c := start(t)
	lb := srv.Sim.AddLoadBalancer("web")
	srv.Sim.AddListener(lb, "TCP", 80)
	var seen changes
	clk := clocktesting.NewFakeClock(time.Now())
	const fast = 50 * time.Millisecond
	p, err := health.New(c, seen.record, health.Options{Fast: fast, Slow: fast, Clock: clk})
	g.Expect(err).NotTo(HaveOccurred())
	p.Watch(types.NamespacedName{Namespace: "ns", Name: "web"}, lb, false)
	go func() { _ = p.Start(t.Context()) }()
	view := func() health.Snapshot {
		v, _ := p.View(lb)
		return v
	}
	g.Eventually(func() time.Time { return view().ReadAt }).ShouldNot(BeZero())
	g.Expect(seen.seen()).To(HaveLen(1), "the first read")
	readAt := view().ReadAt

	srv.Sim.InjectFault(clbsim.Fault{Action: "DescribeTargetHealth", Code: "InvalidParameter", Rate: 1})
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	clk.Step(fast)
	g.Eventually(func() error { return view().Err }).Should(HaveOccurred())
	failing := view()
	g.Expect(failing.FailingSince).To(Equal(clk.Now()))
	g.Expect(failing.ReadAt).To(Equal(readAt), "the last view stands")
	g.Eventually(seen.seen).Should(HaveLen(2), "failing is a change")
	for range 3 {
		g.Eventually(clk.HasWaiters).Should(BeTrue())
		clk.Step(fast)
		g.Eventually(func() time.Time { return view().FailingSince }).Should(Equal(failing.FailingSince))
	}
	g.Expect(seen.seen()).To(HaveLen(2), "failing again is no change")

	srv.Sim.ClearFaults()
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	clk.Step(fast)
	g.Eventually(func() time.Time { return view().FailingSince }).Should(BeZero())
	g.Expect(view().Err).NotTo(HaveOccurred())
	g.Expect(seen.seen()).To(HaveLen(3), "recovering is a change")
}

// TestSameHealth: a poll that reads what the view holds keeps the view; any backend added,
// removed, replaced or with another verdict is a change.
func TestSameHealth(t *testing.T) {
	key := func(ip string) targets.Key { return targets.Key{ListenerID: "lbl-1", EniIP: ip, Port: 80} }
	alive := func(ip string) clb.TargetHealth {
		return clb.TargetHealth{Key: key(ip), Healthy: true, Detail: clb.HealthAlive}
	}
	dead := func(ip string) clb.TargetHealth { return clb.TargetHealth{Key: key(ip), Detail: clb.HealthDead} }
	view := map[targets.Key]clb.TargetHealth{key("10.0.0.1"): alive("10.0.0.1"), key("10.0.0.2"): alive("10.0.0.2")}
	tests := []struct {
		name string
		list []clb.TargetHealth
		same bool
	}{
		{"the same, in another order", []clb.TargetHealth{alive("10.0.0.2"), alive("10.0.0.1")}, true},
		{"a verdict changed", []clb.TargetHealth{alive("10.0.0.1"), dead("10.0.0.2")}, false},
		{"a backend removed", []clb.TargetHealth{alive("10.0.0.1")}, false},
		{"a backend added", []clb.TargetHealth{alive("10.0.0.1"), alive("10.0.0.2"), alive("10.0.0.3")}, false},
		{"a backend replaced", []clb.TargetHealth{alive("10.0.0.1"), alive("10.0.0.3")}, false},
		{"nothing read", nil, false},
	}
	for _, tt := range tests {
		if got := health.SameHealth(view, tt.list); got != tt.same {
			t.Errorf("%s: sameHealth = %v, want %v", tt.name, got, tt.same)
		}
	}
	if !health.SameHealth(map[targets.Key]clb.TargetHealth{}, nil) {
		t.Error("an empty read of an empty view is a change")
	}
}
