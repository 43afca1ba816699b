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
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// noneWord is what an empty list prints.
const noneWord = "none"

// Scenario names for -scenarios.
const (
	scenarioSeed      = "seed"
	scenarioScale     = "scale"
	scenarioReadiness = "readiness"
	scenarioRollout   = "rollout"
	scenarioScale10   = "scale10"
	scenarioBudget    = "budget"
	scenarioShares    = "shares"
	scenarioSlowStart = "slowstart"
)

var allScenarios = []string{scenarioSeed, scenarioScale, scenarioReadiness, scenarioRollout, scenarioScale10, scenarioBudget, scenarioShares, scenarioSlowStart}

func parseScenarios(spec string) ([]string, error) {
	if spec == "" || spec == "all" {
		return allScenarios, nil
	}
	var out []string
	for f := range strings.SplitSeq(spec, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allScenarios, f) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", f, strings.Join(allScenarios, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// results.md is made of one section per scenario between markers, so a run of some scenarios
// replaces their sections and keeps the others.
func sectionMarkers(name string) (string, string) {
	return "<!-- bench:" + name + " -->", "<!-- /bench:" + name + " -->"
}

func writeSection(path, name, md string) error {
	begin, end := sectionMarkers(name)
	block := begin + "\n" + strings.TrimRight(md, "\n") + "\n" + end + "\n"
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	if i := strings.Index(s, begin); i >= 0 {
		if j := strings.Index(s, end); j > i {
			rest := strings.TrimPrefix(s[j+len(end):], "\n")
			return os.WriteFile(path, []byte(s[:i]+block+rest), 0o644)
		}
	}
	// New section: in the order of allScenarios (sectionOrder).
	sections := map[string]string{name: block}
	for _, n := range sectionOrder() {
		b, e := sectionMarkers(n)
		if i := strings.Index(s, b); i >= 0 {
			if j := strings.Index(s, e); j > i {
				sections[n] = s[i:j+len(e)] + "\n"
			}
		}
	}
	var out strings.Builder
	for _, n := range sectionOrder() {
		if sec, ok := sections[n]; ok {
			out.WriteString(sec)
			out.WriteString("\n")
		}
	}
	return os.WriteFile(path, []byte(out.String()), 0o644)
}

func machineLine(started time.Time, took time.Duration) string {
	return fmt.Sprintf("Run by `make bench` (test/bench/scenarios) on %s; machine: %d CPUs (`nproc`), %s, %s/%s, %s; the scenario took %v. "+
		"Load average (1, 5, 15 min) of the shared machine at its end: %s.",
		started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		took.Round(time.Second), loadAvg())
}

func runScaleScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runScale(ctx, o.managerBin)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioScale, scaleMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioScale), scaleFigure(res))
}

func runReadinessScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runReadiness(ctx, o.managerBin)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioReadiness, readinessMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioReadiness), readinessFigure(res))
}

func runScale10Scenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runScale10(ctx, o.managerBin, o.out)
	if err != nil {
		return fmt.Errorf("scale10: %w", err)
	}
	// The raw figures too: a 50-minute run's table or chart can be drawn again without running it.
	if raw, err := json.MarshalIndent(res, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(o.out, "scale10.json"), raw, 0o644)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioScale10, scale10Markdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioScale10), scale10Figure(res))
}

func runBudgetScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runBudget(ctx, o.managerBin)
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioBudget, budgetMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioBudget), budgetFigure(res))
}

func byAction(c callCounts) string {
	keys := slices.Sorted(maps.Keys(c.ByAction))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		p := fmt.Sprintf("%s %d", k, c.ByAction[k])
		if e := c.Errors[k]; e > 0 {
			p += fmt.Sprintf(" (%d errors)", e)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return noneWord
	}
	return strings.Join(parts, ", ")
}

func scaleMarkdown(res scaleResult, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Scale: %d LBs, %d bindings, %d pod endpoints\n\n", scaleLBs, scaleLBs*scaleListenersLB, scaleLBs*scaleListenersLB*scaleEndpointsPer)
	w("%s\n\n", machineLine(started, took))
	w("- **Setup.** envtest's kube-apiserver + etcd; clbsim in process (MaxTargetsPerRule 1,000,000, default 20 QPS per action) under the **fixed** latency model "+
		"(50 ms per call, Batch* calls hold the LB 300 ms, then keep it busy 100 ms + 1 ms per target), real time (no compression). The manager is `bin/manager` as its own process with production defaults "+
		"(`--leader-elect=false --enable-webhooks=false --metrics-bind-address=0`, client 20 QPS per action, group commit (no fixed coalescing window), health polls 2 s / 30 s, "+
		"binding policies enforced: one CLBBindingPolicy lets the namespace bind the %d LBs).\n", scaleLBs)
	w("- **Objects.** %d LBs × %d TCP listeners, one CLBBackendBinding per listener (readiness gate off), each with a headless Service and one EndpointSlice of %d ready pod endpoints "+
		"(targetRef Pod, pods not created: a ready endpoint of an unseen pod is registered, internal/targets/desired.go). All %d objects are created at once by 16 client workers; "+
		"churn replaces %d endpoint of every slice with a new IP (10%% of the endpoints, every LB touched).\n",
		scaleLBs, scaleListenersLB, scaleEndpointsPer, 3*scaleLBs*scaleListenersLB, scaleChurnPer)
	w("- **Time to converge**: first API write → clbsim holds exactly the wanted targets on every LB (polled every 100 ms). **Lower bounds**: writes ⌈targets/500⌉ per LB and per action " +
		"(churn: one BatchRegisterTargets and one BatchDeregisterTargets per LB); reads ⌈listeners/20⌉ DescribeTargets per LB. With policies enforced the workers also read each LB's tags (DescribeLoadBalancers, about once per LB per 5 minutes), " +
		"counted in the reads above the bound. DescribeTargetHealth (the health poller) is listed apart.\n\n")
	w("| phase | targets written | converge (s) | of which API writes (s) | writes / bound | reads / bound | health reads | calls by action |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range res.Phases {
		rb := fmt.Sprint(p.ReadBound)
		if p.ReadBoundNB != "" {
			rb = p.ReadBoundNB
		}
		w("| %s | %d | %.1f | %.1f | %d / %d | %d / %s | %d | %s |\n", p.Name, p.Targets, p.Wall.Seconds(), p.Issue.Seconds(),
			p.Calls.writes(), p.WriteBound, p.Calls.reads(), rb, p.Calls.ByAction["DescribeTargetHealth"], byAction(p.Calls))
	}
	w("\n%s\n", chartLink("Scale: converge time per phase, and CLB calls against their lower bounds", chartFile(scenarioScale)))
	mins := res.SteadyWindow.Minutes()
	w("\n| steady state (%v after convergence) | calls per minute |\n|---|---|\n", res.SteadyWindow)
	w("| writes | %.1f |\n| sync reads (DescribeTargets, DescribeListeners, …) | %.1f |\n| DescribeTargetHealth | %.1f |\n| all, by action | %s |\n",
		float64(res.Steady.writes())/mins, float64(res.Steady.reads())/mins, float64(res.Steady.ByAction["DescribeTargetHealth"])/mins, byAction(res.Steady))
	// Drift detection (--drift-check-interval, 1 minute): every bound listener read once a
	// minute, 20 to a call, so ⌈listeners/20⌉ DescribeTargets per load balancer per minute.
	w("| drift detection: DescribeTargets / bound (%d LBs × ⌈%d listeners / 20⌉ a minute) | %.1f / %d |\n",
		scaleLBs, scaleListenersLB, float64(res.Steady.ByAction["DescribeTargets"])/mins, scaleLBs*ceilDiv(scaleListenersLB, 20))
	w("\n| manager process | after create | at the end |\n|---|---|---|\n")
	w("| peak RSS (VmHWM) | %d MiB | %d MiB |\n| CPU (utime + stime) | %.1f s | %.1f s |\n",
		res.StatsCreate.PeakRSSKiB/1024, res.Stats.PeakRSSKiB/1024, res.StatsCreate.CPU.Seconds(), res.Stats.CPU.Seconds())
	return b.String()
}

func readinessMarkdown(res readinessResult, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Readiness: clbsim health Alive → pod gate True\n\n")
	w("%s\n\n", machineLine(started, took))
	w("- **Setup.** envtest + clbsim in process (fixed latency model) + `bin/manager` as its own process with production defaults (fast health poll %v, slow 30 s). "+
		"One LB, one TCP listener, a CLBBindingPolicy allowing the namespace to bind it (policies enforced, the default), one binding `%s` with the readiness gate on; %d pods created through the API with `health.clbind.io/%s` in spec.readinessGates, "+
		"status (status subresource) Running, ContainersReady True, Ready False; the EndpointSlice lists them as not-ready endpoints (targetRef with UID). "+
		"The controller registers them (held only by its gate): %d targets in %.1f s.\n", res.FastPoll, readyBinding, res.Pods, readyBinding, res.Pods, res.Registered.Seconds())
	w("- **Measure.** Every target is Dead in clbsim (`SetHealth`); the bench then marks one target Alive every %v (%d targets over %.1f s, so every phase of the poll is sampled) "+
		"and a pod informer timestamps the gate condition turning True. Latency = informer event − SetHealth call. Target: p99 ≤ fast poll + 1 s = %v.\n\n",
		readyStagger, res.Pods, res.StaggerOver.Seconds(), res.TargetP99)
	verdict := "met"
	if res.P99 > res.TargetP99 {
		verdict = "**missed**"
	}
	w("| pods | p50 (s) | p99 (s) | max (s) | target p99 (s) | verdict | DescribeTargetHealth calls during the flips | manager peak RSS | manager CPU |\n|---|---|---|---|---|---|---|---|---|\n")
	w("| %d | %.2f | %.2f | %.2f | %.1f | %s | %d | %d MiB | %.1f s |\n", res.Pods, res.P50.Seconds(), res.P99.Seconds(), res.Max.Seconds(),
		res.TargetP99.Seconds(), verdict, res.HealthCalls, res.Stats.PeakRSSKiB/1024, res.Stats.CPU.Seconds())
	w("\n%s\n", chartLink("Readiness: distribution of the Alive → gate True latencies against the p99 target", chartFile(scenarioReadiness)))
	return b.String()
}

func runSharesScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runShares(ctx, o.managerBin)
	if err != nil {
		return fmt.Errorf("shares: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioShares, sharesMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioShares), sharesFigure(res))
}

func runSlowStartScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runSlowStart(ctx, o.managerBin)
	if err != nil {
		return fmt.Errorf("slowstart: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioSlowStart, slowStartMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioSlowStart), slowStartFigure(res))
}
