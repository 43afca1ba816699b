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

package lbsync_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/policy"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// staticPolicies is a PolicySource a test edits: the policies and every namespace's labels.
type staticPolicies struct {
	mu       sync.Mutex
	policies []networkingv1alpha1.CLBBindingPolicy
}

func (s *staticPolicies) Policies(string) ([]policy.Policy, map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return policy.Compile(s.policies), map[string]string{}, nil
}

func (s *staticPolicies) set(ps ...networkingv1alpha1.CLBBindingPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies = ps
}

// allow is a policy that lets namespace "ns" (every test binding's) bind lbs.
func allow(lbs ...networkingv1alpha1.LoadBalancerMatch) networkingv1alpha1.CLBBindingPolicy {
	return networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-ns"},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces: networkingv1alpha1.NamespaceSelection{Names: []string{"ns"}}, LoadBalancers: lbs,
		},
	}
}

// logLines keeps the log lines of the Syncer.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logLines) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return out
}

func (e *fidelityEnv) ctx() context.Context {
	if e.logs == nil {
		return context.Background()
	}
	return ctrllog.IntoContext(context.Background(), e.logs.logger())
}

func writeCalls(sim *clbsim.Sim) int {
	n := 0
	for action, results := range sim.Calls() {
		if clbsim.IsWrite(action) {
			for _, c := range results {
				n += c
			}
		}
	}
	return n
}

// TestPoliciesAreCheckedBeforeEveryWrite: the worker writes for a binding only while a policy
// allows it, whatever the admission webhook did; a policy change takes effect at the next pass,
// which Recheck starts at once.
func TestPoliciesAreCheckedBeforeEveryWrite(t *testing.T) {
	source := &staticPolicies{}
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.Policies = source })
	sim := e.srv.Sim
	lis := sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	status := func() lbsync.Status { st, _ := e.syncer.Status(b.Key); return st }

	t.Run("no policy: Forbidden, not one write", func(t *testing.T) {
		sim.ResetCalls()
		e.syncer.Update(b)
		e.await("Forbidden", func() bool { return status().Reason == networkingv1alpha1.BindingForbiddenReason })
		if msg := status().Message; !strings.Contains(msg, "no CLBBindingPolicy allows namespace ns to bind listener "+lis) {
			t.Errorf("message %q does not name the namespace and the listener", msg)
		}
		time.Sleep(300 * time.Millisecond) // a few retries of the pass
		if n := writeCalls(sim); n != 0 {
			t.Fatalf("%d cloud writes for a binding no policy allows", n)
		}
	})
	t.Run("allowed by ID: synced", func(t *testing.T) {
		sim.ResetCalls()
		source.set(allow(networkingv1alpha1.LoadBalancerMatch{ID: e.lbID}))
		e.syncer.Recheck()
		e.await("the sync", e.synced(b, lis))
		if n := e.calls("BatchRegisterTargets", "OK"); n != 1 {
			t.Fatalf("BatchRegisterTargets = %d, want 1", n)
		}
	})
	t.Run("policy gone: a change is not written, the backends stay", func(t *testing.T) {
		source.set()
		e.syncer.Recheck()
		e.await("Forbidden", func() bool { return status().Reason == networkingv1alpha1.BindingForbiddenReason })
		sim.ResetCalls()
		e.syncer.Update(withIPs(b, "10.1.0.3"))
		time.Sleep(300 * time.Millisecond)
		if n := writeCalls(sim); n != 0 {
			t.Fatalf("%d cloud writes after the policy was deleted", n)
		}
		if got := e.backends(lis); !slices.Equal(got, wanted(b)) {
			t.Fatalf("backends = %v, want them left as %v", got, wanted(b))
		}
	})
	t.Run("allowed by tag, until the tag goes", func(t *testing.T) {
		source.set(allow(networkingv1alpha1.LoadBalancerMatch{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "team", Value: "web"}}))
		sim.SetLoadBalancerTags(e.lbID, map[string]string{"team": "web"})
		e.clock.advance(10 * time.Minute) // the load balancer is read again with the listeners
		b2 := withIPs(b, "10.1.0.3")
		e.syncer.Update(b2)
		e.syncer.Recheck()
		e.await("the sync", e.synced(b2, lis))
		sim.SetLoadBalancerTags(e.lbID, map[string]string{"team": "other"})
		e.clock.advance(10 * time.Minute)
		e.syncer.Recheck()
		e.await("Forbidden", func() bool { return status().Reason == networkingv1alpha1.BindingForbiddenReason })
		if msg := status().Message; !strings.Contains(msg, "(its tags: team=other)") {
			t.Errorf("message %q does not show the tags read", msg)
		}
	})
}

// TestForbiddenDeletionRemovesOnlyItsOwnBackends: a binding no policy allows, once deleted,
// removes the backends it registered and leaves every other backend of the listener, even though
// it is exclusive.
func TestForbiddenDeletionRemovesOnlyItsOwnBackends(t *testing.T) {
	source := &staticPolicies{}
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.Policies = source })
	source.set(allow(networkingv1alpha1.LoadBalancerMatch{ID: e.lbID}))
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, lis))
	if _, err := e.cloud.RegisterTargets(context.Background(), e.lbID, []targets.Target{
		{Key: targets.Key{ListenerID: lis, EniIP: "10.9.9.9", Port: 8080}, Weight: 7},
	}); err != nil {
		t.Fatal(err)
	}
	source.set()
	b.Deleting = true
	e.clock.advance(11 * time.Minute) // read the listener again: the hand-made backend is there
	e.syncer.Update(b)
	e.await("the cleanup", func() bool { st, _ := e.syncer.Status(b.Key); return st.Cleaned })
	if got, want := e.backends(lis), []string{"10.9.9.9:8080@7"}; !slices.Equal(got, want) {
		t.Fatalf("backends after the deletion = %v, want only the hand-made %v", got, want)
	}
}

// TestHealthCheckOfAForbiddenBindingIsNotWritten: a CLBHealth changes its binding's listener,
// so its check waits while no policy allows a binding of its namespace there.
func TestHealthCheckOfAForbiddenBindingIsNotWritten(t *testing.T) {
	source := &staticPolicies{}
	e := startFidelityEnv(t, clbsim.Options{}, func(o *lbsync.Options) { o.Policies = source })
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1")
	e.srv.Sim.ResetCalls()
	e.syncer.Update(b)
	e.syncer.SetHealthCheck(b.Key, e.lbID, lbsync.HealthCheckRequest{ListenerID: lis, Check: clb.HealthCheck{Enabled: true, IntervalSeconds: 7}, Generation: 1})
	e.await("the waiting outcome", func() bool {
		out, ok := e.syncer.HealthCheckResult(b.Key)
		return ok && strings.Contains(out.Message, "that a CLBBindingPolicy allows")
	})
	if n := e.calls("ModifyListener", "OK"); n != 0 {
		t.Fatalf("ModifyListener = %d while no policy allows the binding", n)
	}
	source.set(allow(networkingv1alpha1.LoadBalancerMatch{ID: e.lbID}))
	e.syncer.Recheck()
	e.await("the check applied", func() bool { out, ok := e.syncer.HealthCheckResult(b.Key); return ok && out.Applied })
	if n := e.calls("ModifyListener", "OK"); n != 1 {
		t.Fatalf("ModifyListener = %d once allowed, want 1", n)
	}
}

// TestBackendsWithOurTagWrittenBySomeoneElse: a backend appearing with a binding's tag that the
// worker did not write is another manager's with the same --cluster-id: it is reported, not
// deregistered, until it leaves.
func TestBackendsWithOurTagWrittenBySomeoneElse(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{})
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	b := e.binding("web", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, lis))
	if _, err := e.cloud.RegisterTargets(context.Background(), e.lbID, []targets.Target{
		{Key: targets.Key{ListenerID: lis, EniIP: "10.7.7.7", Port: 8080}, Weight: 10, Tag: b.OwnerTag},
	}); err != nil {
		t.Fatal(err)
	}
	e.srv.Sim.ResetCalls()
	e.clock.advance(11 * time.Minute)
	e.syncer.Update(b)
	e.await("OwnershipConflict", func() bool {
		st, _ := e.syncer.Status(b.Key)
		return st.Reason == networkingv1alpha1.BindingOwnershipConflictReason
	})
	st, _ := e.syncer.Status(b.Key)
	for _, want := range []string{"1 backends on listener " + lis, b.OwnerTag, "same --cluster-id"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not contain %q", st.Message, want)
		}
	}
	time.Sleep(300 * time.Millisecond) // retries of the pass
	if n := e.calls("BatchDeregisterTargets", "OK"); n != 0 {
		t.Fatalf("the worker deregistered the other manager's backend (%d calls)", n)
	}
	if got := e.backends(lis); !slices.Contains(got, "10.7.7.7:8080@10") {
		t.Fatalf("backends = %v: the other manager's backend is gone", got)
	}

	// It leaves: the binding is synced again.
	if _, err := e.cloud.DeregisterTargets(context.Background(), e.lbID, []targets.Target{
		{Key: targets.Key{ListenerID: lis, EniIP: "10.7.7.7", Port: 8080}},
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(11 * time.Minute)
	e.syncer.Update(b)
	e.await("the sync", e.synced(b, lis))
}

// TestEveryCloudWriteIsAudited: one log line per write at the default level, with the load
// balancer, the action, the targets per listener and the bindings served; no credential.
func TestEveryCloudWriteIsAudited(t *testing.T) {
	logs := &logLines{}
	e := startEnv(t, clbsim.Options{}, logs)
	lis := e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	other := e.srv.Sim.AddListener(e.lbID, "TCP", 81)
	a := e.binding("a", lbsync.ListenerRef{ID: lis}, "10.1.0.1", "10.1.0.2")
	b := e.binding("b", lbsync.ListenerRef{ID: other}, "10.1.0.3")
	e.syncer.Update(a)
	e.syncer.Update(b)
	e.await("the sync", func() bool { return e.synced(a, lis)() && e.synced(b, other)() })
	e.syncer.Update(withIPs(a, "10.1.0.1"))
	e.await("the deregistration", e.synced(withIPs(a, "10.1.0.1"), lis))
	// The line is logged once the call has returned, which can be after clbsim shows its effect.
	e.await("the deregistration's audit line", func() bool { return len(logs.matching(`"action"="BatchDeregisterTargets"`)) > 0 })

	register := logs.matching(`"action"="BatchRegisterTargets"`)
	deregister := logs.matching(`"action"="BatchDeregisterTargets"`)
	if len(register) != e.calls("BatchRegisterTargets", "OK") || len(deregister) != 1 {
		t.Fatalf("audit lines: %d register (calls %d), %d deregister (want 1):\n%s", len(register),
			e.calls("BatchRegisterTargets", "OK"), len(deregister), strings.Join(logs.matching("CLB write"), "\n"))
	}
	want := fmt.Sprintf(`"loadBalancer"="%s" "action"="BatchDeregisterTargets" "targets"=1 "listeners"="%s:1" "bindings"="ns/a"`, e.lbID, lis)
	if !strings.Contains(deregister[0], want) || !strings.Contains(deregister[0], "audit") || !strings.Contains(deregister[0], `"level"=0`) {
		t.Errorf("audit line %q does not hold %q at level 0", deregister[0], want)
	}
	for _, line := range logs.matching("") {
		if strings.Contains(line, simtest.SecretKey) || strings.Contains(line, simtest.SecretID) {
			t.Fatalf("a log line holds a credential: %q", line)
		}
	}
}
