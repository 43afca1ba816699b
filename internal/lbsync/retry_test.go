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
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// reconcilingNotifier answers every report the way the binding controller does: it reconciles
// the binding, which hands the same desired state to the Syncer again.
type reconcilingNotifier struct {
	mu      sync.Mutex
	syncer  *lbsync.Syncer
	binding lbsync.Binding
	reports int
	last    lbsync.Status
}

func (n *reconcilingNotifier) Synced(_ types.NamespacedName, _ types.UID, st lbsync.Status, _ lbsync.Changes) {
	n.mu.Lock()
	n.reports++
	n.last = st
	b := n.binding
	n.mu.Unlock()
	go n.syncer.Update(b)
}

func (n *reconcilingNotifier) status() (lbsync.Status, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last, n.reports
}

// TestOutageIsRetriedOnTheBackoff: while the CLB API fails, a binding that is still not synced
// is reconciled after every failed pass; that must not start a pass of its own, or an outage
// is retried as fast as the controller reconciles, without bound.
func TestOutageIsRetriedOnTheBackoff(t *testing.T) {
	srv, err := simtest.Start(clbsim.Options{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := srv.ClientConfig(nil)
	cfg.Retry = clb.RetryConfig{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	cloud, err := clb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lbID := srv.Sim.AddLoadBalancer("outage")
	listenerID := srv.Sim.AddListener(lbID, "TCP", 80)

	notifier := &reconcilingNotifier{}
	// The Syncer runs on a fake clock that the test moves only while the worker waits on it, so
	// the passes the test counts depend on the backoff alone, not on how busy the machine is.
	clk := clocktesting.NewFakeClock(time.Now())
	const retryBase, retryMax = 100 * time.Millisecond, 400 * time.Millisecond
	const window, maxWindow = 5 * time.Millisecond, 10 * time.Millisecond
	syncer, err := lbsync.New(cloud, notifier, lbsync.Options{
		Window: window, MaxWindow: maxWindow, RetryBase: retryBase, RetryMax: retryMax,
		StartupRecheck: time.Millisecond, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	b := lbsync.Binding{
		Key: key, UID: "uid-1", LoadBalancerID: lbID, Listener: lbsync.ListenerRef{ID: listenerID},
		OwnerTag: targets.OwnerTag("cls-test", "uid-1"), Exclusive: true,
	}
	for i := range 3 {
		b.Desired = append(b.Desired, targets.Target{
			Key: targets.Key{EniIP: "10.0.0." + string(rune('1'+i)), Port: 8080}, Weight: 10, Tag: b.OwnerTag,
		})
	}
	notifier.binding, notifier.syncer = b, syncer

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = syncer.Start(ctx) }()

	// tick moves the clock by one window once the worker waits (for the window, its retry, a
	// cache's expiry or work): a pass a reconcile started would run within a tick or two.
	tick := func() {
		t.Helper()
		awaitFor(t, "the worker to wait", 10*time.Second, workerParked)
		clk.Step(window)
	}

	srv.Sim.InjectFault(clbsim.Fault{Code: "InternalError", Rate: 1})
	const outage = 2 * time.Second
	syncer.Update(b)
	for start := clk.Now(); clk.Since(start) < outage; {
		tick()
	}
	st, reports := notifier.status()
	// A pass's first read fails: DescribeTargets while the worker has never read its listeners
	// (seedListeners), DescribeListeners after.
	attempts := 0
	for _, action := range []string{"DescribeTargets", "DescribeListeners"} {
		for _, n := range srv.Sim.Calls()[action] {
			attempts += n
		}
	}
	// Backoff 50-100ms, 100-200ms, then 200-400ms: at most 2 s / 50 ms passes in the worst
	// case of jitter, realistically about 8. Each pass costs MaxRetries+1 = 2 attempts.
	passes := attempts / 2
	t.Logf("outage of %v: %d passes (%d attempts of its first read), %d reports", outage, passes, attempts, reports)
	if st.Reason != networkingv1alpha1.BindingCloudErrorReason || !strings.Contains(st.Message, "InternalError") {
		t.Errorf("status during the outage = %q %q, want reason %s naming InternalError", st.Reason, st.Message, networkingv1alpha1.BindingCloudErrorReason)
	}
	if maxPasses := int(outage/(retryMax/2)) + 4; passes > maxPasses || passes < 3 {
		t.Errorf("%d passes during a %v outage; want 3..%d (retried on the backoff, not on every reconcile)", passes, outage, maxPasses)
	}
	if n := srv.Sim.Calls()["BatchRegisterTargets"]; len(n) != 0 {
		t.Errorf("wrote during the outage although nothing could be read: %v", n)
	}

	srv.Sim.ClearFaults()
	cleared := clk.Now()
	for {
		if st, _ := syncer.Status(key); st.Synced && len(srv.Sim.Targets(lbID)) == 3 {
			break
		}
		if clk.Since(cleared) > 5*time.Second {
			st, _ := syncer.Status(key)
			t.Fatalf("not synced 5s after the outage ended: %+v, %d targets", st, len(srv.Sim.Targets(lbID)))
		}
		tick()
	}
	// The retry is due within retryMax (a tick fires it at most one window late), then one
	// gathering window, and the tick after which the test looks.
	if took := clk.Since(cleared); took > retryMax+maxWindow+2*window {
		t.Errorf("recovered %v after the outage ended; the backoff tops out at %v", took, retryMax)
	}
}

// workerParked reports whether every load balancer worker is blocked waiting, for its clock or
// for work, and no reconcile is still handing a change to the Syncer: only then can the test move
// the clock without outrunning the worker. (A timer the worker no longer waits for keeps the fake
// clock's waiters, so they do not tell.)
func workerParked() bool {
	for g := range strings.SplitSeq(goroutineStacks(), "\n\n") {
		switch {
		case strings.Contains(g, "lbsync.(*worker).run("):
			header, _, _ := strings.Cut(g, "\n")
			if !strings.Contains(header, "[select") || strings.Contains(g, "lbsync.(*worker).pass(") {
				return false
			}
		case strings.Contains(g, "lbsync.(*Syncer).Update(") || strings.Contains(g, "reconcilingNotifier"):
			return false
		}
	}
	return true
}
