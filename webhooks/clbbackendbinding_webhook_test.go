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
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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

func TestValidateUpdateLetsExistingConflictsThrough(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(networkingv1alpha1.AddToScheme(scheme)).To(Succeed())
	first := binding("first", "web", func(b *networkingv1alpha1.CLBBackendBinding) {
		b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: 80, Protocol: "TCP"}
		b.Spec.MultiCluster = true
	})
	reader := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&first, service("web", map[string]string{"app": "web"})).
		WithIndex(&networkingv1alpha1.CLBBackendBinding{}, LoadBalancerIDIndex, func(o client.Object) []string {
			return []string{o.(*networkingv1alpha1.CLBBackendBinding).Spec.LoadBalancerID}
		}).Build()
	v := &CLBBackendBindingValidator{Reader: reader}

	// second conflicts with first (it is not multiCluster), as if it predated the webhook.
	second := binding("second", "web", func(b *networkingv1alpha1.CLBBackendBinding) {
		b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: 80, Protocol: "TCP"}
	})
	_, err := v.ValidateCreate(context.Background(), &second)
	g.Expect(err).To(MatchError(ContainSubstring("ns/first")))

	withFinalizer := second.DeepCopy()
	withFinalizer.Finalizers = []string{networkingv1alpha1.DeregisterTargetsFinalizer}
	warnings, err := v.ValidateUpdate(context.Background(), &second, withFinalizer)
	g.Expect(err).NotTo(HaveOccurred(), "the controller's finalizer update must not be refused")
	g.Expect(warnings).To(BeEmpty())

	deleting := withFinalizer.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = nil
	_, err = v.ValidateUpdate(context.Background(), withFinalizer, deleting)
	g.Expect(err).NotTo(HaveOccurred(), "removing the finalizer of a binding being deleted must not be refused")

	// Turning multiCluster off on first now conflicts with second.
	notShared := first.DeepCopy()
	notShared.Spec.MultiCluster = false
	g.Expect(reader.Create(context.Background(), &second)).To(Succeed())
	_, err = v.ValidateUpdate(context.Background(), &first, notShared)
	g.Expect(err).To(MatchError(ContainSubstring("ns/second")))
}
