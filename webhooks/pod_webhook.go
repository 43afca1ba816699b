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

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
)

// SetupPodWebhookWithManager registers the pod readiness-gate injector.
func SetupPodWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &corev1.Pod{}).
		WithDefaulter(&PodReadinessGateInjector{}).
		Complete()
}

// failurePolicy is Ignore: pod creation must never be blocked by this controller being down.
// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.clbind.io,admissionReviewVersions=v1

// PodReadinessGateInjector adds a readiness gate health.clbind.io/<binding> to pods that the
// Service of a binding with readinessGate on selects, in namespaces that opted in.
type PodReadinessGateInjector struct{}

// Default injects the readiness gates into a pod being created.
func (d *PodReadinessGateInjector) Default(_ context.Context, _ *corev1.Pod) error {
	return nil
}
