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
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// podKind is the kind of an endpoint's targetRef.
const podKind = "Pod"

// Scale scenario parameters.
const (
	scaleLBs          = 50
	scaleListenersLB  = 20 // one binding per TCP listener: 1,000 bindings
	scaleEndpointsPer = 10 // 10,000 endpoints
	scaleChurnPer     = 1  // endpoints replaced per binding: 10%
	scaleNS           = "scale"
	scaleSteady       = 3 * time.Minute // three drift-check intervals
	// policySettle is the pause between creating a binding policy and the bindings it allows, for
	// the manager's cache to see it: the manager runs as a process, so the bench cannot ask it.
	policySettle = time.Second
)

// scalePhase is one timed change of the scale scenario.
type scalePhase struct {
	Name        string
	Targets     int // targets written (registered + deregistered)
	Wall        time.Duration
	Issue       time.Duration // time to write the change to the API server
	Calls       callCounts
	WriteBound  int
	ReadBound   int
	ReadBoundNB string
}

type scaleResult struct {
	Phases       []scalePhase
	Steady       callCounts
	SteadyWindow time.Duration
	Stats        procStats
	StatsCreate  procStats
}

type scaleBinding struct {
	name, lbID, listenerID string
	ips                    []string
}

func scaleIP(k int) string {
	k++ // 10.1.0.1 …
	return fmt.Sprintf("10.%d.%d.%d", 1+k/65536, (k/256)%256, k%256)
}

func scaleObjects(b scaleBinding) []client.Object {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: scaleNS, Name: b.name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "tcp", Port: 80, TargetPort: intstr.FromInt32(backendPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	binding := &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: scaleNS, Name: b.name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: b.lbID,
			Listener:       networkingv1alpha1.ListenerReference{ID: b.listenerID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: b.name, Port: intstr.FromInt32(80)},
			TargetType:     networkingv1alpha1.TargetTypePod,
			ReadinessGate:  new(false),
		},
	}
	return []client.Object{svc, scaleSlice(b), binding}
}

// scaleSlice is the binding's EndpointSlice: ready pod endpoints whose pods are not created (a
// ready endpoint of a pod the controller cannot see is registered).
func scaleSlice(b scaleBinding) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: scaleNS, Name: b.name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: b.name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("tcp"), Port: new(int32(backendPort)), Protocol: new(corev1.ProtocolTCP)}},
	}
	for _, ip := range b.ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: new(true)},
			TargetRef:  &corev1.ObjectReference{Kind: podKind, Namespace: scaleNS, Name: "pod-" + strings.ReplaceAll(ip, ".", "-")},
		})
	}
	return s
}

// scaleWant is the set of listener/ip pairs per LB.
func scaleWant(bs []scaleBinding) map[string]map[string]bool {
	want := map[string]map[string]bool{}
	for _, b := range bs {
		if want[b.lbID] == nil {
			want[b.lbID] = map[string]bool{}
		}
		for _, ip := range b.ips {
			want[b.lbID][b.listenerID+"/"+ip] = true
		}
	}
	return want
}

// waitConverged waits until clbsim holds exactly want on every LB.
func waitConverged(ctx context.Context, pe *procEnv, want map[string]map[string]bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		done, diff := true, 0
		for lbID, set := range want {
			got := map[string]bool{}
			for _, t := range pe.srv.Sim.Targets(lbID) {
				got[t.ListenerID+"/"+t.EniIP] = true
			}
			if !maps.Equal(got, set) {
				done = false
				for k := range set {
					if !got[k] {
						diff++
					}
				}
				for k := range got {
					if !set[k] {
						diff++
					}
				}
			}
		}
		if done {
			return nil
		}
		if err := pe.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clbsim still differs from the wanted targets by %d after %v", diff, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func runScale(ctx context.Context, managerBin string) (scaleResult, error) {
	var res scaleResult
	pe, err := startProcEnv(ctx, managerBin, clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()})
	if err != nil {
		return res, err
	}
	defer pe.stop()
	sim := pe.srv.Sim
	sim.SetLatency(fixedModel().simLatency(true, 1))
	if err := pe.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNS}}); err != nil {
		return res, err
	}
	var bs []scaleBinding
	k := 0
	for l := range scaleLBs {
		lbID := sim.AddLoadBalancer(fmt.Sprintf("scale-%02d", l))
		for j := range scaleListenersLB {
			b := scaleBinding{name: fmt.Sprintf("b-%02d-%02d", l, j), lbID: lbID, listenerID: sim.AddListener(lbID, "TCP", int64(10000+j))}
			for range scaleEndpointsPer {
				b.ips = append(b.ips, scaleIP(k))
				k++
			}
			bs = append(bs, b)
		}
	}
	total := k
	logf("scale: %d LBs, %d bindings, %d endpoints; manager pid %d", scaleLBs, len(bs), total, pe.cmd.Process.Pid)
	// The manager enforces binding policies (its default): the policy a cluster admin creates lets
	// the namespace bind the 50 load balancers. It is given a moment to reach the manager's cache
	// before the timed creation, so that no binding is judged before it.
	lbIDs := make([]string, 0, scaleLBs)
	for _, b := range bs {
		if !slices.Contains(lbIDs, b.lbID) {
			lbIDs = append(lbIDs, b.lbID)
		}
	}
	if err := sandbox.ApplyPolicy(ctx, pe.k8s, sandbox.AllowPolicy(scaleNS, lbIDs, scaleNS)); err != nil {
		return res, err
	}
	time.Sleep(policySettle)

	// Phase 1: everything created at once.
	before := sim.Calls()
	t0 := time.Now()
	if err := parallel(bs, func(b scaleBinding) error {
		for _, o := range scaleObjects(b) {
			if err := pe.k8s.Create(ctx, o); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("creating the objects: %w", err)
	}
	issued := time.Since(t0)
	if err := waitConverged(ctx, pe, scaleWant(bs), 4*time.Minute); err != nil {
		return res, err
	}
	ph := scalePhase{Name: fmt.Sprintf("create: %d LBs × %d listeners, %d endpoints at once", scaleLBs, scaleListenersLB, total),
		Targets: total, Wall: time.Since(t0), Issue: issued, Calls: diffCalls(before, sim.Calls()),
		WriteBound: scaleLBs * ceilDiv(scaleListenersLB*scaleEndpointsPer, 500), ReadBound: scaleLBs * ceilDiv(scaleListenersLB, 20)}
	res.Phases = append(res.Phases, ph)
	logf("scale: created and converged in %v (API writes %v): writes %d (bound %d), reads %d (bound %d) %v",
		ph.Wall.Round(time.Millisecond), issued.Round(time.Millisecond), ph.Calls.writes(), ph.WriteBound, ph.Calls.reads(), ph.ReadBound, ph.Calls.ByAction)
	if res.StatsCreate, err = pe.stats(); err != nil {
		return res, err
	}
	waitQuietSim(ctx, sim, 3*time.Second)

	// Phase 2: 10% churn, one endpoint of every binding replaced by a new pod.
	for i := range bs {
		ips := slices.Clone(bs[i].ips)
		for c := range scaleChurnPer {
			ips[c] = scaleIP(k)
			k++
		}
		bs[i].ips = ips
	}
	churned := len(bs) * scaleChurnPer
	before = sim.Calls()
	t0 = time.Now()
	if err := parallel(bs, func(b scaleBinding) error {
		var cur discoveryv1.EndpointSlice
		if err := pe.k8s.Get(ctx, client.ObjectKey{Namespace: scaleNS, Name: b.name + "-1"}, &cur); err != nil {
			return err
		}
		cur.Endpoints = scaleSlice(b).Endpoints
		return pe.k8s.Update(ctx, &cur)
	}); err != nil {
		return res, fmt.Errorf("churning: %w", err)
	}
	issued = time.Since(t0)
	if err := waitConverged(ctx, pe, scaleWant(bs), 4*time.Minute); err != nil {
		return res, err
	}
	perLB := churned / scaleLBs
	ph = scalePhase{Name: fmt.Sprintf("churn: %d endpoints replaced (%d%%)", churned, 100*churned/total),
		Targets: 2 * churned, Wall: time.Since(t0), Issue: issued, Calls: diffCalls(before, sim.Calls()),
		WriteBound:  scaleLBs * 2 * ceilDiv(perLB, 500), // one register and one deregister per LB
		ReadBound:   scaleLBs * ceilDiv(scaleListenersLB, 20),
		ReadBoundNB: fmt.Sprintf("%d (0 with a warm cache)", scaleLBs*ceilDiv(scaleListenersLB, 20))}
	res.Phases = append(res.Phases, ph)
	logf("scale: churn converged in %v (API writes %v): writes %d (bound %d), reads %d %v",
		ph.Wall.Round(time.Millisecond), issued.Round(time.Millisecond), ph.Calls.writes(), ph.WriteBound, ph.Calls.reads(), ph.Calls.ByAction)

	// Steady state.
	waitQuietSim(ctx, sim, 3*time.Second)
	res.SteadyWindow = scaleSteady
	res.Steady = callsDuring(ctx, sim, scaleSteady)
	logf("scale: steady %v: %v", scaleSteady, res.Steady.ByAction)
	if err := pe.alive(); err != nil {
		return res, err
	}
	if res.Stats, err = pe.stats(); err != nil {
		return res, err
	}
	logf("scale: manager peak RSS %d MiB, CPU %v", res.Stats.PeakRSSKiB/1024, res.Stats.CPU)
	return res, nil
}

// waitQuietSim waits until no call but DescribeTargetHealth (and alsoIgnored) has reached sim for quiet.
func waitQuietSim(ctx context.Context, sim *clbsim.Sim, quiet time.Duration, alsoIgnored ...string) {
	snapshot := func() map[string]int {
		out := map[string]int{}
		for action, results := range sim.Calls() {
			if action == "DescribeTargetHealth" || slices.Contains(alsoIgnored, action) {
				continue
			}
			for _, n := range results {
				out[action] += n
			}
		}
		return out
	}
	prev, since := snapshot(), time.Now()
	for time.Since(since) < quiet && ctx.Err() == nil {
		time.Sleep(quiet / 20)
		if cur := snapshot(); !maps.Equal(cur, prev) {
			prev, since = cur, time.Now()
		}
	}
}
