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
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Readiness scenario parameters.
const (
	readyPods    = 200
	readyNS      = "readiness"
	readyBinding = "web"
	// readyStagger spreads the health flips over several poll periods, so every phase of the
	// fast poll is sampled.
	readyStagger = 50 * time.Millisecond
	readyTarget  = 3 * time.Second // fast poll (2 s) + 1 s
)

type readinessResult struct {
	Pods                int
	Latencies           []time.Duration // sorted
	P50, P99, Max       time.Duration
	Registered          time.Duration // pods created → every target registered
	HealthCalls         int
	Stats               procStats
	StaggerOver         time.Duration
	TargetP99, FastPoll time.Duration
}

func readyIP(i int) string { return fmt.Sprintf("10.2.%d.%d", (i+1)/256, (i+1)%256) }

func runReadiness(ctx context.Context, managerBin string) (readinessResult, error) {
	res := readinessResult{Pods: readyPods, TargetP99: readyTarget, FastPoll: 2 * time.Second}
	pe, err := startProcEnv(ctx, managerBin, clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()})
	if err != nil {
		return res, err
	}
	defer pe.stop()
	sim := pe.srv.Sim
	sim.SetLatency(fixedModel().simLatency(true, 1))
	lbID := sim.AddLoadBalancer("readiness")
	lisID := sim.AddListener(lbID, "TCP", 80)
	// Every target is Dead until the bench marks it Alive.
	sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID}, "Dead")
	gate := corev1.PodConditionType("health.clbind.io/" + readyBinding)

	if err := pe.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: readyNS}}); err != nil {
		return res, err
	}
	// The manager enforces binding policies (its default): the policy a cluster admin creates lets
	// the namespace bind the load balancer. Creating the pods gives it time to reach the manager.
	if err := sandbox.ApplyPolicy(ctx, pe.k8s, sandbox.AllowPolicy(readyNS, []string{lbID}, readyNS)); err != nil {
		return res, err
	}

	// Informer on pods: timestamps of the gate turning True.
	cs, err := kubernetes.NewForConfig(pe.cfg)
	if err != nil {
		return res, err
	}
	var (
		mu     sync.Mutex
		trueAt = map[string]time.Time{}
	)
	record := func(obj any) {
		now := time.Now()
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == gate && c.Status == corev1.ConditionTrue {
				mu.Lock()
				if _, seen := trueAt[pod.Name]; !seen {
					trueAt[pod.Name] = now
				}
				mu.Unlock()
			}
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(readyNS))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		return res, err
	}
	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	factory.Start(ictx.Done())
	factory.WaitForCacheSync(ictx.Done())

	// Pods with the gate, containers ready, held back only by the gate.
	t0 := time.Now()
	pods := make([]*corev1.Pod, readyPods)
	for i := range pods {
		pods[i] = &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: readyNS, Name: fmt.Sprintf("web-%03d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				Containers:     []corev1.Container{{Name: "app", Image: "bench.invalid/app"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}},
			},
		}
	}
	if err := parallel(pods, func(p *corev1.Pod) error {
		if err := pe.k8s.Create(ctx, p); err != nil {
			return err
		}
		return markContainersReady(ctx, pe.k8s, p, readyIP(slices.Index(pods, p)))
	}); err != nil {
		return res, fmt.Errorf("creating pods: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: readyNS, Name: readyBinding + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: readyBinding}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("tcp"), Port: new(int32(backendPort)), Protocol: new(corev1.ProtocolTCP)}},
	}
	for i, p := range pods {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{readyIP(i)},
			Conditions: discoveryv1.EndpointConditions{Ready: new(false)},
			TargetRef:  &corev1.ObjectReference{Kind: podKind, Namespace: readyNS, Name: p.Name, UID: p.UID},
		})
	}
	objs := []client.Object{
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: readyNS, Name: readyBinding},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone,
				Ports:     []corev1.ServicePort{{Name: "tcp", Port: 80, TargetPort: intstr.FromInt32(backendPort), Protocol: corev1.ProtocolTCP}},
			},
		},
		slice,
		&networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: readyNS, Name: readyBinding},
			Spec: networkingv1alpha1.CLBBackendBindingSpec{
				LoadBalancerID: lbID,
				Listener:       networkingv1alpha1.ListenerReference{ID: lisID},
				ServiceRef:     networkingv1alpha1.ServiceReference{Name: readyBinding, Port: intstr.FromInt32(80)},
				TargetType:     networkingv1alpha1.TargetTypePod,
				ReadinessGate:  new(true),
			},
		},
	}
	for _, o := range objs {
		if err := pe.k8s.Create(ctx, o); err != nil {
			return res, err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(sim.Targets(lbID)) < readyPods {
		if err := pe.alive(); err != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d gated pods registered after 2m", len(sim.Targets(lbID)), readyPods)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Registered = time.Since(t0)
	logf("readiness: %d gated pods registered in %v", readyPods, res.Registered.Round(time.Millisecond))
	// Let the registration settle, so the flips measure the health path only.
	waitQuietSim(ctx, sim, 3*time.Second)
	mu.Lock()
	early := len(trueAt)
	mu.Unlock()
	if early > 0 {
		return res, fmt.Errorf("%d pods got the gate True while every target was Dead", early)
	}

	before := sim.Calls()
	markedAt := make([]time.Time, readyPods)
	start := time.Now()
	for i := range pods {
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID, IP: readyIP(i)}, "Alive")
		markedAt[i] = time.Now()
		time.Sleep(readyStagger)
	}
	res.StaggerOver = time.Since(start)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(trueAt)
		mu.Unlock()
		if n == readyPods {
			break
		}
		if err := pe.alive(); err != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d gates True 2m after the last target turned Alive", n, readyPods)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.HealthCalls = diffCalls(before, sim.Calls()).ByAction["DescribeTargetHealth"]
	mu.Lock()
	for i, p := range pods {
		res.Latencies = append(res.Latencies, trueAt[p.Name].Sub(markedAt[i]))
	}
	mu.Unlock()
	slices.Sort(res.Latencies)
	res.P50 = percentile(res.Latencies, 0.50)
	res.P99 = percentile(res.Latencies, 0.99)
	res.Max = res.Latencies[len(res.Latencies)-1]
	if res.Stats, err = pe.stats(); err != nil {
		return res, err
	}
	logf("readiness: Alive → gate True over %d pods: p50 %v, p99 %v, max %v (target p99 ≤ %v); DescribeTargetHealth %d",
		readyPods, res.P50.Round(time.Millisecond), res.P99.Round(time.Millisecond), res.Max.Round(time.Millisecond), readyTarget, res.HealthCalls)
	return res, nil
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// markContainersReady gives a pod just created the status a kubelet would: running at ip,
// containers ready, not Ready (its readiness gate holds it). The manager may write the gate
// condition meanwhile (BindingMissing: the binding comes after the pods): on a conflict the
// status is applied again to the pod as it is, keeping that condition.
func markContainersReady(ctx context.Context, c client.Client, p *corev1.Pod, ip string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if p.ResourceVersion == "" {
			if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
		}
		conds := slices.DeleteFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == corev1.ContainersReady || c.Type == corev1.PodReady
		})
		p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = append(conds,
			corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
			corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()})
		err := c.Status().Update(ctx, p)
		if apierrors.IsConflict(err) {
			p.ResourceVersion = "" // read it again
		}
		return err
	})
}
