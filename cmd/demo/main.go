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

// Command demo runs the product locally (`make demo`): a control plane, clbsim, the manager, the
// CLBBindingPolicy that lets the demo namespace bind the load balancer, a Deployment bound to a CLB
// listener, and a rolling update under a steady stream of requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/clbind/clb-binding-controller/internal/explain"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Timeouts of the demo's waits.
const (
	settleTimeout  = 90 * time.Second
	rolloutTimeout = 180 * time.Second
	requestEvery   = 20 * time.Millisecond
)

type demo struct {
	start time.Time
	sb    *sandbox.Sandbox
	app   sandbox.App
	last  string
	shown time.Time
}

func (d *demo) logf(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	manager := flag.String("manager", "bin/manager", "manager binary to run; empty builds ./cmd/manager")
	replicas := flag.Int("replicas", 4, "replicas of the demo Deployment")
	nodes := flag.Int("nodes", 3, "fake nodes")
	webhooks := flag.Bool("webhooks", true, "run the manager's webhooks (--webhook-host) so its pod webhook injects the readiness gate (the sandbox proves injection with a dry-run pod before it deploys); -webhooks=false puts the gate in the Deployment's pod template instead")
	noDataPlane := flag.Bool("no-data-plane", false, "skip the network namespace: scripted health and no traffic (what happens without root or iproute2)")
	exit := flag.Bool("exit", os.Getenv("DEMO_EXIT") == "1", "exit after the summary instead of running until Ctrl-C (also DEMO_EXIT=1)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{start: time.Now()}
	if err := d.run(ctx, sandbox.Options{Nodes: *nodes, ManagerBinary: *manager, NoDataPlane: *noDataPlane, Webhooks: *webhooks}, int32(*replicas), *exit); err != nil {
		if d.sb != nil {
			d.logf("logs and state dumps are in %s", d.sb.Dir())
			d.sb.Stop()
		}
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
	if d.sb != nil {
		d.logf("stopping everything the demo started (logs kept in %s)", d.sb.Dir())
		d.sb.Stop()
		d.logf("stopped")
	}
}

func (d *demo) run(ctx context.Context, opts sandbox.Options, replicas int32, exit bool) error {
	d.logf("starting the sandbox: control plane, %d nodes with a stand-in kubelet, clbsim, the manager", opts.Nodes)
	if opts.ManagerBinary != "" {
		if _, err := os.Stat(opts.ManagerBinary); err != nil {
			return fmt.Errorf("manager binary %s: %w (run 'make demo', which builds it)", opts.ManagerBinary, err)
		}
	}
	opts.KeepDir, opts.Logf = true, d.logf
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return err
	}
	d.sb = sb
	d.logf("try it yourself: export KUBECONFIG=%s; bin/k8s/kubectl get cbp,pods,cbb,clbh -A", sb.Kubeconfig())

	d.app = sandbox.App{Namespace: "demo", Name: "web", Replicas: replicas, InjectGate: !sb.Webhooks()}
	if err := d.allow(ctx); err != nil {
		return err
	}
	t := time.Now()
	d.logf("applying namespace demo (label clbind.io/readiness-gate-inject=enabled), Deployment web (%d replicas, maxSurge 1, maxUnavailable 0, preStop sleep 5s, gate %s), Service web, CLBBackendBinding web (drain 5s) → %s/%s",
		replicas, d.app.Gate(), sb.LoadBalancerID(), sb.ListenerID())
	if sb.Webhooks() {
		d.logf("  the Deployment has no readiness gate: the manager's pod webhook injects it (proven with a dry-run pod before the Deployment is created)")
	} else {
		d.logf("  (webhooks off: the Deployment carries the readiness gate itself)")
	}
	if err := sb.Deploy(ctx, d.app); err != nil {
		return err
	}
	if err := d.watch(ctx, settleTimeout, nil); err != nil {
		return err
	}
	d.logf("✓ %d pods Ready, all registered and healthy on the CLB (%v)", replicas, time.Since(t).Round(100*time.Millisecond))

	if !sb.HasDataPlane() {
		d.logf("no data plane here (needs root and iproute2): rolling without traffic")
		return d.rollout(ctx, nil, replicas, exit)
	}
	traffic := sandbox.StartTraffic(ctx, sb.DataPlaneAddr(), requestEvery)
	d.logf("sending %d requests a second, each on a new connection, to the CLB listener at %s", int(time.Second/requestEvery), sb.DataPlaneAddr())
	if err := sb.WaitFor(ctx, 10*time.Second, "traffic to flow", func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Served >= 20, fmt.Sprintf("%d served, %d failed", st.Served, st.Failed), nil
	}); err != nil {
		traffic.Stop()
		return err
	}
	st := traffic.Stats()
	d.logf("✓ traffic flows: %d served, %d failed, by pod %v", st.Served, st.Failed, st.ByPod)
	return d.rollout(ctx, traffic, replicas, exit)
}

// demoPolicy names the one CLBBindingPolicy the demo creates.
const demoPolicy = "demo-web"

// allow creates the CLBBindingPolicy a cluster admin creates once, and prints it: the manager
// enforces policies by default, and refuses (at admission, and again before every cloud write)
// every binding that no policy allows.
func (d *demo) allow(ctx context.Context) error {
	d.logf("applying the one CLBBindingPolicy a cluster admin creates: namespace %s may bind load balancer %s "+
		"(the manager refuses every binding no policy allows; --enforce-binding-policies=false turns that off for single-tenant clusters)",
		d.app.Namespace, d.sb.LoadBalancerID())
	p, err := d.sb.AllowNamespaces(ctx, demoPolicy, []string{d.sb.LoadBalancerID()}, d.app.Namespace)
	if err != nil {
		return err
	}
	manifest, err := sandbox.PolicyYAML(p)
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(manifest, "\n"), "\n") {
		fmt.Println("    " + line)
	}
	return nil
}

func (d *demo) rollout(ctx context.Context, traffic *sandbox.Traffic, replicas int32, exit bool) error {
	before := sandbox.TrafficStats{}
	if traffic != nil {
		before = traffic.Stats()
	}
	t := time.Now()
	d.logf("rolling update: kubectl rollout restart deployment/web")
	if err := d.sb.Restart(ctx, d.app); err != nil {
		return err
	}
	err := d.watch(ctx, rolloutTimeout, traffic)
	took := time.Since(t).Round(100 * time.Millisecond)
	if err != nil {
		if traffic != nil {
			traffic.Stop()
		}
		return err
	}
	fmt.Println()
	if traffic != nil {
		st := traffic.Stop()
		sent, failed := st.Sent-before.Sent, st.Failed-before.Failed
		d.logf("SUMMARY: rolling update of %d pods in %v: %d failed requests of %d", replicas, took, failed, sent)
		d.logf("         all along: %d requests, %d served, %d failed; by pod %v", st.Sent, st.Served, st.Failed, st.ByPod)
		for _, f := range st.Failures {
			d.logf("         failure %s", f)
		}
	} else {
		d.logf("SUMMARY: rolling update of %d pods in %v (no data plane: no requests sent)", replicas, took)
	}
	d.clbind(ctx)
	if exit {
		return nil
	}
	d.logf("everything keeps running; Ctrl-C stops it. KUBECONFIG=%s, clbsim admin API %s", d.sb.Kubeconfig(), d.sb.AdminURL())
	<-ctx.Done()
	fmt.Println()
	return nil
}

// clbind runs the kubectl plugin's two commands once, as a user would: kubectl clbind get for the
// namespace and kubectl clbind why for one of its pods.
func (d *demo) clbind(ctx context.Context) {
	var pods corev1.PodList
	if err := d.sb.Client().List(ctx, &pods, client.InNamespace(d.app.Namespace)); err != nil {
		d.logf("listing the pods for kubectl clbind: %v", err)
		return
	}
	pod := ""
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && (pod == "" || p.Name < pod) {
			pod = p.Name
		}
	}
	fmt.Println()
	ctrllog.SetLogger(logr.Discard()) // as the plugin's main does: it logs nothing
	for _, args := range [][]string{{"get", "-n", d.app.Namespace}, {"why", "pod/" + pod, "-n", d.app.Namespace}} {
		d.logf("$ kubectl clbind %s   (bin/kubectl-clbind, built by make build; it reads Kubernetes objects only)", strings.Join(args, " "))
		cmd := explain.NewCommand(os.Stdout, os.Stderr)
		cmd.SetArgs(append([]string{"--kubeconfig", d.sb.Kubeconfig()}, args...))
		if err := cmd.ExecuteContext(ctx); err != nil {
			d.logf("kubectl clbind %s: %v", args[0], err)
		}
		fmt.Println()
	}
}

// watch prints the live view until the app settles.
func (d *demo) watch(ctx context.Context, timeout time.Duration, traffic *sandbox.Traffic) error {
	return d.sb.WaitFor(ctx, timeout, "the demo app to settle", func(ctx context.Context) (bool, string, error) {
		if err := d.sb.ManagerRunning(); err != nil {
			return false, "", err
		}
		v, err := d.sb.Look(ctx, d.app)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return false, "", nil
			}
			return false, err.Error(), nil
		}
		d.show(v, traffic)
		return v.Settled(int(d.app.Replicas)), v.Summary(), nil
	})
}

// show prints the view when it changed, or every 5 seconds.
func (d *demo) show(v sandbox.View, traffic *sandbox.Traffic) {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-22s %-12s %-6s %-5s %-5s %s\n", "POD", "IP", "CONT", "GATE", "READY", "STATE")
	for _, p := range v.Pods {
		state := p.Phase
		if p.Terminating {
			state = "Terminating"
		}
		fmt.Fprintf(&b, "  %-22s %-12s %-6s %-5s %-5s %s\n", p.Name, p.IP, orDash(string(p.ContainersReady)), orDash(string(p.Gate)), orDash(string(p.Ready)), state)
	}
	fmt.Fprintf(&b, "  %-22s %-6s %-8s %s\n", "CLB BACKEND", "WEIGHT", "HEALTH", "POD")
	for _, be := range v.Backends {
		fmt.Fprintf(&b, "  %-22s %-6d %-8s %s\n", fmt.Sprintf("%s:%d", be.IP, be.Port), be.Weight, orDash(be.Health), be.Pod)
	}
	view := b.String()
	if since := time.Since(d.shown); (view == d.last || since < time.Second) && since < 5*time.Second {
		return
	}
	d.last, d.shown = view, time.Now()
	requests := ""
	if traffic != nil {
		st := traffic.Stats()
		requests = fmt.Sprintf(" | requests: %d served, %d failed", st.Served, st.Failed)
	}
	d.logf("binding %s%s", orDash(v.Binding), requests)
	fmt.Print(view)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
