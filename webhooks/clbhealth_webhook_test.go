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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

func TestCLBHealthValidator(t *testing.T) {
	listener := func(port int32, proto networkingv1alpha1.ListenerProtocol) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: port, Protocol: proto}
		}
	}
	byID := func(b *networkingv1alpha1.CLBBackendBinding) {
		b.Spec.Listener = networkingv1alpha1.ListenerReference{ID: "lbl-00000001"}
	}
	rule := func(b *networkingv1alpha1.CLBBackendBinding) {
		b.Spec.Rule = &networkingv1alpha1.RuleReference{Domain: "www.example.com", URL: "/"}
	}
	check := func(typ networkingv1alpha1.HealthCheckType, edit ...func(*networkingv1alpha1.HealthCheckSpec)) *networkingv1alpha1.HealthCheckSpec {
		hc := &networkingv1alpha1.HealthCheckSpec{Type: typ}
		for _, e := range edit {
			e(hc)
		}
		return hc
	}
	domain := func(hc *networkingv1alpha1.HealthCheckSpec) { hc.HTTPDomain = "www.example.com" }
	custom := func(hc *networkingv1alpha1.HealthCheckSpec) {
		hc.Custom = &networkingv1alpha1.CustomHealthCheck{ContextType: "TEXT", Send: "ping", Receive: "pong"}
	}

	tests := []struct {
		name    string
		binding []func(*networkingv1alpha1.CLBBackendBinding) // nil: no binding
		check   *networkingv1alpha1.HealthCheckSpec
		field   string   // "" = allowed
		message []string // fragments of the refusal
	}{
		{"no health check", []func(*networkingv1alpha1.CLBBackendBinding){listener(53, "UDP")}, nil, "", nil},
		{"PING on UDP", []func(*networkingv1alpha1.CLBBackendBinding){listener(53, "UDP")}, check("PING"), "", nil},
		{"TCP on UDP", []func(*networkingv1alpha1.CLBBackendBinding){listener(53, "UDP")}, check("TCP"),
			"spec.healthCheck.type", []string{"TCP is not supported on a UDP listener", "use PING or CUSTOM", "listener UDP:53 of lb-00000001"}},
		{"PING on TCP", []func(*networkingv1alpha1.CLBBackendBinding){listener(80, "TCP")}, check("PING"),
			"spec.healthCheck.type", []string{"PING is not supported on a TCP listener", "use TCP, HTTP or CUSTOM"}},
		{"HTTP on TCP without a domain", []func(*networkingv1alpha1.CLBBackendBinding){listener(80, "TCP")}, check("HTTP"),
			"spec.healthCheck.httpDomain", []string{"Required value", "an HTTP check on a TCP listener requires it"}},
		{"HTTP on TCP with a domain, the version defaulted", []func(*networkingv1alpha1.CLBBackendBinding){listener(80, "TCP")}, check("HTTP", domain), "", nil},
		{"GRPC on TCP", []func(*networkingv1alpha1.CLBBackendBinding){listener(80, "TCP")}, check("GRPC"),
			"spec.healthCheck.type", []string{"GRPC is not supported"}},
		{"CUSTOM on TCP_SSL", []func(*networkingv1alpha1.CLBBackendBinding){listener(443, "TCP_SSL")}, check("CUSTOM", custom),
			"spec.healthCheck.type", []string{"use TCP or HTTP"}},
		{"CUSTOM on UDP", []func(*networkingv1alpha1.CLBBackendBinding){listener(53, "UDP")}, check("CUSTOM", custom), "", nil},
		{"HTTPS on an HTTP rule", []func(*networkingv1alpha1.CLBBackendBinding){listener(80, "HTTP"), rule}, check("HTTPS"),
			"spec.healthCheck.type", []string{"not supported on a rule of a HTTP listener", "use HTTP or GRPC"}},
		{"GRPC on an HTTPS rule", []func(*networkingv1alpha1.CLBBackendBinding){listener(443, "HTTPS"), rule}, check("GRPC"), "", nil},
		{"TCP on a rule of a listener given by ID", []func(*networkingv1alpha1.CLBBackendBinding){byID, rule}, check("TCP"),
			"spec.healthCheck.type", []string{"listener lbl-00000001", "a HTTP or HTTPS listener, and none of these takes the check"}},
		{"HTTPS on a rule of a listener given by ID: it may be HTTPS", []func(*networkingv1alpha1.CLBBackendBinding){byID, rule}, check("HTTPS"), "", nil},
		{"GRPC on a listener given by ID without a rule", []func(*networkingv1alpha1.CLBBackendBinding){byID}, check("GRPC"),
			"spec.healthCheck.type", []string{"a TCP or UDP or TCP_SSL or QUIC listener"}},
		{"PING on a listener given by ID: it may be UDP", []func(*networkingv1alpha1.CLBBackendBinding){byID}, check("PING"), "", nil},
		{"no binding yet", nil, check("PING"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			scheme := runtime.NewScheme()
			g.Expect(networkingv1alpha1.AddToScheme(scheme)).To(Succeed())
			objects := []client.Object{}
			if tt.binding != nil {
				b := binding("web", "web", tt.binding...)
				objects = append(objects, &b)
			}
			v := &CLBHealthValidator{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).Build()}
			h := &networkingv1alpha1.CLBHealth{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
				Spec: networkingv1alpha1.CLBHealthSpec{HealthCheck: tt.check}}

			warnings, err := v.ValidateCreate(t.Context(), h)
			if tt.field == "" {
				g.Expect(err).NotTo(HaveOccurred())
				if tt.binding == nil {
					g.Expect(warnings).To(ContainElement(ContainSubstring("CLBBackendBinding ns/web does not exist")))
				}
				return
			}
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			causes := err.(*apierrors.StatusError).ErrStatus.Details.Causes
			g.Expect(causes).To(ConsistOf(HaveField("Field", tt.field)))
			for _, m := range tt.message {
				g.Expect(err.Error()).To(ContainSubstring(m))
			}

			// An update that leaves spec.healthCheck alone is let through; one that changes it is not.
			old := h.DeepCopy()
			h.Spec.ReadinessPolicy = networkingv1alpha1.ReadinessPolicyFollowHealth
			_, err = v.ValidateUpdate(t.Context(), old, h)
			g.Expect(err).NotTo(HaveOccurred())
			old.Spec.HealthCheck = nil
			_, err = v.ValidateUpdate(t.Context(), old, h)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		})
	}
}
