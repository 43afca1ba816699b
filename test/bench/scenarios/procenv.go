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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const benchVPC = "vpc-1a2b3c4d"

// procEnv is envtest's API server, an in-process clbsim and the manager binary running as its
// own process with production flags, so that its memory and CPU can be read from /proc.
type procEnv struct {
	env     *envtest.Environment
	cfg     *rest.Config
	srv     *simtest.Server
	k8s     client.Client
	dir     string
	cmd     *exec.Cmd
	exited  chan error
	logPath string
	// kubeconfig is the manager's, kept to start it again.
	kubeconfig string
	// managerEnv is added to the manager's environment.
	managerEnv []string
}

func startProcEnv(ctx context.Context, managerBin string, simOpts clbsim.Options) (*procEnv, error) {
	env, err := testenv.New()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	pe := &procEnv{env: env}
	ok := false
	defer func() {
		if !ok {
			pe.stop()
		}
	}()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	pe.cfg = cfg
	if pe.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	if pe.dir, err = os.MkdirTemp("", "clb-bench-proc-"); err != nil {
		return nil, err
	}
	// The manager validates the VPC id's form; simtest's default does not pass it.
	simOpts.VpcID = benchVPC
	if pe.srv, err = simtest.Start(simOpts, pe.dir); err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "bench-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	pe.kubeconfig = filepath.Join(pe.dir, "kubeconfig")
	if err := os.WriteFile(pe.kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	pe.logPath = filepath.Join(pe.dir, "manager.log")
	// Without a binary the caller starts the manager later, with startManager.
	if managerBin != "" {
		if err := pe.startManager(ctx, managerBin); err != nil {
			return nil, err
		}
	}
	ok = true
	return pe, nil
}

// startManager starts the manager with production flags, then extraFlags (later flags win). A
// manager started again appends to the same log.
func (pe *procEnv) startManager(ctx context.Context, managerBin string, extraFlags ...string) error {
	logFile, err := os.OpenFile(pe.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// Production flags: group commit (no fixed window), health polls and 20 QPS per action.
	args := append([]string{
		"--leader-elect=false", "--enable-webhooks=false", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--region=" + simtest.Region, "--vpc-id=" + benchVPC, "--cluster-id=" + clusterID,
		"--clb-endpoint=" + pe.srv.Endpoint, "--clb-scheme=HTTP", "--credentials-dir=" + pe.dir}, extraFlags...)
	pe.cmd = exec.CommandContext(ctx, managerBin, args...)
	pe.cmd.Env = append(append(os.Environ(), "KUBECONFIG="+pe.kubeconfig), pe.managerEnv...)
	pe.cmd.Stdout, pe.cmd.Stderr = logFile, logFile
	if err := pe.cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", managerBin, err)
	}
	exited := make(chan error, 1)
	pe.exited = exited
	go func() { exited <- pe.cmd.Wait(); _ = logFile.Close() }()
	return nil
}

// alive returns an error when the manager has exited.
func (pe *procEnv) alive() error {
	select {
	case err := <-pe.exited:
		pe.exited <- err
		log, _ := os.ReadFile(pe.logPath)
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		return fmt.Errorf("the manager exited (%v); end of its log:\n%s", err, log)
	default:
		return nil
	}
}

// procStats is the manager's peak RSS and CPU time so far.
type procStats struct {
	PeakRSSKiB int64
	CPU        time.Duration
}

func (pe *procEnv) stats() (procStats, error) {
	var st procStats
	pid := pe.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if kib, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(kib)
			if len(f) > 0 {
				st.PeakRSSKiB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name (which may hold spaces) start at field 3 (state).
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return st, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	const clkTck = 100                          // sysconf(_SC_CLK_TCK) on linux/amd64
	st.CPU = time.Duration(utime+stime) * time.Second / clkTck
	return st, nil
}

func (pe *procEnv) stop() {
	pe.stopManager()
	if pe.srv != nil {
		pe.srv.Close()
	}
	if pe.env != nil {
		_ = pe.env.Stop()
	}
	if pe.dir != "" {
		_ = os.RemoveAll(pe.dir)
	}
}

// stopManager stops the manager (SIGTERM, then SIGKILL after 15 s); startManager may start it again.
func (pe *procEnv) stopManager() {
	if pe.cmd == nil || pe.cmd.Process == nil {
		return
	}
	_ = pe.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-pe.exited:
	case <-time.After(15 * time.Second):
		_ = pe.cmd.Process.Kill()
		err = <-pe.exited
	}
	pe.exited <- err // alive keeps reporting the exit
	if err != nil {
		logf("manager stopped: %v", err)
	}
	pe.cmd = nil
}

// callsPerMinute counts calls by action during d, ignoring nothing.
func callsDuring(ctx context.Context, sim *clbsim.Sim, d time.Duration) callCounts {
	before := sim.Calls()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return diffCalls(before, sim.Calls())
}
