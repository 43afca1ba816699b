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
