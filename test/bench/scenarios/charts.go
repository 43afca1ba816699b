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

// One chart per scenario, drawn from its result with svgchart.go and written next to
// results.md; each scenario's section links it, so a re-run replaces both.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Names shared by several charts.
const (
	seriesFloor = "floor"
	unitSeconds = "seconds"
	unitCalls   = "calls"
)

// chartFile is the chart of a scenario's section, next to results.md.
func chartFile(section string) string { return section + ".svg" }

// chartLink is the markdown line that shows a chart in its section.
func chartLink(alt, file string) string { return "![" + alt + "](" + file + ")" }

func secondsText(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// boundGroup is a measured count beside its lower bound.
func boundGroup(label string, got, bound int) barGroup {
	return barGroup{Label: label, Bars: []bar{
		{Series: "ours", Value: float64(got)},
		{Series: "lower bound", Value: float64(bound), Color: boundColor},
	}}
}

// cdf is the empirical distribution of values: the i-th smallest at (i+1)/n, in percent.
func cdf(values []float64) []point {
	sorted := slices.Sorted(slices.Values(values))
	pts := make([]point, 0, len(sorted))
	for i, v := range sorted {
		pts = append(pts, point{X: v, Y: 100 * float64(i+1) / float64(len(sorted))})
	}
	return pts
}

// phaseLabel is the short name of a scale phase ("create: 50 LBs × …" → "create").
func phaseLabel(name string) string {
	short, _, _ := strings.Cut(name, ":")
	return short
}

// scaleFigure: per phase, converge time against the time spent writing the change to the API
// server, and writes and sync reads against their lower bounds.
func scaleFigure(res scaleResult) figure {
	times := barChart{Title: "Time to converge, per phase", Unit: unitSeconds}
	calls := barChart{Title: "CLB calls per phase against their lower bounds", Unit: unitCalls}
	for _, p := range res.Phases {
		name := phaseLabel(p.Name)
		times.Groups = append(times.Groups, barGroup{Label: name, Bars: []bar{
			{Series: "converge", Value: p.Wall.Seconds(), Text: secondsText(p.Wall)},
			{Series: "of which writing to the API server", Value: p.Issue.Seconds(), Text: secondsText(p.Issue)},
		}})
		calls.Groups = append(calls.Groups,
			boundGroup(name+": writes", p.Calls.writes(), p.WriteBound),
			boundGroup(name+": sync reads", p.Calls.reads(), p.ReadBound))
	}
	return figure{
		Title:  fmt.Sprintf("Scale: %d LBs, %d bindings, %d pod endpoints", scaleLBs, scaleLBs*scaleListenersLB, scaleLBs*scaleListenersLB*scaleEndpointsPer),
		Panels: []panel{times, calls},
	}
}

// scale10Figure: cold start and restart against their floors, their calls against the bounds,
// and the steady hour's calls per minute by action.
func scale10Figure(res scale10Result) figure {
	restartFloor := time.Duration(ceilDiv(res.ReadBound, 20)) * time.Second
	floor := res.scale10Floor()
	times := barChart{Title: "Time per phase against the floor (20 calls per second per action)", Unit: unitSeconds, Groups: []barGroup{
		{Label: "cold start: started → every target", Bars: []bar{
			{Series: "time", Value: res.Create.Wall.Seconds(), Text: secondsText(res.Create.Wall)},
			{Series: seriesFloor, Value: floor.Seconds(), Text: secondsText(floor), Color: boundColor},
		}},
		{Label: "restart: started → quiet", Bars: []bar{
			{Series: "time", Value: res.Restart.Wall.Seconds(), Text: secondsText(res.Restart.Wall)},
			{Series: seriesFloor, Value: restartFloor.Seconds(), Text: secondsText(restartFloor), Color: boundColor},
		}},
	}}
	calls := barChart{Title: "CLB calls against their lower bounds", Unit: unitCalls, Groups: []barGroup{
		boundGroup("cold start: writes", res.Create.Calls.writes(), res.WriteBound),
		boundGroup("cold start: sync reads", res.Create.Calls.reads(), res.coldReadBound()),
		boundGroup("restart: writes", res.Restart.Calls.writes(), 0), // it has nothing to write
		boundGroup("restart: sync reads", res.Restart.Calls.reads(), res.StartReadBound),
	}}
	steady := barChart{
		Title: fmt.Sprintf("Steady hour (%v run in %v): calls per uncompressed minute, by action", res.SteadyWindow, res.SteadyWindow/scale10Compression),
		Unit:  "calls per minute", Note: "no steady window",
	}
	if mins := res.SteadyWindow.Minutes(); mins > 0 {
		for _, a := range slices.Sorted(maps.Keys(res.Steady.Calls.ByAction)) {
			perMin := float64(res.Steady.Calls.ByAction[a]) / mins
			steady.Groups = append(steady.Groups, barGroup{Label: a, Bars: []bar{{Value: perMin, Text: fmt.Sprintf("%.1f", perMin)}}})
		}
		// Drift detection reads every listener once a minute, 20 to a call.
		steady.Refs = []refLine{{Label: fmt.Sprintf("drift bound: %d DescribeTargets a minute", res.ReadBound), Value: float64(res.ReadBound)}}
	}
	return figure{
		Title:  fmt.Sprintf("Scale ×10 with pods: %d LBs, %d bindings, %d Pod objects", res.LBs, res.Bindings, res.Pods),
		Panels: []panel{times, calls, steady},
	}
}

// readinessFigure: the distribution of Alive → gate True latencies against the p99 target.
func readinessFigure(res readinessResult) figure {
	lat := make([]float64, 0, len(res.Latencies))
	for _, d := range res.Latencies {
		lat = append(lat, d.Seconds())
	}
	c := lineChart{
		Title: fmt.Sprintf("Alive → gate True over %d pods: p50 %.2f s, p99 %.2f s, max %.2f s",
			len(res.Latencies), res.P50.Seconds(), res.P99.Seconds(), res.Max.Seconds()),
		XLabel:    "latency: SetHealth Alive → pod gate True (s)",
		XFromZero: true,
		YLabel:    "pods with the gate True (%)",
		Series:    []lineSeries{{Name: "pods", Step: true, Points: cdf(lat)}},
		YRefs:     []refLine{{Label: "99% of the pods", Value: 99}},
	}
	if res.TargetP99 > 0 {
		c.XRefs = []refLine{{Label: fmt.Sprintf("target p99 ≤ %.1f s", res.TargetP99.Seconds()), Value: res.TargetP99.Seconds()}}
	}
	return figure{Title: "Readiness: clbsim health Alive → pod gate True", Panels: []panel{c}}
}

// rolloutFigure: the rollout's time against its floor, and the requests sent and failed.
func rolloutFigure(res rolloutResult) figure {
	perWave := rolloutReadyDelay + rolloutHealthNum*rolloutHealthEvery
	times := barChart{Title: "Time from rollout restart to settled, against the floor", Unit: unitSeconds, Groups: []barGroup{
		{Label: "rollout", Bars: []bar{{Value: res.Wall.Seconds(), Text: secondsText(res.Wall)}}},
		{Label: fmt.Sprintf("floor: %d waves × %v", res.Waves, perWave), Bars: []bar{{Value: res.Floor.Seconds(), Text: secondsText(res.Floor), Color: boundColor}}},
	}}
	traffic := barChart{Title: "Requests through the CLB data plane during the rollout", Unit: "requests", Note: "no data plane: no traffic was sent"}
	if res.DataPlane {
		traffic.Groups = []barGroup{
			{Label: "sent", Bars: []bar{{Value: float64(res.Sent)}}},
			{Label: "failed", Bars: []bar{{Value: float64(res.Failed), Color: refPalette[0]}}},
		}
	}
	return figure{
		Title:  fmt.Sprintf("Rolling update: %d replicas, maxSurge %d%%, maxUnavailable 0", res.Replicas, rolloutSurgePct),
		Panels: []panel{times, traffic},
	}
}

// budgetFigure: converge time and refused calls of each run, against the targets.
func budgetFigure(res budgetResult) figure {
	times := barChart{Title: fmt.Sprintf("Time to converge, %d bindings created at once", budgetLBs), Unit: unitSeconds}
	refused := barChart{Title: "Calls refused with RequestLimitExceeded", Unit: "% of all calls",
		Refs: []refLine{{Label: fmt.Sprintf("target ≤ %.0f%%", 100*budgetTargetRefused), Value: 100 * budgetTargetRefused}}}
	for _, r := range res.Runs {
		label := fmt.Sprintf("%s (%g QPS left)", r.Name, r.left())
		times.Groups = append(times.Groups, barGroup{Label: label, Bars: []bar{
			{Series: "converge", Value: r.Wall.Seconds(), Text: secondsText(r.Wall)},
			{Series: seriesFloor, Value: r.floor().Seconds(), Text: secondsText(r.floor()), Color: boundColor},
		}})
		share := 0.0
		if n := r.total(); n > 0 {
			share = 100 * float64(r.refused()) / float64(n)
		}
		refused.Groups = append(refused.Groups, barGroup{Label: label, Bars: []bar{
			{Value: share, Text: fmt.Sprintf("%.1f%% (%d of %d)", share, r.refused(), r.total())},
		}})
	}
	// The target is relative to the full-budget run, the first.
	if len(res.Runs) > 0 && res.Runs[0].Wall > 0 {
		bound := budgetTargetRatio * res.Runs[0].Wall.Seconds()
		times.Refs = []refLine{{Label: fmt.Sprintf("target: %.1f× the full budget's time = %.1f s", budgetTargetRatio, bound), Value: bound}}
	}
	return figure{Title: "Budget: sharing the account's rate limit with another client", Panels: []panel{times, refused}}
}

// delayFigure: the isolated changes' delays against the p50 target, and the 50-binding change;
// ok is false when the run measured neither.
func (rep report) delayFigure() (f figure, ok bool) {
	x := rep.Extras
	f.Title = fmt.Sprintf("The controller's own delay (manager: %s)", rep.Options.seedMode.label())
	if iso := x.Isolated; iso != nil {
		ms := make([]float64, 0, len(iso.Delays))
		for _, d := range iso.Delays {
			ms = append(ms, float64(d.Milliseconds()))
		}
		f.Panels = append(f.Panels, lineChart{
			Title: fmt.Sprintf("%d isolated changes on an idle controller: p50 %d ms, p90 %d ms, max %d ms",
				len(iso.Delays), iso.P50.Milliseconds(), iso.P90.Milliseconds(), iso.Max.Milliseconds()),
			XLabel:    "API write answered → first CLB write (ms)",
			XFromZero: true,
			YLabel:    "changes (%)",
			Series:    []lineSeries{{Name: "changes", Step: true, Points: cdf(ms)}},
			XRefs:     []refLine{{Label: fmt.Sprintf("target p50 ≤ %d ms (unstarved)", isolatedTarget.Milliseconds()), Value: float64(isolatedTarget.Milliseconds())}},
			YRefs:     []refLine{{Label: "50% of the changes", Value: 50}},
		})
	}
	if len(x.Change50) > 0 {
		c := barChart{Title: fmt.Sprintf("The %d-binding change (%d targets in, %d out): converged, floor and own delay",
			change50Bindings, change50Bindings*change50Replaced, change50Bindings*change50Replaced), Unit: "model seconds"}
		for _, ch := range x.Change50 {
			c.Groups = append(c.Groups, barGroup{Label: ch.Model + " model", Bars: []bar{
				{Series: "converged", Value: ch.Res.Wall.Seconds(), Text: fmt.Sprintf("%.2f s", ch.Res.Wall.Seconds())},
				{Series: seriesFloor, Value: ch.Floor.Wall.Seconds(), Text: fmt.Sprintf("%.2f s", ch.Floor.Wall.Seconds()), Color: boundColor},
				{Series: "own delay (first CLB write − last API write)", Value: ch.Res.ownDelay().Seconds(), Text: fmt.Sprintf("%+.3f s", ch.Res.ownDelay().Seconds())},
			}})
		}
		f.Panels = append(f.Panels, c)
	}
	return f, len(f.Panels) > 0
}

// seedFigure draws, per table and model, wall time against the row for the seed's published
// column, the seed strategy re-run here, our controller and the floor (log scale).
func (rep report) seedFigure() figure {
	f := figure{Title: fmt.Sprintf("The seed article's tables: wall time per row (manager: %s)", rep.Options.seedMode.label()), Columns: 2}
	series := []struct {
		name   string
		y      func(result) float64
		color  string
		dashed bool
	}{
		{"seed published", func(r result) float64 { return r.Row.SeedSeconds }, "#969696", false},
		{"seed strategy (here)", func(r result) float64 { return r.seedTime().Seconds() }, "#d62728", false},
		{"ours", func(r result) float64 { return r.Ours.Wall.Seconds() }, "#1f77b4", false},
		{"floor", func(r result) float64 { return r.Floor.Wall.Seconds() }, "#00a03c", true},
	}
	for _, m := range rep.Models {
		for _, table := range []int{1, 2} {
			rs := rep.rows(table, m.Name)
			if len(rs) == 0 {
				continue // -rows without the table's rows
			}
			c := lineChart{
				Title:  map[int]string{1: "Table 1: 200 rules, 1→N nodes", 2: "Table 2: 1→N rules, 50 nodes"}[table] + " — " + m.Name + " model",
				XLabel: map[int]string{1: "nodes", 2: "rules"}[table],
				YLabel: "seconds (log)",
				LogY:   true,
			}
			for _, s := range series {
				pts := make([]point, 0, len(rs))
				for _, r := range rs {
					x := float64(r.Row.Nodes)
					if table == 2 {
						x = float64(r.Row.Rules)
					}
					pts = append(pts, point{X: x, Y: s.y(r)})
				}
				c.Series = append(c.Series, lineSeries{Name: s.name, Color: s.color, Dashed: s.dashed, Points: pts})
			}
			f.Panels = append(f.Panels, c)
		}
	}
	return f
}
