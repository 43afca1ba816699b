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
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Shares scenario: a stable and a canary binding split one listener of 1,000 backends by
// spec.trafficShare; the shares move as a canary does. A change is weights only: the bound is
// ⌈1000/500⌉ BatchModifyTargetWeight calls and no registration or deregistration.
const (
	sharesStablePods, sharesCanaryPods = 700, 300
	sharesBound                        = (sharesStablePods + sharesCanaryPods + 499) / 500
)

// sharesSteps are the (stable, canary) shares the scenario moves through, the first at creation.
var sharesSteps = [][2]int32{{90, 10}, {50, 50}, {0, 100}}

// sharesStep is one share change.
type sharesStep struct {
	Stable, Canary int32
	Wall           time.Duration // spec patched → the CLB's weights give the canary its share
	Achieved       float64       // the canary's share on the CLB, percent
	Calls          callCounts
}

type sharesResult struct {
	Steps []sharesStep
}

func runShares(ctx context.Context, managerBin string) (sharesResult, error) {
	var res sharesResult
	pe, lbID, err := startOneLBEnv(ctx, managerBin, "shares")
	if err != nil {
		return res, err
	}
	defer pe.stop()
	sim := pe.srv.Sim
	listener := sim.AddListener(lbID, "TCP", 10000)
	stable := scaleBinding{name: "stable", lbID: lbID, listenerID: listener}
	canary := scaleBinding{name: "canary", lbID: lbID, listenerID: listener}
	for k := range sharesStablePods + sharesCanaryPods {
		if k < sharesStablePods {
			stable.ips = append(stable.ips, scaleIP(k))
		} else {
			canary.ips = append(canary.ips, scaleIP(k))
		}
	}
	keys := map[string]client.ObjectKey{}
	for i, b := range []scaleBinding{stable, canary} {
		for _, o := range scaleObjects(b) {
			if binding, ok := o.(*networkingv1alpha1.CLBBackendBinding); ok {
				binding.Spec.TrafficShare = new(sharesSteps[0][i])
				keys[b.name] = client.ObjectKeyFromObject(binding)
			}
			if err := pe.k8s.Create(ctx, o); err != nil {
				return res, err
			}
		}
	}
	// canaryShare is the canary's share of the listener's weight on the CLB, and the backends.
	canaryShare := func() (float64, int) {
		var all, mine int64
		n := 0
		for _, t := range sim.Targets(lbID) {
			all += t.Weight
			n++
			if strings.HasPrefix(t.EniIP, "10.1.") && ipIndex(t.EniIP) >= sharesStablePods {
				mine += t.Weight
			}
		}
		if all == 0 {
			return 0, n
		}
		return 100 * float64(mine) / float64(all), n
	}
	await := func(want int32) (float64, error) {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got, n := canaryShare()
			if n == sharesStablePods+sharesCanaryPods && math.Abs(got-float64(want)) <= 1 {
				return got, nil
			}
			if time.Now().After(deadline) {
				return got, fmt.Errorf("the canary has %.1f%% of the weight on %d backends after 2 minutes, want %d%%", got, n, want)
			}
			if err := pe.alive(); err != nil {
				return got, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := await(sharesSteps[0][1]); err != nil {
		return res, fmt.Errorf("creating the bindings: %w", err)
	}
	waitQuietSim(ctx, sim, 3*time.Second)
	for _, step := range sharesSteps[1:] {
		before, t0 := sim.Calls(), time.Now()
		// The canary first: the shares add up again with the stable binding's patch.
		for _, p := range []struct {
			name  string
			share int32
		}{{"canary", step[1]}, {"stable", step[0]}} {
			var b networkingv1alpha1.CLBBackendBinding
			if err := pe.k8s.Get(ctx, keys[p.name], &b); err != nil {
				return res, err
			}
			patch := client.MergeFrom(b.DeepCopy())
			b.Spec.TrafficShare = new(p.share)
			if err := pe.k8s.Patch(ctx, &b, patch); err != nil {
				return res, err
			}
		}
		achieved, err := await(step[1])
		if err != nil {
			return res, fmt.Errorf("shares %d/%d: %w", step[0], step[1], err)
		}
		s := sharesStep{Stable: step[0], Canary: step[1], Wall: time.Since(t0), Achieved: achieved}
		waitQuietSim(ctx, sim, 3*time.Second)
		s.Calls = diffCalls(before, sim.Calls())
		logf("shares %d/%d: %v, canary %.1f%%, %v", s.Stable, s.Canary, s.Wall.Round(time.Millisecond), achieved, s.Calls.ByAction)
		res.Steps = append(res.Steps, s)
	}
	return res, pe.alive()
}

// startOneLBEnv starts the manager on envtest and clbsim (fixed latency model) with the scale
// namespace and one load balancer named name that a policy lets it bind; the caller stops pe.
func startOneLBEnv(ctx context.Context, managerBin, name string) (*procEnv, string, error) {
	pe, err := startProcEnv(ctx, managerBin, clbsim.Options{MaxTargetsPerRule: 1_000_000, Latency: clbsim.DefaultBusy()})
	if err != nil {
		return nil, "", err
	}
	pe.srv.Sim.SetLatency(fixedModel().simLatency(true, 1))
	if err := pe.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNS}}); err != nil {
		pe.stop()
		return nil, "", err
	}
	lbID := pe.srv.Sim.AddLoadBalancer(name)
	if err := sandbox.ApplyPolicy(ctx, pe.k8s, sandbox.AllowPolicy(scaleNS, []string{lbID}, scaleNS)); err != nil {
		pe.stop()
		return nil, "", err
	}
	return pe, lbID, nil
}

// ipIndex is the k of scaleIP(k).
func ipIndex(ip string) int {
	var a, b, c, d int
	if _, err := fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d); err != nil {
		return -1
	}
	return (b-1)*65536 + c*256 + d - 1
}

func sharesMarkdown(res sharesResult, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Traffic shares: moving a canary on 1,000 backends\n\n%s\n\n", machineLine(started, took))
	w("- **Setup.** envtest + clbsim in process (fixed latency model) + `bin/manager` as its own process with production flags. One LB, one TCP "+
		"listener, two bindings sharing it by `spec.trafficShare`: stable (%d ready pod endpoints) and canary (%d), created at %d/%d.\n",
		sharesStablePods, sharesCanaryPods, sharesSteps[0][0], sharesSteps[0][1])
	w("- **Measure.** Each step patches the canary's share, then the stable one's (between the two patches the shares do not add up and the "+
		"weights stay); time from the first patch to clbsim's weights giving the canary its share within 1 point (polled every 50 ms), and the "+
		"calls until clbsim is quiet. **Bound**: ⌈%d backends / 500⌉ = %d BatchModifyTargetWeight, no registration or deregistration.\n\n",
		sharesStablePods+sharesCanaryPods, sharesBound)
	w("| shares stable/canary | time (s) | canary's share on the CLB | BatchModifyTargetWeight / bound | other writes | calls by action |\n|---|---|---|---|---|---|\n")
	for _, s := range res.Steps {
		other := s.Calls.writes() - s.Calls.ByAction["BatchModifyTargetWeight"]
		w("| %d/%d | %.2f | %.1f%% | %d / %d | %d | %s |\n", s.Stable, s.Canary, s.Wall.Seconds(), s.Achieved,
			s.Calls.ByAction["BatchModifyTargetWeight"], sharesBound, other, byAction(s.Calls))
	}
	w("\n%s\n", chartLink("Traffic shares: time and weight writes of each share change on 1,000 backends", chartFile(scenarioShares)))
	return b.String()
}

// sharesFigure: each change's time, and its weight writes against the bound.
func sharesFigure(res sharesResult) figure {
	times := barChart{Title: fmt.Sprintf("Share change on %d backends: patch → CLB weights", sharesStablePods+sharesCanaryPods), Unit: unitSeconds}
	writes := barChart{Title: "BatchModifyTargetWeight calls", Unit: unitCalls,
		Refs: []refLine{{Label: fmt.Sprintf("bound ⌈%d/500⌉ = %d", sharesStablePods+sharesCanaryPods, sharesBound), Value: sharesBound}}}
	for _, s := range res.Steps {
		label := fmt.Sprintf("%d/%d", s.Stable, s.Canary)
		times.Groups = append(times.Groups, barGroup{Label: label, Bars: []bar{{Value: s.Wall.Seconds(), Text: secondsText(s.Wall)}}})
		n := s.Calls.ByAction["BatchModifyTargetWeight"]
		writes.Groups = append(writes.Groups, barGroup{Label: label, Bars: []bar{{Value: float64(n), Text: fmt.Sprintf("%d", n)}}})
	}
	return figure{Title: "Traffic shares: a canary moving on 1,000 backends", Panels: []panel{times, writes}}
}
