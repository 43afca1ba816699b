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
	"time"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Slow start. The worker, not the reconcile, ramps the weights of new backends: it is the one
// writer of the load balancer, so the backends of all its bindings that warm up step together in
// one write per step, and it schedules its own pass for the next step, with no reconcile.

// applyRamps computes the weight of every backend warming up at now, and when the next step is.
func (w *worker) applyRamps(plans []*plan, now time.Time) {
	w.nextRamp = time.Time{}
	for _, p := range plans {
		p.rampWeights, p.weightInputs = nil, ""
		if !p.active || p.b.SlowStart <= 0 || p.b.Deleting {
			continue
		}
		for _, t := range p.b.Desired {
			if t.ReadySince.IsZero() || t.Draining {
				continue
			}
			weight, next := targets.RampWeight(t.Weight, t.ReadySince, now, p.b.SlowStart)
			if next.IsZero() {
				continue
			}
			if p.rampWeights == nil {
				p.rampWeights = map[targets.Key]int64{}
			}
			p.rampWeights[t.Key] = weight
			if w.nextRamp.IsZero() || next.Before(w.nextRamp) {
				w.nextRamp = next
			}
		}
		if len(p.rampWeights) > 0 {
			sum := int64(0)
			for _, weight := range p.rampWeights {
				sum += weight
			}
			p.weightInputs += fmt.Sprintf("ramp:%d/%d;", len(p.rampWeights), sum)
		}
	}
}

// baseWeight is t's weight before traffic shares: its ramp's while it warms up.
func (p *plan) baseWeight(t targets.Target) int64 {
	if weight, ok := p.rampWeights[t.Key]; ok {
		return weight
	}
	return t.Weight
}
