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

// Command bench reproduces the seed article's two performance tables against clbsim: the seed
// strategy (a baseline that lives only here), our controller running for real (envtest API
// server, manager, clbsim through the SDK), and the floor, under two latency models; and the
// other scenarios (scale, readiness, rollout, scale10, budget). Each scenario writes its section
// of bench/results.md and its chart beside it (bench/NAME.svg, charts.go). Run it with `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
)

type options struct {
	out            string
	baselineFactor float64
	oursFactor     map[string]float64
	rows           string
	concurrency    int
	// baselineRows are the rows where the seed strategy is re-run, per model; elsewhere only its
	// analytic time is given.
	baselineRows map[string]string
	// scenarios to run (seed, scale, readiness); managerBin is the manager binary the scale and
	// readiness scenarios run as a process.
	scenarios       []string
	managerBin      string
	rolloutReplicas int32
	// seedMode is where the seed scenario's manager runs (seedmode.go); change50 and
	// isolatedChanges are its extra measurements (delay.go).
	seedMode        seedMode
	change50        bool
	isolatedChanges int
}

func main() {
	var o options
	var oursCal, oursFixed float64
	flag.StringVar(&o.out, "out", "bench", "directory for results.md and the scenarios' charts (*.svg)")
	flag.Float64Var(&o.baselineFactor, "baseline-compression", 20, "time compression of the seed strategy's runs (every latency divided by it)")
	flag.Float64Var(&oursCal, "ours-compression-calibrated", 1, "time compression of our controller's runs under the calibrated model")
	flag.Float64Var(&oursFixed, "ours-compression-fixed", 1, "time compression of our controller's runs under the fixed-cost model")
	var seedCal, seedFixed string
	flag.StringVar(&seedCal, "seed-rows-calibrated", "", "rows where the seed strategy is re-run under the calibrated model (empty = all)")
	flag.StringVar(&seedFixed, "seed-rows-fixed", "1,6", "rows where the seed strategy is re-run under the fixed-cost model (empty = all, none = none)")
	flag.IntVar(&o.concurrency, "max-concurrent-reconciles", 0, "manager-wide MaxConcurrentReconciles for an experiment; 0 = the production wiring (cmd/manager's default, 4)")
	flag.StringVar(&o.rows, "rows", "", "comma-separated row numbers to run (1-5 table 1, 6-9 table 2); empty = all")
	var scenarios string
	flag.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	flag.StringVar(&o.managerBin, "manager", "bin/manager", "manager binary for the scale and readiness scenarios (make bench builds it)")
	var replicas int
	flag.IntVar(&replicas, "rollout-replicas", 100, "replicas of the rollout scenario")
	flag.BoolVar(&o.seedMode.process, "seed-process", false, "seed scenario: run the manager binary (-manager) as its own process with production flags, not in the bench's process (results section "+sectionSeedProcess+")")
	flag.Float64Var(&o.seedMode.cpu, "manager-cpu", 0, "seed scenario: run the manager binary as its own process in a CPU cgroup with this quota in cores, e.g. 0.25 (needs root; results section "+sectionSeedQuota+"); 0 = no quota")
	flag.BoolVar(&o.change50, "seed-change50", true, "seed scenario: also time the 50-binding change (50 bindings on one load balancer, 2 endpoints replaced in each) under each model")
	flag.IntVar(&o.isolatedChanges, "isolated-changes", 20, "seed scenario: single changes timed on an idle controller (API write → first CLB write); 0 = none")
	flag.Parse()
	o.rolloutReplicas = int32(replicas)
	var err error
	if o.scenarios, err = parseScenarios(scenarios); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	o.oursFactor = map[string]float64{calibratedName: oursCal, fixedName: oursFixed}
	o.baselineRows = map[string]string{calibratedName: seedCal, fixedName: seedFixed}
	// The controller's own logs would drown the report; errors still go to stderr.
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	klog.SetLogger(ctrl.Log)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is everything measured for one row under one model.
type result struct {
	Row      row
	Model    string
	Baseline baselineResult
	Ours     oursResult
	Floor    Floor
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if slices.Contains(o.scenarios, scenarioSeed) {
		if err := runSeed(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioScale) {
		if err := runScaleScenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioReadiness) {
		if err := runReadinessScenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioRollout) {
		if err := runRolloutScenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioScale10) {
		if err := runScale10Scenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioBudget) {
		if err := runBudgetScenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioShares) {
		if err := runSharesScenario(ctx, o); err != nil {
			return err
		}
	}
	if slices.Contains(o.scenarios, scenarioSlowStart) {
		if err := runSlowStartScenario(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// runSeed reproduces the seed article's two tables.
func runSeed(ctx context.Context, o options) error {
	if err := validateSeedMode(o); err != nil {
		return err
	}
	rows, err := selectRows(seedRows(), o.rows)
	if err != nil {
		return err
	}
	cal, calErr := calibrate(seedRows())
	models := []Model{cal, fixedModel()}
	logf("calibrated model (worst error on table 1 %.1f%%): %v", 100*calErr, cal)
	logf("fixed-cost model: %v", fixedModel())

	var results []result
	for _, m := range models {
		for _, r := range rows {
			results = append(results, result{Row: r, Model: m.Name, Floor: m.floor(r.newTargets(), 1)})
		}
	}
	at := func(model string, r row) *result {
		for i := range results {
			if results[i].Model == model && results[i].Row == r {
				return &results[i]
			}
		}
		return nil
	}
	started := time.Now()

	// The seed strategy, in one clbsim.
	dir, err := os.MkdirTemp("", "clb-bench-seed-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := simtest.Start(clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()}, dir)
	if err != nil {
		return err
	}
	for _, m := range models {
		for _, r := range rows {
			at(m.Name, r).Baseline = baselineResult{Predicted: m.seedPredict(r)}
			at(m.Name, r).Baseline.PredWrites, at(m.Name, r).Baseline.PredReads = m.seedCalls(r)
		}
		seedRows, err := selectRows(rows, o.baselineRows[m.Name])
		if err != nil {
			return err
		}
		for _, r := range seedRows {
			res, err := runBaseline(ctx, srv, m, r, o.baselineFactor)
			if err != nil {
				srv.Close()
				return fmt.Errorf("seed strategy, %s model, %s: %w", m.Name, r.label(), err)
			}
			res.PredWrites, res.PredReads = at(m.Name, r).Baseline.PredWrites, at(m.Name, r).Baseline.PredReads
			at(m.Name, r).Baseline = res
			logf("seed strategy  %-10s %-28s %8.1fs (predicted %8.1fs, seed %8.1fs) writes %5d reads %5d",
				m.Name, r.label(), res.Wall.Seconds(), res.Predicted.Seconds(), r.SeedSeconds, res.Calls.writes(), res.Calls.reads())
		}
	}
	srv.Close()

	// Our controller, one control plane per model.
	var extras seedExtras
	for _, m := range models {
		factor := o.oursFactor[m.Name]
		ce, err := startSeedEnv(ctx, o, factor)
		if err != nil {
			return err
		}
		// The 50-binding change and the isolated changes run first, on a control plane that holds
		// nothing else: the rows leave thousands of bindings behind, whose polls and resyncs would
		// share the manager's CPU with the change measured.
		if err := extras.run(ctx, o, ce, m); err != nil {
			ce.stop()
			return err
		}
		for i, r := range rows {
			res, err := ce.runOurs(ctx, m, r, i)
			if err != nil {
				ce.stop()
				return fmt.Errorf("our controller, %s model, %s: %w", m.Name, r.label(), err)
			}
			at(m.Name, r).Ours = res
			fl := at(m.Name, r).Floor
			logf("our controller %-10s %-28s %8.2fs (floor %7.2fs, %.2f×) writes %4d (floor %4d) reads %3d, trailing writes %d",
				m.Name, r.label(), res.Wall.Seconds(), fl.Wall.Seconds(), res.Wall.Seconds()/fl.Wall.Seconds(),
				res.Calls.writes(), fl.Writes, res.Calls.reads(), res.Trailing.writes())
		}
		extras.usage(ce, m)
		ce.stop()
	}

	rep := report{
		Models: models, CalErr: calErr, Results: results, Options: o,
		Started: started, Took: time.Since(started), Extras: extras,
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), o.seedMode.section(), rep.markdown()); err != nil {
		return err
	}
	charts := []string{o.seedMode.chart()}
	if err := writeChart(o.out, o.seedMode.chart(), rep.seedFigure()); err != nil {
		return err
	}
	if f, ok := rep.delayFigure(); ok {
		if err := writeChart(o.out, o.seedMode.delayChart(), f); err != nil {
			return err
		}
		charts = append(charts, o.seedMode.delayChart())
	}
	logf("wrote %s (section %s) and %s in %v", filepath.Join(o.out, "results.md"), o.seedMode.section(), strings.Join(charts, ", "), rep.Took.Round(time.Second))
	return nil
}

// selectRows picks, from rows, the seed rows numbered in spec (1-5 table 1, 6-9 table 2); empty
// means all, "none" none.
func selectRows(rows []row, spec string) ([]row, error) {
	if spec == "" {
		return rows, nil
	}
	all := seedRows()
	var out []row
	if spec == "none" {
		return out, nil
	}
	for f := range strings.SplitSeq(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > len(all) {
			return nil, fmt.Errorf("%q is not a row number 1-%d", f, len(all))
		}
		if slices.Contains(rows, all[n-1]) {
			out = append(out, all[n-1])
		}
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
