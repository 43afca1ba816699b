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
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Slow-start scenario: a binding of 500 serving pods scales to 1,000, once without slow start and
// once with spec.slowStart (40 s) on another listener of the same load balancer. Reported: the
// writes each scale-up costs (slow start's extra writes are its weight steps, each one
// BatchModifyTargetWeight for every ramping backend of the load balancer) and the weights the new
// backends went through.
const (
	slowStartOldPods, slowStartNewPods = 500, 500
	slowStartSeconds                   = 40
	slowStartWeight                    = 10 // spec.weight's default
)

type slowStartRun struct {
	SlowStart bool
	Wall      time.Duration // new endpoints created → every new backend at full weight
	Weights   []int64       // the weights the new backends were seen at, in order
	Calls     callCounts
}

type slowStartResult struct {
	Runs []slowStartRun
}

func runSlowStart(ctx context.Context, managerBin string) (slowStartResult, error) {
	var res slowStartResult
	pe, lbID, err := startOneLBEnv(ctx, managerBin, "slowstart")
	if err != nil {
		return res, err
	}
	defer pe.stop()
	for i, warm := range []bool{false, true} {
		run, err := slowStartScaleUp(ctx, pe, lbID, i, warm)
		if err != nil {
			return res, err
		}
		logf("slowstart (slow start %v): %v, weights %v, %v", warm, run.Wall.Round(time.Millisecond), run.Weights, run.Calls.ByAction)
		res.Runs = append(res.Runs, run)
	}
	return res, pe.alive()
}

// slowStartScaleUp binds slowStartOldPods pods ready for an hour on a new listener, then adds
// slowStartNewPods pods ready now, and measures until they all serve at full weight.
func slowStartScaleUp(ctx context.Context, pe *procEnv, lbID string, i int, warm bool) (slowStartRun, error) {
	run := slowStartRun{SlowStart: warm}
	sim := pe.srv.Sim
	listener := sim.AddListener(lbID, "TCP", int64(10000+i))
	name := "plain"
	if warm {
		name = "warm"
	}
	base := i * (slowStartOldPods + slowStartNewPods)
	pods := func(from, n int, readySince time.Time) (*scale10Binding, error) {
		b := &scale10Binding{scaleBinding: scaleBinding{name: name, lbID: lbID, listenerID: listener}, ns: scaleNS}
		for k := from; k < from+n; k++ {
			ip := scaleIP(base + k)
			p := scale10Pod(b, k)
			if err := pe.k8s.Create(ctx, p); err != nil {
				return nil, err
			}
			scale10Status(p, ip)
			for c := range p.Status.Conditions {
				p.Status.Conditions[c].LastTransitionTime = metav1.NewTime(readySince)
			}
			if err := pe.k8s.Status().Update(ctx, p); err != nil {
				return nil, err
			}
			b.ips, b.pods = append(b.ips, ip), append(b.pods, p)
		}
		return b, nil
	}
	old, err := pods(0, slowStartOldPods, time.Now().Add(-time.Hour))
	if err != nil {
		return run, err
	}
	objs := scale10Objects(old)
	if warm {
		objs[2].(*networkingv1alpha1.CLBBackendBinding).Spec.SlowStart = &networkingv1alpha1.SlowStartSpec{Seconds: slowStartSeconds}
	}
	for _, o := range objs {
		if err := pe.k8s.Create(ctx, o); err != nil {
			return run, err
		}
	}
	// backends lists the weights of the listener's backends by IP.
	backends := func() map[string]int64 {
		out := map[string]int64{}
		for _, t := range sim.Targets(lbID) {
			if t.ListenerID == listener {
				out[t.EniIP] = t.Weight
			}
		}
		return out
	}
	await := func(what string, timeout time.Duration, done func(map[string]int64) bool) error {
		deadline := time.Now().Add(timeout)
		for !done(backends()) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not within %v", what, timeout)
			}
			if err := pe.alive(); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	atWeight := func(ips []string) func(map[string]int64) bool {
		return func(got map[string]int64) bool {
			for _, ip := range ips {
				if got[ip] != slowStartWeight {
					return false
				}
			}
			return true
		}
	}
	if err := await(name+": the serving pods registered", 2*time.Minute, atWeight(old.ips)); err != nil {
		return run, err
	}
	waitQuietSim(ctx, sim, 3*time.Second, "DescribeTargets")

	before, t0 := sim.Calls(), time.Now()
	added, err := pods(slowStartOldPods, slowStartNewPods, time.Now())
	if err != nil {
		return run, err
	}
	slice := scale10Objects(added)[1].(*discoveryv1.EndpointSlice)
	slice.Name = name + "-2" // the EndpointSlice controller's second slice
	if err := pe.k8s.Create(ctx, slice); err != nil {
		return run, err
	}
	seen := func(got map[string]int64) bool {
		for _, ip := range added.ips {
			if w, ok := got[ip]; ok && !slices.Contains(run.Weights, w) {
				run.Weights = append(run.Weights, w)
			}
		}
		return atWeight(added.ips)(got)
	}
	if err := await(name+": the new pods at full weight", 3*time.Minute, seen); err != nil {
		return run, err
	}
	run.Wall = time.Since(t0)
	waitQuietSim(ctx, sim, 3*time.Second, "DescribeTargets")
	run.Calls = diffCalls(before, sim.Calls())
	return run, nil
}

func slowStartMarkdown(res slowStartResult, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Slow start: what a warm-up costs in writes\n\n%s\n\n", machineLine(started, took))
	w("- **Setup.** envtest + clbsim in process (fixed latency model) + `bin/manager` as its own process with production flags. One LB; "+
		"on each of two listeners a binding (weight %d) of %d pods ready for an hour, registered; one binding without slow start, one with "+
		"`spec.slowStart.seconds: %d`.\n", slowStartWeight, slowStartOldPods, slowStartSeconds)
	w("- **Measure.** %d pods ready now join (Pod objects with their status, and a second EndpointSlice); time until every new backend "+
		"has the full weight (clbsim polled every 100 ms), the weights the new backends were seen at, and the calls until clbsim is quiet for 3 s "+
		"(the drift check's DescribeTargets do not count as activity). Slow start's extra writes are its weight steps: one BatchModifyTargetWeight per step "+
		"for all ramping backends of the load balancer (⌈ramping backends / 500⌉ calls), four steps over the seconds given.\n\n", slowStartNewPods)
	w("| slow start | time to full weight (s) | weights seen | BatchRegisterTargets | BatchModifyTargetWeight | writes in all | calls by action |\n|---|---|---|---|---|---|---|\n")
	for _, r := range res.Runs {
		mode := "off"
		if r.SlowStart {
			mode = fmt.Sprintf("%d s", slowStartSeconds)
		}
		weights := make([]string, 0, len(r.Weights))
		for _, x := range r.Weights {
			weights = append(weights, fmt.Sprint(x))
		}
		w("| %s | %.1f | %s | %d | %d | %d | %s |\n", mode, r.Wall.Seconds(), strings.Join(weights, " → "),
			r.Calls.ByAction["BatchRegisterTargets"], r.Calls.ByAction["BatchModifyTargetWeight"], r.Calls.writes(), byAction(r.Calls))
	}
	if len(res.Runs) == 2 {
		w("\nSlow start's extra writes for %d joining backends: **%d** (%d writes with it, %d without).\n", slowStartNewPods,
			res.Runs[1].Calls.writes()-res.Runs[0].Calls.writes(), res.Runs[1].Calls.writes(), res.Runs[0].Calls.writes())
	}
	w("\n%s\n", chartLink("Slow start: writes and time to full weight of 500 joining backends, with and without it", chartFile(scenarioSlowStart)))
	return b.String()
}

// slowStartFigure: the writes of each scale-up by action, and the time to full weight.
func slowStartFigure(res slowStartResult) figure {
	times := barChart{Title: fmt.Sprintf("%d pods join: created → full weight", slowStartNewPods), Unit: unitSeconds}
	writes := barChart{Title: "Writes of the scale-up", Unit: unitCalls}
	for _, r := range res.Runs {
		label := "no slow start"
		if r.SlowStart {
			label = fmt.Sprintf("slow start %d s", slowStartSeconds)
		}
		times.Groups = append(times.Groups, barGroup{Label: label, Bars: []bar{{Value: r.Wall.Seconds(), Text: secondsText(r.Wall)}}})
		reg, mod := r.Calls.ByAction["BatchRegisterTargets"], r.Calls.ByAction["BatchModifyTargetWeight"]
		writes.Groups = append(writes.Groups, barGroup{Label: label, Bars: []bar{
			{Value: float64(reg), Text: fmt.Sprintf("%d register", reg)},
			{Value: float64(mod), Text: fmt.Sprintf("%d weight", mod)},
		}})
	}
	return figure{Title: "Slow start: 500 backends joining a listener of 500", Panels: []panel{times, writes}}
}
