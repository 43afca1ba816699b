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
	"context"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// entry is a binding as its worker knows it.
type entry struct {
	binding Binding
	status  Status
	seen    bool // a pass has produced status
	// version counts the changes of the binding's desired state; syncedVersion is the version
	// the CLB last matched. A pass that writes for a binding at its synced version repairs a
	// change made outside the controller.
	version, syncedVersion int
	// syncedWeightInputs is plan.weightInputs when the CLB last matched.
	syncedWeightInputs string
}

// worker syncs one load balancer. Its run goroutine alone touches the caches; the mutex guards
// the bindings, which the controller updates concurrently.
type worker struct {
	lbID string
	s    *Syncer
	// stop ends run; set when the worker starts.
	stop context.CancelFunc

	mu       sync.Mutex
	bindings map[types.NamespacedName]*entry
	lastPass time.Time
	dirty    chan struct{}
	// arrived is signalled when a binding of the load balancer queued for a reconcile was
	// reconciled (arrivals.go).
	arrived chan struct{}
	// checks are the health-check requests of the CLBHealths on the load balancer (healthcheck.go).
	checks map[types.NamespacedName]*checkEntry
	// changed is set when a binding's desired state changed since the last pass. While a failed
	// pass waits for its retry, only such a change wakes the worker: an outage is retried on the
	// backoff, not on every reconcile of a binding that is still not synced.
	changed bool
	// settled is set by a pass that found every binding synced with nothing left to do, and
	// cleared by any change of what a pass reads besides the backends (quiet.go).
	settled bool

	listeners listenerCache
	lb        lbCache
	targets   map[string]*targetCache
	// prefetched is the read of a drift check that was not quiet (quiet.go), for the full pass
	// that follows in the same pass to use rather than read again.
	prefetched *prefetchedRead
	// unroutable holds the addresses the cloud refused as not routable from the load balancer,
	// with when; they are not sent again for unroutableTTL, after which each pass forgets them.
	unroutable map[string]time.Time
	// foreignTagged are backends with one of our bindings' tags that this controller did not
	// write (ownership.go).
	foreignTagged map[targets.Key]bool
	// known is what HealthSeen compares health reads with, and staleListeners the listeners it
	// found changed; both under mu (drift.go).
	known          *knownBackends
	staleListeners map[string]bool
	// compared is the last health view (by when it changed) HealthSeen compared with known, so a
	// steady view and steady backends are compared once, not at every poll.
	compared struct {
		known     *knownBackends
		changedAt time.Time
	}
	// again asks for another pass at once: a wanted backend vanished during this one.
	again bool
	// nextRamp is when the next slow-start step is due (slowstart.go); zero for none.
	nextRamp time.Time
	failures int
}

func newWorker(lbID string, s *Syncer) *worker {
	return &worker{
		lbID: lbID, s: s,
		bindings: map[types.NamespacedName]*entry{},
		dirty:    make(chan struct{}, 1),
		arrived:  make(chan struct{}, 1),
		targets:  map[string]*targetCache{},

		unroutable:    map[string]time.Time{},
		foreignTagged: map[targets.Key]bool{},
	}
}

func (w *worker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
	pendingBindings.WithLabelValues(w.lbID).Set(float64(w.pending()))
}

// pending counts bindings the CLB does not match yet: changed since it last did, or not synced
// by their last pass.
func (w *worker) pending() int {
	n := 0
	for _, e := range w.bindings {
		if e.version != e.syncedVersion || !e.seen || !e.status.Synced {
			n++
		}
	}
	return n
}

// update records a binding's desired state and wakes the worker when there is work: the binding
// changed, is not synced yet, or the backends were last read too long ago.
func (w *worker) update(b Binding) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.bindings[b.Key]
	if !ok {
		e = &entry{}
		w.bindings[b.Key] = e
	}
	unchanged := ok && sameDesiredState(e.binding, b)
	e.binding = b
	if !unchanged {
		e.version++
	}
	w.changed = w.changed || !unchanged
	w.settled = w.settled && unchanged
	if unchanged && e.seen && e.status.Synced && !b.Deleting && w.s.opts.Clock.Since(w.lastPass) < w.s.opts.TargetsTTL {
		return
	}
	w.markDirty()
}

// sameDesiredState reports whether a and b ask for the same: StoredSyncTime, which follows the
// status the worker's own reports write, is left out.
func sameDesiredState(a, b Binding) bool {
	a.StoredSyncTime, b.StoredSyncTime = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// idle reports whether the worker has nothing left to do: no binding, no health check.
func (w *worker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.bindings) == 0 && len(w.checks) == 0
}

// remove drops a binding and reports whether the worker had it.
func (w *worker) remove(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, had := w.bindings[key]
	delete(w.bindings, key)
	w.settled = w.settled && !had
	return had
}

// holds reports whether the worker has the binding.
func (w *worker) holds(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.bindings[key]
	return ok
}

// snapshot copies the bindings for one pass, and reports whether the worker is settled (quiet.go).
func (w *worker) snapshot() (bindings []Binding, versions map[types.NamespacedName]int, settled bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = false
	bindings = make([]Binding, 0, len(w.bindings))
	versions = make(map[types.NamespacedName]int, len(w.bindings))
	for key, e := range w.bindings {
		bindings = append(bindings, e.binding)
		versions[key] = e.version
	}
	return bindings, versions, w.settled
}

// repairs reports whether writes for the binding at version undo changes made outside the
// controller: the CLB matched that very version before.
func (w *worker) repairs(p *plan, version int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.bindings[p.b.Key]
	return ok && e.syncedVersion == version && version > 0 && e.syncedWeightInputs == p.weightInputs
}

// markSynced records that the CLB matched the binding at version (and, sharing its listener by
// traffic share, with the other bindings' shares and desired states as they were).
func (w *worker) markSynced(p *plan, version int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.bindings[p.b.Key]; ok {
		e.syncedVersion, e.syncedWeightInputs = version, p.weightInputs
	}
}

// record stores a pass's statuses for bindings still present.
func (w *worker) record(results map[types.NamespacedName]Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastPass = w.s.opts.Clock.Now()
	for key, st := range results {
		if e, ok := w.bindings[key]; ok {
			e.status, e.seen = st, true
		}
	}
	pendingBindings.WithLabelValues(w.lbID).Set(float64(w.pending()))
}

// run waits for work, lets the changes on their way arrive, and syncs, backing off after
// failures. It also syncs again when backends read right after startup must be read again.
func (w *worker) run(ctx context.Context) {
	defer w.s.forgetMetricsIfReaped(w)
	clk := w.s.opts.Clock
	var retry, recheck <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
			if retry != nil && !w.takeChanged() {
				continue // still failing, nothing new: wait for the retry
			}
		case <-retry:
		case <-recheck:
		}
		retry, recheck = nil, nil
		if !w.gather(ctx) {
			return
		}
		if !w.awaitArrivals(ctx) {
			return
		}
		if w.pass(ctx) {
			w.failures = 0
		} else {
			w.failures++
			retry = clk.After(w.backoff())
		}
		if at, ok := w.nextExpiry(); ok {
			recheck = after(clk, at)
		}
		if w.again {
			w.again = false
			w.mu.Lock()
			w.changed = true // wakes the worker even while it backs off
			w.settled = false
			w.markDirty()
			w.mu.Unlock()
		}
	}
}

// after is clk.After up to at, with a channel already holding at when at is not in the future (a
// fake clock's After(0) waits for its next step).
func after(clk clock.Clock, at time.Time) <-chan time.Time {
	if d := at.Sub(clk.Now()); d > 0 {
		return clk.After(d)
	}
	due := make(chan time.Time, 1)
	due <- at
	return due
}

// takeChanged reports whether a binding changed since it was last called.
func (w *worker) takeChanged() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.changed
	w.changed = false
	return c
}

// nextExpiry returns when the next pass is due without a change: the next slow-start step, or
// when the earliest target cache goes stale: its TTL (the periodic check for changes made outside
// the controller) or an earlier startup recheck. Past caches are left out: they are stale already
// and are read by the next pass that needs them. A step that fell due while the pass ran (a slow
// write) is due now: no other pass may come before the ramp's end.
func (w *worker) nextExpiry() (time.Time, bool) {
	now := w.s.opts.Clock.Now()
	next := w.nextRamp
	if !next.IsZero() && next.Before(now) {
		next = now
	}
	for _, c := range w.targets {
		at := c.readAt.Add(w.s.opts.TargetsTTL)
		if !c.recheckAt.IsZero() && c.recheckAt.Before(at) {
			at = c.recheckAt
		}
		if at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// gather waits for the window to close, extending it while changes keep coming, up to MaxWindow.
// With no window (the default) it returns at once.
func (w *worker) gather(ctx context.Context) bool {
	clk := w.s.opts.Clock
	deadline := clk.Now().Add(w.s.opts.MaxWindow)
	for w.s.opts.Window > 0 {
		wait := min(w.s.opts.Window, deadline.Sub(clk.Now()))
		if wait <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-clk.After(wait):
			select {
			case <-w.dirty: // more changes arrived during the window: wait a little longer
			default:
				return true
			}
		}
	}
	return true
}

// awaitArrivals waits while bindings of the load balancer are queued for a reconcile and keep
// arriving, so the changes on their way go out in this pass rather than in passes of their own.
// A worker with none on the way does not wait at all.
func (w *worker) awaitArrivals(ctx context.Context) bool {
	clk := w.s.opts.Clock
	horizon := w.s.arrivals.begin()
	start := clk.Now()
	first := w.s.arrivals.outstandingSince(w.lbID, horizon)
	// In a queue served in order, the bindings queued now are all reconciled once as many
	// reconciles have ended; twice that allows for the ones queued again on the way.
	budget := 2 * first.queued
	for q := first; q.waiting; q = w.s.arrivals.outstandingSince(w.lbID, horizon) {
		now := clk.Now()
		// The controller's queue moves if a reconcile ended within MaxWindow (or the wait is
		// younger than that: give the first reconcile its chance).
		idleSince := start
		if q.settled.After(start) {
			idleSince = q.settled
		}
		if now.Sub(idleSince) >= w.s.opts.MaxWindow || now.Sub(start) >= maxGroupWait || q.ended-first.ended >= budget {
			return true
		}
		wait := min(idleSince.Add(w.s.opts.MaxWindow).Sub(now), start.Add(maxGroupWait).Sub(now))
		select {
		case <-ctx.Done():
			return false
		case <-w.arrived:
		case <-clk.After(wait):
		}
	}
	return true
}

// maxGroupWait bounds a wait for queued bindings while the controller's queue moves without
// reaching them (a priority queue serving newer changes first).
const maxGroupWait = 5 * time.Minute

// backoff is exponential with jitter, so workers of many load balancers do not retry in step.
func (w *worker) backoff() time.Duration {
	d := w.s.opts.RetryBase << min(w.failures-1, 16)
	d = min(d, w.s.opts.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// refreshListeners reads the load balancer's listeners and rules into the cache. Those of a load
// balancer in another VPC are not read: none of its bindings is resolved (see inVPC). changed is
// false when the read found the listeners, and the load balancer's VPC and tags, as they were.
func (w *worker) refreshListeners(ctx context.Context) (changed bool, err error) {
	return w.readListeners(ctx, false, func() ([]clb.Listener, error) {
		return w.s.cloud.DescribeListeners(ctx, w.lbID)
	})
}

// seedListeners is a worker's first read of its listeners when no health check waits to be
// written. DescribeTargets of the bindings' listeners (of all of them when a binding names its
// listener by port) names each listener's protocol, port and rules, which is all that resolving
// the bindings needs, besides the backends that the pass reads next: a starting manager reads
// each load balancer once rather than twice. The answer is kept for readTargets (prefetched).
// The cache is partial, without health checks: a health check to write, or a binding whose
// listener or rule the answer does not hold, reads the listeners in full (resolve).
func (w *worker) seedListeners(ctx context.Context, bindings []Binding) error {
	var ids []string // nil: every listener of the load balancer
	for _, b := range bindings {
		if b.Listener.ID == "" {
			ids = nil
			break
		}
		ids = append(ids, b.Listener.ID)
	}
	_, err := w.readListeners(ctx, true, func() ([]clb.Listener, error) {
		read, err := w.s.cloud.DescribeTargets(ctx, w.lbID, ids)
		if err != nil {
			return nil, err
		}
		w.prefetched = &prefetchedRead{ids: ids, read: read}
		return read.Listeners, nil
	})
	return err
}

// readListeners fills the listener cache with what describe returns; partial marks an answer
// without names and health checks (seedListeners).
func (w *worker) readListeners(ctx context.Context, partial bool, describe func() ([]clb.Listener, error)) (changed bool, err error) {
	now := w.s.opts.Clock.Now()
	before, lbBefore := w.listeners, w.lb
	inVPC, err := w.inVPC(ctx, now)
	var ls []clb.Listener
	if err == nil && inVPC {
		ls, err = describe()
	}
	if clb.IsNotFoundKind(err, clb.KindLoadBalancer) {
		w.listeners = listenerCache{byID: map[string]clb.Listener{}, readAt: now, notFound: true}
		w.targets = map[string]*targetCache{}
		return !before.notFound || before.readAt.IsZero(), nil
	}
	if err != nil {
		return true, err
	}
	byID := make(map[string]clb.Listener, len(ls))
	for _, l := range ls {
		byID[l.ID] = l
	}
	w.listeners = listenerCache{byID: byID, readAt: now, partial: partial && inVPC}
	if !partial {
		for id := range w.targets {
			if _, ok := byID[id]; !ok {
				delete(w.targets, id)
			}
		}
	}
	same := !before.readAt.IsZero() && !before.notFound && sameListeners(before, byID) &&
		lbBefore.vpcID == w.lb.vpcID && maps.Equal(lbBefore.tags, w.lb.tags)
	return !same, nil
}

// sameListeners reports whether byID holds the listeners of before as they were. After a partial
// read (seedListeners) only what that read held is compared: the names and health checks read
// since are no news, and neither are listeners no binding named (a listener given by port and
// protocol cannot gain a twin: the CLB refuses a second listener of a port and protocol).
func sameListeners(before listenerCache, byID map[string]clb.Listener) bool {
	if !before.partial {
		return reflect.DeepEqual(before.byID, byID)
	}
	for id, l := range before.byID {
		now, ok := byID[id]
		if !ok || !reflect.DeepEqual(resolvable(l), resolvable(now)) {
			return false
		}
	}
	return true
}

// resolvable is what a DescribeTargets answer tells of a listener, its rules in a fixed order:
// no name, no health checks.
func resolvable(l clb.Listener) clb.Listener {
	out := clb.Listener{ID: l.ID, Protocol: l.Protocol, Port: l.Port}
	for _, r := range l.Rules {
		out.Rules = append(out.Rules, clb.Rule{LocationID: r.LocationID, Domain: r.Domain, URL: r.URL})
	}
	slices.SortFunc(out.Rules, func(a, b clb.Rule) int { return strings.Compare(a.LocationID, b.LocationID) })
	return out
}
