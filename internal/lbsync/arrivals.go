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
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Group commit. A worker with nothing in flight writes a change at once, and the changes that
// arrive while its write is in flight go out together in its next one. What it must not do is
// write while more changes of its load balancer are already on their way: queued for, or inside,
// a reconcile of the binding controller. On a manager starved of CPU, or one starting on a large
// cluster, that queue is long, and a fixed window would split it into many partly filled writes;
// the queue itself says how long to wait. The controller reports each binding it queues (Expect)
// and each reconcile that ends (Reconciling, then done). A worker about to write waits for the
// bindings of its load balancer queued before that moment, for as long as the controller keeps
// reconciling (any binding, of any load balancer, within Options.MaxWindow): a reconcile lost or
// a controller stuck ends the wait after MaxWindow; a queue that moves but does not reach them
// (a binding whose reconcile never settles it, a priority queue serving newer changes first) ends
// it once twice as many reconciles have ended as bindings were queued when it began, or after
// maxGroupWait. Bindings queued after the wait began do not lengthen it, so a binding queued
// again and again cannot hold its load balancer's writes back.

// expectation is a binding queued for a reconcile.
type expectation struct {
	lbID string
	// seq orders the Expect calls: a reconcile settles only the expectations made before it began.
	seq uint64
	// since is the seq of the first Expect not yet settled: how long the binding has been queued.
	since uint64
}

// arrivals tracks, per load balancer, the bindings queued for a reconcile.
type arrivals struct {
	mu       sync.Mutex
	seq      uint64
	expected map[types.NamespacedName]expectation
	byLB     map[string]map[types.NamespacedName]bool
	// settled is when a reconcile last ended: the controller's queue moves; ended counts them.
	settled time.Time
	ended   uint64
	now     func() time.Time
	// arrived is told the load balancer of each binding whose reconcile settled it.
	arrived func(lbID string)
}

func newArrivals(now func() time.Time, arrived func(lbID string)) *arrivals {
	return &arrivals{expected: map[types.NamespacedName]expectation{}, byLB: map[string]map[types.NamespacedName]bool{},
		now: now, arrived: arrived}
}

func (a *arrivals) expect(key types.NamespacedName, lbID string) {
	a.mu.Lock()
	a.seq++
	e, ok := a.expected[key]
	since := a.seq
	if ok && e.lbID == lbID {
		since = e.since
	}
	a.expected[key] = expectation{lbID: lbID, seq: a.seq, since: since}
	if ok && e.lbID == lbID {
		a.mu.Unlock()
		return
	}
	if a.byLB[lbID] == nil {
		a.byLB[lbID] = map[types.NamespacedName]bool{}
	}
	a.byLB[lbID][key] = true
	if ok {
		a.dropLocked(key, e.lbID) // re-created on another load balancer: it no longer holds the first
	}
	a.mu.Unlock()
	if ok {
		a.arrived(e.lbID)
	}
}

// begin returns what a reconcile starting now settles when it ends; to a waiting worker, the
// horizon of the bindings queued so far.
func (a *arrivals) begin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// done settles the binding's expectation if it was made before the reconcile began: an Expect
// during the reconcile means the queue holds the binding again.
func (a *arrivals) done(key types.NamespacedName, began uint64) {
	a.mu.Lock()
	a.settled = a.now()
	a.ended++
	e, ok := a.expected[key]
	if !ok || e.seq > began {
		a.mu.Unlock()
		return
	}
	delete(a.expected, key)
	a.dropLocked(key, e.lbID)
	a.mu.Unlock()
	a.arrived(e.lbID)
}

// dropLocked forgets that key holds lbID.
func (a *arrivals) dropLocked(key types.NamespacedName, lbID string) {
	delete(a.byLB[lbID], key)
	if len(a.byLB[lbID]) == 0 {
		delete(a.byLB, lbID)
	}
}

// queue is what a waiting worker learns of the controller's queue.
type queue struct {
	// waiting is true while a binding of the load balancer queued at or before the horizon is.
	waiting bool
	// settled is when a reconcile last ended; ended counts the reconciles ended so far, and
	// queued the bindings queued now, of every load balancer.
	settled       time.Time
	ended, queued uint64
}

// outstandingSince reports what a worker of lbID waiting since horizon needs to know.
func (a *arrivals) outstandingSince(lbID string, horizon uint64) queue {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := queue{settled: a.settled, ended: a.ended, queued: uint64(len(a.expected))}
	for key := range a.byLB[lbID] {
		if a.expected[key].since <= horizon {
			q.waiting = true
			break
		}
	}
	return q
}

// Expect records that the binding controller queued key, a binding on load balancer lbID, for a
// reconcile: its worker holds its next write until that reconcile has handed over the change.
//
// A load balancer without a worker yet will be read when its worker starts (inVPC): it is
// announced, so that a starting manager's first reads, which come one at a time as the
// reconciles start the workers, share their calls.
func (s *Syncer) Expect(key types.NamespacedName, lbID string) {
	s.arrivals.expect(key, lbID)
	if !s.readsLoadBalancers() {
		return
	}
	s.mu.Lock()
	_, running := s.workers[lbID]
	s.mu.Unlock()
	if !running {
		s.cloud.ReadSoon(lbID)
	}
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
