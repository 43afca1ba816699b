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
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/controllers"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const clusterID = "cls-bench"

var scheme = runtime.NewScheme()

func init() {
	must(clientgoscheme.AddToScheme(scheme))
	must(networkingv1alpha1.AddToScheme(scheme))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// controllerEnv is one control plane (envtest), one clbsim and one manager wired as
// cmd/manager's setupBindings wires them, with every timer divided by factor.
type controllerEnv struct {
	env    *envtest.Environment
	srv    *simtest.Server
	k8s    client.Client
	cancel context.CancelFunc
	done   chan error
	factor float64
	// proc is the manager as its own process, quota its CPU cgroup (seedmode.go); then env,
	// cancel and done are unused.
	proc  *procEnv
	quota *cpuQuota
}

func startControllerEnv(ctx context.Context, factor float64, concurrency int) (*controllerEnv, error) {
	env, err := testenv.New()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	ce := &controllerEnv{env: env, factor: factor}
	ok := false
	defer func() {
		if !ok {
			ce.stop()
		}
	}()
	// As ctrl.GetConfig does for the real manager: no client-side rate limit.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	if ce.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "clb-bench-")
	if err != nil {
		return nil, err
	}
	if ce.srv, err = simtest.Start(clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()}, dir); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Controller:             config.Controller{SkipNameValidation: new(true), MaxConcurrentReconciles: cmp.Or(concurrency, productionConcurrency)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	// The production client (cmd/manager run): default retries, task polls and 20 QPS per action,
	// with times divided by factor.
	cloud, err := clb.New(clb.Config{
		Region: simtest.Region, Endpoint: ce.srv.Endpoint, Scheme: "HTTP", CredentialsDir: dir,
		RateLimits:       clb.RateLimitConfig{QPS: clb.DefaultQPS * factor},
		Retry:            clb.RetryConfig{BaseDelay: scale(clb.DefaultRetryBaseDelay, factor), MaxDelay: scale(clb.DefaultRetryMaxDelay, factor)},
		TaskPollInterval: scale(clb.DefaultTaskPollInterval, factor),
		TaskTimeout:      scale(clb.DefaultTaskTimeout, factor),
		Registerer:       prometheus.NewRegistry(),
	})
	if err != nil {
		return nil, err
	}
	if err := setupBindings(mgr, cloud, factor, concurrency); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	ce.cancel, ce.done = cancel, make(chan error, 1)
	go func() { ce.done <- mgr.Start(mctx) }()
	ok = true
	return ce, nil
}

// productionConcurrency is cmd/manager's --max-concurrent-reconciles default.
const productionConcurrency = 4

func scale(d time.Duration, factor float64) time.Duration { return compress(d, factor) }

// setupBindings wires the controllers as cmd/manager does (controllers.SetupWithManager) with
// the production defaults of the flags (--coalesce-window 0, i.e. group commit,
// --max-concurrent-reconciles 4, --health-fast-poll 2s, --health-slow-poll 30s,
// --enforce-binding-policies) and of lbsync, every duration divided by factor. Binding policies are enforced, as by default: runOurs creates the policy that allows
// each row's namespace before its bindings.
func setupBindings(mgr ctrl.Manager, cloud *clb.Client, factor float64, concurrency int) error {
	return controllers.SetupWithManager(mgr, controllers.Deps{
		Cloud: cloud, ClusterID: clusterID,
		Sync: lbsync.Options{
			MaxWindow:   scale(2*time.Second, factor),
			RetryBase:   scale(time.Second, factor),
			RetryMax:    scale(2*time.Minute, factor),
			PassTimeout: scale(2*time.Minute, factor),
		},
		Health:                  health.Options{Fast: scale(2*time.Second, factor), Slow: scale(30*time.Second, factor)},
		MaxConcurrentReconciles: cmp.Or(concurrency, productionConcurrency),
		EnforcePolicies:         true,
	})
}

func (ce *controllerEnv) stop() {
	if ce.proc != nil {
		ce.stopProc()
		return
	}
	if ce.cancel != nil {
		ce.cancel()
		if err := <-ce.done; err != nil {
			logf("manager stopped: %v", err)
		}
	}
	if ce.srv != nil {
		ce.srv.Close()
	}
	if ce.env != nil {
		_ = ce.env.Stop()
	}
}

// oursResult is one timed change handled by the controller.
type oursResult struct {
	Wall      time.Duration // model time: first API write of the change → clbsim holds every target
	Issue     time.Duration // model time the bench took to write the change to the API server
	FirstCLB  time.Duration // model time from the first API write to the first CLB write
	Calls     callCounts    // calls until convergence
	Trailing  callCounts    // calls in the quiet period after convergence
	HealthAPI int           // DescribeTargetHealth calls until convergence (the health poller's)
}

// objects of one rule: Service, EndpointSlice and binding.
func ruleObjects(ns, lbID, listenerID, locationID string, i int, ips []string) []client.Object {
	name := fmt.Sprintf("rule-%03d", i)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			// Headless: envtest's service IP range holds a few hundred addresses only.
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(backendPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	binding := &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lbID,
			Listener:       networkingv1alpha1.ListenerReference{ID: listenerID},
			Rule:           &networkingv1alpha1.RuleReference{LocationID: locationID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: name, Port: intstr.FromInt32(80)},
			TargetType:     networkingv1alpha1.TargetTypePod,
			ReadinessGate:  new(false),
		},
	}
	return []client.Object{svc, endpointSlice(ns, name, ips), binding}
}

func endpointSlice(ns, svc string, ips []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(backendPort)), Protocol: new(corev1.ProtocolTCP)}},
	}
	// Pod endpoints (direct mode) whose pods the bench does not create: a ready endpoint of a pod
	// the controller cannot see is registered, as the EndpointSlice API asks.
	for i, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: new(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-node-%d", svc, i+1)},
		})
	}
	return s
}

// parallel runs fn on every item with a few workers and returns the first error.
func parallel[T any](items []T, fn func(T) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		ch   = make(chan T)
	)
	for range 16 {
		wg.Go(func() {
			for it := range ch {
				if err := fn(it); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	return errors.Join(errs...)
}

// runOurs builds the row's starting state through the API (no latency), then times the change
// under the model compressed by the environment's factor.
func (ce *controllerEnv) runOurs(ctx context.Context, m Model, r row, idx int) (oursResult, error) {
	sim, factor := ce.srv.Sim, ce.factor
	sim.SetLatency(clbsim.DefaultBusy())
	sim.SetQPS("", -1)
	ns := fmt.Sprintf("%s-%d", m.Name, idx)
	// The policy a cluster admin creates: the row's namespace may bind its load balancer.
	lbID, err := ce.newNamespaceLB(ctx, ns)
	if err != nil {
		return oursResult{}, err
	}
	lisID := sim.AddListener(lbID, "HTTP", 80)
	locs := make([]string, r.Rules)
	for i := range locs {
		locs[i] = sim.AddRule(lbID, lisID, fmt.Sprintf("r%d.example.com", i), "/")
	}
	var start []client.Object
	for i := range r.FromRules {
		start = append(start, ruleObjects(ns, lbID, lisID, locs[i], i, nodeIPs(r.FromNodes))...)
	}
	if err := parallel(start, func(o client.Object) error { return ce.k8s.Create(ctx, o) }); err != nil {
		return oursResult{}, fmt.Errorf("creating the starting state: %w", err)
	}
	if _, err := ce.waitTargets(ctx, lbID, r.FromRules*r.FromNodes, 2*time.Minute); err != nil {
		var b networkingv1alpha1.CLBBackendBinding
		_ = ce.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rule-000"}, &b)
		return oursResult{}, fmt.Errorf("starting state: %w; binding rule-000: %+v", err, b.Status)
	}
	ce.waitQuiet(ctx, time.Second)

	// The change: new endpoints in the existing slices (table 1), new rules (table 2).
	var change []client.Object
	for i := range r.FromRules {
		if r.Nodes != r.FromNodes {
			change = append(change, endpointSlice(ns, fmt.Sprintf("rule-%03d", i), nodeIPs(r.Nodes)))
		}
	}
	for i := r.FromRules; i < r.Rules; i++ {
		change = append(change, ruleObjects(ns, lbID, lisID, locs[i], i, nodeIPs(r.Nodes))...)
	}
	sim.SetLatency(m.simLatency(true, factor))
	sim.SetQPS("", 20*factor)
	before := sim.Calls()
	fw := watchFirstWrite(sim) // waitTargets sees only the writes after the change is written
	defer fw.stop()
	t0 := time.Now()
	err = parallel(change, func(o client.Object) error {
		if _, isSlice := o.(*discoveryv1.EndpointSlice); isSlice && r.Nodes != r.FromNodes {
			var cur discoveryv1.EndpointSlice
			if err := ce.k8s.Get(ctx, client.ObjectKeyFromObject(o), &cur); err != nil {
				return err
			}
			cur.Endpoints = o.(*discoveryv1.EndpointSlice).Endpoints
			return ce.k8s.Update(ctx, &cur)
		}
		return ce.k8s.Create(ctx, o)
	})
	if err != nil {
		return oursResult{}, fmt.Errorf("writing the change: %w", err)
	}
	issued := time.Since(t0)
	firstWrite, err := ce.waitTargets(ctx, lbID, r.Rules*r.Nodes, 30*time.Minute)
	if err != nil {
		return oursResult{}, err
	}
	wall := time.Since(t0)
	if at := fw.stop(); !at.IsZero() {
		firstWrite = at
	}
	return ce.converged(ctx, before, t0, issued, wall, firstWrite), nil
}

// converged counts the calls of a change that converged (started at t0 with calls before,
// written to the API server in issued, converged after wall, first CLB write at firstWrite),
// waits out the quiet period, counting what the controller still calls, and puts the latency
// model back to the idle one. Times are scaled back to model time.
func (ce *controllerEnv) converged(ctx context.Context, before map[string]map[string]int, t0 time.Time,
	issued, wall time.Duration, firstWrite time.Time) oursResult {
	sim, factor := ce.srv.Sim, ce.factor
	atConvergence := sim.Calls()
	ce.waitQuiet(ctx, scale(5*time.Second, factor))
	sim.SetLatency(clbsim.DefaultBusy())
	res := oursResult{
		Wall:     time.Duration(float64(wall) * factor),
		Issue:    time.Duration(float64(issued) * factor),
		FirstCLB: time.Duration(float64(firstWrite.Sub(t0)) * factor),
		Calls:    diffCalls(before, atConvergence),
		Trailing: diffCalls(atConvergence, sim.Calls()),
	}
	res.HealthAPI = res.Calls.ByAction["DescribeTargetHealth"]
	return res
}

// waitTargets waits until clbsim holds want targets on lbID; it returns when the first write call
// of the wait was seen. Targets appear only when a write call answers, so the target list is only
// read after the write counters move.
func (ce *controllerEnv) waitTargets(ctx context.Context, lbID string, want int, timeout time.Duration) (time.Time, error) {
	sim := ce.srv.Sim
	deadline := time.Now().Add(timeout)
	var firstWrite time.Time
	last := -1
	for {
		calls := sim.Calls()
		writes := 0
		for _, a := range writeActions {
			writes += calls[a]["OK"]
		}
		if writes != last {
			if last >= 0 && firstWrite.IsZero() {
				firstWrite = time.Now()
			}
			last = writes
			if got := len(sim.Targets(lbID)); got == want {
				if firstWrite.IsZero() {
					firstWrite = time.Now()
				}
				return firstWrite, nil
			} else if got > want {
				return firstWrite, fmt.Errorf("clbsim holds %d targets on %s, want %d", got, lbID, want)
			}
		}
		if err := ce.alive(); err != nil {
			return firstWrite, err
		}
		if time.Now().After(deadline) {
			return firstWrite, fmt.Errorf("clbsim holds %d targets on %s after %v, want %d", len(sim.Targets(lbID)), lbID, timeout, want)
		}
		select {
		case <-ctx.Done():
			return firstWrite, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitQuiet waits until no call but DescribeTargetHealth has reached clbsim for quiet.
func (ce *controllerEnv) waitQuiet(ctx context.Context, quiet time.Duration) {
	waitQuietSim(ctx, ce.srv.Sim, quiet)
}
