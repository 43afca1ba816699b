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

package lbsync

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

const (
	testLB    = "lb-1a2b3c4d"
	ourVPC    = "vpc-ours0001"
	theirVPC  = "vpc-their001"
	tcp80     = "lbl-tcp00080"
	udp53     = "lbl-udp00053"
	tcp53     = "lbl-tcp00053"
	quic53    = "lbl-quic0053"
	http8080  = "lbl-http8080"
	ruleAPI   = "loc-api00001"
	absentLbl = "lbl-00000000"
)

// testListeners is a load balancer with a TCP listener on 80, TCP, UDP and QUIC listeners on 53,
// and an HTTP listener with one rule on 8080.
func testListeners() map[string]clb.Listener {
	return map[string]clb.Listener{
		tcp80:    {ID: tcp80, Protocol: "TCP", Port: 80},
		tcp53:    {ID: tcp53, Protocol: "TCP", Port: 53},
		udp53:    {ID: udp53, Protocol: "UDP", Port: 53},
		quic53:   {ID: quic53, Protocol: "QUIC", Port: 53},
		http8080: {ID: http8080, Protocol: "HTTP", Port: 8080, Rules: []clb.Rule{{LocationID: ruleAPI, Domain: "a.example.com", URL: "/api"}}},
	}
}

func TestFindListener(t *testing.T) {
	tests := []struct {
		name    string
		ref     ListenerRef
		wantID  string
		reason  string
		message string
	}{
		{name: "by id", ref: ListenerRef{ID: tcp80}, wantID: tcp80},
		{name: "by id, missing", ref: ListenerRef{ID: absentLbl},
			reason: networkingv1alpha1.BindingListenerNotFoundReason, message: "listener " + absentLbl + " does not exist on " + testLB},
		{name: "by port and protocol", ref: ListenerRef{Port: 80, Protocol: "TCP"}, wantID: tcp80},
		{name: "protocol in another case", ref: ListenerRef{Port: 80, Protocol: "tcp"}, wantID: tcp80},
		{name: "the one of two protocols sharing a port", ref: ListenerRef{Port: 53, Protocol: "UDP"}, wantID: udp53},
		{name: "nothing on the port", ref: ListenerRef{Port: 81, Protocol: "TCP"},
			reason: networkingv1alpha1.BindingListenerNotFoundReason, message: "listener TCP:81 does not exist on " + testLB},
		{name: "port taken by another protocol", ref: ListenerRef{Port: 80, Protocol: "UDP"},
			reason: networkingv1alpha1.BindingInvalidSpecReason,
			message: "listener " + tcp80 + " on port 80 is TCP, not UDP; fix spec.listener.protocol (it is immutable: re-create the binding), " +
				"or create a UDP listener on port 80 of " + testLB},
		{name: "port taken by an L7 listener", ref: ListenerRef{Port: 8080, Protocol: "TCP"},
			reason: networkingv1alpha1.BindingInvalidSpecReason, message: "listener " + http8080 + " on port 8080 is HTTP, not TCP;"},
		{name: "port taken by several other protocols, named in order", ref: ListenerRef{Port: 53, Protocol: "TCP_SSL"},
			reason:  networkingv1alpha1.BindingInvalidSpecReason,
			message: "the listeners on port 53 are " + quic53 + " (QUIC), " + tcp53 + " (TCP), " + udp53 + " (UDP), none TCP_SSL; fix spec.listener.protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			l, reason, message := findListener(testLB, testListeners(), tt.ref)
			g.Expect(reason).To(Equal(tt.reason))
			g.Expect(l.ID).To(Equal(tt.wantID))
			if tt.message == "" {
				g.Expect(message).To(BeEmpty())
			} else {
				g.Expect(message).To(HavePrefix(tt.message))
			}
		})
	}
}

func TestOtherVPC(t *testing.T) {
	tests := []struct {
		name         string
		lbVPC, ownVP string
		want         []string // substrings; none when the load balancer may be written to
	}{
		{name: "no VPC configured", lbVPC: theirVPC, ownVP: ""},
		{name: "same VPC", lbVPC: ourVPC, ownVP: ourVPC},
		{name: "another VPC", lbVPC: theirVPC, ownVP: ourVPC, want: []string{
			"load balancer " + testLB + " is in VPC " + theirVPC, "not in the controller's VPC " + ourVPC + " (--vpc-id)",
			"nothing is registered", "use a load balancer in " + ourVPC + " for spec.loadBalancerId",
		}},
		{name: "classic network", lbVPC: "", ownVP: ourVPC, want: []string{"is in no VPC (classic network), not in the controller's VPC " + ourVPC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := otherVPC(testLB, tt.lbVPC, tt.ownVP)
			if len(tt.want) == 0 {
				g.Expect(got).To(BeEmpty())
				return
			}
			for _, w := range tt.want {
				g.Expect(got).To(ContainSubstring(w))
			}
		})
	}
}

// TestResolveOne resolves one binding against a listener cache as a pass would, without the cloud.
func TestResolveOne(t *testing.T) {
	tests := []struct {
		name     string
		ownVPC   string
		lbVPC    string
		notFound bool
		binding  Binding
		// reason is "" for a binding that resolves; then listener and location are its IDs.
		reason, message      string
		listener, location   string
		cleanedWhileDeleting bool
	}{
		{name: "L4 listener by id", binding: Binding{Listener: ListenerRef{ID: tcp80}}, listener: tcp80},
		{name: "rule by location id", binding: Binding{Listener: ListenerRef{ID: http8080}, Rule: &RuleRef{LocationID: ruleAPI}},
			listener: http8080, location: ruleAPI},
		{name: "rule by domain and url", binding: Binding{Listener: ListenerRef{Port: 8080, Protocol: "HTTP"}, Rule: &RuleRef{Domain: "A.example.com", URL: "/api"}},
			listener: http8080, location: ruleAPI},
		{name: "in our VPC", ownVPC: ourVPC, lbVPC: ourVPC, binding: Binding{Listener: ListenerRef{ID: tcp80}}, listener: tcp80},
		{name: "wrong protocol on the port", binding: Binding{Listener: ListenerRef{Port: 80, Protocol: "UDP"}},
			reason: networkingv1alpha1.BindingInvalidSpecReason, message: "listener " + tcp80 + " on port 80 is TCP, not UDP; fix spec.listener.protocol"},
		{name: "rule on an L4 listener given by id", binding: Binding{Listener: ListenerRef{ID: tcp80}, Rule: &RuleRef{LocationID: ruleAPI}},
			reason: networkingv1alpha1.BindingInvalidSpecReason, message: "listener " + tcp80 + " is TCP and has no rules; remove spec.rule"},
		{name: "L7 listener without a rule", binding: Binding{Listener: ListenerRef{ID: http8080}},
			reason: networkingv1alpha1.BindingInvalidSpecReason, message: "listener " + http8080 + " is HTTP and takes backends only on rules; set spec.rule"},
		{name: "rule missing", binding: Binding{Listener: ListenerRef{ID: http8080}, Rule: &RuleRef{Domain: "b.example.com", URL: "/"}},
			reason: networkingv1alpha1.BindingRuleNotFoundReason, message: "rule b.example.com/ does not exist on listener " + http8080},
		{name: "listener missing", binding: Binding{Listener: ListenerRef{ID: absentLbl}},
			reason: networkingv1alpha1.BindingListenerNotFoundReason, message: "listener " + absentLbl + " does not exist"},
		{name: "load balancer in another VPC", ownVPC: ourVPC, lbVPC: theirVPC, binding: Binding{Listener: ListenerRef{ID: tcp80}},
			reason: networkingv1alpha1.BindingLoadBalancerInAnotherVPCReason, message: "load balancer " + testLB + " is in VPC " + theirVPC},
		{name: "load balancer missing", notFound: true, binding: Binding{Listener: ListenerRef{ID: tcp80}},
			reason: networkingv1alpha1.BindingLoadBalancerNotFoundReason, message: "load balancer " + testLB + " does not exist in the controller's region"},
		{name: "load balancer missing, VPC checked", ownVPC: ourVPC, notFound: true, binding: Binding{Listener: ListenerRef{ID: tcp80}},
			reason: networkingv1alpha1.BindingLoadBalancerNotFoundReason, message: "does not exist in the controller's region"},
	}
	for _, tt := range tests {
		for _, deleting := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, deleting=%t", tt.name, deleting), func(t *testing.T) {
				g := NewWithT(t)
				w := newWorker(testLB, &Syncer{opts: Options{VpcID: tt.ownVPC}})
				w.listeners = listenerCache{byID: testListeners(), readAt: time.Now(), notFound: tt.notFound}
				w.lb = lbCache{vpcID: tt.lbVPC, readAt: time.Now()}
				b := tt.binding
				b.Deleting = deleting
				p := &plan{b: b}
				w.resolveOne(p)
				if tt.reason == "" {
					g.Expect(p.active).To(BeTrue(), "%+v", p.status)
					g.Expect(p.status.ListenerID).To(Equal(tt.listener))
					g.Expect(p.status.LocationID).To(Equal(tt.location))
					return
				}
				g.Expect(p.active).To(BeFalse())
				g.Expect(p.status.Reason).To(Equal(tt.reason))
				g.Expect(p.status.Message).To(ContainSubstring(tt.message))
				g.Expect(p.status.Cleaned).To(Equal(deleting), "a deleting binding that resolves nothing never wrote: it is clean")
			})
		}
	}
}

// notes records what the workers report.
type notes struct {
	mu   sync.Mutex
	last map[types.NamespacedName]Status
}

func (n *notes) Synced(key types.NamespacedName, _ types.UID, st Status, _ Changes) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.last == nil {
		n.last = map[types.NamespacedName]Status{}
	}
	n.last[key] = st
}

// TestVPCCheckOnTheWire runs passes of one worker against clbsim: the load balancer is read once
// per listenerTTL, and one in another VPC gets neither a listener read nor a write.
func TestVPCCheckOnTheWire(t *testing.T) {
	g := NewWithT(t)
	srv, err := simtest.Start(clbsim.Options{}, t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(srv.Close)
	cloud, err := srv.Client()
	g.Expect(err).NotTo(HaveOccurred())
	sim := srv.Sim
	ctx := context.Background()

	ours := sim.AddLoadBalancer("ours")
	theirs := sim.AddLoadBalancerInVPC("theirs", theirVPC)
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	binding := func(lbID, listenerID string, deleting bool) Binding {
		return Binding{
			Key: key, UID: "uid-1", LoadBalancerID: lbID, Listener: ListenerRef{ID: listenerID},
			OwnerTag: targets.OwnerTag("cls-test", "uid-1"), Exclusive: true, Deleting: deleting,
			Desired: []targets.Target{{Key: targets.Key{EniIP: "10.0.0.1", Port: 8080}, Weight: 10}},
		}
	}
	// newSyncer is a Syncer that is never started: the tests run its workers' passes by hand.
	newSyncer := func(vpcID string) (*Syncer, *clocktesting.FakeClock) {
		clk := clocktesting.NewFakeClock(time.Now())
		s, err := New(cloud, &notes{}, Options{VpcID: vpcID, Clock: clk, RetryBase: time.Second})
		g.Expect(err).NotTo(HaveOccurred())
		return s, clk
	}
	calls := func() map[string]int {
		out := map[string]int{}
		for action, results := range sim.Calls() {
			for _, n := range results {
				out[action] += n
			}
		}
		return out
	}

	t.Run("another VPC: one load balancer read per listenerTTL, no listener read, no write", func(t *testing.T) {
		g := NewWithT(t)
		lis := sim.AddListener(theirs, "TCP", 80)
		s, clk := newSyncer(simtest.VpcID)
		w := newWorker(theirs, s)
		w.update(binding(theirs, lis, false))
		sim.ResetCalls()
		g.Expect(w.pass(ctx)).To(BeFalse(), "the binding is not synced: the worker retries on its backoff")
		st, _ := s.Status(key)
		g.Expect(st.Reason).To(Equal(networkingv1alpha1.BindingLoadBalancerInAnotherVPCReason))
		g.Expect(st.Message).To(ContainSubstring(theirs + " is in VPC " + theirVPC + ", not in the controller's VPC " + simtest.VpcID))
		g.Expect(calls()).To(Equal(map[string]int{"DescribeLoadBalancers": 1}))

		clk.Step(2 * time.Second) // past RetryBase: an unresolved binding may re-read the listeners
		w.pass(ctx)
		g.Expect(calls()).To(Equal(map[string]int{"DescribeLoadBalancers": 1}), "the VPC is cached")

		clk.Step(listenerTTL)
		w.pass(ctx)
		g.Expect(calls()).To(Equal(map[string]int{"DescribeLoadBalancers": 2}), "the VPC is read again with the listeners' lifetime")

		w.update(binding(theirs, lis, true))
		g.Expect(w.pass(ctx)).To(BeTrue())
		st, _ = s.Status(key)
		g.Expect(st.Cleaned).To(BeTrue(), "a deleting binding of a load balancer in another VPC never wrote: it is clean")
		g.Expect(calls()).To(Equal(map[string]int{"DescribeLoadBalancers": 2}))
	})

	t.Run("our VPC: read once, then written", func(t *testing.T) {
		g := NewWithT(t)
		lis := sim.AddListener(ours, "TCP", 80)
		s, _ := newSyncer(simtest.VpcID)
		w := newWorker(ours, s)
		w.update(binding(ours, lis, false))
		sim.ResetCalls()
		g.Expect(w.pass(ctx)).To(BeTrue())
		st, _ := s.Status(key)
		g.Expect(st.Synced).To(BeTrue(), "%+v", st)
		g.Expect(calls()).To(HaveKeyWithValue("DescribeLoadBalancers", 1))
		g.Expect(calls()).To(HaveKeyWithValue("BatchRegisterTargets", 1))
		g.Expect(sim.Targets(ours)).To(HaveLen(1))
	})

	t.Run("no --vpc-id: the load balancer is not read", func(t *testing.T) {
		g := NewWithT(t)
		lis := sim.AddListener(theirs, "TCP", 81)
		s, _ := newSyncer("")
		w := newWorker(theirs, s)
		w.update(binding(theirs, lis, false))
		sim.ResetCalls()
		g.Expect(w.pass(ctx)).To(BeTrue())
		g.Expect(calls()).NotTo(HaveKey("DescribeLoadBalancers"))
	})

	t.Run("a load balancer that does not exist, with and without --vpc-id", func(t *testing.T) {
		for _, vpcID := range []string{simtest.VpcID, ""} {
			g := NewWithT(t)
			s, _ := newSyncer(vpcID)
			w := newWorker("lb-00000000", s)
			w.update(binding("lb-00000000", "lbl-00000000", false))
			sim.ResetCalls()
			g.Expect(w.pass(ctx)).To(BeFalse())
			st, _ := s.Status(key)
			g.Expect(st.Reason).To(Equal(networkingv1alpha1.BindingLoadBalancerNotFoundReason), "vpc %q", vpcID)
			g.Expect(st.Message).To(ContainSubstring("does not exist in the controller's region"))
			for _, write := range []string{"BatchRegisterTargets", "RegisterTargets", "BatchModifyTargetWeight"} {
				g.Expect(calls()).NotTo(HaveKey(write))
			}
		}
	})
}
