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

package policy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

func pol(name string, spec networkingv1alpha1.CLBBindingPolicySpec) networkingv1alpha1.CLBBindingPolicy {
	return networkingv1alpha1.CLBBindingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func byID(ids ...string) []networkingv1alpha1.LoadBalancerMatch {
	out := make([]networkingv1alpha1.LoadBalancerMatch, 0, len(ids))
	for _, id := range ids {
		out = append(out, networkingv1alpha1.LoadBalancerMatch{ID: id})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	teamA := pol("team-a", networkingv1alpha1.CLBBindingPolicySpec{
		Namespaces:    networkingv1alpha1.NamespaceSelection{Names: []string{"a"}},
		LoadBalancers: byID("lb-aaaaaaaa"),
	})
	labelled := pol("labelled", networkingv1alpha1.CLBBindingPolicySpec{
		Namespaces:    networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}},
		LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner", Value: "b"}}},
		Listeners:     []networkingv1alpha1.ListenerMatch{{Port: 80, Protocol: networkingv1alpha1.ProtocolTCP}, {ID: "lbl-bbbbbbbb"}},
		Exclusive:     networkingv1alpha1.ExclusiveForbidden,
	})
	shared := pol("shared", networkingv1alpha1.CLBBindingPolicySpec{
		Namespaces:             networkingv1alpha1.NamespaceSelection{Names: []string{"c", "d"}},
		LoadBalancers:          byID("lb-cccccccc"),
		SharedAcrossNamespaces: true,
	})
	all := Compile([]networkingv1alpha1.CLBBindingPolicy{teamA, labelled, shared})
	tagsB := map[string]string{"owner": "b"}
	for _, tc := range []struct {
		name     string
		policies []Policy
		req      Request
		allowed  bool
		policy   string
		// want are fragments the refusal message must hold.
		want                   []string
		needTags, needListener bool
	}{
		{name: "no policy at all", req: Request{Namespace: "a", LoadBalancerID: "lb-aaaaaaaa", Exclusive: true},
			want: []string{"no CLBBindingPolicy allows namespace a to bind load balancer lb-aaaaaaaa", "a cluster admin must create one",
				"spec.namespaces.names: [a]", "{id: lb-aaaaaaaa}"}},
		{name: "by namespace name and ID", policies: all, req: Request{Namespace: "a", LoadBalancerID: "lb-aaaaaaaa", Exclusive: true},
			allowed: true, policy: "team-a"},
		{name: "another namespace", policies: all, req: Request{Namespace: "x", LoadBalancerID: "lb-aaaaaaaa", Exclusive: true},
			want: []string{"namespace x", "must create one"}},
		{name: "the namespace's policies name other load balancers", policies: all,
			req:  Request{Namespace: "a", LoadBalancerID: "lb-zzzzzzzz", Tags: map[string]string{"env": "prod"}, TagsKnown: true},
			want: []string{"the policies for the namespace (team-a) do not name load balancer lb-zzzzzzzz (its tags: env=prod)", "{id: lb-zzzzzzzz}"}},
		{name: "by label and tag, port listener, multiCluster", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: tagsB, TagsKnown: true, Listener: Listener{ID: "lbl-11111111", Port: 80, Protocol: "TCP"}},
			allowed: true, policy: "labelled"},
		{name: "tags not read yet ask for them", policies: all,
			req:  Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb"},
			want: []string{"do not name load balancer lb-bbbbbbbb;"}, needTags: true},
		{name: "a listener given by port against a policy by ID asks for the ID", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: tagsB, TagsKnown: true, Listener: Listener{Port: 443, Protocol: "TCP"}},
			want: []string{"allows load balancer lb-bbbbbbbb only on the listeners TCP:80, lbl-bbbbbbbb"}, needListener: true},
		{name: "listener by ID matches", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: tagsB, TagsKnown: true, Listener: Listener{ID: "lbl-bbbbbbbb", Port: 443, Protocol: "UDP"}},
			allowed: true, policy: "labelled"},
		{name: "protocol must match", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: tagsB, TagsKnown: true, Listener: Listener{ID: "lbl-22222222", Port: 80, Protocol: "UDP"}},
			want: []string{"CLBBindingPolicy labelled allows load balancer lb-bbbbbbbb only on the listeners"}},
		{name: "exclusive forbidden", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: tagsB, TagsKnown: true, Listener: Listener{ID: "lbl-bbbbbbbb"}, Exclusive: true},
			want: []string{"exclusively", "set spec.multiCluster"}},
		{name: "wrong tag value", policies: all,
			req: Request{Namespace: "nb", NamespaceLabels: map[string]string{"team": "b"}, LoadBalancerID: "lb-bbbbbbbb",
				Tags: map[string]string{"owner": "a"}, TagsKnown: true},
			want: []string{"(its tags: owner=a)"}},
		{name: "shared with a shareable neighbor", policies: all,
			req:     Request{Namespace: "d", LoadBalancerID: "lb-cccccccc", Neighbors: []Neighbor{{Namespace: "c", Name: "x", Shareable: true}}},
			allowed: true, policy: "shared"},
		{name: "the neighbor's policy does not share", policies: all,
			req:  Request{Namespace: "d", LoadBalancerID: "lb-cccccccc", Neighbors: []Neighbor{{Namespace: "c", Name: "x"}}},
			want: []string{"already bound from namespace c (CLBBackendBinding c/x)", "sharedAcrossNamespaces"}},
		{name: "the binding's own policy does not share", policies: all,
			req:  Request{Namespace: "a", LoadBalancerID: "lb-aaaaaaaa", Neighbors: []Neighbor{{Namespace: "c", Name: "x", Shareable: true}}},
			want: []string{"while namespace c binds it too: CLBBindingPolicy team-a does not set spec.sharedAcrossNamespaces"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(tc.policies, tc.req)
			if d.Allowed != tc.allowed || d.Policy != tc.policy {
				t.Fatalf("Evaluate = allowed %v by %q (%s), want allowed %v by %q", d.Allowed, d.Policy, d.Message, tc.allowed, tc.policy)
			}
			for _, w := range tc.want {
				if !strings.Contains(d.Message, w) {
					t.Errorf("message %q does not contain %q", d.Message, w)
				}
			}
			if d.NeedTags != tc.needTags || d.NeedListener != tc.needListener {
				t.Errorf("needTags, needListener = %v, %v; want %v, %v", d.NeedTags, d.NeedListener, tc.needTags, tc.needListener)
			}
		})
	}
}

func TestEvaluateInvalidSelectorAllowsNothing(t *testing.T) {
	p := pol("bad", networkingv1alpha1.CLBBindingPolicySpec{
		Namespaces: networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: "Bogus"}}}},
		LoadBalancers: byID("lb-aaaaaaaa"),
	})
	d := Evaluate(Compile([]networkingv1alpha1.CLBBindingPolicy{p}), Request{Namespace: "a", NamespaceLabels: map[string]string{"team": "a"}, LoadBalancerID: "lb-aaaaaaaa"})
	if d.Allowed {
		t.Fatalf("a policy whose selector does not parse allowed a binding")
	}
}
