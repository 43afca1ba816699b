//go:build e2e

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

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Leader gaps (issue 15, item 4). Draining needs a leader: a pod that starts to terminate while
// no replica leads keeps its weight on the CLB until a standby takes over, and once its preStop
// sleep ends it stops serving while the CLB may still send it traffic. The suite runs its
// replicas with a 6 s lease for speed; this spec runs two replicas with the manager's defaults
// and SIGKILLs the leader in a rolling update, at the moment the Deployment is about to delete an
// old pod, once per preStop sleep of the old pods.
var defaultLeaseArgs = []string{
	"--leader-election-lease-duration=" + defaultLease.String(),
	"--leader-election-renew-deadline=10s",
	"--leader-election-retry-period=" + defaultRetry.String(),
}

const (
	// defaultLease and defaultRetry are the manager's defaults (cmd/manager/options.go).
	defaultLease = 15 * time.Second
	defaultRetry = 2 * time.Second
	// earlierPreStop is what the README advised before this measurement (20 s with the
	// defaults); it is reported, not asserted: the worst case needs gapPreStop.
	earlierPreStop = 20 * time.Second
	// gapPreStop is the preStop sleep with which no request fails whatever the moment of the kill.
	// The standby takes the Lease at most lease + 2 × maxAcquireGap after the kill (see
	// failover_test.go: it counts the lease from when it observed the last renewal, up to one
	// jittered retry period, 2.2 × 2 s, late, and notices the expiry at its next attempt, up to
	// another one late): 23.8 s with the defaults. Its first write that drains the pod came
	// 0.5–0.7 s after it led in every run. The earlier 20 s covers the typical gap (15–19 s
	// from the kill to the drain in these runs) but not the worst: killed right after a renewal,
	// eight leaders were succeeded 16.2–20.7 s later (three after more than 20 s, before their
	// first write).
	gapPreStop = 25 * time.Second
	// gapGraceMargin sets the pods' terminationGracePeriodSeconds for a preStop sleep p: p + 5 s
	// for the app to finish in-flight requests, and never below Kubernetes' default of 30 s.
	gapGraceMargin = 5 * time.Second
	// gapRunTimeout bounds one run: a new pod turning healthy, the takeover (up to 25 s), the
	// rest of the rollout and the old pod's preStop.
	gapRunTimeout = 2 * time.Minute
	// gapPoll is how often the pods are read until the kill: the kill must come between the
	// moment a new pod's gate turns True and the deletion of an old pod that follows it.
	gapPoll = 20 * time.Millisecond
)

// gapRun is one rolling update with the leader SIGKILLed in it.
type gapRun struct {
	// PreStop is the sleep of the old pods, those that terminate in the gap.
	PreStop      time.Duration
	Sent, Failed int
	Failures     []string
	// KilledAfter is when the leader was killed after the rollout started.
	KilledAfter time.Duration
	// Leading is when the standby was seen leading, FirstWrite its first cloud write, after the
	// kill.
	Leading, FirstWrite time.Duration
	// GapPod is the old pod that started to terminate while no replica led; Terminating is when
	// it was seen terminating after the kill and Drained when its backend was first seen at
	// weight 0 (or gone); Undrained is the time in between: the preStop sleep it needed.
	GapPod                        string
	Terminating, Drained, Stopped time.Duration
	Undrained                     time.Duration
	// WeightAtTerminating is its backend's weight when it was first seen terminating.
	WeightAtTerminating int64
	Took                time.Duration
	// FailuresAfterKill are the failed requests' offsets from the kill.
	FailuresAfterKill []time.Duration
}

var _ = Describe("leader gaps", Label("measurement"), func() {
	JustAfterEach(dumpOnFailure)

	It("measures the failed requests when the leader is SIGKILLed mid-rollout with the default lease (15 s), without a preStop sleep, with the earlier advice of 20 s, and none with 25 s (the README's)", func(ctx SpecContext) {
		specStart := time.Now()
		// The gate is in the pod template: between the kill and the takeover the webhook
		// configurations point at the dead leader (see internal/sandbox/replicas.go). The sandbox's
		// fast health check (every second) keeps the spec short; the leader gap does not depend on
		// it. The old pods first have no preStop sleep (0 s).
		app, l := deployApp(ctx, sandbox.App{Namespace: "e2e-leadergap", Name: "web", Replicas: 2, InjectGate: true,
			PreStop: time.Nanosecond, DrainSeconds: 5}, nil)

		// Two replicas with the default lease take over from the suite's manager, which leaves
		// gracefully (it releases its Lease).
		suiteManager := sb.Manager()
		var replicas []*sandbox.Replica
		for range 2 {
			r, err := sb.StartStandbyWith(ctx, defaultLeaseArgs...)
			if r != nil {
				replicas = append(replicas, r)
			}
			Expect(err).NotTo(HaveOccurred())
		}
		DeferCleanup(restoreSuiteManager, &replicas, NodeTimeout(3*time.Minute))
		t := time.Now()
		Expect(suiteManager.Stop(15 * time.Second)).To(Succeed())
		leader, standby := waitOneLeads(ctx, replicas[0], replicas[1])
		logf("%s (default lease) leads %v after %s stopped; %s waits", leader.Name, since(t), suiteManager.Name, standby.Name)

		preStop := time.Duration(0)
		var runs []gapRun
		for _, next := range []time.Duration{earlierPreStop, gapPreStop, 0} {
			r := gapRollout(ctx, app, l, leader, standby, preStop, next)
			runs = append(runs, r)
			reportGap(r)
			preStop = next
			if next == 0 {
				break
			}
			// The standby leads now; another replica with the default lease waits behind it.
			leader = standby
			var err error
			standby, err = sb.StartStandbyWith(ctx, defaultLeaseArgs...)
			if standby != nil {
				replicas = append(replicas, standby)
			}
			Expect(err).NotTo(HaveOccurred())
		}
		result("leader-gap summary (lease %v, retry %v; 2 replicas, gate in the template, health check every 1s): preStop 0s failed=%d of %d, preStop %v (earlier advice) failed=%d of %d, preStop %v failed=%d of %d; "+
			"gap pods undrained for %v, %v, %v; spec took %v",
			defaultLease, defaultRetry, runs[0].Failed, runs[0].Sent, earlierPreStop, runs[1].Failed, runs[1].Sent, gapPreStop, runs[2].Failed, runs[2].Sent,
			runs[0].Undrained.Round(100*time.Millisecond), runs[1].Undrained.Round(100*time.Millisecond), runs[2].Undrained.Round(100*time.Millisecond), since(specStart))

		for _, r := range runs {
			// Each run really had a pod terminate undrained while no replica led.
			Expect(r.GapPod).NotTo(BeEmpty(), "preStop %v: no old pod started to terminate while no replica led", r.PreStop)
			Expect(r.WeightAtTerminating).To(BeNumerically(">", 0), "preStop %v: %s was drained before the kill", r.PreStop, r.GapPod)
			Expect(r.Drained).To(BeNumerically(">=", r.Leading-time.Second), "preStop %v: %s was drained before the standby led", r.PreStop, r.GapPod)
		}
		// Without a preStop sleep the gap shows; with gapPreStop no request fails.
		Expect(runs[0].Failed).To(BeNumerically(">", 0), "no request failed with no preStop sleep: the measurement sees nothing")
		Expect(runs[2].Failed).To(BeZero(), "with a %v preStop sleep %d of %d requests failed: %s", gapPreStop, runs[2].Failed, runs[2].Sent, strings.Join(runs[2].Failures, "; "))
		Expect(runs[2].Undrained).To(BeNumerically("<", gapPreStop))
	}, SpecTimeout(8*time.Minute))
})

// waitOneLeads waits until one of a and b leads and returns it first.
func waitOneLeads(ctx context.Context, a, b *sandbox.Replica) (leader, standby *sandbox.Replica) {
	GinkgoHelper()
	Expect(sb.WaitFor(ctx, 60*time.Second, "one of "+a.Name+" and "+b.Name+" to lead", func(ctx context.Context) (bool, string, error) {
		for _, r := range []*sandbox.Replica{a, b} {
			if err := r.Running(); err != nil {
				return false, "", err
			}
		}
		if ok, _ := a.Leading(ctx); ok {
			leader, standby = a, b
			return true, "", nil
		}
		if ok, _ := b.Leading(ctx); ok {
			leader, standby = b, a
			return true, "", nil
		}
		return false, "neither leads", nil
	})).To(Succeed())
	return leader, standby
}

// restoreSuiteManager leaves the sandbox as the other specs expect it: one manager with the
// suite's flags (short lease), leading. A replica with the suite's flags starts, the replicas
// with the default lease stop gracefully (releasing the Lease), and the new one is promoted.
func restoreSuiteManager(ctx SpecContext, replicas *[]*sandbox.Replica) {
	r, err := sb.StartStandby(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, d := range *replicas {
		if d.Running() == nil {
			Expect(d.Stop(15*time.Second)).To(Succeed(), "stopping %s", d.Name)
		}
	}
	Expect(sb.StopStandbys(ctx)).To(Succeed())
	Expect(sb.Manager().Name).To(Equal(r.Name))
	Expect(sb.ManagerRunning()).To(Succeed())
	logf("%s, with the suite's flags, is the sandbox's manager again", r.Name)
}

// gapRollout rolls the app under load to a template whose preStop sleep is next (the old pods
// sleep preStop), SIGKILLs the leader as soon as a new pod's gate turns True (the Deployment then
// deletes an old pod), and follows the rollout until the standby completed it and every old pod
// that terminated in the gap is gone.
func gapRollout(ctx context.Context, app sandbox.App, l sandbox.Listener, leader, standby *sandbox.Replica, preStop, next time.Duration) gapRun {
	GinkgoHelper()
	run := gapRun{PreStop: preStop}
	c := sb.Client()
	old := map[string]string{} // name → IP of the pods before the rollout
	existing := map[string]bool{}
	var pods corev1.PodList
	Expect(c.List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels{"app": app.Name})).To(Succeed())
	for _, p := range pods.Items {
		// Pods of the previous run's old revision may still sleep their preStop (drained).
		existing[p.Name] = true
		if p.DeletionTimestamp == nil {
			old[p.Name] = p.Status.PodIP
		}
	}
	Expect(old).To(HaveLen(int(app.Replicas)))
	leading, err := leader.Leading(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(leading).To(BeTrue(), "%s does not lead", leader.Name)

	trafficStart := time.Now()
	traffic := sandbox.StartTraffic(ctx, l.DataPlane, requestEvery)
	DeferCleanup(traffic.Stop)
	Expect(sb.WaitFor(ctx, 15*time.Second, "requests to flow through "+l.DataPlane, func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Served >= 20, fmt.Sprintf("%d served, %d failed: %v", st.Served, st.Failed, st.Failures), nil
	})).To(Succeed())
	before := traffic.Stats()

	start := time.Now()
	grace := max(30*time.Second, next+gapGraceMargin)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"clbind.io/leader-gap-run":%q}},"spec":{"terminationGracePeriodSeconds":%d,`+
		`"containers":[{"name":"web","lifecycle":{"preStop":{"sleep":{"seconds":%d}}}}]}}}}`,
		start.Format(time.RFC3339Nano), int64(grace/time.Second), int64(next/time.Second))
	Expect(c.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}},
		client.RawPatch(types.StrategicMergePatchType, []byte(patch)))).To(Succeed())

	killedAt := killAtGate(ctx, app, existing, leader, start)
	run.KilledAfter = killedAt.Sub(start)
	leadingAt := make(chan time.Time, 1)
	go func() {
		at, _ := sb.WaitLeading(ctx, standby, 60*time.Second)
		leadingAt <- at
	}()

	// Follow the old pods and their backends until the standby completed the rollout and every
	// old pod that terminated before it led is gone.
	f := gapFollower{old: old, terminating: map[string]time.Duration{}, drained: map[string]time.Duration{}, gone: map[string]time.Duration{}}
	Expect(sb.WaitFor(ctx, gapRunTimeout, "the standby to lead and complete the rollout", func(ctx context.Context) (bool, string, error) {
		if err := standby.Running(); err != nil {
			return false, "", err
		}
		if f.leadAt.IsZero() {
			select {
			case t := <-leadingAt:
				if t.IsZero() {
					return false, "", fmt.Errorf("%s did not lead within a minute of the kill", standby.Name)
				}
				f.leadAt = t
				logf("%s leads %v after the kill", standby.Name, t.Sub(killedAt).Round(time.Millisecond))
			default:
			}
		}
		v, err := sb.Look(ctx, app)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		done := f.observe(v, time.Since(killedAt), &run)
		return done && v.RolledOut && f.newReady(v) == int(app.Replicas),
			fmt.Sprintf("%s; terminating %v, drained %v, gone %v", v.Summary(), f.terminating, f.drained, f.gone), nil
	})).To(Succeed())
	// The last requests sent to the gap pod before it went are answered by now.
	time.Sleep(time.Second)
	run.Took = time.Since(start)
	st := traffic.Stop()
	run.Sent, run.Failed, run.Failures = st.Sent-before.Sent, st.Failed-before.Failed, st.Failures
	run.FailuresAfterKill = failuresAfter(st.Failures, killedAt.Sub(trafficStart))
	run.Leading = f.leadAt.Sub(killedAt)
	if w := writesOf(callsOf(standby.Name, killedAt)); len(w) > 0 {
		run.FirstWrite = w[0].Start.Sub(killedAt)
	}
	if run.GapPod != "" {
		run.Terminating, run.Drained, run.Stopped = f.terminating[run.GapPod], f.drained[run.GapPod], f.gone[run.GapPod]
		run.Undrained = run.Drained - run.Terminating
	}
	return run
}

// killAtGate SIGKILLs the leader the moment a pod not in existing passes its gate: the
// Deployment is about to delete an old pod, and no replica will drain it.
func killAtGate(ctx context.Context, app sandbox.App, existing map[string]bool, leader *sandbox.Replica, start time.Time) time.Time {
	GinkgoHelper()
	var killedAt time.Time
	Expect(sb.WaitFor(ctx, gapRunTimeout, "a new pod to pass its gate", func(ctx context.Context) (bool, string, error) {
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			if err := leader.Running(); err != nil {
				return false, "", err
			}
			var pods corev1.PodList
			if err := sb.Client().List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels{"app": app.Name}); err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			for _, p := range pods.Items {
				if existing[p.Name] || p.DeletionTimestamp != nil || conditionOf(&p, app.Gate()) != corev1.ConditionTrue {
					continue
				}
				if err := leader.Kill(); err != nil {
					return false, "", err
				}
				killedAt = time.Now()
				logf("%s (leader, default lease) SIGKILLed %v into the rollout, as %s passed its gate", leader.Name, since(start), p.Name)
				return true, "", nil
			}
			time.Sleep(gapPoll)
		}
		return false, "no new pod passed its gate yet", nil
	})).To(Succeed())
	return killedAt
}

// gapFollower follows the old pods of a rollout after the kill: when each was first seen
// terminating, drained (weight 0 or off the CLB) and gone, as offsets from the kill.
type gapFollower struct {
	old                        map[string]string // name → IP
	terminating, drained, gone map[string]time.Duration
	leadAt                     time.Time
}

// observe notes what v shows at (after the kill), the gap pod into run, and reports whether
// every old pod is drained and the gap pod is gone.
func (f *gapFollower) observe(v sandbox.View, at time.Duration, run *gapRun) bool {
	weights := map[string]int64{}
	for _, b := range v.Backends {
		weights[b.IP] = b.Weight
	}
	present, leaving := map[string]bool{}, map[string]bool{}
	for _, p := range v.Pods {
		present[p.Name] = true
		leaving[p.Name] = p.Terminating
	}
	for name, ip := range f.old {
		// A pod without a preStop sleep may terminate and go between two samples.
		if _, seen := f.terminating[name]; seen || (present[name] && !leaving[name]) {
			continue
		}
		f.terminating[name] = at
		if run.GapPod == "" && f.leadAt.IsZero() {
			run.GapPod, run.WeightAtTerminating = name, weights[ip]
			logf("old pod %s terminating (present %v) %v after the kill, weight %d on the CLB, no replica leads", name, present[name], at.Round(time.Millisecond), run.WeightAtTerminating)
		}
	}
	for name, ip := range f.old {
		if _, seen := f.terminating[name]; !seen {
			continue
		}
		if _, seen := f.drained[name]; !seen && weights[ip] == 0 {
			f.drained[name] = at
		}
		if _, seen := f.gone[name]; !seen && !present[name] {
			f.gone[name] = at
		}
	}
	_, gapGone := f.gone[run.GapPod]
	return !f.leadAt.IsZero() && len(f.drained) == len(f.old) && (run.GapPod == "" || gapGone)
}

// newReady counts the Ready pods of v not in old that do not terminate.
func (f *gapFollower) newReady(v sandbox.View) int {
	n := 0
	for _, p := range v.Pods {
		if _, isOld := f.old[p.Name]; !isOld && p.Ready == corev1.ConditionTrue && !p.Terminating {
			n++
		}
	}
	return n
}

// conditionOf is the status of a pod's condition ("" when missing).
func conditionOf(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func reportGap(r gapRun) {
	ms := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	result("leader-gap preStop=%v failed=%d of %d (lease %v, retry %v; leader SIGKILLed %v into the rollout as a new pod passed its gate; standby leading %v after the kill, first write %v after; "+
		"old pod %s terminating %v after the kill at weight %d, drained (weight 0) %v after, gone %v after: undrained %v; run %v)",
		r.PreStop, r.Failed, r.Sent, defaultLease, defaultRetry, ms(r.KilledAfter), ms(r.Leading), ms(r.FirstWrite),
		r.GapPod, ms(r.Terminating), r.WeightAtTerminating, ms(r.Drained), ms(r.Stopped), ms(r.Undrained), ms(r.Took))
	if len(r.FailuresAfterKill) > 0 {
		logf("leader-gap preStop=%v: first failures %v after the kill: %s", r.PreStop, r.FailuresAfterKill[:min(3, len(r.FailuresAfterKill))],
			strings.Join(r.Failures[:min(3, len(r.Failures))], "; "))
		result("leader-gap preStop=%v: failures from %v to %v after the kill (first %d recorded)", r.PreStop,
			slices.Min(r.FailuresAfterKill), slices.Max(r.FailuresAfterKill), len(r.FailuresAfterKill))
	}
}
