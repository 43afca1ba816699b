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

package webhook

import (
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name        string
		target      Target
		wantMutURL  *string
		wantService *admissionregistrationv1.ServiceReference
	}{
		{
			name:       "URL mode for a local process",
			target:     Target{MutatingName: "m", ValidatingName: "v", Host: "localhost", Port: 9443, CABundle: []byte("ca")},
			wantMutURL: new("https://localhost:9443/mutate--v1-pod"),
		},
		{
			name:   "Service mode in the cluster",
			target: Target{MutatingName: "m", ValidatingName: "v", ServiceName: "svc", ServiceNamespace: "ns", CABundle: []byte("ca")},
			wantService: &admissionregistrationv1.ServiceReference{
				Namespace: "ns", Name: "svc", Path: new("/mutate--v1-pod"), Port: ptr.To[int32](443),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			mwc, vwc, err := Render(tt.target)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(mwc.Name).To(Equal("m"))
			g.Expect(vwc.Name).To(Equal("v"))
			g.Expect(mwc.Webhooks).To(HaveLen(1))
			g.Expect(vwc.Webhooks).To(HaveLen(2))

			pod := mwc.Webhooks[0]
			g.Expect(pod.ClientConfig.URL).To(Equal(tt.wantMutURL))
			g.Expect(pod.ClientConfig.Service).To(Equal(tt.wantService))
			g.Expect(pod.ClientConfig.CABundle).To(Equal([]byte("ca")))
			g.Expect(*pod.FailurePolicy).To(Equal(admissionregistrationv1.Ignore))
			g.Expect(*pod.SideEffects).To(Equal(admissionregistrationv1.SideEffectClassNone))
			g.Expect(pod.NamespaceSelector.MatchLabels).To(HaveKeyWithValue(networkingv1alpha1.InjectReadinessGateLabel, networkingv1alpha1.InjectReadinessGateEnabled))
			g.Expect(pod.ObjectSelector.MatchExpressions).To(HaveLen(1))
			g.Expect(*pod.TimeoutSeconds).To(BeNumerically("<=", 5))
			// Fields the API server defaults are set, so a read-back compares equal.
			g.Expect(pod.MatchPolicy).NotTo(BeNil())
			g.Expect(pod.ReinvocationPolicy).NotTo(BeNil())
			g.Expect(pod.Rules[0].Scope).NotTo(BeNil())

			binding := vwc.Webhooks[0]
			g.Expect(*binding.FailurePolicy).To(Equal(admissionregistrationv1.Fail))
			g.Expect(binding.NamespaceSelector).NotTo(BeNil())
			g.Expect(binding.ObjectSelector).NotTo(BeNil())
			// The controller creates CLBHealths itself and checks spec.healthCheck again: the
			// CLBHealth webhook must not stop it when the webhook server is down.
			g.Expect(vwc.Webhooks[1].Name).To(Equal("vclbhealth.clbind.io"))
			g.Expect(*vwc.Webhooks[1].FailurePolicy).To(Equal(admissionregistrationv1.Ignore))
		})
	}

	g := NewWithT(t)
	_, _, err := Render(Target{MutatingName: "m", ValidatingName: "v"})
	g.Expect(err).To(MatchError(ContainSubstring("either a webhook host")))
}
