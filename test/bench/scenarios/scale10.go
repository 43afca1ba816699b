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
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Scale ×10 at full size: 500 LBs × 20 listeners, one binding per listener, 10 pods per binding.
const (
	scale10LBs         = 500
	scale10ListenersLB = 20
	scale10PodsPer     = 10
	// scale10Compression runs the steady hour in 10 minutes: the manager's periodic timers are
	// divided by it and clbsim's QPS (and the manager's) multiplied by it.
	scale10Compression = 6
	// scale10MinFastPoll is the manager's lowest accepted --health-fast-poll (2 s / 6 is below it).
	scale10MinFastPoll = 500 * time.Millisecond
	scale10TagKey      = "clbind.io/bench"
	scale10NSLabel     = "clbind.io/bench"
	scale10AppLabel    = "app" // each Service selects its pods by it
	scale10Name        = "scale10"
	healthAction       = "DescribeTargetHealth" // the health poller's, counted apart from the sync reads
	// scale10Quiet is how long clbsim must see no sync call for a restarted manager to be done.
	scale10Quiet = 5 * time.Second
	// scale10Settle is the start of the compressed manager: two (compressed) drift intervals.
	scale10Settle = 2 * time.Minute / scale10Compression
	// scale10CPUProfile is the length of the CPU profile from the manager's start, in seconds.
	scale10CPUProfile = 20
)

var (
	scale10Fraction = flag.Float64("scale10-fraction", 1, "fraction of the scale10 scenario's load balancers (1 = 500 LBs, 10,000 bindings, 100,000 pods; 0.05 = 25 LBs, 5,000 pods)")
	scale10PerNS    = flag.Int("scale10-bindings-per-namespace", 100, "bindings (and their Services and pods) per namespace in scale10")
	scale10Workers  = flag.Int("scale10-workers", 64, "parallel client workers creating the scale10 objects")
	scale10Steady   = flag.Duration("scale10-steady", time.Hour, "steady window of scale10 in uncompressed time (run 6× faster)")
	scale10MemLimit = flag.Int64("scale10-memory-limit-mib", 1024, "container memory limit the scale10 manager runs as if under, in MiB: it gets "+
		"GOMEMLIMIT at 90% of it, as cmd/manager sets itself from its cgroup (0 = none)")
)

// scale10Phase is one measured stretch of the manager's life.
type scale10Phase struct {
	Name      string
	Wall      time.Duration
	Calls     callCounts
	Stats     procStats // the manager process of the phase, at its end
	CPU       time.Duration
	Converged bool
	// Manager is what the manager's own metrics counted in the phase.
	Manager managerCounts
}

// managerCounts is what the manager's metrics count: its requests to the API server by verb
// (a manager with nothing to do writes nothing there either) and its reconciles by controller.
type managerCounts struct {
	API, Reconciles map[string]int
	// Writes are the API server's counts of the writes made in the phase, by verb and resource.
	Writes map[string]int
}

func scrapeManagerCounts(ctx context.Context, addr string) (managerCounts, error) {
	m, err := sandbox.ScrapeMetrics(ctx, addr)
	if err != nil {
		return managerCounts{}, err
	}
	toInt := func(in map[string]float64) map[string]int {
		out := make(map[string]int, len(in))
		for k, v := range in {
			out[k] = int(v)
		}
		return out
	}
	return managerCounts{API: toInt(m.ByLabel("rest_client_requests_total", "method")),
		Reconciles: toInt(m.ByLabel("controller_runtime_reconcile_total", "controller"))}, nil
}

// apiserverWrites counts the API server's requests that change something, by verb and resource
// (apiserver_request_total): during a phase in which the bench writes nothing, they are the
// manager's, and say what it wrote.
func apiserverWrites(ctx context.Context, cfg *rest.Config) (map[string]int, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	out := map[string]int{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		switch {
		case l["verb"] == "GET" || l["verb"] == "LIST" || l["verb"] == "WATCH" || l["verb"] == "CONNECT":
			continue
		case l["resource"] == "leases":
			continue // the API server renews its own identity lease; the bench's manager does not elect a leader
		}
		what := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			what += "/" + l["subresource"]
		}
		out[what] += int(m.GetCounter().GetValue())
	}
	return out, nil
}

func (c managerCounts) minus(before managerCounts) managerCounts {
	diff := func(a, b map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range a {
			if v-b[k] != 0 {
				out[k] = v - b[k]
			}
		}
		return out
	}
	return managerCounts{API: diff(c.API, before.API), Reconciles: diff(c.Reconciles, before.Reconciles), Writes: diff(c.Writes, before.Writes)}
}

func sortedCounts(m map[string]int) string {
	if len(m) == 0 {
		return noneWord
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

type scale10Result struct {
	LBs, Bindings, Pods, Namespaces int
	Created                         map[string]time.Duration // kind → time to create them all
	Workers                         int
	Create, Restart, Steady         scale10Phase
	// CreateIdle is when the cold-started manager had written every status (nothing queued and no
	// API write for scale10Idle), from its start.
	CreateIdle            time.Duration
	CompressedStart       scale10Phase  // the steady hour's manager, until it settled
	SteadyWindow          time.Duration // uncompressed
	WriteBound, ReadBound int
	// StartReadBound is what a starting manager must read: ReadBound DescribeTargets and each load
	// balancer's tags, 20 to a DescribeLoadBalancers call, as the binding policies match them.
	// A cold start also reads the account's backend quota once before it registers.
	StartReadBound                  int
	HeapTop, CPUTop                 string
	HeapFile, CPUFile               string
	SteadyCPUTop, SteadyCPUFile     string
	SteadyAllocTop, SteadyAllocFile string
	// SteadyCPUSteps is the manager's CPU in each tenth of the steady window.
	SteadyCPUSteps []time.Duration
	HeapAlloc      int64            // bytes, after a GC
	MemoryLimit    int64            // bytes: the container limit the manager runs as if under (GOMEMLIMIT 90%), 0 none
	ControlPlane   map[string]int64 // process name → peak RSS KiB
}

// scale10MemoryEnv is the limit the manager runs as if under, and the GOMEMLIMIT cmd/manager
// would set itself in a container with that limit.
func scale10MemoryEnv() (int64, []string) {
	if *scale10MemLimit <= 0 {
		return 0, nil
	}
	limit := *scale10MemLimit << 20
	return limit, []string{fmt.Sprintf("GOMEMLIMIT=%d", limit*9/10)}
}

// coldReadBound is StartReadBound and the one read of the account's backend quota.
func (r scale10Result) coldReadBound() int { return r.StartReadBound + 1 }

// scale10Floor is the time the cloud's 20 calls per second per action allow at best.
func (r scale10Result) scale10Floor() time.Duration {
	return time.Duration(ceilDiv(max(r.WriteBound, r.ReadBound), 20)) * time.Second
}

type scale10Binding struct {
	scaleBinding
	ns   string
	pods []*corev1.Pod
}

// scale10Pod is a pod as a Deployment makes it, with one container; the status is set apart.
func scale10Pod(b *scale10Binding, i int) *corev1.Pod {
	const hash = "5d8f6c7b9"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: b.ns, Name: fmt.Sprintf("%s-%s-%05d", b.name, hash, i),
			Labels:      map[string]string{scale10AppLabel: b.name, "pod-template-hash": hash},
			Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: b.name + "-" + hash,
				UID: types.UID("00000000-0000-0000-0000-" + fmt.Sprintf("%012d", i)), Controller: new(true), BlockOwnerDeletion: new(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%03d", i%100),
			Containers: []corev1.Container{{
				Name: "server", Image: "registry.example/team/app:1.42.0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: backendPort, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			}},
		},
	}
}

// scale10Status is what a kubelet reports for a running, ready pod.
func scale10Status(p *corev1.Pod, ip string) {
	now := metav1.Now()
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "192.168.0.1", StartTime: &now, QOSClass: corev1.PodQOSBurstable,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "server", Ready: true, Started: new(true), Image: p.Spec.Containers[0].Image,
			ImageID: "registry.example/team/app@sha256:0123456789abcdef", ContainerID: "containerd://" + string(p.UID),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	for _, t := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
}

func scale10Objects(b *scale10Binding) []client.Object {
	objs := scaleObjects(b.scaleBinding)
	svc, slice := objs[0].(*corev1.Service), objs[1].(*discoveryv1.EndpointSlice)
	svc.Namespace, slice.Namespace, objs[2].(*networkingv1alpha1.CLBBackendBinding).Namespace = b.ns, b.ns, b.ns
	svc.Spec.Selector = map[string]string{scale10AppLabel: b.name}
	for i := range slice.Endpoints {
		p := b.pods[i]
		slice.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: podKind, Namespace: b.ns, Name: p.Name, UID: p.UID}
		slice.Endpoints[i].NodeName = &p.Spec.NodeName
	}
	return objs
}

// parallelN runs fn on every item with n workers and returns every error.
func parallelN[T any](n int, items []T, fn func(T) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range n {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(items)); i = next.Add(1) - 1 {
				if err := fn(items[i]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func runScale10(ctx context.Context, managerBin, out string) (scale10Result, error) {
	lbs := max(1, int(math.Round(scale10LBs**scale10Fraction)))
	res := scale10Result{LBs: lbs, Bindings: lbs * scale10ListenersLB, Pods: lbs * scale10ListenersLB * scale10PodsPer,
		Workers: *scale10Workers, Created: map[string]time.Duration{}, ControlPlane: map[string]int64{}}
	res.Namespaces = ceilDiv(res.Bindings, *scale10PerNS)
	res.WriteBound = lbs * ceilDiv(scale10ListenersLB*scale10PodsPer, 500)
	res.ReadBound = lbs * ceilDiv(scale10ListenersLB, 20)
	res.StartReadBound = res.ReadBound + ceilDiv(lbs, 20)
	// No manager yet: it starts once every object is in the API.
	pe, err := startProcEnv(ctx, "", clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()})
	if err != nil {
		return res, err
	}
	defer pe.stop()
	res.MemoryLimit, pe.managerEnv = scale10MemoryEnv()
	sim := pe.srv.Sim
	sim.SetLatency(fixedModel().simLatency(true, 1))

	bs := make([]*scale10Binding, 0, res.Bindings)
	k := 0
	for l := range lbs {
		lbID := sim.AddLoadBalancer(fmt.Sprintf("scale10-%03d", l))
		sim.SetLoadBalancerTags(lbID, map[string]string{scale10TagKey: scale10Name})
		for j := range scale10ListenersLB {
			b := &scale10Binding{scaleBinding: scaleBinding{name: fmt.Sprintf("b-%03d-%02d", l, j), lbID: lbID,
				listenerID: sim.AddListener(lbID, "TCP", int64(10000+j))}}
			b.ns = fmt.Sprintf("s10-%03d", len(bs) / *scale10PerNS)
			for i := range scale10PodsPer {
				b.ips = append(b.ips, scaleIP(k))
				b.pods = append(b.pods, scale10Pod(b, i))
				k++
			}
			bs = append(bs, b)
		}
	}
	logf("scale10: %d LBs, %d bindings, %d pods in %d namespaces; creating them with %d workers",
		lbs, len(bs), res.Pods, res.Namespaces, res.Workers)
	for n := range res.Namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s10-%03d", n), Labels: map[string]string{scale10NSLabel: scale10Name}}}
		if err := pe.k8s.Create(ctx, ns); err != nil {
			return res, err
		}
	}
	// One policy for all: the load balancers by tag (a policy lists at most 100 IDs), the
	// namespaces by label.
	policy := &networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: scale10Name},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:    networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{scale10NSLabel: scale10Name}}},
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: scale10TagKey, Value: scale10Name}}},
		},
	}
	if err := sandbox.ApplyPolicy(ctx, pe.k8s, policy); err != nil {
		return res, err
	}

	if err := scale10CreateObjects(ctx, pe, &res, bs); err != nil {
		return res, err
	}
	res.ControlPlane = controlPlaneRSS()

	// Cold start: the manager meets every object at once.
	pprofAddr, err := freeLoopbackAddr()
	if err != nil {
		return res, err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return res, err
	}
	prodFlags := []string{"--pprof-bind-address=" + pprofAddr, "--metrics-bind-address=" + metricsAddr, "--metrics-secure=false"}
	scaleBs := make([]scaleBinding, len(bs))
	for i, b := range bs {
		scaleBs[i] = b.scaleBinding
	}
	want := scaleWant(scaleBs)
	writesBefore, err := apiserverWrites(ctx, pe.cfg)
	if err != nil {
		return res, err
	}
	before, t0 := sim.Calls(), time.Now()
	if err := pe.startManager(ctx, managerBin, prodFlags...); err != nil {
		return res, err
	}
	logf("scale10: manager pid %d started", pe.cmd.Process.Pid)
	// Where the cold start's CPU goes: its first seconds (cache sync, every binding's first pass).
	res.CPUFile = filepath.Join(out, "scale10-cpu.pb.gz")
	cpuTop := make(chan string, 1)
	go func() {
		top, err := cpuProfile(ctx, pprofAddr, res.CPUFile, scale10CPUProfile)
		if err != nil {
			top = "(no profile: " + err.Error() + ")"
		}
		cpuTop <- top
	}()
	// A manager spends about 2.5 ms of CPU per pod in its start (10,000 pods, 2 shared cores).
	startTimeout := 5*time.Minute + time.Duration(res.Pods)*3*time.Millisecond
	if err := waitConverged(ctx, pe, want, 10*time.Minute+time.Duration(res.Pods)*10*time.Millisecond); err != nil {
		return res, err
	}
	res.Create = scale10Phase{Name: "cold start", Wall: time.Since(t0), Calls: diffCalls(before, sim.Calls()), Converged: true}
	if res.Create.Stats, err = pe.stats(); err != nil {
		return res, err
	}
	res.Create.CPU = res.Create.Stats.CPU
	if res.Create.Manager, err = scrapeManagerCounts(ctx, metricsAddr); err != nil {
		return res, err
	}
	writes, err := apiserverWrites(ctx, pe.cfg)
	if err != nil {
		return res, err
	}
	res.Create.Manager.Writes = managerCounts{Writes: writes}.minus(managerCounts{Writes: writesBefore}).Writes
	logf("scale10: converged %v after the manager started: writes %d (bound %d), reads %d (bound %d), peak RSS %d MiB, CPU %v; %v",
		res.Create.Wall.Round(time.Millisecond), res.Create.Calls.writes(), res.WriteBound, res.Create.Calls.reads(), res.coldReadBound(),
		res.Create.Stats.PeakRSSKiB/1024, res.Create.Stats.CPU, res.Create.Calls.ByAction)
	res.HeapFile = filepath.Join(out, "scale10-heap.pb.gz")
	if res.HeapTop, err = profileTop(ctx, pprofAddr, "heap?gc=1", res.HeapFile, "-inuse_space"); err != nil {
		logf("scale10: heap profile: %v", err)
		res.HeapTop = "(no profile: " + err.Error() + ")"
	}
	if res.HeapAlloc, err = heapAlloc(ctx, pprofAddr); err != nil {
		logf("scale10: heap: %v", err)
	}
	res.CPUTop = <-cpuTop
	logf("scale10: live heap %d MiB; profiles in %s, %s", res.HeapAlloc>>20, res.HeapFile, res.CPUFile)
	// Drift checks read 500 LBs a minute, 8 a second: never 3 s without a DescribeTargets.
	waitQuietSim(ctx, sim, 3*time.Second, "DescribeTargets")
	// Every backend judged by the CLB's health check and its statuses written too, so the restart
	// finds what a settled manager leaves (clbsim judges a new backend some seconds after its
	// registration, which a manager idle for scale10Idle may not have seen yet).
	if err := waitHealthJudged(ctx, pe, startTimeout); err != nil {
		return res, err
	}
	waitManagerIdle(ctx, metricsAddr, scale10Idle, startTimeout)
	res.CreateIdle = time.Since(t0) - scale10Idle

	// Restart: a new process reads each load balancer again and has nothing to write.
	pe.stopManager()
	if res.Restart, err = scale10Start(ctx, pe, managerBin, metricsAddr, "restart", res, 0, startTimeout, prodFlags...); err != nil {
		return res, err
	}
	if err := waitConverged(ctx, pe, want, time.Minute); err != nil {
		return res, err
	}

	// The steady hour, 6× faster: timers divided, QPS and latencies multiplied.
	pe.stopManager()
	sim.SetQPS("", 20*scale10Compression)
	sim.SetLatency(fixedModel().simLatency(true, scale10Compression))
	fast := max(scale10MinFastPoll, 2*time.Second/scale10Compression)
	steadyFlags := slices.Concat(prodFlags, []string{"--drift-check-interval=" + (time.Minute / scale10Compression).String(),
		"--health-fast-poll=" + fast.String(), "--health-slow-poll=" + (30 * time.Second / scale10Compression).String(),
		"--clb-qps=" + strconv.Itoa(20*scale10Compression)})
	if res.CompressedStart, err = scale10Start(ctx, pe, managerBin, metricsAddr, "compressed start", res, scale10Settle, startTimeout, steadyFlags...); err != nil {
		return res, err
	}
	if err := scale10SteadyWindow(ctx, pe, &res, pprofAddr, metricsAddr, out, want); err != nil {
		return res, err
	}
	res.ControlPlane = controlPlaneRSS()
	return res, nil
}

// scale10CreateObjects creates the pods (and sets their status as a kubelet would), then the
// Services, EndpointSlices and bindings, timing each kind into res.Created.
func scale10CreateObjects(ctx context.Context, pe *procEnv, res *scale10Result, bs []*scale10Binding) error {
	var pods []*corev1.Pod
	ipOf := map[*corev1.Pod]string{}
	for _, b := range bs {
		for i, p := range b.pods {
			pods = append(pods, p)
			ipOf[p] = b.ips[i]
		}
	}
	if err := timed(res.Created, "pods", func() error {
		return parallelN(res.Workers, pods, func(p *corev1.Pod) error { return pe.k8s.Create(ctx, p) })
	}); err != nil {
		return fmt.Errorf("creating pods: %w", err)
	}
	logf("scale10: %d pods created in %v", len(pods), res.Created["pods"].Round(time.Millisecond))
	// The create answer carries the resource version, so no read is needed before the status.
	if err := timed(res.Created, "pod status", func() error {
		return parallelN(res.Workers, pods, func(p *corev1.Pod) error {
			scale10Status(p, ipOf[p])
			return pe.k8s.Status().Update(ctx, p)
		})
	}); err != nil {
		return fmt.Errorf("setting pod status: %w", err)
	}
	logf("scale10: %d pod statuses set in %v", len(pods), res.Created["pod status"].Round(time.Millisecond))
	if err := timed(res.Created, "services, slices, bindings", func() error {
		return parallelN(res.Workers, bs, func(b *scale10Binding) error {
			for _, o := range scale10Objects(b) {
				if err := pe.k8s.Create(ctx, o); err != nil {
					return err
				}
			}
			return nil
		})
	}); err != nil {
		return fmt.Errorf("creating the bindings: %w", err)
	}
	logf("scale10: %d Services, EndpointSlices and bindings created in %v", len(bs), res.Created["services, slices, bindings"].Round(time.Millisecond))
	return nil
}

// scale10SteadyWindow measures the compressed steady hour of the running manager into res.
func scale10SteadyWindow(ctx context.Context, pe *procEnv, res *scale10Result, pprofAddr, metricsAddr, out string, want map[string]map[string]bool) error {
	sim := pe.srv.Sim
	res.SteadyWindow = *scale10Steady
	window := res.SteadyWindow / scale10Compression
	st0, err := pe.stats()
	if err != nil {
		return err
	}
	m0, err := scrapeManagerCounts(ctx, metricsAddr)
	if err != nil {
		return err
	}
	if m0.Writes, err = apiserverWrites(ctx, pe.cfg); err != nil {
		return err
	}
	logf("scale10: steady %v (%v uncompressed)…", window, res.SteadyWindow)
	// Where the steady CPU goes (drift reads, health polls), and what allocates (the GC's share
	// of it): profiles of the whole window, so they account for the CPU reported.
	res.SteadyCPUFile = filepath.Join(out, "scale10-steady-cpu.pb.gz")
	res.SteadyAllocFile = filepath.Join(out, "scale10-steady-allocs.pb.gz")
	seconds := strconv.Itoa(int(window.Seconds()))
	steadyTop := profileInBackground(ctx, pprofAddr, "profile?seconds="+seconds, res.SteadyCPUFile, cpuTopArgs...)
	steadyAllocs := profileInBackground(ctx, pprofAddr, "allocs?seconds="+seconds, res.SteadyAllocFile, "-sample_index=alloc_space", "-cum")
	// The CPU in each tenth of the window: a leftover of the start shows as a falling series.
	steps := make(chan []time.Duration, 1)
	go func() { steps <- cpuSteps(ctx, pe, st0.CPU, window/10, 10) }()
	res.Steady = scale10Phase{Name: "steady", Wall: window, Calls: callsDuring(ctx, sim, window)}
	res.SteadyCPUTop, res.SteadyAllocTop, res.SteadyCPUSteps = <-steadyTop, <-steadyAllocs, <-steps
	m1, err := scrapeManagerCounts(ctx, metricsAddr)
	if err != nil {
		return err
	}
	if m1.Writes, err = apiserverWrites(ctx, pe.cfg); err != nil {
		return err
	}
	res.Steady.Manager = m1.minus(m0)
	if err := pe.alive(); err != nil {
		return err
	}
	if res.Steady.Stats, err = pe.stats(); err != nil {
		return err
	}
	res.Steady.CPU = res.Steady.Stats.CPU - st0.CPU
	res.Steady.Converged = waitConverged(ctx, pe, want, 0) == nil
	logf("scale10: steady: writes %d, CPU %v (%.2f%% of a core uncompressed) by tenth %v; %v; API requests %v, reconciles %v",
		res.Steady.Calls.writes(), res.Steady.CPU, 100*res.Steady.CPU.Seconds()/res.SteadyWindow.Seconds(), res.SteadyCPUSteps,
		res.Steady.Calls.ByAction, res.Steady.Manager.API, res.Steady.Manager.Reconciles)
	logf("scale10: steady: API server writes %v", res.Steady.Manager.Writes)
	return nil
}

// scale10Start starts the manager on objects clbsim already holds and waits until it has read
// every load balancer (res.ReadBound DescribeTargets), then until it is quiet, or for settle if not 0.
func scale10Start(ctx context.Context, pe *procEnv, managerBin, metricsAddr, name string, res scale10Result, settle, timeout time.Duration, flags ...string) (scale10Phase, error) {
	ph := scale10Phase{Name: name}
	sim := pe.srv.Sim
	writesBefore, err := apiserverWrites(ctx, pe.cfg)
	if err != nil {
		return ph, err
	}
	before, t0 := sim.Calls(), time.Now()
	if err := pe.startManager(ctx, managerBin, flags...); err != nil {
		return ph, err
	}
	deadline := t0.Add(timeout)
	for diffCalls(before, sim.Calls()).ByAction["DescribeTargets"] < res.ReadBound && time.Now().Before(deadline) {
		if err := pe.alive(); err != nil {
			return ph, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Drift reads every 10 s keep a compressed manager from ever being quiet: it waits for its
	// start-up calls (DescribeListeners, DescribeLoadBalancers, writes) to stop for settle.
	if settle > 0 {
		waitQuietStart(ctx, sim, settle, timeout)
		ph.Wall = time.Since(t0) - settle
	} else {
		// Every LB has been read (the loop above); at 500 LBs the drift reads that follow never
		// leave scale10Quiet without a DescribeTargets.
		waitQuietSim(ctx, sim, scale10Quiet, "DescribeTargets")
		ph.Wall = time.Since(t0) - scale10Quiet
	}
	// And the manager is done with the API server: nothing queued, nothing written for a while.
	if idle := waitManagerIdle(ctx, metricsAddr, scale10Idle, timeout); idle > scale10Idle {
		ph.Wall = time.Since(t0) - scale10Idle
	}
	ph.Calls = diffCalls(before, sim.Calls())
	if ph.Stats, err = pe.stats(); err != nil {
		return ph, err
	}
	ph.CPU = ph.Stats.CPU
	if ph.Manager, err = scrapeManagerCounts(ctx, metricsAddr); err != nil {
		return ph, err
	}
	writes, err := apiserverWrites(ctx, pe.cfg)
	if err != nil {
		return ph, err
	}
	ph.Manager.Writes = managerCounts{Writes: writes}.minus(managerCounts{Writes: writesBefore}).Writes
	logf("scale10: %s: quiet %v after the start: writes %d, reads %d (bound %d), peak RSS %d MiB, CPU %v; %v", name,
		ph.Wall.Round(time.Millisecond), ph.Calls.writes(), ph.Calls.reads(), res.StartReadBound, ph.Stats.PeakRSSKiB/1024, ph.CPU, ph.Calls.ByAction)
	logf("scale10: %s: API server writes %v, reconciles %v", name, ph.Manager.Writes, ph.Manager.Reconciles)
	return ph, pe.alive()
}

// waitHealthJudged waits until every CLBHealth reports each of its backends judged by the CLB's
// health check: none Unknown.
func waitHealthJudged(ctx context.Context, pe *procEnv, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list networkingv1alpha1.CLBHealthList
		if err := pe.k8s.List(ctx, &list); err != nil {
			return err
		}
		pending := 0
		for _, hc := range list.Items {
			if hc.Status.Unknown > 0 || hc.Status.Registered == 0 {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d CLBHealths still report backends the CLB has not judged after %v", pending, len(list.Items), timeout)
		}
		time.Sleep(2 * time.Second) // a list of 10,000 CLBHealths is not free
	}
}

// cpuSteps reads the manager's CPU n times, every step, and returns what each step used.
func cpuSteps(ctx context.Context, pe *procEnv, from time.Duration, step time.Duration, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	t := time.NewTicker(step)
	defer t.Stop()
	for range n {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		st, err := pe.stats()
		if err != nil {
			return out
		}
		out = append(out, (st.CPU - from).Round(10*time.Millisecond))
		from = st.CPU
	}
	return out
}

func timed(into map[string]time.Duration, name string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	into[name] = time.Since(t0)
	return err
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// profileTop saves the manager's profile at url (under /debug/pprof/) to path and returns the
// top of `go tool pprof -top` with args.
func profileTop(ctx context.Context, addr, url, path string, args ...string) (string, error) {
	body, err := pprofGet(ctx, addr, url)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return "", err
	}
	top, err := exec.CommandContext(ctx, "go", slices.Concat([]string{"tool", "pprof", "-top", "-nodecount=15"}, args, []string{path})...).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w", err)
	}
	// From "Showing nodes …" on: the file name, build ID and time before it say nothing.
	s := string(top)
	if i := strings.Index(s, "Showing nodes"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimSpace(s), nil
}

// profileInBackground takes a profile while the caller goes on, and sends its top, or why there
// is none.
func profileInBackground(ctx context.Context, addr, url, path string, args ...string) <-chan string {
	top := make(chan string, 1)
	go func() {
		t, err := profileTop(ctx, addr, url, path, args...)
		if err != nil {
			t = "(no profile: " + err.Error() + ")"
		}
		top <- t
	}()
	return top
}

func pprofGet(ctx context.Context, addr, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// heapAlloc is the manager's live heap after a GC (runtime.MemStats.HeapAlloc): exact, where the
// profile samples one allocation per 512 KiB.
func heapAlloc(ctx context.Context, addr string) (int64, error) {
	body, err := pprofGet(ctx, addr, "heap?gc=1&debug=1")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no HeapAlloc in the heap profile")
}

// cpuTopArgs sort a CPU profile by cumulative time: flat time is mostly the GC's, the callers
// that allocate show only in cum.
var cpuTopArgs = []string{"-cum", "-nodecount=25"}

// cpuProfile profiles the manager's first seconds, retrying while its pprof server starts.
func cpuProfile(ctx context.Context, addr, path string, seconds int) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		top, err := profileTop(ctx, addr, "profile?seconds="+strconv.Itoa(seconds), path, cpuTopArgs...)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return top, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitQuietStart waits until no call but the periodic ones (DescribeTargets of drift detection,
// DescribeTargetHealth) has reached sim for quiet: a started manager has read every listener.
func waitQuietStart(ctx context.Context, sim *clbsim.Sim, quiet, timeout time.Duration) {
	startup := func() int {
		n := 0
		for action, results := range sim.Calls() {
			if action == "DescribeTargets" || action == healthAction {
				continue
			}
			for _, c := range results {
				n += c
			}
		}
		return n
	}
	prev, since, deadline := startup(), time.Now(), time.Now().Add(timeout)
	for time.Since(since) < quiet && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		if cur := startup(); cur != prev {
			prev, since = cur, time.Now()
		}
	}
}

// waitManagerIdle waits until the manager's reconcile queues are empty and it has written
// nothing to the API server for quiet (its metrics), or timeout. A phase that ended when the
// cloud was quiet stopped managers still writing statuses, and the next manager wrote them.
// It returns how long it waited.
func waitManagerIdle(ctx context.Context, metricsAddr string, quiet, timeout time.Duration) time.Duration {
	t0 := time.Now()
	state := func() (depth, writes int, err error) {
		m, err := sandbox.ScrapeMetrics(ctx, metricsAddr)
		if err != nil {
			return 0, 0, err
		}
		for verb, n := range m.ByLabel("rest_client_requests_total", "method") {
			if verb != http.MethodGet {
				writes += int(n)
			}
		}
		return int(m.Sum("workqueue_depth", nil)), writes, nil
	}
	_, prev, err := state()
	since := time.Now()
	for err == nil && time.Since(t0) < timeout && ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
		var depth, writes int
		if depth, writes, err = state(); err != nil {
			break
		}
		if depth > 0 || writes != prev {
			prev, since = writes, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
	}
	if err != nil {
		logf("scale10: the manager's metrics: %v", err)
	}
	return time.Since(t0)
}

// scale10Idle is how long a manager must have nothing queued and write nothing to be idle.
const scale10Idle = 3 * time.Second

// controlPlaneRSS is the peak RSS of envtest's etcd and kube-apiserver, children of the bench.
func controlPlaneRSS() map[string]int64 {
	out := map[string]int64{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		f := strings.Fields(s[closing+1:])
		if open < 0 || len(f) < 2 || f[1] != self {
			continue
		}
		name := s[open+1 : closing]
		if name != "etcd" && name != "kube-apiserver" {
			continue
		}
		status, _ := os.ReadFile(filepath.Join(d, "status"))
		for line := range strings.SplitSeq(string(status), "\n") {
			if kib, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if v := strings.Fields(kib); len(v) > 0 {
					out[name], _ = strconv.ParseInt(v[0], 10, 64)
				}
			}
		}
	}
	return out
}

func scale10Markdown(res scale10Result, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Scale ×10 with pods: %d LBs, %d bindings, %d Pod objects\n\n", res.LBs, res.Bindings, res.Pods)
	w("%s\n\n", machineLine(started, took))
	if *scale10Fraction != 1 {
		w("**A reduced run** (`-scale10-fraction %g`); the full size is %d LBs, %d bindings, %d pods.\n\n",
			*scale10Fraction, scale10LBs, scale10LBs*scale10ListenersLB, scale10LBs*scale10ListenersLB*scale10PodsPer)
	}
	w("- **Setup.** envtest's kube-apiserver + etcd; clbsim in process (fixed latency model, default 20 QPS per action); `bin/manager` as its own process "+
		"with production defaults (plus `--pprof-bind-address` on loopback). %d LBs (tagged `%s=%s`) × %d TCP listeners, one CLBBackendBinding per listener "+
		"(readiness gate off), each with a headless Service selecting its %d pods and one EndpointSlice listing them (targetRef with UID, nodeName). "+
		"Pods look like a Deployment's (labels, owner reference, annotation, one container with a port, env, resources, a probe); their status is set through "+
		"the status subresource as a kubelet would (Running, PodIP, five conditions True, one container status). %d namespaces of %d bindings; one "+
		"CLBBindingPolicy lets them (namespace selector) bind the LBs (tag match).\n",
		res.LBs, scale10TagKey, scale10Name, scale10ListenersLB, scale10PodsPer, res.Namespaces, *scale10PerNS)
	if res.MemoryLimit > 0 {
		w("- **Memory.** The manager runs as in a container limited to %d MiB: `GOMEMLIMIT` is 90%% of it (%d MiB), what cmd/manager sets "+
			"itself from its cgroup's limit (automemlimit); the process is not in a memory cgroup, so going over the limit would show in the peak RSS, "+
			"not as a kill.\n", res.MemoryLimit>>20, res.MemoryLimit*9/10>>20)
	}
	w("- **Method.** Every object is created before the manager starts, by %d parallel client workers without a client-side rate limit "+
		"(pods %.1f s, their status %.1f s, Services + EndpointSlices + bindings %.1f s). **Cold start**: manager started → clbsim holds exactly every "+
		"target (polled every 100 ms); it includes the manager's cache sync. **Floor**: the cloud's 20 calls per second per action with the lower bounds "+
		"of %d writes (⌈%d targets / 500⌉ per LB) and %d reads (⌈%d listeners / 20⌉ DescribeTargets per LB): max(writes, reads) / 20 s. "+
		"**Sync reads** are held against what a starting manager must read: those DescribeTargets, and each LB's tags, which the binding "+
		"policies match (⌈LBs / 20⌉ DescribeLoadBalancers), %d in all; the cold start reads the account's backend quota once more. "+
		"Each manager is stopped only once idle (its reconcile queues empty and no API server write for %v, from its metrics). "+
		"**Restart**: the manager is stopped and started again on the converged state; measured until it has read every LB, clbsim saw no sync call "+
		"for %v and the manager is idle. **Steady hour**: the manager restarted with its periodic timers divided by %d (`--drift-check-interval %v --health-slow-poll %v "+
		"--health-fast-poll %v`, the lowest it accepts) and `--clb-qps %d`, clbsim at %d QPS per action and latencies / %d; once it has read every LB and made no start-up call (any but DescribeTargets and DescribeTargetHealth) for %v (two drift intervals) and is idle, calls "+
		"are counted for %v and reported per uncompressed minute. DescribeTargetHealth (the health poller) is listed apart from the sync reads.\n\n",
		res.Workers, res.Created["pods"].Seconds(), res.Created["pod status"].Seconds(), res.Created["services, slices, bindings"].Seconds(),
		res.WriteBound, scale10ListenersLB*scale10PodsPer, res.ReadBound, scale10ListenersLB, res.StartReadBound, scale10Idle, scale10Quiet, scale10Compression,
		time.Minute/scale10Compression, 30*time.Second/scale10Compression, max(scale10MinFastPoll, 2*time.Second/scale10Compression),
		20*scale10Compression, 20*scale10Compression, scale10Compression, scale10Settle, res.SteadyWindow/scale10Compression)

	floor := res.scale10Floor()
	w("| phase | time (s) | floor (s) | writes / bound | sync reads / bound | health reads | manager peak RSS | manager CPU | calls by action | " +
		"API server writes (the manager's) | reconciles |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	w("| cold start: manager started → every target in clbsim | %.1f | %.0f | %d / %d | %d / %d | %d | %d MiB | %.1f s | %s | %s | %s |\n",
		res.Create.Wall.Seconds(), floor.Seconds(), res.Create.Calls.writes(), res.WriteBound, res.Create.Calls.reads(), res.coldReadBound(),
		res.Create.Calls.ByAction[healthAction], res.Create.Stats.PeakRSSKiB/1024, res.Create.CPU.Seconds(), byAction(res.Create.Calls),
		sortedCounts(res.Create.Manager.Writes), sortedCounts(res.Create.Manager.Reconciles))
	w("| restart: started → quiet | %.1f | %.0f | %d / 0 | %d / %d | %d | %d MiB | %.1f s | %s | %s | %s |\n",
		res.Restart.Wall.Seconds(), float64(ceilDiv(res.ReadBound, 20)), res.Restart.Calls.writes(), res.Restart.Calls.reads(), res.StartReadBound,
		res.Restart.Calls.ByAction[healthAction], res.Restart.Stats.PeakRSSKiB/1024, res.Restart.CPU.Seconds(), byAction(res.Restart.Calls),
		sortedCounts(res.Restart.Manager.Writes), sortedCounts(res.Restart.Manager.Reconciles))

	w("| start of the compressed manager: started → settled | %.1f | %.0f | %d / 0 | %d / %d | %d | %d MiB | %.1f s | %s | %s | %s |\n",
		res.CompressedStart.Wall.Seconds(), float64(ceilDiv(res.ReadBound, 20*scale10Compression)), res.CompressedStart.Calls.writes(),
		res.CompressedStart.Calls.reads(), res.StartReadBound, res.CompressedStart.Calls.ByAction[healthAction],
		res.CompressedStart.Stats.PeakRSSKiB/1024, res.CompressedStart.CPU.Seconds(), byAction(res.CompressedStart.Calls),
		sortedCounts(res.CompressedStart.Manager.Writes), sortedCounts(res.CompressedStart.Manager.Reconciles))

	w("\nA starting manager learns its listeners' protocols, ports and rules from the DescribeTargets it makes anyway (DescribeListeners " +
		"only when a health check is to be written or a listener is not in that answer), and the load balancers' tags from " +
		"DescribeLoadBalancers calls of 20 IDs, which also read the load balancers that bindings queued for a reconcile will read next.\n")
	w("\nThe cold-started manager was idle (every status written) %.1f s after it started, checked after the heap profile and the "+
		"cloud's quiet, so an upper bound.\n", res.CreateIdle.Seconds())
	mins := res.SteadyWindow.Minutes()
	w("\n| steady hour (%v run in %v) | per uncompressed minute | target |\n|---|---|---|\n", res.SteadyWindow, res.SteadyWindow/scale10Compression)
	w("| writes | %.1f (%d in all) | 0 |\n", float64(res.Steady.Calls.writes())/mins, res.Steady.Calls.writes())
	w("| sync reads | %.1f | drift: %d DescribeTargets (⌈%d / 20⌉ per LB) |\n", float64(res.Steady.Calls.reads())/mins, res.ReadBound, scale10ListenersLB)
	w("| DescribeTargetHealth | %.1f | |\n", float64(res.Steady.Calls.ByAction[healthAction])/mins)
	w("| all, by action (whole window) | %s | |\n", byAction(res.Steady.Calls))
	w("| manager CPU, %% of a core over uncompressed time | %.2f%% (%.1f s) | ≤ 2%% |\n", 100*res.Steady.CPU.Seconds()/res.SteadyWindow.Seconds(), res.Steady.CPU.Seconds())
	w("| manager CPU in each tenth of the window (compressed) | %v | |\n", res.SteadyCPUSteps)
	w("| manager's API server requests (whole window) | %s | writes: 0 |\n", sortedCounts(res.Steady.Manager.API))
	w("| the API server's writes (whole window), by resource | %s | none |\n", sortedCounts(res.Steady.Manager.Writes))
	w("| reconciles by controller (whole window) | %s | |\n", sortedCounts(res.Steady.Manager.Reconciles))
	w("| clbsim still holds every target at the end | %v | yes |\n", res.Steady.Converged)
	w("\n%s\n", chartLink("Scale ×10: cold start and restart against the floor, CLB calls against their bounds, steady calls per minute by action", chartFile(scenarioScale10)))

	w("\n| memory | peak RSS |\n|---|---|\n")
	w("| manager after the cold start (target ≤ 1 GiB at full size) | %d MiB |\n", res.Create.Stats.PeakRSSKiB/1024)
	for _, name := range []string{"kube-apiserver", "etcd"} {
		w("| envtest %s | %d MiB |\n", name, res.ControlPlane[name]/1024)
	}
	w("\nHeap of the manager after the cold start: %d MiB live after a GC (HeapAlloc); `go tool pprof -top -inuse_space` of profile `%s` "+
		"(one sample per 512 KiB allocated, so small entries are rough):\n\n```\n%s\n```\n", res.HeapAlloc>>20, filepath.Base(res.HeapFile), res.HeapTop)
	w("\nCPU of the manager in the first %d s of the cold start (`go tool pprof -top -cum`, profile `%s`):\n\n```\n%s\n```\n",
		scale10CPUProfile, filepath.Base(res.CPUFile), res.CPUTop)
	w("\nCPU of the manager in the steady window (%v, compressed time; `go tool pprof -top -cum`, profile `%s`):\n\n```\n%s\n```\n",
		res.SteadyWindow/scale10Compression, filepath.Base(res.SteadyCPUFile), res.SteadyCPUTop)
	if res.SteadyAllocTop != "" {
		w("\nAllocations of the manager in the same window (`go tool pprof -top -cum -sample_index=alloc_space`, profile `%s`):\n\n```\n%s\n```\n",
			filepath.Base(res.SteadyAllocFile), res.SteadyAllocTop)
	}
	return b.String()
}
