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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// StateCounts counts the entries the Syncer keeps per binding, per health check and per load
// balancer, and the metric series of lbIDs, so tests can check that none outlives its object.
func StateCounts(s *Syncer, lbIDs ...string) map[string]int {
	s.mu.Lock()
	out := map[string]int{
		"workers":               len(s.workers),
		"bindings held":         len(s.heldBy),
		"statuses":              len(s.statuses),
		"leftovers":             len(s.leftovers),
		"health-check outcomes": len(s.checkOutcomes),
		"worker bindings":       0,
		"worker health checks":  0,
	}
	for _, w := range s.workers {
		w.mu.Lock()
		out["worker bindings"] += len(w.bindings)
		out["worker health checks"] += len(w.checks)
		w.mu.Unlock()
	}
	s.mu.Unlock()
	out["metric series"] = metricSeries(lbIDs)
	return out
}

// QuietPasses counts the quiet passes of lbID (quiet.go).
func QuietPasses(lbID string) float64 {
	return testutil.ToFloat64(quietPasses.WithLabelValues(lbID))
}

// Passes counts the passes of lbID, quiet ones included.
func Passes(lbID string) uint64 {
	m := &dto.Metric{}
	if err := passDuration.WithLabelValues(lbID).(prometheus.Histogram).Write(m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// metricSeries counts the series of the per-load-balancer metrics that name one of lbIDs.
func metricSeries(lbIDs []string) int {
	n := 0
	for _, c := range []prometheus.Collector{pendingBindings, passDuration, failedPasses, driftHints, quietPasses, driftRepairs} {
		ch := make(chan prometheus.Metric)
		go func() {
			c.Collect(ch)
			close(ch)
		}()
		for m := range ch {
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				panic(err)
			}
			for _, l := range pb.GetLabel() {
				if l.GetName() == lbLabel && slices.Contains(lbIDs, l.GetValue()) {
					n++
				}
			}
		}
	}
	return n
}

// ListenerTTL is how long a worker trusts its listener cache.
const ListenerTTL = listenerTTL
