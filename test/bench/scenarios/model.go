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

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// Limits of the API that bound the floor (reference §1.4).
const (
	registerLimit      = 20  // RegisterTargets.Targets
	batchLimit         = 500 // BatchRegisterTargets.Targets
	describeListenerIn = 20  // DescribeTargets.ListenerIds
)

// Model is a latency model of the cloud, in model time (seconds as the seed counts them).
type Model struct {
	Name string
	// PerCall is added to every API call (network and API front end).
	PerCall time.Duration
	// TaskFixed and TaskPerTarget are the duration of an asynchronous task (RegisterTargets),
	// which holds the load balancer.
	TaskFixed, TaskPerTarget time.Duration
	// BatchFixed and BatchPerTarget are how long a Batch* call holds the load balancer before it
	// answers (Batch* calls are synchronous).
	BatchFixed, BatchPerTarget time.Duration
	// Poll is the seed strategy's DescribeTaskStatus poll interval.
	Poll time.Duration
}

// simLatency is the clbsim model for a run that only makes async target calls (the seed
// strategy) or only Batch calls (our controller), compressed by factor. clbsim has one
// TaskFixed/TaskPerTarget pair for both kinds; each run uses one kind only, so each run gets the
// pair of its kind.
func (m Model) simLatency(batch bool, factor float64) clbsim.Latency {
	l := clbsim.Latency{PerCall: m.PerCall, TaskFixed: m.TaskFixed, TaskPerTarget: m.TaskPerTarget, BatchSync: true}
	if batch {
		l.TaskFixed, l.TaskPerTarget = m.BatchFixed, m.BatchPerTarget
	}
	l.PerCall = compress(l.PerCall, factor)
	l.TaskFixed = compress(l.TaskFixed, factor)
	l.TaskPerTarget = compress(l.TaskPerTarget, factor)
	// Every model keeps the LB busy after each Batch call, as the real cloud does.
	l.BusyFixed = compress(clbsim.DefaultBusyFixed, factor)
	l.BusyPerTarget = compress(clbsim.DefaultBusyPerTarget, factor)
	return l
}

func compress(d time.Duration, factor float64) time.Duration {
	return time.Duration(float64(d) / factor)
}

func (m Model) String() string {
	return fmt.Sprintf("PerCall %v; async task %v + %v/target; Batch* hold %v + %v/target; seed-strategy poll every %v",
		m.PerCall, m.TaskFixed, m.TaskPerTarget, m.BatchFixed, m.BatchPerTarget, m.Poll)
}

// Model names.
const (
	calibratedName = "calibrated"
	fixedName      = "fixed"
)

// fixedModel is the second model: 1 s per async task whatever its size, 50 ms per call,
// Batch* calls answered synchronously after holding the LB for 300 ms.
func fixedModel() Model {
	return Model{
		Name:    fixedName,
		PerCall: 50 * time.Millisecond, TaskFixed: time.Second,
		BatchFixed: 300 * time.Millisecond,
		Poll:       100 * time.Millisecond,
	}
}

// asyncCall is the model time of one RegisterTargets of n targets waited with DescribeTaskStatus:
// the call (PerCall) starts the task, then polls are sent right away and every Poll after the
// previous answer; a poll sees the task done once it reaches the server after the task's end.
func (m Model) asyncCall(n int) time.Duration {
	d := m.TaskFixed + time.Duration(n)*m.TaskPerTarget // task end, counted from the call's arrival
	// The call answers at PerCall; poll j is sent at s_j = PerCall + (j-1)(PerCall+Poll) and
	// checks the task at s_j + PerCall, i.e. PerCall + d after the call's arrival at the earliest.
	s := m.PerCall
	for s < d {
		s += m.PerCall + m.Poll
	}
	return s + m.PerCall
}

// asyncPolls is how many DescribeTaskStatus calls one asyncCall makes.
func (m Model) asyncPolls(n int) int {
	d := m.TaskFixed + time.Duration(n)*m.TaskPerTarget
	polls := 1
	for s := m.PerCall; s < d; s += m.PerCall + m.Poll {
		polls++
	}
	return polls
}

// seedRule is the model time of the seed strategy for one rule that lacks missing targets: one
// DescribeTargets, then RegisterTargets of at most 20 targets each, waited one by one.
func (m Model) seedRule(missing int) time.Duration {
	t := m.PerCall
	for missing > 0 {
		n := min(missing, registerLimit)
		t += m.asyncCall(n)
		missing -= n
	}
	return t
}

// Floor is the least any controller can do under a model: one write in flight per LB,
// ⌈targets/500⌉ Batch calls, ⌈listeners/20⌉ reads.
type Floor struct {
	Writes, Reads int
	Wall          time.Duration
}

func (m Model) floor(targets, listeners int) Floor {
	f := Floor{Writes: ceilDiv(targets, batchLimit), Reads: ceilDiv(listeners, describeListenerIn)}
	f.Wall = time.Duration(f.Reads)*m.PerCall +
		time.Duration(f.Writes)*(m.PerCall+m.BatchFixed) + time.Duration(targets)*m.BatchPerTarget
	// The load balancer stays busy after each Batch call (clbsim's default busy time, as the real
	// CLB after large batches): the one writer waits it out before every write but the first.
	if f.Writes > 1 {
		f.Wall += time.Duration(f.Writes-1)*clbsim.DefaultBusyFixed + time.Duration(targets-batchLimit)*clbsim.DefaultBusyPerTarget
	}
	return f
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Scenario rows from the seed article. Table 1: 200 L7 rules, every rule's backends grow from 1
// node to Nodes. Table 2: 50 nodes, rules grow from 1 to Rules.
type row struct {
	Table       int
	Rules       int // rules after the change
	FromRules   int // rules before (table 2: 1)
	Nodes       int // nodes after the change
	FromNodes   int // nodes before (table 1: 1)
	SeedSeconds float64
}

func (r row) label() string {
	if r.Table == 1 {
		return fmt.Sprintf("%d rules, %d→%d nodes", r.Rules, r.FromNodes, r.Nodes)
	}
	return fmt.Sprintf("%d→%d rules, %d nodes", r.FromRules, r.Rules, r.Nodes)
}

// newTargets is how many backends the change adds.
func (r row) newTargets() int {
	return r.Rules*r.Nodes - r.FromRules*r.FromNodes
}

// missingPerRule lists, for each rule the seed strategy visits, how many targets it lacks.
func (r row) missingPerRule() []int {
	out := make([]int, 0, r.Rules)
	for i := range r.Rules {
		if i < r.FromRules {
			out = append(out, r.Nodes-r.FromNodes)
		} else {
			out = append(out, r.Nodes)
		}
	}
	return out
}

func seedRows() []row {
	t1 := []float64{31.548, 51.248, 69.118, 90.723, 106.353}
	t2 := []float64{68.63, 141.004, 236.91, 335.674}
	rows := make([]row, 0, len(t1)+len(t2))
	for i, s := range t1 {
		rows = append(rows, row{Table: 1, Rules: 200, FromRules: 200, Nodes: 10 * (i + 1), FromNodes: 1, SeedSeconds: s})
	}
	for i, s := range t2 {
		rows = append(rows, row{Table: 2, Rules: 100 * (i + 1), FromRules: 1, Nodes: 50, FromNodes: 50, SeedSeconds: s})
	}
	return rows
}

// seedPredict is the analytic model time of the seed strategy for a row.
func (m Model) seedPredict(r row) time.Duration {
	var t time.Duration
	memo := map[int]time.Duration{}
	for _, missing := range r.missingPerRule() {
		d, ok := memo[missing]
		if !ok {
			d = m.seedRule(missing)
			memo[missing] = d
		}
		t += d
	}
	return t
}

// seedCalls is the analytic call count of the seed strategy for a row: writes, then reads
// (DescribeTargets and DescribeTaskStatus).
func (m Model) seedCalls(r row) (writes, reads int) {
	for _, missing := range r.missingPerRule() {
		reads++
		for missing > 0 {
			n := min(missing, registerLimit)
			writes++
			reads += m.asyncPolls(n)
			missing -= n
		}
	}
	return writes, reads
}

// calibrate fits PerCall, the poll interval, TaskFixed and TaskPerTarget so that the seed
// strategy's analytic time reproduces the seed's optimized column of table 1, minimising the
// worst relative error. A task is kept at least one poll cycle long, so that whether the first
// poll finds it done does not hinge on a millisecond (compressed runs add real overhead to every
// call). Batch calls get the same cost per call and per target as async tasks.
func calibrate(rows []row) (Model, float64) {
	best, bestErr := Model{Name: calibratedName}, math.Inf(1)
	for _, perCall := range []time.Duration{10, 20, 30, 40, 50} {
		for _, poll := range []time.Duration{20, 50, 100} {
			base := Model{Name: calibratedName, PerCall: perCall * time.Millisecond, Poll: poll * time.Millisecond}
			for fixed := base.PerCall + base.Poll; fixed <= 300*time.Millisecond; fixed += 5 * time.Millisecond {
				for per := 100 * time.Microsecond; per <= 20*time.Millisecond; per += 100 * time.Microsecond {
					m := base
					m.TaskFixed, m.TaskPerTarget = fixed, per
					worst := 0.0
					for _, r := range rows {
						if r.Table != 1 {
							continue
						}
						worst = max(worst, math.Abs(m.seedPredict(r).Seconds()/r.SeedSeconds-1))
					}
					if worst < bestErr-1e-9 {
						best, bestErr = m, worst
					}
				}
			}
		}
	}
	best.BatchFixed, best.BatchPerTarget = best.TaskFixed, best.TaskPerTarget
	return best, bestErr
}
