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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Timings shared by the specs. Every wait is bounded by one of these (and each spec by its
// SpecTimeout); on timeout the sandbox dumps its state and the error names the dump.
const (
	// requestEvery paces the load: 50 requests a second, each on a new connection.
	requestEvery = 20 * time.Millisecond
	// sampleEvery is how often the rollout loop samples the pods and clbsim's backends.
	sampleEvery = 200 * time.Millisecond
	// settleTimeout bounds a fresh Deployment or a scale to settle (pods Ready, CLB exact).
	settleTimeout = 2 * time.Minute
	// rolloutTimeout bounds a rolling update of 6 pods (about 100s with the gate and the cloud's
	// default health check, 35s with the sandbox's).
	rolloutTimeout = 4 * time.Minute
	// cleanupTimeout bounds the removal of a spec's app.
	cleanupTimeout = 90 * time.Second
	// maxSurge and maxUnavailable are those of sandbox.App's Deployment.
	maxUnavailable = 0
)

// nextPort is the port of the next spec's listener: a binding owns its listener, so every
// spec's app gets its own.
var nextPort int64 = 8001

// cloudDefaultHealth is the health check a Tencent Cloud CLB listener gets by default: every 5s,
// healthy after 3 passes (15s), dead after 3 failures. The sandbox checks every second to keep
// tests short; the two rollout specs use this one, so that what they measure is what a real CLB
// does.
var cloudDefaultHealth = &clb.HealthCheck{Enabled: true, CheckType: "TCP", TimeoutSeconds: 2, IntervalSeconds: 5,
	HealthyThreshold: 3, UnhealthyThreshold: 3}

// allowNamespace creates the CLBBindingPolicy a cluster admin creates for a team, as the README
// shows: the namespace may bind the sandbox's load balancer. The manager enforces policies by
// default, so every spec's namespace needs one before its binding. The policy is named after the
// namespace and deleted by a cleanup, which runs after those registered later (the app's).
func allowNamespace(ctx context.Context, ns string) {
	GinkgoHelper()
	_, err := sb.AllowNamespaces(ctx, ns, []string{sb.LoadBalancerID()}, ns)
	Expect(err).NotTo(HaveOccurred(), "creating the CLBBindingPolicy of namespace %s", ns)
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(sb.Client().Delete(ctx, &networkingv1alpha1.CLBBindingPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	})
}

// deployApp creates app on a listener of its own (with health check hc, nil for the sandbox's
// fast one) with a policy that allows its namespace (allowNamespace), waits until it settles,
// and registers a cleanup that deletes it and waits until its listener is empty.
func deployApp(ctx context.Context, app sandbox.App, hc *clb.HealthCheck) (sandbox.App, sandbox.Listener) {
	GinkgoHelper()
	allowNamespace(ctx, app.Namespace)
	l, err := sb.AddListener(nextPort)
	nextPort++
	Expect(err).NotTo(HaveOccurred())
	if hc != nil {
		Expect(sb.CLB().ModifyListenerHealthCheck(ctx, sb.LoadBalancerID(), l.ID, *hc)).To(Succeed())
	}
	app.ListenerID = l.ID
	t := time.Now()
	Expect(sb.Deploy(ctx, app)).To(Succeed())
	DeferCleanup(removeApp, app, NodeTimeout(cleanupTimeout+10*time.Second))
	waitSettled(ctx, app)
	logf("%s/%s: %d pods Ready, exactly them on the CLB and healthy, in %v", app.Namespace, app.Name, app.Replicas, since(t))
	return app, l
}

// waitSettled waits up to settleTimeout until the app settles (sandbox.View.Settled), logging
// every change of its one-line summary on the way, so that a slow or failed wait shows where it
// stalled.
func waitSettled(ctx context.Context, app sandbox.App) {
	GinkgoHelper()
	last := ""
	Expect(sb.WaitFor(ctx, settleTimeout, fmt.Sprintf("%s/%s to settle with %d pods", app.Namespace, app.Name, app.Replicas),
		func(ctx context.Context) (bool, string, error) {
			if err := sb.ManagerRunning(); err != nil {
				return false, "", err
			}
			v, err := sb.Look(ctx, app)
			if err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			if sum := v.Summary(); sum != last {
				logf("  %s/%s: %s", app.Namespace, app.Name, sum)
				last = sum
			}
			return v.Settled(int(app.Replicas)), describe(v), nil
		})).To(Succeed())
}

// removeApp deletes the app's binding and Deployment and waits until the listener has no
// backend and no pod is left, so that the next spec runs on a quiet machine.
func removeApp(ctx SpecContext, app sandbox.App) {
	c := sb.Client()
	for _, obj := range []client.Object{
		&networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}},
	} {
		err := c.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
		Expect(client.IgnoreNotFound(err)).To(Succeed())
	}
	Expect(sb.WaitFor(ctx, cleanupTimeout, fmt.Sprintf("%s/%s to be removed", app.Namespace, app.Name),
		func(ctx context.Context) (bool, string, error) {
			v, err := sb.Look(ctx, app)
			if err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			return len(v.Pods) == 0 && len(v.Backends) == 0, v.Summary(), nil
		})).To(Succeed())
}

// rollout is what rollUnderLoad measured.
type rollout struct {
	Took time.Duration
	// Sent and Failed count the requests sent from the restart until the rollout settled.
	Sent, Failed int
	Failures     []string
	ByPod        map[string]int
	// Samples counts the moments sampled; MinServing is the fewest backends the CLB served with
	// (healthy, weight > 0) at any of them, first seen MinServingAt after the restart.
	Samples      int
	MinServing   int
	MinServingAt time.Duration
	Before       sandbox.View
	After        sandbox.View
}

// rollUnderLoad sends requests through the app's listener, restarts the Deployment, and samples
// pods and backends every sampleEvery until the rollout settles. during, if set, sees every
// sample and may act on it (kill the manager); an error from it fails the wait.
func rollUnderLoad(ctx context.Context, app sandbox.App, l sandbox.Listener, during func(ctx context.Context, v sandbox.View) error) rollout {
	GinkgoHelper()
	r := rollout{MinServing: -1}
	var err error
	r.Before, err = sb.Look(ctx, app)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Before.Settled(int(app.Replicas))).To(BeTrue(), "not settled before the rollout: %s", r.Before.Summary())

	traffic := sandbox.StartTraffic(ctx, l.DataPlane, requestEvery)
	DeferCleanup(traffic.Stop)
	Expect(sb.WaitFor(ctx, 15*time.Second, "requests to flow through "+l.DataPlane, func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Served >= 20, fmt.Sprintf("%d served, %d failed: %v", st.Served, st.Failed, st.Failures), nil
	})).To(Succeed())
	before := traffic.Stats()

	start := time.Now()
	Expect(sb.Restart(ctx, app)).To(Succeed())
	Expect(sb.WaitFor(ctx, rolloutTimeout, fmt.Sprintf("the rollout of %s/%s to complete", app.Namespace, app.Name),
		func(ctx context.Context) (bool, string, error) {
			v, err := sb.Look(ctx, app)
			if err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			r.Samples++
			if n := v.Serving(); r.MinServing < 0 || n < r.MinServing {
				r.MinServing, r.MinServingAt = n, time.Since(start)
			}
			if during != nil {
				if err := during(ctx, v); err != nil {
					return false, "", err
				}
			}
			if during == nil {
				if err := sb.ManagerRunning(); err != nil {
					return false, "", err
				}
			}
			r.After = v
			return v.Settled(int(app.Replicas)) && rolledAll(r.Before, v), v.Summary(), nil
		})).To(Succeed())
	r.Took = time.Since(start)
	st := traffic.Stop()
	r.Sent, r.Failed = st.Sent-before.Sent, st.Failed-before.Failed
	r.Failures, r.ByPod = st.Failures, st.ByPod
	return r
}

// rolledAll reports whether no pod of before is left in after.
func rolledAll(before, after sandbox.View) bool {
	for _, p := range after.Pods {
		if slices.ContainsFunc(before.Pods, func(o sandbox.PodView) bool { return o.Name == p.Name }) {
			return false
		}
	}
	return true
}

// exactBackends checks that the app's listener holds exactly the Ready pods' addresses.
func exactBackends(ctx context.Context, app sandbox.App) {
	GinkgoHelper()
	v, err := sb.Look(ctx, app)
	Expect(err).NotTo(HaveOccurred())
	var ready []string
	backends := make([]string, 0, len(v.Backends))
	for _, p := range v.Pods {
		if p.Ready == corev1.ConditionTrue && !p.Terminating {
			ready = append(ready, p.IP)
		}
	}
	for _, b := range v.Backends {
		backends = append(backends, b.IP)
	}
	Expect(backends).To(ConsistOf(ready), "the CLB's backends are not exactly the Ready pods' addresses: %s", describe(v))
	Expect(ready).To(HaveLen(int(app.Replicas)), "Ready pods: %s", describe(v))
}

// describe is a multi-line description of a view for failure messages.
func describe(v sandbox.View) string {
	var b strings.Builder
	b.WriteString(v.Summary())
	for _, p := range v.Pods {
		fmt.Fprintf(&b, "\n  pod %s ip=%s ready=%s gate=%s terminating=%v revision=%s", p.Name, p.IP, p.Ready, p.Gate, p.Terminating, p.Revision)
	}
	for _, be := range v.Backends {
		fmt.Fprintf(&b, "\n  backend %s:%d weight=%d health=%s pod=%s", be.IP, be.Port, be.Weight, be.Health, be.Pod)
	}
	return b.String()
}

// podsCarryGate checks that every pod of the app has the gate in its spec, while the
// Deployment's template has none: the webhook put it there.
func podsCarryGate(ctx context.Context, app sandbox.App) {
	GinkgoHelper()
	var dep appsv1.Deployment
	Expect(sb.Client().Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, &dep)).To(Succeed())
	Expect(dep.Spec.Template.Spec.ReadinessGates).To(BeEmpty(), "the Deployment carries the gate itself: injection is not tested")
	var pods corev1.PodList
	Expect(sb.Client().List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels{"app": app.Name})).To(Succeed())
	Expect(pods.Items).NotTo(BeEmpty())
	for _, p := range pods.Items {
		Expect(p.Spec.ReadinessGates).To(ContainElement(corev1.PodReadinessGate{ConditionType: app.Gate()}),
			"pod %s was admitted without the readiness gate %s", p.Name, app.Gate())
	}
}

// bindingGone reports whether the binding and its CLBHealth no longer exist.
func bindingGone(ctx context.Context, app sandbox.App) (bool, string) {
	key := client.ObjectKey{Namespace: app.Namespace, Name: app.Name}
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, key, &b); !apierrors.IsNotFound(err) {
		return false, fmt.Sprintf("binding still there (finalizers %v, err %v)", b.Finalizers, err)
	}
	var h networkingv1alpha1.CLBHealth
	if err := sb.Client().Get(ctx, key, &h); !apierrors.IsNotFound(err) {
		return false, fmt.Sprintf("CLBHealth still there (err %v)", err)
	}
	return true, ""
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// bindingWarnings are the messages of the binding's Warning Events of reason since t.
func bindingWarnings(ctx context.Context, namespace, binding string, t time.Time, reason string) []string {
	var list corev1.EventList
	if err := sb.Client().List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind != "CLBBackendBinding" || e.InvolvedObject.Name != binding || e.Type != corev1.EventTypeWarning || e.Reason != reason {
			continue
		}
		if e.CreationTimestamp.Before(&metav1.Time{Time: t.Add(-time.Second)}) {
			continue
		}
		out = append(out, e.Message)
	}
	return out
}
