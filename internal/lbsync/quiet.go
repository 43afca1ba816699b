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
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/clb"
)

// Quiet drift checks. A steady load balancer is read once per TargetsTTL to find changes made
// outside the controller, and almost always nothing changed. When a worker has settled (its last
// full pass found every binding synced and nothing left to do, and nothing it reads besides the
// backends changed since) and the read returns exactly the answer its caches were built from,
// the pass would plan the same empty diffs and report the same statuses: it only marks the
// caches read, and plans, writes and reports nothing. At 500 load balancers that is most of the
// controller's steady CPU.

// quietDriftCheck is the drift check of a settled worker whose listener cache is fresh: it reads
// the backends due for their check, with the others that fit in the call (fillWith), and when
// the answer is the one its caches were built from, the pass ends there, without copying the
// bindings, sorting and resolving them again. Another answer is kept for the full pass
// (prefetched), which then reads nothing again. Reports whether the pass is done.
func (w *worker) quietDriftCheck(ctx context.Context, calls *callLog, now time.Time) bool {
	w.mu.Lock()
	settled := w.settled
	w.mu.Unlock()
	if !settled || !w.listeners.fresh(now) || len(w.targets) == 0 {
		return false
	}
	var stale, fresh []string
	for id, c := range w.targets {
		if c.fresh(now, w.s.opts.TargetsTTL) {
			fresh = append(fresh, id)
		} else {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return false // woken for something else: the full pass finds out what
	}
	slices.Sort(stale)
	ids := w.fillWith(stale, fresh)
	read, err := w.s.cloud.DescribeTargets(ctx, w.lbID, ids)
	if err != nil {
		return false // the full pass reads again, and reports the error
	}
	if w.quietRead(true, calls, ids, read) {
		w.markRead(ids, now)
		return true
	}
	w.prefetched = &prefetchedRead{ids: ids, read: read}
	return false
}

// prefetchedRead is a read of the backends of ids made earlier in the pass; nil ids read every
// listener of the load balancer (seedListeners).
type prefetchedRead struct {
	ids  []string
	read clb.TargetsRead
}

// takePrefetched returns the read made earlier in the pass when it answers for ids: each was
// asked for, or, in a read of every listener, is in the answer.
func (w *worker) takePrefetched(ids []string) (clb.TargetsRead, bool) {
	p := w.prefetched
	w.prefetched = nil
	if p == nil {
		return clb.TargetsRead{}, false
	}
	answers := func(id string) bool {
		if p.ids == nil {
			return len(p.read.Missing([]string{id})) == 0
		}
		return slices.Contains(p.ids, id)
	}
	for _, id := range ids {
		if !answers(id) {
			return clb.TargetsRead{}, false
		}
	}
	return p.read, true
}

// quietRead reports whether a read of ids (all of them answered) found exactly what the worker
// knew, on a settled worker whose pass has had no other news (calls counts every call of the
// pass so far, this read included).
func (w *worker) quietRead(settled bool, calls *callLog, ids []string, read clb.TargetsRead) bool {
	if !settled || calls.mayHaveChanged() > 0 || len(read.Missing(ids)) > 0 {
		return false
	}
	return !slices.ContainsFunc(ids, func(id string) bool {
		c := w.targets[id]
		return c == nil || !c.pristine || c.answer != read.Digest
	})
}

// markRead records that the caches of ids were read at now and found as they were.
func (w *worker) markRead(ids []string, now time.Time) {
	for _, id := range ids {
		c := w.targets[id]
		c.readAt, c.recheckAt = now, time.Time{}
		if now.Before(w.s.recheckUntil) {
			c.recheckAt = w.s.recheckUntil
		}
	}
}

// settle records whether the full pass that just ended leaves the worker settled: every binding
// active and synced, nothing written, no slow-start step or refused address waiting for a later
// pass, every health check done, and no change since the pass took its snapshot.
func (w *worker) settle(plans []*plan, synced bool, changes map[types.NamespacedName]*Changes) {
	settled := synced && len(changes) == 0 && w.nextRamp.IsZero() && len(w.unroutable) == 0 && !w.again &&
		!slices.ContainsFunc(plans, func(p *plan) bool { return !p.active || p.b.Deleting })
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.checks {
		settled = settled && e.done
	}
	w.settled = settled && !w.changed
}
