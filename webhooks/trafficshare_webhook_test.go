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

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// A canary's stable and canary bindings share one listener by spec.trafficShare (README "Traffic
// shares"): the webhook admits the second one, and refuses the pairs the controller would report
// as a conflict.
func TestValidateCreateAdmitsTrafficSharePartners(t *testing.T) {
	onPort80 := func(share *int32, mutate ...func(*networkingv1alpha1.CLBBackendBinding)) func(*networkingv1alpha1.CLBBackendBinding) {
		return func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: 80, Protocol: "TCP"}
			b.Spec.TrafficShare = share
			for _, m := range mutate {
				m(b)
			}
		}
	}
	otherNamespace := func(b *networkingv1alpha1.CLBBackendBinding) { b.Namespace = "other" }
	multiCluster := func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.MultiCluster = true }
	tests := []struct {
		name           string
		stable, canary networkingv1alpha1.CLBBackendBinding
		wantErr        string
	}{
		{name: "both with a share, one namespace: admitted",
			stable: binding("web-stable", "web-stable", onPort80(ptr.To[int32](100))),
			canary: binding("web-canary", "web-canary", onPort80(ptr.To[int32](0)))},
		{name: "both with a share and multiCluster: admitted",
			stable: binding("web-stable", "web-stable", onPort80(ptr.To[int32](100), multiCluster)),
			canary: binding("web-canary", "web-canary", onPort80(ptr.To[int32](0), multiCluster))},
		{name: "the new one without a share: refused",
			stable: binding("web-stable", "web-stable", onPort80(ptr.To[int32](100))),
			canary: binding("web-canary", "web-canary", onPort80(nil)), wantErr: "ns/web-stable"},
		{name: "the first one without a share: refused",
			stable: binding("web-stable", "web-stable", onPort80(nil)),
			canary: binding("web-canary", "web-canary", onPort80(ptr.To[int32](0))), wantErr: "spec.trafficShare"},
		{name: "another namespace: refused",
			stable: binding("web-stable", "web-stable", onPort80(ptr.To[int32](100))),
			canary: binding("web-canary", "web-canary", onPort80(ptr.To[int32](0), otherNamespace)), wantErr: "ns/web-stable"},
		{name: "multiCluster differs: refused",
			stable: binding("web-stable", "web-stable", onPort80(ptr.To[int32](100))),
			canary: binding("web-canary", "web-canary", onPort80(ptr.To[int32](0), multiCluster)), wantErr: "ns/web-stable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			scheme := runtime.NewScheme()
			g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
			g.Expect(networkingv1alpha1.AddToScheme(scheme)).To(Succeed())
			reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&tt.stable).
				WithIndex(&networkingv1alpha1.CLBBackendBinding{}, LoadBalancerIDIndex, func(o client.Object) []string {
					return []string{o.(*networkingv1alpha1.CLBBackendBinding).Spec.LoadBalancerID}
				}).Build()
			v := &CLBBackendBindingValidator{Reader: reader}
			_, err := v.ValidateCreate(context.Background(), &tt.canary)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}
