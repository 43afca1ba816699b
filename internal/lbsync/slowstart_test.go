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
	"slices"
	"testing"
	"time"

	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// TestSlowStartRampsInOneWritePerStep: the new backends of two bindings with a 40 s slow start
// are registered at a fifth of their weight and reach it in four steps, each one
// BatchModifyTargetWeight for the whole load balancer, on the worker's own schedule (the fake
// clock moves; nothing is reconciled again). It costs four writes beyond the registration.
func TestSlowStartRampsInOneWritePerStep(t *testing.T) {
	e, clk := frozenEnv(t)
	// The backends turn ready 0.3 s apart at the start of a step of the ramp's grid (absolute
	// time in steps of 40 s / 4), so they all take the same steps.
	tick := int64(10 * time.Second)
	ready := time.Unix(0, clk.Now().UnixNano()/tick*tick)
	bs, listeners := make([]lbsync.Binding, 0, 2), make([]string, 0, 2)
	for i, n := range []int{3, 2} {
		listener := e.srv.Sim.AddListener(e.lbID, "TCP", int64(80+i))
		ips := make([]string, n)
		for j := range ips {
			ips[j] = fmt.Sprintf("10.7.%d.%d", i, j+1)
		}
		b := e.binding(fmt.Sprintf("warm-%d", i), lbsync.ListenerRef{ID: listener}, ips...)
		b.SlowStart = 40 * time.Second
		for k := range b.Desired {
			b.Desired[k].Weight = 50
			b.Desired[k].ReadySince = ready.Add(time.Duration(k) * 300 * time.Millisecond)
		}
		bs, listeners = append(bs, b), append(listeners, listener)
		e.syncer.Expect(b.Key, e.lbID)
	}
	for _, b := range bs {
		reconciled(e.syncer, b)
	}
	weights := func() []int64 {
		ts := e.srv.Sim.Targets(e.lbID)
		out := make([]int64, 0, len(ts))
		for _, t := range ts {
			out = append(out, t.Weight)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	e.await("registration at a fifth of the weight", func() bool { return len(e.srv.Sim.Targets(e.lbID)) == 5 })
	if got := weights(); !slices.Equal(got, []int64{10}) {
		t.Fatalf("weights after registration %v, want [10]", got)
	}
	for step, want := range []int64{20, 30, 40, 50} {
		// The worker sets its timer for the next step after its pass: moving the clock before
		// that would leave the timer a whole step behind.
		e.await("the worker to wait for its next step", workerParked)
		clk.Step(10 * time.Second) // one grid point of 40 s / 4
		e.await(fmt.Sprintf("step %d to weight %d", step+1, want), func() bool {
			return slices.Equal(weights(), []int64{want})
		})
		if n := e.calls("BatchModifyTargetWeight", "OK"); n != step+1 {
			t.Errorf("after step %d: %d BatchModifyTargetWeight calls, want %d (one per step for both bindings)", step+1, n, step+1)
		}
	}
	e.await("the worker to wait for its next step", workerParked)
	clk.Step(10 * time.Second)
	for i, b := range bs {
		e.await(b.Key.Name+" synced", e.synced(withWeight(b, 50), listeners[i]))
	}
	if n := e.calls("BatchModifyTargetWeight", "OK"); n != 4 {
		t.Errorf("%d weight writes in all, want 4", n)
	}
	if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
	if r := e.notifier.repairs(); len(r) > 0 {
		t.Errorf("ramp steps reported as repairs: %+v", r)
	}
}

// TestSlowStartStepDueDuringAWriteIsTaken: when a step falls due while the registration is still
// in flight (a slow write), the worker takes it as soon as the write returns, not at the next drift
// check: the ramp never skips a step because a pass ran across it.
func TestSlowStartStepDueDuringAWriteIsTaken(t *testing.T) {
	e, clk := frozenEnv(t)
	listener := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("warm", lbsync.ListenerRef{ID: listener}, "10.7.0.1", "10.7.0.2")
	b.SlowStart = 40 * time.Second
	for k := range b.Desired {
		b.Desired[k].Weight = 50
		b.Desired[k].ReadySince = clk.Now()
	}
	hold := e.srv.Sim.HoldWrites(e.lbID)
	e.syncer.Expect(b.Key, e.lbID)
	reconciled(e.syncer, b)
	e.await("the registration in flight", func() bool { return hold.Waiting() == 1 })
	clk.Step(10 * time.Second) // the first step falls due during the write
	hold.Release()
	e.await("the registration", func() bool { return len(e.srv.Sim.Targets(e.lbID)) == 2 })
	// The clock does not move again: the step that fell due is written by itself.
	e.await("the step due during the write, taken at once", func() bool {
		for _, target := range e.srv.Sim.Targets(e.lbID) {
			if target.Weight != 20 {
				return false
			}
		}
		return true
	})
	if n := e.calls("BatchModifyTargetWeight", "OK"); n != 1 {
		t.Errorf("%d weight writes, want 1 (the step that fell due)", n)
	}
}

func withWeight(b lbsync.Binding, weight int64) lbsync.Binding {
	b.Desired = slices.Clone(b.Desired)
	for i := range b.Desired {
		b.Desired[i].Weight = weight
	}
	return b
}
