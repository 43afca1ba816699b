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

package webhooks_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

var _ = Describe("CLBHealth validation", func() {
	It("refuses a health check the binding's listener protocol does not take, and lets the rest through", func() {
		ns := newNamespace(false)
		createService(ns, "web", map[string]string{"app": "web"}, "")
		udp := newBinding(ns, "dns", newLB(), "web", 53)
		udp.Spec.Listener.Protocol = networkingv1alpha1.ProtocolUDP
		createBinding(udp)
		health := func(hc *networkingv1alpha1.HealthCheckSpec) *networkingv1alpha1.CLBHealth {
			return &networkingv1alpha1.CLBHealth{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dns"},
				Spec: networkingv1alpha1.CLBHealthSpec{HealthCheck: hc}}
		}

		err := k8sClient.Create(ctx, health(&networkingv1alpha1.HealthCheckSpec{Type: networkingv1alpha1.HealthCheckTCP}))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(And(ContainSubstring("spec.healthCheck.type"), ContainSubstring("TCP is not supported on a UDP listener"),
			ContainSubstring("use PING or CUSTOM"), ContainSubstring("UDP:53"))))

		By("accepting a PING check, and refusing to change it to HTTP")
		h := health(&networkingv1alpha1.HealthCheckSpec{Type: networkingv1alpha1.HealthCheckPING})
		Expect(k8sClient.Create(ctx, h)).To(Succeed())
		h.Spec.HealthCheck = &networkingv1alpha1.HealthCheckSpec{Type: networkingv1alpha1.HealthCheckHTTP, HTTPDomain: "dns.example.com"}
		Expect(k8sClient.Update(ctx, h)).To(MatchError(ContainSubstring("HTTP is not supported on a UDP listener")))
	})
})
