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

package certs

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	webhookmanifests "github.com/clbind/clb-binding-controller/config/webhook"
)

// TestRepairLeavesAnUninstallAlone: deleted webhook configurations and Secret are created again,
// except while the manager's namespace is being deleted, as in an uninstall: a configuration
// created again then would outlive the manager it points at.
func TestRepairLeavesAnUninstallAlone(t *testing.T) {
	const namespace = "clb-system"
	target := webhookmanifests.Target{MutatingName: "mutating", ValidatingName: "validating",
		ServiceName: "webhook", ServiceNamespace: namespace, ServicePort: 443}
	secret := types.NamespacedName{Namespace: namespace, Name: "webhook-server-cert"}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := admissionregistrationv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	present := func(c client.Client) map[string]bool {
		out := map[string]bool{}
		for name, obj := range map[string]client.Object{
			"mutating":   &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: target.MutatingName}},
			"validating": &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: target.ValidatingName}},
			"secret":     &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: secret.Name}},
		} {
			err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			out[name] = err == nil
		}
		return out
	}
	tests := []struct {
		name      string
		namespace *corev1.Namespace // nil: gone
		recreated bool
	}{
		{name: "namespace active", namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, recreated: true},
		{name: "namespace being deleted", namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: namespace, DeletionTimestamp: &metav1.Time{Time: metav1.Now().Time}, Finalizers: []string{"kubernetes"}}}},
		{name: "namespace gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme)
			if tt.namespace != nil {
				b = b.WithObjects(tt.namespace)
			}
			c := b.Build()
			r := &WebhookConfigReconciler{Client: c, Target: target, SecretKey: secret}
			if _, err := r.Reconcile(t.Context(), webhookConfigKey); err != nil {
				t.Fatal(err)
			}
			for name, ok := range present(c) {
				if ok != tt.recreated {
					t.Errorf("%s present after the repair: %v, want %v", name, ok, tt.recreated)
				}
			}
		})
	}
}
