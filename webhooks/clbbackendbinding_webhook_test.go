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

package webhooks

import (
	"testing"

	. "github.com/onsi/gomega"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

func TestSameTarget(t *testing.T) {
	byPort := func(port int32, proto networkingv1alpha1.ListenerProtocol) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: port, Protocol: proto}
		}
	}
	byID := func(id string) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Listener = networkingv1alpha1.ListenerReference{ID: id}
		}
	}
	resolved := func(listenerID, locationID string) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Status.ListenerID, b.Status.LocationID = listenerID, locationID
		}
	}
	rule := func(r networkingv1alpha1.RuleReference) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.Rule = &r }
	}
	otherLB := func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.LoadBalancerID = "lb-00000002" }
	www := networkingv1alpha1.RuleReference{Domain: "www.example.com", URL: "/"}

	tests := []struct {
		name string
		a, b networkingv1alpha1.CLBBackendBinding
		want bool
	}{
		{"same port and protocol", binding("a", "s", byPort(80, "TCP")), binding("b", "s", byPort(80, "TCP")), true},
		{"same port, other protocol", binding("a", "s", byPort(53, "TCP")), binding("b", "s", byPort(53, "UDP")), false},
		{"other port", binding("a", "s", byPort(80, "TCP")), binding("b", "s", byPort(81, "TCP")), false},
		{"other load balancer", binding("a", "s", byPort(80, "TCP")), binding("b", "s", byPort(80, "TCP"), otherLB), false},
		{"same listener id", binding("a", "s", byID("lbl-00000001")), binding("b", "s", byID("lbl-00000001")), true},
		{"other listener id", binding("a", "s", byID("lbl-00000001")), binding("b", "s", byID("lbl-00000002")), false},
		{"id against a port resolved to that id", binding("a", "s", byID("lbl-00000001")), binding("b", "s", byPort(80, "TCP"), resolved("lbl-00000001", "")), true},
		{"id against an unresolved port", binding("a", "s", byID("lbl-00000001")), binding("b", "s", byPort(80, "TCP")), false},
		{"same rule by domain and url", binding("a", "s", byPort(80, "HTTP"), rule(www)), binding("b", "s", byPort(80, "HTTP"), rule(www)), true},
		{"domain compares case-insensitively", binding("a", "s", byPort(80, "HTTP"), rule(www)),
			binding("b", "s", byPort(80, "HTTP"), rule(networkingv1alpha1.RuleReference{Domain: "WWW.example.com", URL: "/"})), true},
		{"other url", binding("a", "s", byPort(80, "HTTP"), rule(www)),
			binding("b", "s", byPort(80, "HTTP"), rule(networkingv1alpha1.RuleReference{Domain: "www.example.com", URL: "/api"})), false},
		{"same location id", binding("a", "s", byID("lbl-00000001"), rule(networkingv1alpha1.RuleReference{LocationID: "loc-00000001"})),
			binding("b", "s", byID("lbl-00000001"), rule(networkingv1alpha1.RuleReference{LocationID: "loc-00000001"})), true},
		{"location id against a domain resolved to it", binding("a", "s", byID("lbl-00000001"), rule(networkingv1alpha1.RuleReference{LocationID: "loc-00000001"})),
			binding("b", "s", byPort(80, "HTTP"), rule(www), resolved("lbl-00000001", "loc-00000001")), true},
		{"one with a rule, one without: not decidable here", binding("a", "s", byID("lbl-00000001"), rule(www)), binding("b", "s", byID("lbl-00000001")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(SameTarget(&tt.a, &tt.b)).To(Equal(tt.want))
			g.Expect(SameTarget(&tt.b, &tt.a)).To(Equal(tt.want), "symmetric")
		})
	}
}
