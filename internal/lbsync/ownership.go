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
	"fmt"
	"slices"
	"time"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// noteForeignTagged compares a listener read again with what the worker knew of it. A backend
// that carries the tag of one of the load balancer's bindings but was neither there at the last
// read nor written by this worker since (its writes update the cache) was written by someone
// else holding the same tag: another manager started with the same --cluster-id, such as a
// cluster restored from a backup of this one. It is remembered, and never deregistered, until it
// leaves the CLB. Reads during the startup recheck are not compared: the previous leader's last
// writes may still land then.
func (w *worker) noteForeignTagged(listenerID string, prev *targetCache, read []targets.Target, byIP bool, ours map[string]bool, now time.Time) {
	present := map[targets.Key]bool{}
	for _, t := range read {
		if t.ListenerID != listenerID {
			continue
		}
		t = t.Keyed(byIP)
		present[t.Key] = true
		if prev == nil || !prev.recheckAt.IsZero() || now.Before(w.s.recheckUntil) || !ours[t.Tag] {
			continue
		}
		if _, known := prev.targets[t.Key]; !known {
			w.foreignTagged[t.Key] = true
		}
	}
	for k := range w.foreignTagged {
		if k.ListenerID == listenerID && !present[k] {
			delete(w.foreignTagged, k)
		}
	}
}

// holdBackForeign keeps the backends noted by noteForeignTagged out of the binding's
// deregistrations: they are not ours to remove, whatever their tag says.
func (w *worker) holdBackForeign(p *plan) {
	p.heldBack = 0
	if len(w.foreignTagged) == 0 {
		return
	}
	p.diff.Deregister = slices.DeleteFunc(p.diff.Deregister, func(t targets.Target) bool {
		held := w.foreignTagged[t.Key]
		if held {
			p.heldBack++
		}
		return held
	})
}

// ownershipConflictMessage explains backends held back by holdBackForeign.
func ownershipConflictMessage(n int, scope, tag string) string {
	return fmt.Sprintf("%d backends on %s carry this binding's tag %s but were not written by this controller: another manager "+
		"runs with the same --cluster-id (for example a cluster restored from a backup of this one) and registers them. "+
		"They are left alone instead of being fought over; give every cluster its own --cluster-id", n, scope, tag)
}
