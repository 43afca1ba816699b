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
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// How long a standby may take to lead after the leader's SIGKILL.
//
// client-go's standby counts the lease duration from the moment it observes the leader's last
// renewal, not from the renewal itself, and it only notices the expiry at its next attempt. Its
// attempts are retryPeriod apart, jittered by client-go's JitterFactor 1.2: up to
// maxAcquireGap. So kill → acquisition ≤ maxAcquireGap (to observe the last renewal) +
// leaseDuration + maxAcquireGap (to notice the expiry); the kill itself comes after that last
// renewal, which only shortens it. leaseDuration + retryPeriod is not a bound: it is about the
// average. takeoverSlack covers an attempt's own GET and UPDATE of the Lease and the 50ms
// metrics poll on a 2-core machine that also runs the control plane, the pods and the load.
const (
	maxAcquireGap = retryPeriod * 22 / 10
	takeoverSlack = time.Second
	takeoverBound = leaseDuration + 2*maxAcquireGap + takeoverSlack
	// firstWriteSlack is how long after the takeover bound the standby's first cloud write may
	// come: its caches are synced while it waits, so it only has to reconcile the bindings and
	// gather the changes for one coalesce window (200ms). Mid-rollout there is always something
	// to write (a new pod to register, a drained one to deregister).
	firstWriteSlack = 3 * time.Second
)

// takeover is what watchTakeover saw.
type takeover struct {
	// LastRenew is the last renewal of the killed leader in the Lease.
	LastRenew time.Time
	// Acquired is the Lease's acquireTime under its new holder (set by the standby itself).
	Acquired time.Time
	// Seen is the first scrape of the standby's metrics that said it leads.
	Seen time.Time
	// Repointed is when the webhook configurations first named the standby's port.
	Repointed time.Time
	Holder    string
	Err       error
}

var _ = Describe("failover", func() {
	var standby *sandbox.Replica
	var since0 time.Time

	JustAfterEach(dumpOnFailure)
	JustAfterEach(func() {
		if !CurrentSpecReport().Failed() || standby == nil {
			return
		}
		var b strings.Builder
		for _, c := range callsSince(since0) {
			if c.IsWrite() {
				fmt.Fprintf(&b, "\n  %s %s %s +%v..+%v", c.Replica, c.Action, c.Result,
					c.Start.Sub(since0).Round(time.Millisecond), c.End.Sub(since0).Round(time.Millisecond))
			}
		}
		_, _ = fmt.Fprintf(os.Stdout, "\n--- cloud writes since the standby started (log of %s: %s)%s\n", standby.Name, standby.LogPath(), b.String())
	})

	It("hands a rollout over to a standby when the leader is SIGKILLed: takeover within the lease, never two writers", func(ctx SpecContext) {
		// The gate is in the pod template: between the kill and the takeover the webhook
		// configurations point at the dead leader (see internal/sandbox/replicas.go), and pods
		// created then would come up without a gate. Injection after the takeover is checked
		// below with a dry run.
		app, l := deployApp(ctx, sandbox.App{Namespace: "e2e-failover", Name: "web", Replicas: 8, InjectGate: true,
			PreStop: 5 * time.Second, DrainSeconds: 5}, nil)
		before, err := sb.Look(ctx, app)
		Expect(err).NotTo(HaveOccurred())
		oldRevision := before.Pods[0].Revision

		leader := sb.Manager()
		since0 = time.Now()
		standby, err = sb.StartStandby(ctx)
		DeferCleanup(func(ctx SpecContext) {
			Expect(sb.StopStandbys(ctx)).To(Succeed(), "leaving one leading manager")
		}, NodeTimeout(3*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		Expect(leader.Leading(ctx)).To(BeTrue(), "%s does not lead", leader.Name)
		Expect(standby.Leading(ctx)).To(BeFalse(), "%s leads next to %s", standby.Name, leader.Name)
		Expect(callsOf(standby.Name, since0)).To(BeEmpty(), "the standby called the cloud")
		Expect(sb.WebhookConfigPort(ctx)).To(Equal(leader.WebhookPort), "the webhook configurations do not point at the leader")

		var (
			killedAt, start time.Time
			killedHolder    string
			atKill          string
			tk              *takeover
			// undrained are the pods seen terminating with a weight above 0 on the CLB from the
			// kill until the standby led (when first seen, after the kill): the killed leader
			// never started their drain and nobody else could.
			undrained         = map[string]time.Duration{}
			standbyIdleChecks int
		)
		watched := make(chan takeover, 1)
		start = time.Now()
		r := rollUnderLoad(ctx, app, l, func(pollCtx context.Context, v sandbox.View) error {
			if killedAt.IsZero() {
				// While the leader runs, the standby neither leads nor calls the cloud.
				if calls := callsOf(standby.Name, since0); len(calls) > 0 {
					return fmt.Errorf("%s made %d cloud calls while %s led, the first %s", standby.Name, len(calls), leader.Name, calls[0].Action)
				}
				if leading, err := standby.Leading(pollCtx); err != nil || leading {
					return fmt.Errorf("%s leads (%v) or cannot be scraped (%v) while %s runs", standby.Name, leading, err, leader.Name)
				}
				standbyIdleChecks++
				// Kill once new pods passed their gate while old ones remain: targets are being
				// registered, drained and deregistered.
				if len(gatedNew(v, oldRevision)) < 2 || oldLeft(v, oldRevision) < 3 {
					return nil
				}
				killedHolder = leaseHolder(pollCtx)
				if err := leader.Kill(); err != nil {
					return err
				}
				killedAt = time.Now()
				atKill = describe(v)
				logf("%s (the leader, pid %d) SIGKILLed %v into the rollout: %s", leader.Name, leader.Pid(), since(start), atKill)
				go func() { watched <- watchTakeover(ctx, standby, killedHolder, 2*takeoverBound) }()
				return nil
			}
			if err := standby.Running(); err != nil {
				return err
			}
			if tk != nil {
				return nil
			}
			select {
			case t := <-watched:
				tk = &t
				if t.Err != nil {
					return t.Err
				}
				logf("%s leads: Lease acquired %v after the kill, seen in its metrics %v after", standby.Name,
					t.Acquired.Sub(killedAt).Round(time.Millisecond), t.Seen.Sub(killedAt).Round(time.Millisecond))
			default:
				noteUndrained(v, undrained, time.Since(killedAt).Round(100*time.Millisecond))
			}
			return nil
		})
		Expect(killedAt).NotTo(BeZero(), "the rollout finished before the leader could be killed")
		if tk == nil {
			t := <-watched // watchTakeover gives up after 2 × takeoverBound
			tk = &t
		}
		Expect(tk.Err).NotTo(HaveOccurred())
		Expect(standbyIdleChecks).To(BeNumerically(">=", 3), "too few samples of the standby before the kill")

		// The figures first, so that a failed assertion below still reports them.
		acquired, seen := tk.Acquired.Sub(killedAt), tk.Seen.Sub(killedAt)
		calls := callsSince(since0)
		killedCalls, standbyCalls := byReplica(calls, leader.Name), byReplica(calls, standby.Name)
		killedWrites, standbyWrites := writesOf(killedCalls), writesOf(standbyCalls)
		firstCall, firstWrite := first(standbyCalls), first(standbyWrites)
		var lastKilledEnd time.Time
		for _, c := range killedWrites {
			if c.End.After(lastKilledEnd) {
				lastKilledEnd = c.End
			}
		}
		firstWriteAfter := firstWrite.Start.Sub(killedAt)
		result("failover failed=%d of %d (8 replicas, gate in the template; leader SIGKILLed %v into the rollout; standby acquired the Lease %v after the kill "+
			"(%v after the last renewal, lease %v, bound %v), seen leading %v after, first cloud write %v after; webhooks repointed %v after; rollout %v) [failed recorded]",
			r.Failed, r.Sent, killedAt.Sub(start).Round(100*time.Millisecond), acquired.Round(time.Millisecond),
			tk.Acquired.Sub(tk.LastRenew).Round(time.Millisecond), leaseDuration, takeoverBound, seen.Round(time.Millisecond),
			firstWriteAfter.Round(time.Millisecond), tk.Repointed.Sub(killedAt).Round(time.Millisecond), r.Took.Round(100*time.Millisecond))
		result("failover writes since the standby started: %s %d writes of %d calls (last write ended %v before the kill), %s %d writes of %d calls "+
			"(first call %v after it acquired the Lease, first write %s); %v between the last write of one and the first of the other",
			leader.Name, len(killedWrites), len(killedCalls), killedAt.Sub(lastKilledEnd).Round(time.Millisecond),
			standby.Name, len(standbyWrites), len(standbyCalls), firstCall.Start.Sub(tk.Acquired).Round(time.Millisecond), firstWrite.Action,
			firstWrite.Start.Sub(lastKilledEnd).Round(time.Millisecond))
		if len(undrained) > 0 {
			result("failover: pods terminating undrained (weight > 0) while no replica led, first seen this long after the kill: %v [recorded]", undrained)
		}
		if len(r.Failures) > 0 {
			// The load's clock starts with the rollout (start), a Look later: these are within
			// about 50ms.
			afterKill := failuresAfter(r.Failures, killedAt.Sub(start))
			for i, f := range r.Failures {
				logf("failover failure %s (%v after the kill)", f, afterKill[i])
			}
			result("failover: the first %d failed requests came %v to %v after the kill (a pod deleted with no leader stops serving after its %v preStop; the standby's first write came %v after the kill) [recorded]",
				len(afterKill), slices.Min(afterKill), slices.Max(afterKill), app.PreStop, firstWriteAfter.Round(time.Millisecond))
		}

		// Takeover: within the bound, and never before the killed leader's Lease expired.
		Expect(tk.Holder).NotTo(Equal(killedHolder), "the Lease still names the killed leader")
		Expect(tk.LastRenew).NotTo(BeZero(), "the killed leader's last renewal was not seen")
		// client-go compares Lease records with their times cut to whole seconds: renewals less
		// than a second apart look alike, and a standby may count the lease from an earlier one
		// of them. So the Lease may change hands up to a second before it expired.
		Expect(tk.Acquired.Sub(tk.LastRenew)).To(BeNumerically(">=", leaseDuration-time.Second),
			"%s took the Lease %v after the killed leader's last renewal, before it expired", standby.Name, tk.Acquired.Sub(tk.LastRenew))
		Expect(acquired).To(BeNumerically("<=", takeoverBound), "%s acquired the Lease %v after the kill", standby.Name, acquired)
		Expect(seen).To(BeNumerically("<=", takeoverBound), "%s was seen leading %v after the kill", standby.Name, seen)

		// The write log: the killed leader's writes all ended before the standby's first began,
		// and the standby called the cloud (any action) only once it held the Lease.
		Expect(killedWrites).NotTo(BeEmpty(), "%s wrote nothing during the rollout before it was killed", leader.Name)
		Expect(standbyWrites).NotTo(BeEmpty(), "%s never wrote to the cloud", standby.Name)
		for _, c := range killedCalls {
			Expect(c.Start).To(BeTemporally("<", killedAt), "%s called %s after it was killed", leader.Name, c.Action)
		}
		Expect(firstCall.Start).To(BeTemporally(">", tk.Acquired),
			"%s called %s %v before it acquired the Lease", standby.Name, firstCall.Action, tk.Acquired.Sub(firstCall.Start))
		Expect(lastKilledEnd).To(BeTemporally("<", firstWrite.Start), "the two replicas' writes overlap")
		Expect(firstWriteAfter).To(BeNumerically("<=", takeoverBound+firstWriteSlack),
			"%s first wrote (%s) %v after the kill", standby.Name, firstWrite.Action, firstWriteAfter)

		// The rollout completed under the standby, with exactly the desired backends.
		exactBackends(ctx, app)

		// The webhooks followed the leader: the configurations name the standby's port.
		Expect(tk.Repointed).NotTo(BeZero())
		Expect(sb.WebhookConfigPort(ctx)).To(Equal(standby.WebhookPort))

		// One leading manager again: the standby, promoted. Its injector gives new pods of the
		// app their gate.
		Expect(sb.StopStandbys(ctx)).To(Succeed())
		Expect(sb.Manager().Name).To(Equal(standby.Name))
		Expect(sb.Manager().Leading(ctx)).To(BeTrue())
		Expect(sb.ManagerRunning()).To(Succeed())
		Expect(sb.WaitInjection(ctx, app)).To(Succeed())
	}, SpecTimeout(10*time.Minute))
})

// watchTakeover polls the Lease and the standby's metrics every 50ms after the leader's kill,
// until the standby leads, then until the webhook configurations point at it.
func watchTakeover(ctx context.Context, standby *sandbox.Replica, killedHolder string, timeout time.Duration) takeover {
	var t takeover
	deadline := time.Now().Add(timeout)
	wait := func(d time.Duration) bool {
		if time.Now().After(deadline) {
			t.Err = fmt.Errorf("%s did not take over within %v", standby.Name, timeout)
			return false
		}
		select {
		case <-ctx.Done():
			t.Err = ctx.Err()
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		if lease, err := sb.ManagerLease(ctx); err == nil && ptr.Deref(lease.Spec.HolderIdentity, "") == killedHolder && lease.Spec.RenewTime != nil {
			t.LastRenew = lease.Spec.RenewTime.Time
		}
		if leading, _ := standby.Leading(ctx); leading {
			t.Seen = time.Now()
			break
		}
		if err := standby.Running(); err != nil {
			t.Err = err
			return t
		}
		if !wait(50 * time.Millisecond) {
			return t
		}
	}
	lease, err := sb.ManagerLease(ctx)
	if err != nil {
		t.Err = err
		return t
	}
	t.Holder = ptr.Deref(lease.Spec.HolderIdentity, "")
	if lease.Spec.AcquireTime == nil {
		t.Err = fmt.Errorf("the Lease held by %s has no acquireTime", t.Holder)
		return t
	}
	t.Acquired = lease.Spec.AcquireTime.Time
	for {
		if port, err := sb.WebhookConfigPort(ctx); err == nil && port == standby.WebhookPort {
			t.Repointed = time.Now()
			return t
		}
		if !wait(100 * time.Millisecond) {
			return t
		}
	}
}

// noteUndrained adds to undrained, with at, the pods of v that terminate while their backend
// still has a weight above 0 (their drain has not started).
func noteUndrained(v sandbox.View, undrained map[string]time.Duration, at time.Duration) {
	for _, p := range v.Pods {
		if _, seen := undrained[p.Name]; seen || !p.Terminating {
			continue
		}
		if slices.ContainsFunc(v.Backends, func(b sandbox.BackendView) bool { return b.IP == p.IP && b.Weight > 0 }) {
			undrained[p.Name] = at
		}
	}
}

// failuresAfter turns the "+offset: error" of Traffic's failure samples into offsets from the
// moment at offset (on the same clock); unreadable ones come out as 0.
func failuresAfter(failures []string, offset time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(failures))
	for _, f := range failures {
		head, _, _ := strings.Cut(f, ":")
		d, err := time.ParseDuration(strings.TrimPrefix(head, "+"))
		if err != nil {
			out = append(out, 0)
			continue
		}
		out = append(out, (d - offset).Round(time.Millisecond))
	}
	return out
}

// callsSince are the replicas' cloud calls that started at or after t, by start time.
func callsSince(t time.Time) []sandbox.CloudCall {
	calls := slices.DeleteFunc(sb.CloudCalls(), func(c sandbox.CloudCall) bool { return c.Start.Before(t) })
	slices.SortStableFunc(calls, func(a, b sandbox.CloudCall) int { return a.Start.Compare(b.Start) })
	return calls
}

// first is the earliest of calls (sorted by start), or a zero CloudCall.
func first(calls []sandbox.CloudCall) sandbox.CloudCall {
	if len(calls) == 0 {
		return sandbox.CloudCall{}
	}
	return calls[0]
}

// callsOf are replica's calls since t, by start time.
func callsOf(replica string, t time.Time) []sandbox.CloudCall {
	return byReplica(callsSince(t), replica)
}

func byReplica(calls []sandbox.CloudCall, replica string) []sandbox.CloudCall {
	return slices.DeleteFunc(slices.Clone(calls), func(c sandbox.CloudCall) bool { return c.Replica != replica })
}

func writesOf(calls []sandbox.CloudCall) []sandbox.CloudCall {
	return slices.DeleteFunc(slices.Clone(calls), func(c sandbox.CloudCall) bool { return !c.IsWrite() })
}
