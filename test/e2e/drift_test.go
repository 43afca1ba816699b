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
	"maps"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// driftRepairBound is the target from a change to its repair: the backends of a listener
// are read again every minute (--drift-check-interval), and a backend that vanished is seen
// sooner, by the health poller. The repair is written in the pass that finds the change.
const driftRepairBound = 60 * time.Second

// bindingSeen is one state of the binding's status, as kubectl get cbb shows it.
type bindingSeen struct {
	reason, listenerID string
	healthy            int32
}

func (b bindingSeen) String() string {
	return fmt.Sprintf("%s listener=%s healthy=%d", b.reason, b.listenerID, b.healthy)
}

// drift watches one app's binding while a change made outside the controller is repaired.
type drift struct {
	app  sandbox.App
	port int64
	tag  string // the binding's ownership tag on its backends
}

func (d *drift) binding(ctx context.Context) (bindingSeen, error) {
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, client.ObjectKey{Namespace: d.app.Namespace, Name: d.app.Name}, &b); err != nil {
		return bindingSeen{}, err
	}
	seen := bindingSeen{listenerID: b.Status.ListenerID, healthy: b.Status.Healthy}
	if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		seen.reason = c.Reason
	}
	return seen, nil
}

// ours are the app's backends on its listener as clbsim holds them.
func (d *drift) ours() []clbsim.Target {
	var out []clbsim.Target
	for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
		if t.ListenerID == d.app.ListenerID {
			out = append(out, t)
		}
	}
	return out
}

// watch polls until done holds, recording every state of the binding on the way, and returns
// how long it took and the states seen.
func (d *drift) watch(ctx context.Context, start time.Time, what string, done func(v sandbox.View, b bindingSeen) bool) (time.Duration, []bindingSeen) {
	GinkgoHelper()
	var states []bindingSeen
	var took time.Duration
	Expect(sb.WaitFor(ctx, driftRepairBound+30*time.Second, what, func(ctx context.Context) (bool, string, error) {
		if err := sb.ManagerRunning(); err != nil {
			return false, "", err
		}
		b, err := d.binding(ctx)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		if len(states) == 0 || states[len(states)-1] != b {
			states = append(states, b)
			logf("  %v after the change: %v", since(start), b)
		}
		v, err := sb.Look(ctx, d.app)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		if done(v, b) {
			took = time.Since(start)
			return true, "", nil
		}
		return false, describe(v) + "; binding " + b.String(), nil
	})).To(Succeed())
	return took, states
}

// repaired holds once the CLB has exactly the app's pods again, healthy, at their weight and tag,
// and the binding says Synced on the listener it holds them on.
func (d *drift) repaired() func(v sandbox.View, b bindingSeen) bool {
	return func(v sandbox.View, b bindingSeen) bool {
		if !v.Settled(int(d.app.Replicas)) || b.reason != networkingv1alpha1.BindingSyncedReason || b.listenerID != d.app.ListenerID {
			return false
		}
		for _, t := range d.ours() {
			if t.Tag != d.tag || t.Weight != 10 {
				return false
			}
		}
		return true
	}
}

// managerCalls counts the managers' calls to clbsim since t by action, but the health poller's
// DescribeTargetHealth (it runs whatever happens).
func managerCalls(t time.Time) map[string]int {
	out := map[string]int{}
	for _, c := range callsSince(t) {
		if c.Action != "DescribeTargetHealth" {
			out[c.Action]++
		}
	}
	return out
}

func formatCalls(calls map[string]int) string {
	parts := make([]string, 0, len(calls))
	for _, action := range slices.Sorted(maps.Keys(calls)) {
		parts = append(parts, fmt.Sprintf("%s=%d", action, calls[action]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// repairedEvents are the binding's RepairedOutOfBand Events since t.
func (d *drift) repairedEvents(ctx context.Context, t time.Time) []string {
	return bindingWarnings(ctx, d.app.Namespace, d.app.Name, t, "RepairedOutOfBand")
}

var _ = Describe("changes made outside the controller", Ordered, func() {
	JustAfterEach(dumpOnFailure)

	// One app per change: Kubernetes folds the Events of one object and reason into a series
	// that keeps the first message, so each change needs its own binding to show its own Event.
	drifts := map[string]*drift{}
	BeforeAll(func(ctx SpecContext) {
		for _, name := range []string{"removed", "weight", "tag", "foreign", "recreated", "listener"} {
			ns := "e2e-drift-" + name
			allowNamespace(ctx, ns)
			d := &drift{app: sandbox.App{Namespace: ns, Name: "web", Replicas: 3}, port: nextPort}
			nextPort++
			l, err := sb.AddListener(d.port)
			Expect(err).NotTo(HaveOccurred())
			d.app.ListenerID, d.app.ListenerPort = l.ID, int32(d.port)
			Expect(sb.Deploy(ctx, d.app)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { removeApp(ctx, d.app) }, NodeTimeout(cleanupTimeout+10*time.Second))
			drifts[name] = d
		}
		for _, d := range drifts {
			waitSettled(ctx, d.app)
			d.tag = d.ours()[0].Tag
		}

		// The manager re-reads every listener for a while after it starts leading (a write of
		// the previous leader may still land): changes must be found by the steady-state
		// mechanisms, so wait until that is over.
		lease, err := sb.ManagerLease(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(lease.Spec.AcquireTime).NotTo(BeNil())
		if wait := time.Until(lease.Spec.AcquireTime.Add(70 * time.Second)); wait > 0 {
			logf("waiting %v: the manager's startup recheck lasts a minute from %v", wait.Round(time.Second), lease.Spec.AcquireTime.Time)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}, NodeTimeout(5*time.Minute))

	// The changes are made at once, each on its own binding: the periodic read that finds a
	// weight or tag change finds them all, and the spec takes one read interval, not five.
	type change struct {
		name  string
		make  func(d *drift) int // changes the CLB by hand; returns how many backends it changed
		event string             // what the RepairedOutOfBand Event says ("" for none)
	}
	It("are each repaired within a minute, said in a Warning Event, with one write each", func(ctx SpecContext) {
		changes := []change{
			{"removed", func(d *drift) int {
				victim := d.ours()[0]
				return sb.Sim().RemoveBackends(sb.LoadBalancerID(), func(t clbsim.Target) bool { return t == victim })
			}, "re-registered 1 backend removed outside the controller"},
			{"weight", func(d *drift) int {
				victim := d.ours()[1]
				return sb.Sim().ChangeBackends(sb.LoadBalancerID(), func(t clbsim.Target) bool { return t == victim },
					func(t *clbsim.Target) { t.Weight = 55 })
			}, "restored the weight of 1 backend changed outside the controller"},
			{"tag", func(d *drift) int {
				victim := d.ours()[2]
				return sb.Sim().ChangeBackends(sb.LoadBalancerID(), func(t clbsim.Target) bool { return t == victim },
					func(t *clbsim.Target) { t.Tag = "hand-edited" })
			}, "restored the tag of 1 backend changed outside the controller"},
			{"foreign", func(d *drift) int {
				if !sb.Sim().AddBackend(sb.LoadBalancerID(), clbsim.Target{ListenerID: d.app.ListenerID, EniIP: "10.241.7.7", Port: 9000, Weight: 10, Tag: foreignTag}) {
					return 0
				}
				return 1
			}, "removed 1 backend added outside the controller (10.241.7.7:9000)"},
			// A Terraform re-apply: the listener deleted and created again on its port, a new ID.
			{"recreated", func(d *drift) int {
				sb.Sim().DeleteListener(sb.LoadBalancerID(), d.app.ListenerID)
				l, err := sb.AddListener(d.port)
				Expect(err).NotTo(HaveOccurred())
				d.app.ListenerID = l.ID
				return 3
			}, ""},
		}
		start := time.Now()
		for _, c := range changes {
			Expect(c.make(drifts[c.name])).To(BeNumerically(">", 0), "the change %q touched no backend", c.name)
		}
		took := map[string]time.Duration{}
		states := map[string][]bindingSeen{}
		Expect(sb.WaitFor(ctx, driftRepairBound+30*time.Second, "every change repaired", func(ctx context.Context) (bool, string, error) {
			if err := sb.ManagerRunning(); err != nil {
				return false, "", err
			}
			var waiting []string
			for _, c := range changes {
				if _, done := took[c.name]; done {
					continue
				}
				d := drifts[c.name]
				b, err := d.binding(ctx)
				if err != nil {
					return false, err.Error(), nil //nolint:nilerr // retried by the next poll
				}
				if seen := states[c.name]; len(seen) == 0 || seen[len(seen)-1] != b {
					states[c.name] = append(seen, b)
					logf("  %s: %v after the changes: %v", c.name, since(start), b)
				}
				v, err := sb.Look(ctx, d.app)
				if err != nil {
					return false, err.Error(), nil //nolint:nilerr // retried by the next poll
				}
				if d.repaired()(v, b) {
					took[c.name] = time.Since(start)
					continue
				}
				waiting = append(waiting, c.name+": "+describe(v)+"; binding "+b.String())
			}
			return len(waiting) == 0, strings.Join(waiting, " | "), nil
		})).To(Succeed())

		all := managerCalls(start)
		for _, c := range changes {
			d := drifts[c.name]
			writes := 0
			for _, call := range callsSince(start) {
				if call.IsWrite() && call.Touches(d.app.ListenerID) {
					writes++
				}
			}
			var events []string
			if c.event != "" {
				Eventually(func(ctx context.Context) []string {
					events = d.repairedEvents(ctx, start)
					return events
				}).WithContext(ctx).WithTimeout(10*time.Second).Should(ContainElement(ContainSubstring(c.event)), "no RepairedOutOfBand Event for %s", c.name)
			}
			result("drift %s: repaired in %v with %d write(s); binding meanwhile: %v; Event: %q",
				c.name, took[c.name].Round(100*time.Millisecond), writes, states[c.name], events)
			Expect(took[c.name]).To(BeNumerically("<=", driftRepairBound+5*time.Second),
				"%s repaired %v after the change (the read interval is %v; the repair is written in the pass that reads it)", c.name, took[c.name], driftRepairBound)
			Expect(writes).To(Equal(1), "writes to repair %s", c.name)
		}
		result("drift: calls for the five repairs: %s", formatCalls(all))
		Expect(all["DescribeTargets"]).To(BeNumerically("<=", len(changes)), "reads: %s", formatCalls(all))
	})

	It("says ListenerNotFound, naming no listener, while its listener is deleted, and registers the backends on the listener re-created on the same port", func(ctx SpecContext) {
		d := drifts["listener"]
		old := d.app.ListenerID
		start := time.Now()
		sb.Sim().DeleteListener(sb.LoadBalancerID(), old)
		took, states := d.watch(ctx, start, "the binding to say ListenerNotFound", func(_ sandbox.View, b bindingSeen) bool {
			return b.reason == networkingv1alpha1.BindingListenerNotFoundReason
		})
		result("drift listener deleted: ListenerNotFound after %v; binding meanwhile: %v; calls: %s",
			took.Round(100*time.Millisecond), states, formatCalls(managerCalls(start)))
		Expect(took).To(BeNumerically("<=", driftRepairBound+5*time.Second))
		b, err := d.binding(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.listenerID).To(BeEmpty(), "status.listenerId names the deleted listener")

		start = time.Now()
		l, err := sb.AddListener(d.port)
		Expect(err).NotTo(HaveOccurred())
		d.app.ListenerID = l.ID
		took, states = d.watch(ctx, start, "the backends on the re-created listener", d.repaired())
		calls := managerCalls(start)
		result("drift listener re-created as %s: backends registered and Synced after %v; binding meanwhile: %v; calls: %s",
			l.ID, took.Round(100*time.Millisecond), states, formatCalls(calls))
		Expect(took).To(BeNumerically("<=", driftRepairBound+5*time.Second))
		Expect(calls["BatchRegisterTargets"]).To(Equal(1), "writes: %s", formatCalls(calls))
	})
})
