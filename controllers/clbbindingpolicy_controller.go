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
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/policy"
)

// policiesKey is the one work item of the policy controller: any change to a policy or to a
// namespace's labels means every binding is judged again.
var policiesKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "clbbindingpolicies"}}

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbindingpolicies,verbs=get;list;watch

// CLBBindingPolicyReconciler keeps the compiled binding policies the load balancer workers check
// every binding against, and has the workers check again when a policy or a namespace's labels
// change, so that a binding allowed again syncs within seconds and one no longer allowed stops
// writing.
type CLBBindingPolicyReconciler struct {
	client.Client
	Syncer interface{ Recheck() }

	mu sync.Mutex
	// compiled are the policies as last read; nil until read, and again after every change.
	compiled []policy.Policy
}

var _ lbsync.PolicySource = (*CLBBindingPolicyReconciler)(nil)

// Reconcile drops the compiled policies and wakes every worker.
func (r *CLBBindingPolicyReconciler) Reconcile(_ context.Context, _ ctrl.Request) (ctrl.Result, error) {
	r.mu.Lock()
	r.compiled = nil
	r.mu.Unlock()
	r.Syncer.Recheck()
	return ctrl.Result{}, nil
}

// Policies returns the compiled policies, reading them from the cache after a change, and the
// namespace's labels.
func (r *CLBBindingPolicyReconciler) Policies(namespace string) ([]policy.Policy, map[string]string, error) {
	ctx := context.Background()
	policies, err := r.policies(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return policies, nil, nil
		}
		return nil, nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if ns.Labels == nil {
		return policies, map[string]string{}, nil
	}
	return policies, ns.Labels, nil
}

func (r *CLBBindingPolicyReconciler) policies(ctx context.Context) ([]policy.Policy, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compiled != nil {
		return r.compiled, nil
	}
	var list networkingv1alpha1.CLBBindingPolicyList
	if err := r.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing CLBBindingPolicies: %w", err)
	}
	r.compiled = policy.Compile(list.Items)
	return r.compiled, nil
}

// SetupWithManager watches policies and the labels of namespaces.
func (r *CLBBindingPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toOne := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{policiesKey}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("clbbindingpolicy").
		Watches(&networkingv1alpha1.CLBBindingPolicy{}, toOne).
		Watches(&corev1.Namespace{}, toOne, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
}
