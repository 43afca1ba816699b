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
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// Group commit: a worker writes at once unless changes of its load balancer are still queued for
// a reconcile, and then writes them all together. The Syncer runs on a fake clock that these
// tests never move unless they say so, so no fixed wait can hide in a pass and no timer can
// release a worker that waits for a reconcile: what is counted is the batching, not the speed of
// the machine.

// frozenEnv starts a fidelity environment whose Syncer's clock stands still, with the defaults
// of Window and MaxWindow.
func frozenEnv(t *testing.T) (*fidelityEnv, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) {
		o.Window, o.MaxWindow, o.Clock = 0, 0, clk
	})
	return e, clk
}

// awaitingArrivals reports whether a worker waits for changes queued for a reconcile.
func awaitingArrivals() bool {
	for g := range strings.SplitSeq(goroutineStacks(), "\n\n") {
		if strings.Contains(g, "lbsync.(*worker).awaitArrivals(") {
			header, _, _ := strings.Cut(g, "\n")
			return strings.Contains(header, "[select")
		}
	}
	return false
}

// reconciled hands b to the Syncer as the binding controller's reconcile does.
func reconciled(s *lbsync.Syncer, b lbsync.Binding) {
	done := s.Reconciling(b.Key)
	s.Update(b)
	done()
}

// TestIdleWorkerWritesAtOnce: with nothing queued and nothing in flight, a change is written
// without any wait (the clock never moves).
func TestIdleWorkerWritesAtOnce(t *testing.T) {
	e, _ := frozenEnv(t)
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: listener}, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	reconciled(e.syncer, b)
	e.await("the change to be written with the clock standing still", e.synced(b, listener))
	if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
		t.Errorf("BatchRegisterTargets calls = %d, want 1", n)
	}
}

// TestChangesOnTheirWayGoOutInOnePass: 40 bindings are queued for a reconcile at once, as an
// EndpointSlice burst queues them; they reach the Syncer one reconcile at a time. The worker
// writes nothing until the last has arrived, then registers all 480 backends in one call. A
// binding queued on another load balancer does not hold it.
func TestChangesOnTheirWayGoOutInOnePass(t *testing.T) {
	e, _ := frozenEnv(t)
	const bindings, perBinding = 40, 12
	bs := make([]lbsync.Binding, bindings)
	listeners := make([]string, bindings)
	for i := range bs {
		listeners[i] = e.srv.Sim.AddListener(e.lbID, "TCP", int64(10000+i))
		ips := make([]string, perBinding)
		for j := range ips {
			ips[j] = fmt.Sprintf("10.2.%d.%d", i, j+1)
		}
		bs[i] = e.binding(fmt.Sprintf("b-%02d", i), lbsync.ListenerRef{ID: listeners[i]}, ips...)
		e.syncer.Expect(bs[i].Key, e.lbID)
	}
	e.syncer.Expect(types.NamespacedName{Namespace: "other", Name: "never-reconciled"}, "lb-elsewhere")

	for _, b := range bs[:bindings-1] {
		reconciled(e.syncer, b)
	}
	e.await("the worker to wait for the last binding", awaitingArrivals)
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Fatalf("%d write calls while a change of the load balancer was still queued", n)
	}
	reconciled(e.syncer, bs[bindings-1])
	for i, b := range bs {
		e.await(b.Key.Name+" to be synced", e.synced(b, listeners[i]))
	}
	if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
		t.Errorf("BatchRegisterTargets calls = %d, want 1 for %d backends", n, bindings*perBinding)
	}
}

// TestWaitForArrivalsIsBounded: a binding queued but never reconciled (its reconcile was lost)
// holds the worker for MaxWindow, not for ever.
func TestWaitForArrivalsIsBounded(t *testing.T) {
	e, clk := frozenEnv(t)
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.syncer.Expect(types.NamespacedName{Namespace: "ns", Name: "lost"}, e.lbID)
	b := e.binding("web", lbsync.ListenerRef{ID: listener}, "10.0.0.1")
	reconciled(e.syncer, b)
	e.await("the worker to wait for the queued binding", awaitingArrivals)
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Fatalf("%d write calls before MaxWindow passed", n)
	}
	clk.Step(2 * time.Second) // the default MaxWindow
	e.await("the change to be written once MaxWindow passed", e.synced(b, listener))
}

// TestChangesDuringAWriteGoOutTogether: the changes made while a write is in flight are written
// together by the next pass, whatever their number.
func TestChangesDuringAWriteGoOutTogether(t *testing.T) {
	cloud, syncer, lbID, first := startHeld(t, "RegisterTargets", func(o *lbsync.Options) { o.Window = 0 })
	sim := cloud.sim
	syncer.Update(withIPs(heldBinding(lbID, first, "first"), "10.0.0.1"))
	awaitHeld(t, cloud)
	const later = 30
	for i := range later {
		listener := sim.AddListener(lbID, "TCP", int64(9000+i))
		syncer.Update(withIPs(heldBinding(lbID, listener, fmt.Sprintf("later-%d", i)), fmt.Sprintf("10.3.%d.1", i), fmt.Sprintf("10.3.%d.2", i)))
	}
	close(cloud.release)
	awaitFor(t, "every backend to be registered", 10*time.Second, func() bool { return len(sim.Targets(lbID)) == 1+2*later })
	if n := sim.Calls()["BatchRegisterTargets"]["OK"]; n != 2 {
		t.Errorf("BatchRegisterTargets calls = %d, want 2: the first change, then the %d made during its write", n, later)
	}
}

// TestWaitLastsWhileTheQueueMoves: a worker keeps waiting past MaxWindow for the queued bindings
// of its load balancer as long as the controller keeps reconciling, here only bindings of other
// load balancers (a cold start's long queue, where a load balancer's bindings are far apart): the
// first change and the queued one go out in one pass, 15 s later.
func TestWaitLastsWhileTheQueueMoves(t *testing.T) {
	e, clk := frozenEnv(t)
	const others, step = 10, 1500 * time.Millisecond // MaxWindow is 2 s: never that long without a reconcile
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	first := e.binding("first", lbsync.ListenerRef{ID: listener}, "10.0.0.1")
	queuedListener := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	queued := e.binding("queued", lbsync.ListenerRef{ID: queuedListener}, "10.0.0.2")
	e.syncer.Expect(queued.Key, e.lbID)
	elsewhere := make([]types.NamespacedName, others)
	for i := range elsewhere {
		elsewhere[i] = types.NamespacedName{Namespace: "other", Name: fmt.Sprintf("b-%d", i)}
		e.syncer.Expect(elsewhere[i], "lb-elsewhere")
	}
	reconciled(e.syncer, first)
	e.await("the worker to wait for the queued binding", awaitingArrivals)
	for i := range elsewhere {
		clk.Step(step)
		e.syncer.Reconciling(elsewhere[i])()
		e.await("the worker to wait on", awaitingArrivals)
		if n := writeCalls(e.srv.Sim); n != 0 {
			t.Fatalf("%d write calls after %v while the controller kept reconciling", n, time.Duration(i+1)*step)
		}
	}
	reconciled(e.syncer, queued)
	e.await("both to be written", func() bool { return len(e.srv.Sim.Targets(e.lbID)) == 2 })
	if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
		t.Errorf("BatchRegisterTargets calls = %d, want 1 for the first and the queued binding", n)
	}
}

// TestBindingsQueuedLaterDoNotHoldTheWrite: a binding queued after the worker began to wait (and
// one queued over and over) does not lengthen the wait: once those queued before have arrived, the
// worker writes.
func TestBindingsQueuedLaterDoNotHoldTheWrite(t *testing.T) {
	e, _ := frozenEnv(t)
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	first := e.binding("first", lbsync.ListenerRef{ID: listener}, "10.0.0.1")
	secondListener := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	second := e.binding("second", lbsync.ListenerRef{ID: secondListener}, "10.0.0.2")
	e.syncer.Expect(second.Key, e.lbID)
	reconciled(e.syncer, first)
	e.await("the worker to wait for the second binding", awaitingArrivals)
	e.syncer.Expect(types.NamespacedName{Namespace: "ns", Name: "later"}, e.lbID)
	reconciled(e.syncer, second)
	e.await("both to be written with the later binding still queued", func() bool { return len(e.srv.Sim.Targets(e.lbID)) == 2 })
}

// TestWaitWhileTheQueueMovesIsBounded: a queue that keeps moving but does not reach the load
// balancer's binding (its reconcile never settles it) holds the write only until twice as many
// reconciles have ended as bindings were queued when the wait began: here 2 × 3.
func TestWaitWhileTheQueueMovesIsBounded(t *testing.T) {
	e, clk := frozenEnv(t)
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.syncer.Expect(types.NamespacedName{Namespace: "ns", Name: "starved"}, e.lbID)
	e.syncer.Expect(types.NamespacedName{Namespace: "other", Name: "a"}, "lb-elsewhere")
	e.syncer.Expect(types.NamespacedName{Namespace: "other", Name: "b"}, "lb-elsewhere")
	b := e.binding("web", lbsync.ListenerRef{ID: listener}, "10.0.0.1")
	reconciled(e.syncer, b)
	e.await("the worker to wait for the queued binding", awaitingArrivals)
	other := types.NamespacedName{Namespace: "other", Name: "busy"}
	for range 5 {
		clk.Step(time.Second)
		e.syncer.Reconciling(other)()
	}
	clk.Step(time.Second)
	e.await("the worker to wait on", awaitingArrivals)
	if n := writeCalls(e.srv.Sim); n != 0 {
		t.Fatalf("%d write calls after 5 reconciles, before the bound of 6", n)
	}
	e.syncer.Reconciling(other)()
	clk.Step(2 * time.Second) // the worker looks again at least every MaxWindow
	e.await("the change to be written after the sixth reconcile", e.synced(b, listener))
}
