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
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// The 50-binding change and the isolated changes.
const (
	change50Bindings  = 50
	change50Endpoints = 12
	change50Replaced  = 2 // endpoints replaced in every slice: 100 in, 100 out
	isolatedTarget    = 250 * time.Millisecond
	isolatedQuiet     = time.Second
)

// firstWrite watches clbsim's call counters from its start and keeps the time the first target
// write call (any result) was counted. clbsim counts a call when it answers it, so under a
// latency model that time includes the call's own PerCall and Batch hold.
type firstWrite struct {
	sim      *clbsim.Sim
	base     int
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
	at       time.Time
}

func watchFirstWrite(sim *clbsim.Sim) *firstWrite {
	base := diffCalls(nil, sim.Calls()).writes()
	fw := &firstWrite{sim: sim, base: base, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(fw.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-fw.quit:
				return
			case <-tick.C:
			}
			if diffCalls(nil, sim.Calls()).writes() > base {
				fw.at = time.Now()
				return
			}
		}
	}()
	return fw
}

// stop ends the watch and returns when the first write was counted, or the zero time. A write
// counted since the watch's last look (the caller saw it first) is dated now.
func (fw *firstWrite) stop() time.Time {
	fw.stopOnce.Do(func() {
		close(fw.quit)
		<-fw.done
		if fw.at.IsZero() && diffCalls(nil, fw.sim.Calls()).writes() > fw.base {
			fw.at = time.Now()
		}
	})
	return fw.at
}

// ownDelay is the controller's own delay in a timed change: first CLB write − last API write of
// the change (negative when the controller wrote before the bench had written all of it).
func (r oursResult) ownDelay() time.Duration { return r.FirstCLB - r.Issue }

// listenerObjects are the Service, EndpointSlice and binding of one binding on a TCP listener,
// with one pod per IP (targetRef names follow the IP, so a replaced endpoint is a new pod).
func listenerObjects(ns, lbID, listenerID string, i int, ips []string) []client.Object {
	objs := ruleObjects(ns, lbID, listenerID, "", i, ips)
	objs[1] = ipSlice(ns, objs[0].GetName(), ips)
	objs[2].(*networkingv1alpha1.CLBBackendBinding).Spec.Rule = nil
	return objs
}

func ipSlice(ns, svc string, ips []string) *discoveryv1.EndpointSlice {
	s := endpointSlice(ns, svc, ips)
	for i, ip := range ips {
		s.Endpoints[i].TargetRef.Name = "pod-" + strings.ReplaceAll(ip, ".", "-")
	}
	return s
}

// updateSlice writes ips as the endpoints of the slice of binding i.
func (ce *controllerEnv) updateSlice(ctx context.Context, ns string, i int, ips []string) error {
	want := ipSlice(ns, fmt.Sprintf("rule-%03d", i), ips)
	var cur discoveryv1.EndpointSlice
	if err := ce.k8s.Get(ctx, client.ObjectKeyFromObject(want), &cur); err != nil {
		return err
	}
	cur.Endpoints = want.Endpoints
	return ce.k8s.Update(ctx, &cur)
}

// newNamespaceLB creates a namespace, a load balancer and the policy that lets the namespace
// bind it.
func (ce *controllerEnv) newNamespaceLB(ctx context.Context, ns string) (string, error) {
	if err := ce.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return "", err
	}
	lbID := ce.srv.Sim.AddLoadBalancer(ns)
	if err := sandbox.ApplyPolicy(ctx, ce.k8s, sandbox.AllowPolicy(ns, []string{lbID}, ns)); err != nil {
		return "", err
	}
	if ce.proc != nil {
		time.Sleep(policySettle) // the manager's cache sees the policy before the bindings
	}
	return lbID, nil
}

// waitTargetSet waits until clbsim holds exactly want (listener/ip) on lbID. Targets change only
// when a write call answers, so the targets are read only when the write counters move.
func (ce *controllerEnv) waitTargetSet(ctx context.Context, lbID string, want map[string]bool, timeout time.Duration) error {
	sim := ce.srv.Sim
	deadline := time.Now().Add(timeout)
	last := -1
	got := map[string]bool{}
	for {
		if writes := diffCalls(nil, sim.Calls()).writes(); writes != last {
			last = writes
			got = map[string]bool{}
			for _, t := range sim.Targets(lbID) {
				got[t.ListenerID+"/"+t.EniIP] = true
			}
			if maps.Equal(got, want) {
				return nil
			}
		}
		if err := ce.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clbsim holds %d targets on %s after %v, want %d (not exactly the wanted set)", len(got), lbID, timeout, len(want))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// change50Result is the 50-binding change under one model.
type change50Result struct {
	Model string
	Res   oursResult
	Floor Floor
}

// change50IP is endpoint j of binding i; endpoints from change50Endpoints on are the new ones.
func change50IP(i, j int) string { return fmt.Sprintf("10.4.%d.%d", i+1, j+1) }

// runChange50 times the 50-binding change: one load balancer, 50 bindings with 12 pod endpoints
// each on its own TCP listener, then every EndpointSlice changed at once (2 endpoints replaced
// in each: 100 targets in, 100 out). Lower bound: 1 BatchRegisterTargets + 1
// BatchDeregisterTargets.
func (ce *controllerEnv) runChange50(ctx context.Context, m Model) (change50Result, error) {
	sim, factor := ce.srv.Sim, ce.factor
	sim.SetLatency(clbsim.DefaultBusy())
	sim.SetQPS("", -1)
	ns := "change50-" + m.Name
	lbID, err := ce.newNamespaceLB(ctx, ns)
	if err != nil {
		return change50Result{}, err
	}
	lis := make([]string, change50Bindings)
	ips := make([][]string, change50Bindings)
	var start []client.Object
	for i := range lis {
		lis[i] = sim.AddListener(lbID, "TCP", int64(20000+i))
		for j := range change50Endpoints {
			ips[i] = append(ips[i], change50IP(i, j))
		}
		start = append(start, listenerObjects(ns, lbID, lis[i], i, ips[i])...)
	}
	want := func() map[string]bool {
		w := map[string]bool{}
		for i := range lis {
			for _, ip := range ips[i] {
				w[lis[i]+"/"+ip] = true
			}
		}
		return w
	}
	if err := parallel(start, func(o client.Object) error { return ce.k8s.Create(ctx, o) }); err != nil {
		return change50Result{}, fmt.Errorf("creating the starting state: %w", err)
	}
	if err := ce.waitTargetSet(ctx, lbID, want(), 2*time.Minute); err != nil {
		return change50Result{}, fmt.Errorf("starting state: %w", err)
	}
	ce.waitQuiet(ctx, time.Second)

	for i := range ips {
		for j := range change50Replaced {
			ips[i][j] = change50IP(i, change50Endpoints+j)
		}
	}
	bindings := make([]int, len(ips))
	for i := range bindings {
		bindings[i] = i
	}
	sim.SetLatency(m.simLatency(true, factor))
	sim.SetQPS("", 20*factor)
	before := sim.Calls()
	fw := watchFirstWrite(sim)
	defer fw.stop()
	t0 := time.Now()
	if err := parallel(bindings, func(i int) error { return ce.updateSlice(ctx, ns, i, ips[i]) }); err != nil {
		return change50Result{}, fmt.Errorf("writing the change: %w", err)
	}
	issued := time.Since(t0)
	if err := ce.waitTargetSet(ctx, lbID, want(), 10*time.Minute); err != nil {
		return change50Result{}, err
	}
	wall := time.Since(t0)
	res := ce.converged(ctx, before, t0, issued, wall, fw.stop())
	return change50Result{Model: m.Name, Res: res, Floor: m.change50Floor()}, nil
}

// change50Floor: one BatchRegisterTargets and one BatchDeregisterTargets of 100 targets each,
// one after the other, waiting out the busy time after the first; no read (warm caches).
func (m Model) change50Floor() Floor {
	n := change50Bindings * change50Replaced
	return Floor{
		Writes: 2,
		Wall: 2*(m.PerCall+m.BatchFixed) + time.Duration(2*n)*m.BatchPerTarget +
			clbsim.DefaultBusyFixed + time.Duration(n)*clbsim.DefaultBusyPerTarget,
	}
}

// isolatedResult is the controller's own delay for single changes on an idle controller.
type isolatedResult struct {
	Delays        []time.Duration // in the order of the changes
	P50, P90, Max time.Duration
	Converge      time.Duration // median API write response → clbsim holds the target
}

// runIsolated makes n single changes on an idle controller: each adds one endpoint to one
// binding's EndpointSlice after the previous change converged and no call but the health
// poller's reached clbsim for a second. Each is timed from the response to its API write to the
// first write call clbsim counts, with clbsim's latency off (no PerCall, no Batch hold; the busy
// time after a write stays), so that clbsim counts a call when it arrives.
func (ce *controllerEnv) runIsolated(ctx context.Context, n int) (isolatedResult, error) {
	var res isolatedResult
	sim, factor := ce.srv.Sim, ce.factor
	sim.SetLatency(clbsim.DefaultBusy())
	sim.SetQPS("", 20*factor)
	ns := "isolated"
	lbID, err := ce.newNamespaceLB(ctx, ns)
	if err != nil {
		return res, err
	}
	lis := sim.AddListener(lbID, "TCP", 30000)
	ips := []string{change50IP(200, 0)}
	want := map[string]bool{lis + "/" + ips[0]: true}
	if err := parallel(listenerObjects(ns, lbID, lis, 0, ips), func(o client.Object) error { return ce.k8s.Create(ctx, o) }); err != nil {
		return res, err
	}
	if err := ce.waitTargetSet(ctx, lbID, want, 2*time.Minute); err != nil {
		return res, fmt.Errorf("starting state: %w", err)
	}
	converge := make([]time.Duration, 0, n)
	for k := range n {
		ce.waitQuiet(ctx, scale(isolatedQuiet, factor))
		ips = append(ips, change50IP(200, k+1))
		want[lis+"/"+ips[len(ips)-1]] = true
		fw := watchFirstWrite(sim)
		err := ce.updateSlice(ctx, ns, 0, ips)
		answered := time.Now()
		if err != nil {
			fw.stop()
			return res, err
		}
		err = ce.waitTargetSet(ctx, lbID, want, time.Minute)
		converged := time.Now()
		first := fw.stop()
		if err != nil {
			return res, fmt.Errorf("change %d: %w", k+1, err)
		}
		res.Delays = append(res.Delays, time.Duration(float64(first.Sub(answered))*factor))
		converge = append(converge, time.Duration(float64(converged.Sub(answered))*factor))
	}
	sorted := slices.Sorted(slices.Values(res.Delays))
	res.P50, res.P90, res.Max = percentile(sorted, 0.5), percentile(sorted, 0.9), sorted[len(sorted)-1]
	slices.Sort(converge)
	res.Converge = percentile(converge, 0.5)
	return res, nil
}

// verdict says whether the p50 meets the target, which concerns an unstarved manager only.
func (iso isolatedResult) verdict(m seedMode) string {
	if m.cpu > 0 {
		return "not judged (the target is for an unstarved manager)"
	}
	if iso.P50 > isolatedTarget {
		return "**missed**"
	}
	return "met"
}

// seedExtras are the seed scenario's measurements beyond the seed's rows.
type seedExtras struct {
	Change50 []change50Result
	Isolated *isolatedResult
	Envs     []envStats
}

// run measures, on a control plane before its rows, the isolated changes (on the first control
// plane only), then the 50-binding change under m.
func (x *seedExtras) run(ctx context.Context, o options, ce *controllerEnv, m Model) error {
	if o.isolatedChanges > 0 && x.Isolated == nil {
		res, err := ce.runIsolated(ctx, o.isolatedChanges)
		if err != nil {
			return fmt.Errorf("isolated changes: %w", err)
		}
		x.Isolated = &res
		logf("isolated changes: %d, API write → first CLB write p50 %v, p90 %v, max %v (target p50 ≤ %v)",
			len(res.Delays), res.P50.Round(time.Millisecond), res.P90.Round(time.Millisecond), res.Max.Round(time.Millisecond), isolatedTarget)
	}
	if o.change50 {
		res, err := ce.runChange50(ctx, m)
		if err != nil {
			return fmt.Errorf("the 50-binding change, %s model: %w", m.Name, err)
		}
		x.Change50 = append(x.Change50, res)
		logf("our controller %-10s %-28s %8.2fs (floor %7.2fs) writes %4d (bound %d) reads %3d, trailing writes %d, own delay %.3fs",
			m.Name, "50 bindings, 100 in 100 out", res.Res.Wall.Seconds(), res.Floor.Wall.Seconds(), res.Res.Calls.writes(), res.Floor.Writes,
			res.Res.Calls.reads(), res.Res.Trailing.writes(), res.Res.ownDelay().Seconds())
	}
	return nil
}

// usage records the manager process's CPU, memory and cgroup counters of the model's control
// plane, once its rows have run.
func (x *seedExtras) usage(ce *controllerEnv, m Model) {
	if st, ok := ce.procStats(m.Name); ok {
		x.Envs = append(x.Envs, st)
		logf("manager process (%s model's control plane): CPU %v, peak RSS %d MiB, cgroup periods %d, throttled %d (%v)",
			m.Name, st.Proc.CPU, st.Proc.PeakRSSKiB/1024, st.CPUStat.Periods, st.CPUStat.Throttled, st.CPUStat.ThrottledTime)
	}
}

// markdown reports the controller's own delay on every row, the 50-binding change, the isolated
// changes and the manager process's usage.
func (rep report) extrasMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	x := rep.Extras
	w("## The controller's own delay (manager: %s)\n\n", rep.Options.seedMode.label())
	w("Own delay = first CLB write − last API write of the change (model s). The bench writes a change with 16 client workers; \"last API write\" is the response to the last of them, " +
		"\"first CLB write\" the moment clbsim's counters first count a target write call (any result), watched every millisecond from before the first API write. " +
		"**It is negative when the controller started writing before the bench had finished writing the change**, and is printed as is. " +
		"clbsim counts a call when it answers it, so under a latency model the first write includes that call's own PerCall and Batch hold")
	for _, m := range rep.Models {
		w(", %v under the %s model", m.PerCall+m.BatchFixed, m.Name)
	}
	w(" (plus its per-target cost).\n\n")
	w("| model | change | API writes: first → last (s) | first API write → first CLB write (s) | own delay (s) | converged (s) |\n|---|---|---|---|---|---|\n")
	for _, r := range rep.Results {
		w("| %s | %s | %.3f | %.3f | %+.3f | %.2f |\n", r.Model, r.Row.label(), r.Ours.Issue.Seconds(), r.Ours.FirstCLB.Seconds(), r.Ours.ownDelay().Seconds(), r.Ours.Wall.Seconds())
	}
	for _, c := range x.Change50 {
		w("| %s | %s | %.3f | %.3f | %+.3f | %.2f |\n", c.Model, change50Label(), c.Res.Issue.Seconds(), c.Res.FirstCLB.Seconds(), c.Res.ownDelay().Seconds(), c.Res.Wall.Seconds())
	}
	w("\n")
	if len(x.Change50) > 0 {
		w("## The 50-binding change (manager: %s)\n\n", rep.Options.seedMode.label())
		w("One load balancer, %d CLBBackendBindings each on its own TCP listener with %d ready pod endpoints (%d targets), built through the API without latency; "+
			"then every EndpointSlice is updated at once (%d endpoints replaced in each: %d targets in, %d out) under the model, timed from the first API write until clbsim holds exactly the wanted targets. "+
			"Lower bound: 1 BatchRegisterTargets + 1 BatchDeregisterTargets (≤ 500 targets each). Floor: those two calls one after the other, waiting out the busy time after the first.\n\n",
			change50Bindings, change50Endpoints, change50Bindings*change50Endpoints, change50Replaced,
			change50Bindings*change50Replaced, change50Bindings*change50Replaced)
		w("| model | ours (s) | floor (s) | ours / floor | writes / bound | reads | health reads | trailing writes | writes met busy | own delay (s) | calls by action |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range x.Change50 {
			w("| %s | %.2f | %.2f | %.2f× | %d / %d | %d | %d | %d | %d | %+.3f | %s |\n", c.Model, c.Res.Wall.Seconds(), c.Floor.Wall.Seconds(),
				c.Res.Wall.Seconds()/c.Floor.Wall.Seconds(), c.Res.Calls.writes(), c.Floor.Writes, c.Res.Calls.reads(), c.Res.HealthAPI,
				c.Res.Trailing.writes(), c.Res.Calls.busy(), c.Res.ownDelay().Seconds(), formatCalls(c.Res.Calls))
		}
		w("\n")
	}
	if iso := x.Isolated; iso != nil {
		w("## Isolated changes on an idle controller (manager: %s)\n\n", rep.Options.seedMode.label())
		w("Run first on the first model's control plane (holding nothing else yet). "+
			"One binding on a TCP listener of its own load balancer; %d times, after the previous change converged and no call but DescribeTargetHealth reached clbsim for %v, "+
			"the bench adds one endpoint to its EndpointSlice. Delay = the first target write call clbsim counts − the response to the API write "+
			"(negative if the controller wrote before the API server answered the bench). clbsim's latency is off here (no PerCall, no Batch hold; the busy time after a write stays), "+
			"so a call is counted when it arrives: the delay is the controller's own (watch, reconcile, coalescing, client). Target p50 ≤ %v (unstarved).\n\n",
			len(iso.Delays), isolatedQuiet, isolatedTarget)
		w("| changes | p50 (ms) | p90 (ms) | max (ms) | target p50 (ms) | verdict | API write → converged, median (ms) | every delay (ms) |\n|---|---|---|---|---|---|---|---|\n")
		all := make([]string, 0, len(iso.Delays))
		for _, d := range iso.Delays {
			all = append(all, fmt.Sprint(d.Milliseconds()))
		}
		w("| %d | %d | %d | %d | %d | %s | %d | %s |\n\n", len(iso.Delays), iso.P50.Milliseconds(), iso.P90.Milliseconds(), iso.Max.Milliseconds(),
			isolatedTarget.Milliseconds(), iso.verdict(rep.Options.seedMode), iso.Converge.Milliseconds(), strings.Join(all, ", "))
	}
	if _, ok := rep.delayFigure(); ok {
		w("%s\n\n", chartLink("The controller's own delay: isolated changes against the p50 target, and the 50-binding change", rep.Options.seedMode.delayChart()))
	}
	if len(x.Envs) > 0 {
		w("## Manager process (%s)\n\n", rep.Options.seedMode.label())
		w("Per control plane (one per model), read at its end: the manager's CPU time (utime + stime) and peak RSS from /proc; with a quota, its cgroup's cpu.stat.\n\n")
		w("| control plane | CPU (s) | peak RSS (MiB) | cgroup | periods | throttled periods | throttled time (s) |\n|---|---|---|---|---|---|---|\n")
		for _, e := range x.Envs {
			cg := noneWord
			if e.Quota != nil {
				cg = fmt.Sprintf("%d µs / %d µs", e.Quota.quota, e.Quota.period)
			}
			w("| %s model | %.1f | %d | %s | %d | %d | %.1f |\n", e.Model, e.Proc.CPU.Seconds(), e.Proc.PeakRSSKiB/1024, cg,
				e.CPUStat.Periods, e.CPUStat.Throttled, e.CPUStat.ThrottledTime.Seconds())
		}
		w("\n")
	}
	return b.String()
}

func change50Label() string {
	return fmt.Sprintf("%d bindings, %d in %d out", change50Bindings, change50Bindings*change50Replaced, change50Bindings*change50Replaced)
}

// extrasTargets lists the issue's targets on the 50-binding change and the isolated changes.
func (rep report) extrasTargets() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	x, target := rep.Extras, rep.Options.seedMode.writeTarget()
	if len(x.Change50) > 0 {
		var missed []string
		for _, c := range x.Change50 {
			if got := c.Res.Calls.writes(); float64(got) > target*float64(c.Floor.Writes) {
				missed = append(missed, fmt.Sprintf("%s model: %d writes, bound %d", c.Model, got, c.Floor.Writes))
			}
		}
		if len(missed) == 0 {
			w("- **50-binding change: writes ≤ %.2f× the lower bound**: met on all %d models.\n", target, len(x.Change50))
		} else {
			w("- **50-binding change: writes ≤ %.2f× the lower bound**: missed under %s.\n", target, strings.Join(missed, "; "))
		}
	}
	if iso := x.Isolated; iso != nil {
		w("- **Isolated changes: API write → first CLB write p50 ≤ %v** (unstarved): %s, p50 %v over %d changes (manager: %s).\n",
			isolatedTarget, iso.verdict(rep.Options.seedMode), iso.P50.Round(time.Millisecond), len(iso.Delays), rep.Options.seedMode.label())
	}
	return b.String()
}
