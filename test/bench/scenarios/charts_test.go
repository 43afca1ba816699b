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
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svgDoc is what the tests read back from a chart.
type svgDoc struct {
	texts   []string            // character data of every <text>, in order
	classed map[string][]string // the same by class attribute
	byClass map[string]int      // elements by class attribute
	attrs   map[string][]elem   // elements by class, with their attributes
	root    string
}

type elem map[string]string

// parseSVG decodes s with encoding/xml, failing the test if it is not well-formed.
func parseSVG(t *testing.T, s string) svgDoc {
	t.Helper()
	doc := svgDoc{byClass: map[string]int{}, attrs: map[string][]elem{}, classed: map[string][]string{}}
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	var inText []bool
	var cur strings.Builder
	var curClass string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if doc.root == "" {
				doc.root = tok.Name.Local
			}
			e := elem{"name": tok.Name.Local}
			for _, a := range tok.Attr {
				e[a.Name.Local] = a.Value
			}
			if c := e["class"]; c != "" {
				doc.byClass[c]++
				doc.attrs[c] = append(doc.attrs[c], e)
			}
			inText = append(inText, tok.Name.Local == "text")
			if tok.Name.Local == "text" {
				cur.Reset()
				curClass = e["class"]
			}
		case xml.CharData:
			if len(inText) > 0 && inText[len(inText)-1] {
				cur.Write(tok)
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				doc.texts = append(doc.texts, cur.String())
				doc.classed[curClass] = append(doc.classed[curClass], cur.String())
			}
			inText = inText[:len(inText)-1]
		}
	}
	if doc.root != "svg" {
		t.Fatalf("root element %q, want svg", doc.root)
	}
	// No coordinate or printed value may come from a division by zero.
	for _, bad := range []string{"NaN", "Inf"} {
		if strings.Contains(s, bad) {
			t.Errorf("chart contains %q", bad)
		}
	}
	return doc
}

func (d svgDoc) hasText(want string) bool { return slices.Contains(d.texts, want) }

// barsOf counts the bars of a series.
func (d svgDoc) barsOf(series string) int {
	n := 0
	for _, e := range d.attrs["bar"] {
		if e["data-series"] == series {
			n++
		}
	}
	return n
}

func calls(byAction map[string]int) callCounts {
	return callCounts{ByAction: byAction, Errors: map[string]int{}}
}

// Canned results, shaped as bench/results.md reports them.
var (
	cannedScale = scaleResult{
		Phases: []scalePhase{
			{Name: "create: 50 LBs × 20 listeners, 10000 endpoints at once", Targets: 10000, Wall: 47200 * time.Millisecond, Issue: 18 * time.Second,
				Calls:      calls(map[string]int{"BatchRegisterTargets": 63, "DescribeListeners": 50, "DescribeLoadBalancers": 50, "DescribeTargets": 63, "DescribeTaskStatus": 13, "DescribeQuota": 1, "DescribeTargetHealth": 123}),
				WriteBound: 50, ReadBound: 50},
			{Name: "churn: 1000 endpoints replaced (10%)", Targets: 2000, Wall: 47100 * time.Millisecond, Issue: 16500 * time.Millisecond,
				Calls:      calls(map[string]int{"BatchRegisterTargets": 129, "BatchDeregisterTargets": 129, "DescribeTargets": 54, "DescribeTaskStatus": 374}),
				WriteBound: 100, ReadBound: 50},
		},
		SteadyWindow: 3 * time.Minute,
		Steady:       calls(map[string]int{"DescribeTargets": 153, "DescribeTargetHealth": 36}),
	}
	cannedScale10 = scale10Result{
		LBs: 50, Bindings: 1000, Pods: 10000, WriteBound: 50, ReadBound: 50, StartReadBound: 53,
		Create:       scale10Phase{Wall: 95700 * time.Millisecond, Calls: calls(map[string]int{"BatchRegisterTargets": 142, "DescribeListeners": 50, "DescribeLoadBalancers": 50, "DescribeTargets": 185, "DescribeTaskStatus": 92, "DescribeQuota": 1})},
		Restart:      scale10Phase{Wall: 48100 * time.Millisecond, Calls: calls(map[string]int{"DescribeListeners": 50, "DescribeLoadBalancers": 50, "DescribeTargets": 211})},
		SteadyWindow: time.Hour,
		Steady:       scale10Phase{Calls: calls(map[string]int{"DescribeListeners": 100, "DescribeLoadBalancers": 100, "DescribeTargetHealth": 232, "DescribeTargets": 2982})},
	}
	cannedRollout = rolloutResult{Replicas: 100, Waves: 4, Wall: 31900 * time.Millisecond, Floor: 16 * time.Second, Sent: 1591, Failed: 3, DataPlane: true}
	cannedBudget  = budgetResult{Runs: []budgetRun{
		{Name: "full budget", Wall: 21 * time.Second, Calls: calls(map[string]int{"BatchRegisterTargets": 400, "DescribeListeners": 400, "DescribeLoadBalancers": 400, "DescribeTargets": 400})},
		{Name: "10 of 20 QPS spent by another client", ForeignQPS: 10, Wall: 40900 * time.Millisecond,
			Calls: callCounts{ByAction: map[string]int{"BatchRegisterTargets": 401, "DescribeListeners": 401, "DescribeLoadBalancers": 406, "DescribeTargets": 402},
				Errors: map[string]int{"DescribeLoadBalancers/RequestLimitExceeded": 6, "DescribeTargets/RequestLimitExceeded": 2}}},
	}}
)

func cannedReadiness(n int) readinessResult {
	res := readinessResult{Pods: n, TargetP99: readyTarget, FastPoll: 2 * time.Second}
	for i := range n {
		res.Latencies = append(res.Latencies, time.Duration(500+10*i)*time.Millisecond)
	}
	res.P50, res.P99, res.Max = percentile(res.Latencies, 0.5), percentile(res.Latencies, 0.99), res.Latencies[n-1]
	return res
}

func cannedSeedReport(mode seedMode) report {
	cal, fixed := Model{Name: calibratedName}, fixedModel()
	rep := report{Models: []Model{cal, fixed}, Options: options{seedMode: mode}}
	for _, m := range rep.Models {
		for i, r := range seedRows() {
			res := result{Row: r, Model: m.Name, Floor: Floor{Writes: 1, Reads: 1, Wall: time.Duration(i+1) * 300 * time.Millisecond}}
			res.Baseline = baselineResult{Predicted: time.Duration(r.SeedSeconds * float64(time.Second))}
			res.Ours = oursResult{Wall: time.Duration(i+2) * time.Second, Issue: time.Second, FirstCLB: 1500 * time.Millisecond}
			rep.Results = append(rep.Results, res)
		}
	}
	delays := []time.Duration{59, 13, 4, 8, 12, 9, 12, 8, 11, 7, 9, 9, 10, 15, 13, 8, 13, 10, 10, 27}
	iso := isolatedResult{Converge: 11 * time.Millisecond}
	for _, d := range delays {
		iso.Delays = append(iso.Delays, d*time.Millisecond)
	}
	sorted := slices.Sorted(slices.Values(iso.Delays))
	iso.P50, iso.P90, iso.Max = percentile(sorted, 0.5), percentile(sorted, 0.9), sorted[len(sorted)-1]
	rep.Extras.Isolated = &iso
	for _, m := range rep.Models {
		rep.Extras.Change50 = append(rep.Extras.Change50, change50Result{Model: m.Name, Floor: m.change50Floor(),
			Res: oursResult{Wall: 1580 * time.Millisecond, Issue: 900 * time.Millisecond, FirstCLB: 300 * time.Millisecond, Calls: calls(map[string]int{"BatchRegisterTargets": 1, "BatchDeregisterTargets": 1})}})
	}
	return rep
}

func delayFigureOf(rep report) figure {
	f, _ := rep.delayFigure()
	return f
}

func TestChartScenarios(t *testing.T) {
	cases := []struct {
		name       string
		fig        figure
		title      string
		bars       map[string]int // bars per series ("" = unnamed)
		points     int
		refs       int
		panels     int
		values     []string // printed on the bars, in order
		texts      []string // labels that must appear
		refLabels  []string
		wantLegend []string
		legends    int // legend entries in all the panels
	}{
		{
			name: "scale", fig: scaleFigure(cannedScale), title: "Scale: 50 LBs, 1000 bindings, 10000 pod endpoints",
			bars:   map[string]int{"converge": 2, "of which writing to the API server": 2, "ours": 4, "lower bound": 4},
			panels: 2, legends: 4,
			values: []string{"47.2 s", "18.0 s", "47.1 s", "16.5 s", "63", "50", "177", "50", "258", "100", "428", "50"},
			texts:  []string{"create", "churn", "create: writes", "churn: sync reads", "seconds", "calls"},
		},
		{
			name: "scale10", fig: scale10Figure(cannedScale10), title: "Scale ×10 with pods: 50 LBs, 1000 bindings, 10000 Pod objects",
			bars: map[string]int{"time": 2, "floor": 2, "ours": 4, "lower bound": 4, "": 4},
			refs: 1, panels: 3, legends: 4,
			values:    []string{"95.7 s", "3.0 s", "48.1 s", "3.0 s", "142", "50", "378", "54", "0", "0", "311", "53", "1.7", "1.7", "3.9", "49.7"},
			texts:     []string{"DescribeListeners", "DescribeTargets", "DescribeTargetHealth", "restart: writes", "calls per minute"},
			refLabels: []string{"drift bound: 50 DescribeTargets a minute"},
		},
		{
			name: "readiness", fig: readinessFigure(cannedReadiness(200)), title: "Readiness: clbsim health Alive → pod gate True",
			points: 200, refs: 2, panels: 1,
			texts:     []string{"Alive → gate True over 200 pods: p50 1.49 s, p99 2.47 s, max 2.49 s"},
			refLabels: []string{"target p99 ≤ 3.0 s", "99% of the pods"},
		},
		{
			name: "rollout", fig: rolloutFigure(cannedRollout), title: "Rolling update: 100 replicas, maxSurge 25%, maxUnavailable 0",
			bars:   map[string]int{"": 4},
			panels: 2,
			values: []string{"31.9 s", "16.0 s", "1591", "3"},
			texts:  []string{"rollout", "floor: 4 waves × 4s", "sent", "failed", "requests"},
		},
		{
			name: "rollout without a data plane", fig: rolloutFigure(rolloutResult{Replicas: 10, Waves: 3, Wall: 12 * time.Second, Floor: 12 * time.Second}),
			title: "Rolling update: 10 replicas, maxSurge 25%, maxUnavailable 0",
			bars:  map[string]int{"": 2}, panels: 2,
			values: []string{"12.0 s", "12.0 s"},
			texts:  []string{"no data plane: no traffic was sent"},
		},
		{
			name: "budget", fig: budgetFigure(cannedBudget), title: "Budget: sharing the account's rate limit with another client",
			bars: map[string]int{"converge": 2, "floor": 2, "": 2},
			refs: 2, panels: 2,
			values:     []string{"21.0 s", "20.0 s", "40.9 s", "40.1 s", "0.0% (0 of 1600)", "0.5% (8 of 1610)"},
			texts:      []string{"full budget (20 QPS left)", "10 of 20 QPS spent by another client (10 QPS left)", "% of all calls"},
			refLabels:  []string{"target: 2.2× the full budget's time = 46.2 s", "target ≤ 5%"},
			wantLegend: []string{"converge", "floor"}, legends: 2,
		},
		{
			name: "shares", fig: sharesFigure(sharesResult{Steps: []sharesStep{
				{Stable: 50, Canary: 50, Wall: 1200 * time.Millisecond, Calls: callCounts{ByAction: map[string]int{"BatchModifyTargetWeight": 2}}},
				{Stable: 0, Canary: 100, Wall: 900 * time.Millisecond, Calls: callCounts{ByAction: map[string]int{"BatchModifyTargetWeight": 1}}},
			}}), title: "Traffic shares: a canary moving on 1,000 backends",
			bars: map[string]int{"": 4}, refs: 1, panels: 2,
			values:    []string{"1.2 s", "0.9 s", "2", "1"},
			texts:     []string{"50/50", "0/100", "calls"},
			refLabels: []string{"bound ⌈1000/500⌉ = 2"},
		},
		{
			name: "slowstart", fig: slowStartFigure(slowStartResult{Runs: []slowStartRun{
				{Wall: 1500 * time.Millisecond, Weights: []int64{10}, Calls: callCounts{ByAction: map[string]int{"BatchRegisterTargets": 1}}},
				{SlowStart: true, Wall: 41 * time.Second, Weights: []int64{2, 4, 6, 8, 10},
					Calls: callCounts{ByAction: map[string]int{"BatchRegisterTargets": 1, "BatchModifyTargetWeight": 4}}},
			}}), title: "Slow start: 500 backends joining a listener of 500",
			bars: map[string]int{"": 6}, panels: 2,
			values: []string{"1.5 s", "41.0 s", "1 register", "0 weight", "1 register", "4 weight"},
			texts:  []string{"no slow start", "slow start 40 s", "calls"},
		},
		{
			name: "delay", fig: delayFigureOf(cannedSeedReport(seedMode{})), title: "The controller's own delay (manager: in process)",
			bars:   map[string]int{"converged": 2, "floor": 2, "own delay (first CLB write − last API write)": 2},
			points: 20, refs: 2, panels: 2,
			values:     []string{"1.58 s", "0.20 s", "-0.600 s", "1.58 s", "0.90 s", "-0.600 s"},
			texts:      []string{"20 isolated changes on an idle controller: p50 10 ms, p90 15 ms, max 59 ms", "calibrated model", "fixed model", "changes (%)"},
			refLabels:  []string{"target p50 ≤ 250 ms (unstarved)", "50% of the changes"},
			wantLegend: []string{"converged", "floor", "own delay (first CLB write − last API write)"}, legends: 3,
		},
		{
			name: "seed tables", fig: cannedSeedReport(seedMode{}).seedFigure(), title: "The seed article's tables: wall time per row (manager: in process)",
			// 2 models × (5 rows of table 1 + 4 of table 2) × 4 series.
			points: 2 * 9 * 4, panels: 4,
			texts:      []string{"Table 1: 200 rules, 1→N nodes — calibrated model", "Table 2: 1→N rules, 50 nodes — fixed model", "seconds (log)", "nodes", "rules", "1", "10", "100"},
			wantLegend: []string{"seed published", "seed strategy (here)", "ours", "floor"}, legends: 4 * 4,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := parseSVG(t, tc.fig.svg())
			if doc.byClass["title"] != 1 || !doc.hasText(tc.title) {
				t.Errorf("title: want one %q; texts %q", tc.title, doc.texts)
			}
			if got := doc.byClass["panel"]; got != tc.panels {
				t.Errorf("panels: got %d, want %d", got, tc.panels)
			}
			want := 0
			for series, n := range tc.bars {
				want += n
				if got := doc.barsOf(series); got != n {
					t.Errorf("bars of series %q: got %d, want %d", series, got, n)
				}
			}
			if got := doc.byClass["bar"]; got != want {
				t.Errorf("bars: got %d, want %d", got, want)
			}
			// Every bar has its value printed beside it.
			if got := doc.classed["value"]; !slices.Equal(got, tc.values) {
				t.Errorf("values printed on the bars:\n got %q\nwant %q", got, tc.values)
			}
			if len(tc.values) != want {
				t.Errorf("bad case: %d values for %d bars", len(tc.values), want)
			}
			if got := doc.byClass["point"]; got != tc.points {
				t.Errorf("points: got %d, want %d", got, tc.points)
			}
			if got := doc.byClass["ref"]; got != tc.refs {
				t.Errorf("reference lines: got %d, want %d", got, tc.refs)
			}
			if got := doc.byClass["reflabel"]; got != tc.refs {
				t.Errorf("reference labels: got %d, want %d", got, tc.refs)
			}
			for _, s := range slices.Concat(tc.texts, tc.refLabels, tc.wantLegend) {
				if !doc.hasText(s) {
					t.Errorf("no text %q; texts %q", s, doc.texts)
				}
			}
			if got := doc.byClass["legend"]; got != tc.legends {
				t.Errorf("legend entries: got %d, want %d", got, tc.legends)
			}
		})
	}
}

// A measured bar longer than its bound is drawn longer; a reference line sits where its value
// maps on the same axis as the bars.
func TestChartGeometry(t *testing.T) {
	f := figure{Title: "geometry", Panels: []panel{barChart{Title: "p", Unit: "s",
		Groups: []barGroup{{Label: "a", Bars: []bar{{Series: "x", Value: 10}, {Series: "y", Value: 5}, {Series: "z", Value: -5}}}},
		Refs:   []refLine{{Label: "ref", Value: 10}},
	}}}
	doc := parseSVG(t, f.svg())
	bars := doc.attrs["bar"]
	if len(bars) != 3 {
		t.Fatalf("bars: got %d, want 3", len(bars))
	}
	width := func(e elem) float64 { v, _ := strconv.ParseFloat(e["width"], 64); return v }
	x := func(e elem) float64 { v, _ := strconv.ParseFloat(e["x"], 64); return v }
	if w10, w5 := width(bars[0]), width(bars[1]); w10 < 1.9*w5 || w10 > 2.1*w5 {
		t.Errorf("bar of 10 is %.1f wide, bar of 5 %.1f: want twice", w10, w5)
	}
	// The negative bar ends at zero, where the positive ones start.
	if neg, pos := bars[2], bars[0]; x(neg)+width(neg)-x(pos) > 0.2 || x(neg)+width(neg)-x(pos) < -0.2 {
		t.Errorf("negative bar [%v, %v] does not end at zero (%v)", x(neg), x(neg)+width(neg), x(pos))
	}
	ref := doc.attrs["ref"][0]
	if rx, _ := strconv.ParseFloat(ref["x1"], 64); rx-(x(bars[0])+width(bars[0])) > 0.2 || rx-(x(bars[0])+width(bars[0])) < -0.2 {
		t.Errorf("reference line at %v, want at the end of the bar of the same value (%v)", rx, x(bars[0])+width(bars[0]))
	}
	for _, want := range []string{"10", "5", "-5", "ref"} {
		if !doc.hasText(want) {
			t.Errorf("no text %q; texts %q", want, doc.texts)
		}
	}
}

// Zero, missing and non-finite values: no panic, no division by zero, a well-formed chart.
func TestChartZeroAndMissing(t *testing.T) {
	cases := []struct {
		name  string
		fig   func() figure
		texts []string
	}{
		{"scale zero", func() figure { return scaleFigure(scaleResult{}) }, []string{"no data"}},
		{"scale zero phases", func() figure { return scaleFigure(scaleResult{Phases: []scalePhase{{Name: "create"}, {}}}) }, []string{"create", "0.0 s"}},
		{"scale10 zero", func() figure { return scale10Figure(scale10Result{}) }, []string{"no steady window", "0.0 s"}},
		{"readiness zero", func() figure { return readinessFigure(readinessResult{}) }, []string{"no data"}},
		{"readiness one pod", func() figure { return readinessFigure(cannedReadiness(1)) }, nil},
		{"rollout zero", func() figure { return rolloutFigure(rolloutResult{}) }, []string{"no data plane: no traffic was sent"}},
		{"budget zero", func() figure { return budgetFigure(budgetResult{}) }, []string{"no data"}},
		{"budget zero run", func() figure { return budgetFigure(budgetResult{Runs: []budgetRun{{Name: "full budget"}}}) }, []string{"0.0% (0 of 0)"}},
		{"shares nothing", func() figure { return sharesFigure(sharesResult{}) }, []string{"no data"}},
		{"slowstart nothing", func() figure { return slowStartFigure(slowStartResult{}) }, []string{"no data"}},
		{"delay nothing", func() figure { return delayFigureOf(report{}) }, []string{"no data"}},
		{"delay one change", func() figure {
			return delayFigureOf(report{Extras: seedExtras{Isolated: &isolatedResult{Delays: []time.Duration{-3 * time.Millisecond}}}})
		}, []string{"target p50 ≤ 250 ms (unstarved)"}},
		{"seed tables nothing", func() figure { return report{}.seedFigure() }, []string{"no data"}},
		{"seed tables zero times", func() figure {
			rep := report{Models: []Model{{Name: fixedName}}, Results: []result{{Row: seedRows()[0], Model: fixedName}}}
			return rep.seedFigure()
		}, nil},
		{"non-finite values", func() figure {
			return figure{Title: "nan", Panels: []panel{
				barChart{Title: "b", Groups: []barGroup{{Label: "g", Bars: []bar{{Value: 0.0 / zero()}, {Value: 1 / zero()}}}}, Refs: []refLine{{Label: "r", Value: -1 / zero()}}},
				lineChart{Title: "l", LogY: true, Series: []lineSeries{{Points: []point{{X: 1 / zero(), Y: 0}, {X: 0, Y: -1}}}}},
			}}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := parseSVG(t, tc.fig().svg())
			for _, s := range tc.texts {
				if !doc.hasText(s) {
					t.Errorf("no text %q; texts %q", s, doc.texts)
				}
			}
		})
	}
}

// zero is 0 at run time, for divisions the compiler would refuse.
func zero() float64 { return 0 }

// Each scenario's section links its chart by the file name its run writes.
func TestChartLinkedFromSections(t *testing.T) {
	now, took := time.Now(), time.Minute
	rep := cannedSeedReport(seedMode{process: true, cpu: 0.25})
	cases := []struct {
		name, md, file string
	}{
		{"scale", scaleMarkdown(cannedScale, now, took), "scale.svg"},
		{"scale10", scale10Markdown(cannedScale10, now, took), "scale10.svg"},
		{"readiness", readinessMarkdown(cannedReadiness(10), now, took), "readiness.svg"},
		{"rollout", rolloutMarkdown(cannedRollout, now, took), "rollout.svg"},
		{"budget", budgetMarkdown(cannedBudget, now, took), "budget.svg"},
		{"seed tables", rep.markdown(), "seed-tables-quota.svg"},
		{"seed delay", rep.markdown(), "seed-delay-quota.svg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var found bool
			for line := range strings.SplitSeq(tc.md, "\n") {
				if strings.HasPrefix(line, "![") && strings.HasSuffix(line, "]("+tc.file+")") {
					found = true
				}
			}
			if !found {
				t.Errorf("no markdown image line for %s", tc.file)
			}
		})
	}
	if got := (report{}).extrasMarkdown(); strings.Contains(got, "seed-delay") {
		t.Errorf("a run without isolated changes or the 50-binding change links a delay chart:\n%s", got)
	}
}

// A re-run replaces the section and its link; the chart is written next to results.md.
func TestChartWrittenBesideResults(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "results.md")
	for range 2 {
		if err := writeSection(md, scenarioRollout, rolloutMarkdown(cannedRollout, time.Now(), time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := writeChart(dir, chartFile(scenarioRollout), rolloutFigure(cannedRollout)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "](rollout.svg)"); n != 1 {
		t.Errorf("results.md links rollout.svg %d times, want 1", n)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "rollout.svg"))
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, string(svg))
}
