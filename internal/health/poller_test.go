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
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/health"
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
	p, err := health.New(c, seen.record, health.Options{Fast: 50 * time.Millisecond, Slow: time.Hour})
	g.Expect(err).NotTo(HaveOccurred())
	owner := types.NamespacedName{Namespace: "ns", Name: "web"}
	p.Watch(owner, lb, true)
	ctx := t.Context()
	go func() { _ = p.Start(ctx) }()
	g.Eventually(seen.seen).Should(ContainElement(lb), "the first read is a change")

	target := clb.Target{TargetKey: clb.TargetKey{ListenerID: listener, EniIP: "10.0.0.1", Port: 8080}, Weight: 10}
	_, err = c.RegisterTargets(ctx, lb, []clb.Target{target})
	g.Expect(err).NotTo(HaveOccurred())
	key := target.TargetKey
	g.Eventually(func() string { v, _ := p.View(lb); return v.Targets[key].Detail }).Should(Equal(clb.HealthAlive),
		"scripted health turns Alive and the fast poll sees it")

	srv.Sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lb}, "Dead")
	g.Eventually(func() string { v, _ := p.View(lb); return v.Targets[key].Detail }).Should(Equal(clb.HealthDead))

	// Steady: nobody waits, so the slow interval applies and the calls stop.
	p.Watch(owner, lb, false)
	time.Sleep(100 * time.Millisecond)
	before := srv.Sim.Calls()["DescribeTargetHealth"]["OK"]
	g.Consistently(func() int { return srv.Sim.Calls()["DescribeTargetHealth"]["OK"] }, 300*time.Millisecond).Should(Equal(before))
}
