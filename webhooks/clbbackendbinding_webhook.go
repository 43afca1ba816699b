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

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// SetupCLBBackendBindingWebhookWithManager registers the binding validator.
func SetupCLBBackendBindingWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &networkingv1alpha1.CLBBackendBinding{}).
		WithValidator(&CLBBackendBindingValidator{}).
		Complete()
}

// +kubebuilder:webhook:path=/validate-networking-clbind-io-v1alpha1-clbbackendbinding,mutating=false,failurePolicy=fail,sideEffects=None,groups=networking.clbind.io,resources=clbbackendbindings,verbs=create;update,versions=v1alpha1,name=vclbbackendbinding.clbind.io,admissionReviewVersions=v1,timeoutSeconds=10

// CLBBackendBindingValidator checks what the CRD's CEL rules cannot: rules that need other objects.
type CLBBackendBindingValidator struct{}

// ValidateCreate validates a new binding.
func (v *CLBBackendBindingValidator) ValidateCreate(_ context.Context, _ *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate validates a changed binding.
func (v *CLBBackendBindingValidator) ValidateUpdate(_ context.Context, _, _ *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete allows every deletion: the finalizer cleans up.
func (v *CLBBackendBindingValidator) ValidateDelete(_ context.Context, _ *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	return nil, nil
}
