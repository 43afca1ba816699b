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

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// The cache's indexes, by which a watch event finds the objects it concerns without listing a
// namespace or the cluster.
const (
	// serviceRefIndex indexes bindings by the name of their Service.
	serviceRefIndex = "spec.serviceRef.name"
	// loadBalancerIndex indexes bindings by their load balancer, for health changes.
	loadBalancerIndex = "spec.loadBalancerId"
	// podGateIndex indexes pods by the condition types of their readiness gates that are ours.
	podGateIndex = "spec.readinessGates.clbind"
)

// cacheIndex is one index of the cache.
type cacheIndex struct {
	obj   client.Object
	field string
	fn    client.IndexerFunc
}

// cacheIndexes are every index the controllers read.
var cacheIndexes = []cacheIndex{
	{&networkingv1alpha1.CLBBackendBinding{}, loadBalancerIndex, func(o client.Object) []string {
		return []string{o.(*networkingv1alpha1.CLBBackendBinding).Spec.LoadBalancerID}
	}},
	{&networkingv1alpha1.CLBBackendBinding{}, serviceRefIndex, func(o client.Object) []string {
		return []string{o.(*networkingv1alpha1.CLBBackendBinding).Spec.ServiceRef.Name}
	}},
	{&corev1.Pod{}, podGateIndex, ourGates},
}

// addIndexes registers every index once; both controllers read them.
func addIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range cacheIndexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}
