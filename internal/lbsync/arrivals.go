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

package lbsync

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Group commit. A worker with nothing in flight writes a change at once, and the changes that
// arrive while its write is in flight go out together in its next one. What it must not do is
// write while more changes of its load balancer are already on their way: queued for, or inside,
// a reconcile of the binding controller. On a manager starved of CPU that queue is long, and a
// fixed window would split it into many partly filled writes; the queue itself says how long to
// wait. The controller reports each binding it queues (Expect) and each reconcile that ends
// (Reconciling, then done); a worker waits while one of its load balancer is outstanding and
// they keep arriving: it stops waiting once none has arrived for Options.MaxWindow (a reconcile
// lost or stuck), and after maxWaitWindows × MaxWindow in all (a queue that never drains).

// expectation is a binding queued for a reconcile.
type expectation struct {
	lbID string
	// seq orders the Expect calls: a reconcile settles only the expectations made before it began.
	seq uint64
}

// arrivals counts, per load balancer, the bindings queued for a reconcile.
type arrivals struct {
	mu       sync.Mutex
	seq      uint64
	expected map[types.NamespacedName]expectation
	byLB     map[string]int
	// arrived is told the load balancer of each binding whose reconcile settled it.
	arrived func(lbID string)
}

func newArrivals(arrived func(lbID string)) *arrivals {
	return &arrivals{expected: map[types.NamespacedName]expectation{}, byLB: map[string]int{}, arrived: arrived}
}

func (a *arrivals) expect(key types.NamespacedName, lbID string) {
	a.mu.Lock()
	a.seq++
	e, ok := a.expected[key]
	a.expected[key] = expectation{lbID: lbID, seq: a.seq}
	if ok && e.lbID == lbID {
		a.mu.Unlock()
		return
	}
	a.byLB[lbID]++
	if ok {
		a.dropLocked(e.lbID) // re-created on another load balancer: it no longer holds the first
	}
	a.mu.Unlock()
	if ok {
		a.arrived(e.lbID)
	}
}

// begin returns what a reconcile starting now settles when it ends.
func (a *arrivals) begin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// done settles the binding's expectation if it was made before the reconcile began: an Expect
// during the reconcile means the queue holds the binding again.
func (a *arrivals) done(key types.NamespacedName, began uint64) {
	a.mu.Lock()
	e, ok := a.expected[key]
	if !ok || e.seq > began {
		a.mu.Unlock()
		return
	}
	delete(a.expected, key)
	a.dropLocked(e.lbID)
	a.mu.Unlock()
	a.arrived(e.lbID)
}

// dropLocked decrements lbID's count.
func (a *arrivals) dropLocked(lbID string) {
	if a.byLB[lbID]--; a.byLB[lbID] <= 0 {
		delete(a.byLB, lbID)
	}
}

// outstanding reports whether a binding of lbID is queued for a reconcile.
func (a *arrivals) outstanding(lbID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byLB[lbID] > 0
}

// Expect records that the binding controller queued key, a binding on load balancer lbID, for a
// reconcile: its worker holds its next write until that reconcile has handed over the change.
func (s *Syncer) Expect(key types.NamespacedName, lbID string) {
	s.arrivals.expect(key, lbID)
}

// Reconciling is called as a reconcile of key begins; the returned function is called as it
// ends, whatever its outcome, and settles what Expect recorded before it began.
func (s *Syncer) Reconciling(key types.NamespacedName) (done func()) {
	began := s.arrivals.begin()
	return func() { s.arrivals.done(key, began) }
}

// wakeArrived wakes lbID's worker, if it waits: a binding of it was reconciled.
func (s *Syncer) wakeArrived(lbID string) {
	s.mu.Lock()
	w := s.workers[lbID]
	s.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.arrived <- struct{}{}:
	default:
	}
}
