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
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// Sections of results.md the seed scenario writes in its process modes, so that they do not
// replace the in-process tables (section scenarioSeed).
const (
	sectionSeedProcess = "seed-process"
	sectionSeedQuota   = "seed-quota"
)

// seedMode is where the seed scenario's manager runs: in the bench's process (the default), as
// its own process (the -manager binary with production flags), or as that process under a CPU
// quota (a cgroup).
type seedMode struct {
	process bool
	cpu     float64 // cores; 0 = no quota
}

func (m seedMode) isProcess() bool { return m.process || m.cpu > 0 }

// section is the results.md section of the mode.
func (m seedMode) section() string {
	switch {
	case m.cpu > 0:
		return sectionSeedQuota
	case m.process:
		return sectionSeedProcess
	}
	return scenarioSeed
}

// label names the mode in titles.
func (m seedMode) label() string {
	switch {
	case m.cpu > 0:
		return fmt.Sprintf("process, %g core", m.cpu)
	case m.process:
		return "process"
	}
	return "in process"
}

// chart is the file name of the mode's chart of the seed tables.
func (m seedMode) chart() string { return m.file("seed-tables") }

// delayChart is the file name of the mode's chart of the controller's own delay.
func (m seedMode) delayChart() string { return m.file("seed-delay") }

// file names a file of the mode: base.svg in process, base-process.svg, base-quota.svg.
func (m seedMode) file(base string) string {
	if s := m.section(); s != scenarioSeed {
		return base + "-" + strings.TrimPrefix(s, "seed-") + ".svg"
	}
	return base + ".svg"
}

// writeTarget is the bound on writes / lower bound: 1.05, and 2 under a CPU quota.
func (m seedMode) writeTarget() float64 {
	if m.cpu > 0 {
		return writeTargetStarved
	}
	return writeTarget
}

// setupNote is the report's bullet on the mode.
func (m seedMode) setupNote(o options) string {
	if !m.isProcess() {
		conc := "controller-runtime's default, 1"
		if o.concurrency > 0 {
			conc = fmt.Sprint(o.concurrency)
		}
		return fmt.Sprintf("- **Manager: in process** (this section's mode): the manager runs inside the bench's process, wired by test/bench/scenarios/ours.go "+
			"with the production durations of lbsync and MaxConcurrentReconciles %s (cmd/manager's default is 4). Run the same rows with "+
			"`-seed-process` (section `%s`) or `-manager-cpu 0.25` (section `%s`) to see the manager as its own process.\n", conc, sectionSeedProcess, sectionSeedQuota)
	}
	s := fmt.Sprintf("- **Manager: %s** (this section's mode): `%s` runs as its own process with production flags (`--leader-elect=false --enable-webhooks=false "+
		"--metrics-bind-address=0 --health-probe-bind-address=0`, everything else cmd/manager's defaults: --max-concurrent-reconciles 4, the default coalescing, "+
		"health polls, 20 QPS per action, binding policies enforced), against envtest's API server and clbsim in the bench's process; "+
		"real time (compression factor 1).", m.label(), o.managerBin)
	if m.cpu > 0 {
		s += fmt.Sprintf(" The manager process is placed right after its start in a CPU cgroup of its own (test/bench/scenarios/cpuquota.go) with a CFS quota of "+
			"%g core (quota = %g × period); the API server, etcd, clbsim and the bench are not limited. The cgroup's cpu.stat at the end of each control plane "+
			"is given below (throttled periods / periods): the quota bit when throttled periods > 0.", m.cpu, m.cpu)
	}
	return s + "\n"
}

// validateSeedMode refuses flags that do not fit the mode.
func validateSeedMode(o options) error {
	if !o.seedMode.isProcess() {
		return nil
	}
	if o.seedMode.cpu < 0 {
		return fmt.Errorf("-manager-cpu %g: want ≥ 0 cores", o.seedMode.cpu)
	}
	for model, f := range o.oursFactor {
		if f != 1 {
			return fmt.Errorf("the manager as a process (-seed-process, -manager-cpu) runs with production timers: -ours-compression-%s must be 1, not %g", model, f)
		}
	}
	if o.concurrency != 0 {
		return errors.New("the manager as a process (-seed-process, -manager-cpu) runs with production flags: leave -max-concurrent-reconciles at 0 (cmd/manager's default is 4)")
	}
	if _, err := os.Stat(o.managerBin); err != nil {
		return fmt.Errorf("the manager binary for -seed-process/-manager-cpu (-manager): %w", err)
	}
	return nil
}

// startSeedEnv starts one control plane for the seed rows: the manager in process, or the
// manager binary as a process, under a CPU quota when the mode has one.
func startSeedEnv(ctx context.Context, o options, factor float64) (*controllerEnv, error) {
	if !o.seedMode.isProcess() {
		return startControllerEnv(ctx, factor, o.concurrency)
	}
	var quota *cpuQuota
	if o.seedMode.cpu > 0 {
		var err error
		if quota, err = newCPUQuota(o.seedMode.cpu); err != nil {
			return nil, err
		}
	}
	pe, err := startProcEnv(ctx, o.managerBin, clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()})
	if err != nil {
		if quota != nil {
			quota.remove()
		}
		return nil, err
	}
	ce := &controllerEnv{srv: pe.srv, k8s: pe.k8s, factor: 1, proc: pe, quota: quota}
	if quota != nil {
		if err := quota.add(pe.cmd.Process.Pid); err != nil {
			ce.stop()
			return nil, err
		}
		logf("manager pid %d in %v", pe.cmd.Process.Pid, quota)
	}
	return ce, nil
}

// alive returns an error when the manager process has exited.
func (ce *controllerEnv) alive() error {
	if ce.proc == nil {
		return nil
	}
	return ce.proc.alive()
}

// procStats reads the manager process's CPU and memory and its cgroup's cpu.stat; ok is false
// for a manager in process.
func (ce *controllerEnv) procStats(model string) (envStats, bool) {
	if ce.proc == nil {
		return envStats{}, false
	}
	st := envStats{Model: model}
	var err error
	if st.Proc, err = ce.proc.stats(); err != nil {
		logf("manager process stats: %v", err)
	}
	if ce.quota != nil {
		st.Quota = ce.quota
		if st.CPUStat, err = ce.quota.stats(); err != nil {
			logf("cgroup cpu.stat: %v", err)
		}
	}
	return st, true
}

// stopProc stops the manager process and its control plane, then removes its cgroup.
func (ce *controllerEnv) stopProc() {
	ce.proc.stop()
	if ce.quota != nil {
		ce.quota.remove()
	}
}

// envStats is what one control plane's manager process used.
type envStats struct {
	Model   string
	Proc    procStats
	Quota   *cpuQuota
	CPUStat quotaStats
}

// sectionOrder is the order of results.md's sections: the scenarios, with the seed scenario's
// process sections right after its own.
func sectionOrder() []string {
	out := make([]string, 0, len(allScenarios)+2)
	for _, n := range allScenarios {
		out = append(out, n)
		if n == scenarioSeed {
			out = append(out, sectionSeedProcess, sectionSeedQuota)
		}
	}
	return out
}
