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
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

var _ = Describe("clb-binding-controller", func() {
	JustAfterEach(dumpOnFailure)

	It("rolls 6 pods under load with readiness gates injected by the webhook: no failed request, never fewer serving backends than replicas", func(ctx SpecContext) {
		app, l := deployApp(ctx, sandbox.App{Namespace: "e2e-gated", Name: "web", Replicas: 6}, cloudDefaultHealth)
		podsCarryGate(ctx, app)

		r := rollUnderLoad(ctx, app, l, nil)
		podsCarryGate(ctx, app)
		result("gates=on failed=%d of %d (6 replicas, maxSurge 1, maxUnavailable 0, drain 5s, CLB health check every 5s x3; rollout %v; min serving backends %d over %d samples)",
			r.Failed, r.Sent, r.Took.Round(100*time.Millisecond), r.MinServing, r.Samples)

		Expect(r.Samples).To(BeNumerically(">=", int(r.Took/sampleEvery)/2), "too few samples of clbsim during the rollout")
		Expect(r.Failed).To(BeZero(), "%d of %d requests failed during the rolling update: %s", r.Failed, r.Sent, strings.Join(r.Failures, "; "))
		Expect(r.MinServing).To(BeNumerically(">=", int(app.Replicas)-maxUnavailable),
			"the CLB served with %d backends %v after the restart (replicas %d, maxUnavailable %d)", r.MinServing, r.MinServingAt.Round(time.Millisecond), app.Replicas, maxUnavailable)
		for _, p := range r.After.Pods {
			Expect(r.ByPod).To(HaveKey(p.Name), "new pod %s served no request", p.Name)
		}
		exactBackends(ctx, app)
	}, SpecTimeout(8*time.Minute))

	It("rolls the same update with readiness gates off, and records what the gate prevents", func(ctx SpecContext) {
		app, l := deployApp(ctx, sandbox.App{Namespace: "e2e-ungated", Name: "web", Replicas: 6, NoReadinessGate: true}, cloudDefaultHealth)

		r := rollUnderLoad(ctx, app, l, nil)
		result("gates=off failed=%d of %d (6 replicas, maxSurge 1, maxUnavailable 0, drain 5s, CLB health check every 5s x3; rollout %v; min serving backends %d over %d samples)",
			r.Failed, r.Sent, r.Took.Round(100*time.Millisecond), r.MinServing, r.Samples)
		for _, f := range r.Failures {
			logf("gates=off failure %s", f)
		}
		// Recorded, not asserted: without the gate the Deployment moves on as soon as a pod's
		// containers are ready, before the CLB has found it healthy.
		exactBackends(ctx, app)
	}, SpecTimeout(8*time.Minute))

	It("scales to 30 and back to 2, then deregisters every backend when the binding is deleted", func(ctx SpecContext) {
		app, _ := deployApp(ctx, sandbox.App{Namespace: "e2e-scale", Name: "web", Replicas: 2, PreStop: 2 * time.Second, DrainSeconds: 2}, nil)
		exactBackends(ctx, app)

		for _, replicas := range []int32{30, 2} {
			t := time.Now()
			Expect(sb.Scale(ctx, app, replicas)).To(Succeed())
			app.Replicas = replicas
			waitSettled(ctx, app)
			exactBackends(ctx, app)
			result("scale to %d: settled with exactly %d backends in %v", replicas, replicas, since(t))
		}

		t := time.Now()
		pods := app.Replicas
		Expect(sb.Client().Delete(ctx, &networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name},
		})).To(Succeed())
		Expect(sb.WaitFor(ctx, settleTimeout, "the binding to be deleted and its backends deregistered", func(ctx context.Context) (bool, string, error) {
			v, err := sb.Look(ctx, app)
			if err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			if len(v.Backends) > 0 {
				return false, describe(v), nil
			}
			gone, msg := bindingGone(ctx, app)
			return gone, msg, nil
		})).To(Succeed())
		v, err := sb.Look(ctx, app)
		Expect(err).NotTo(HaveOccurred())
		Expect(v.Backends).To(BeEmpty())
		Expect(v.Pods).To(HaveLen(int(pods)), "deleting the binding must leave the pods alone: %s", describe(v))
		result("binding deleted: 0 backends left, binding and CLBHealth gone in %v", since(t))
	}, SpecTimeout(8*time.Minute))

	It("completes a rollout when the manager is SIGKILLed in the middle of it, without leaking or losing a target", func(ctx SpecContext) {
		// The gate is in the pod template here: the webhook is served by the manager, and with it
		// down (failurePolicy Ignore) pods created meanwhile would come up without a gate.
		app, l := deployApp(ctx, sandbox.App{Namespace: "e2e-kill", Name: "web", Replicas: 4, InjectGate: true}, nil)
		before, err := sb.Look(ctx, app)
		Expect(err).NotTo(HaveOccurred())
		oldRevision := before.Pods[0].Revision

		var (
			killedAt, restartedAt time.Time
			atKill, holderAtKill  string
			gatedAtKill           = map[string]bool{}
			gatedWhileDown        = map[string]bool{}
		)
		restarted := make(chan error, 1)
		start := time.Now()
		r := rollUnderLoad(ctx, app, l, func(ctx context.Context, v sandbox.View) error {
			switch {
			case killedAt.IsZero():
				// Kill once a new pod is Ready (the Deployment then deletes an old one) while old
				// pods remain: targets are being registered, drained and deregistered.
				if len(gatedNew(v, oldRevision)) >= 1 && oldLeft(v, oldRevision) >= 1 {
					if err := sb.KillManager(); err != nil {
						return err
					}
					killedAt = time.Now()
					atKill = describe(v)
					holderAtKill = leaseHolder(ctx)
					for _, name := range gatedNew(v, oldRevision) {
						gatedAtKill[name] = true
					}
					logf("manager killed %v into the rollout: %s", since(start), atKill)
					go func() { restarted <- sb.RestartManager(ctx) }()
				}
			case restartedAt.IsZero():
				select {
				case err := <-restarted:
					if err != nil {
						return err
					}
					restartedAt = time.Now()
					logf("manager back and leading %v after the kill", restartedAt.Sub(killedAt).Round(100*time.Millisecond))
				default:
					// Nobody but the manager turns a gate True: while it is down (and until the
					// new one leads, up to a lease duration) no new pod may pass its gate. A
					// status patch in flight at the kill may still land: the first second is
					// not held against it. The view was read before the Lease: if the Lease
					// still names the killed manager, no new one could have set a gate in it.
					if time.Since(killedAt) > time.Second && !newLeader(ctx, holderAtKill) {
						for _, name := range gatedNew(v, oldRevision) {
							if !gatedAtKill[name] {
								gatedWhileDown[name] = true
							}
						}
					}
				}
			default:
				if err := sb.ManagerRunning(); err != nil {
					return err
				}
			}
			return nil
		})
		Expect(killedAt).NotTo(BeZero(), "the rollout finished before the manager could be killed")
		Expect(restartedAt).NotTo(BeZero(), "the rollout finished while the manager was down")
		result("manager-kill failed=%d of %d (4 replicas; SIGKILL %v into the rollout, leading again %v later; rollout %v) [recorded]",
			r.Failed, r.Sent, killedAt.Sub(start).Round(100*time.Millisecond),
			restartedAt.Sub(killedAt).Round(100*time.Millisecond), r.Took.Round(100*time.Millisecond))
		for _, f := range r.Failures {
			logf("manager-kill failure %s", f)
		}
		Expect(gatedWhileDown).To(BeEmpty(), "gates turned True while no manager ran (state at the kill: %s)", atKill)
		exactBackends(ctx, app)
		// Nothing of this app's pods anywhere else on the load balancer either.
		v, err := sb.Look(ctx, app)
		Expect(err).NotTo(HaveOccurred())
		ips := map[string]bool{}
		for _, p := range v.Pods {
			ips[p.IP] = true
		}
		for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
			Expect(t.ListenerID == l.ID || !ips[t.EniIP]).To(BeTrue(), "pod address %s is registered on listener %s too", t.EniIP, t.ListenerID)
		}
	}, SpecTimeout(6*time.Minute))
})

// gatedNew lists the pods not of oldRevision whose gate is True.
func gatedNew(v sandbox.View, oldRevision string) []string {
	var names []string
	for _, p := range v.Pods {
		if p.Revision != oldRevision && p.Gate == corev1.ConditionTrue {
			names = append(names, p.Name)
		}
	}
	return names
}

// oldLeft counts the pods of oldRevision.
func oldLeft(v sandbox.View, oldRevision string) int {
	n := 0
	for _, p := range v.Pods {
		if p.Revision == oldRevision {
			n++
		}
	}
	return n
}

// leaseHolder is the identity in the manager's leader Lease ("" when it cannot be read).
func leaseHolder(ctx context.Context) string {
	lease, err := sb.ManagerLease(ctx)
	if err != nil {
		return ""
	}
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}

// newLeader reports whether the leader Lease names someone other than killed (a read error
// counts as a new leader: the sample is then not held against the manager).
func newLeader(ctx context.Context, killed string) bool {
	h := leaseHolder(ctx)
	return h == "" || h != killed
}
