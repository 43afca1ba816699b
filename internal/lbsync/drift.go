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
	"strconv"
	"time"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Out-of-band changes (a backend removed or added by hand, a listener deleted or re-created) are
// found two ways. Every target cache expires after Options.TargetsTTL, and the worker wakes up
// then to read the stale ones again, in one DescribeTargets per 20 listeners. Sooner, and at no
// extra call, the health poller's DescribeTargetHealth of the load balancer is compared with the
// backends the worker last knew (HealthSeen): a backend missing from it, one it does not know, or
// a listener without any, expires that listener's cache and wakes the worker.

// healthSettle is how long after a pass the health view is not compared: the last write's task
// may still be running on the CLB, so the view may not show it yet.
const healthSettle = 10 * time.Second

// knownBackends is what a worker published after a pass: the backends of each listener it reads,
// each by every address the cloud may report it under (a CVM by instance ID or by IP, a pod by
// IP).
// Never changed once published, so HealthSeen reads it without the worker's lock.
type knownBackends struct {
	at        time.Time
	listeners map[string][][]string      // listener → backends → their address keys
	addresses map[string]map[string]bool // listener → every address key of its backends
}

func addressKey(locationID, address string, port int64) string {
	return locationID + "/" + address + ":" + strconv.FormatInt(port, 10)
}

func addressKeys(locationID string, port int64, addrs ...string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a != "" {
			out = append(out, addressKey(locationID, a, port))
		}
	}
	return out
}

// publishKnown records the backends of the caches, for HealthSeen.
func (w *worker) publishKnown(now time.Time) {
	k := &knownBackends{at: now, listeners: make(map[string][][]string, len(w.targets)),
		addresses: make(map[string]map[string]bool, len(w.targets))}
	for id, c := range w.targets {
		backends := make([][]string, 0, len(c.targets))
		for _, t := range c.targets {
			backends = append(backends, addressKeys(t.LocationID, t.Port, t.EniIP, t.InstanceID, t.Reported.IP, t.Reported.InstanceID))
		}
		k.listeners[id] = backends
		set := map[string]bool{}
		for _, keys := range backends {
			for _, key := range keys {
				set[key] = true
			}
		}
		k.addresses[id] = set
	}
	w.mu.Lock()
	w.known = k
	w.mu.Unlock()
}

// published reports whether the worker published its known backends yet.
func (w *worker) published() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.known != nil
}

// drifted compares a health read with the known backends and returns the listeners where a known
// backend is missing (removed, or the listener deleted) or an unknown one is present.
func (k *knownBackends) drifted(health map[targets.Key]clb.TargetHealth) []string {
	reported := map[string]map[string]bool{} // listener → address keys in the health read
	var out []string
	foreign := map[string]bool{}
	for _, h := range health {
		known, ok := k.addresses[h.ListenerID]
		if !ok {
			continue // a listener no binding of ours reads
		}
		keys := addressKeys(h.LocationID, h.Port, h.EniIP, h.InstanceID)
		if reported[h.ListenerID] == nil {
			reported[h.ListenerID] = map[string]bool{}
		}
		match := false
		for _, key := range keys {
			reported[h.ListenerID][key] = true
			match = match || known[key]
		}
		if !match {
			foreign[h.ListenerID] = true
		}
	}
	for id, backends := range k.listeners {
		if foreign[id] {
			out = append(out, id)
			continue
		}
		for _, keys := range backends {
			if !slices.ContainsFunc(keys, func(key string) bool { return reported[id][key] }) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// HealthSeen hands the worker of lbID the backends the health poller read at readAt, a view that
// last changed at changedAt (the poller keeps a view that reads the same). Listeners whose
// backends differ from what the worker knows are read again in a pass that starts at once. A
// view compared once with the same known backends is not compared again.
func (s *Syncer) HealthSeen(lbID string, health map[targets.Key]clb.TargetHealth, changedAt, readAt time.Time) {
	s.mu.Lock()
	w, ok := s.workers[lbID]
	s.mu.Unlock()
	if !ok {
		return
	}
	w.mu.Lock()
	k := w.known
	same := k == w.compared.known && changedAt.Equal(w.compared.changedAt)
	if k != nil && !readAt.Before(k.at.Add(healthSettle)) {
		w.compared.known, w.compared.changedAt = k, changedAt
	}
	w.mu.Unlock()
	if k == nil || same || readAt.Before(k.at.Add(healthSettle)) {
		return
	}
	stale := k.drifted(health) // off every lock: a poll hands over every load balancer it read
	if len(stale) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workers[lbID] != w {
		return // reaped meanwhile: marking it dirty would bring back its metrics
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.staleListeners == nil {
		w.staleListeners = map[string]bool{}
	}
	for _, id := range stale {
		w.staleListeners[id] = true
	}
	driftHints.WithLabelValues(lbID).Inc()
	w.changed = true
	w.markDirty()
}

// expireHinted drops the caches of the listeners HealthSeen found changed, so the pass reads
// them again.
func (w *worker) expireHinted() {
	w.mu.Lock()
	stale := w.staleListeners
	w.staleListeners = nil
	w.mu.Unlock()
	for id := range stale {
		if c := w.targets[id]; c != nil {
			c.readAt = time.Time{}
		}
	}
}

// countRepairs counts the writes of a repair.
func (w *worker) countRepairs(c Changes) {
	for op, n := range map[string]int{opRegister: c.Registered, opDeregister: c.Deregistered, opReweight: c.Reweighted, opRetag: c.Retagged} {
		if n > 0 {
			driftRepairs.WithLabelValues(w.lbID, op).Add(float64(n))
		}
	}
}
