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

package targets

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	// excludeFromLBLabel is the well-known label that keeps a node out of every load balancer.
	excludeFromLBLabel = "node.kubernetes.io/exclude-from-external-load-balancers"
	// Taints of nodes that autoscalers are about to remove: drain them instead of cutting them.
	clusterAutoscalerDeleteTaint = "ToBeDeletedByClusterAutoscaler"
	karpenterDisruptedTaint      = "karpenter.sh/disrupted"
)

// nodeTargets computes CVM targets: every Ready node that the selector picks, at the Service
// nodePort. With externalTrafficPolicy Local only nodes with a local endpoint qualify, because
// kube-proxy drops traffic on the others.
//
// Nodes leaving the cluster (deleting, or tainted by an autoscaler) and, under Local, nodes
// whose local endpoints are all terminating, drain at weight 0. Nodes that are not Ready, or
// whose last local endpoint is gone, are deregistered at once.
func nodeTargets(in Input, sp corev1.ServicePort) (Result, error) {
	if sp.NodePort == 0 {
		return Result{}, fmt.Errorf("service %s port %s has no nodePort: Node targets need a NodePort or LoadBalancer service",
			in.Service.Name, in.Binding.ServicePort.String())
	}
	b := in.Binding
	var local map[string]endpointState
	if in.Service.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		local = localEndpoints(in, sp)
	}
	clock := newDrainClock(in)
	set := targetSet{}
	var skipped []error
	for i := range in.Nodes {
		node := &in.Nodes[i]
		if !nodeEligible(node, b.NodeSelector) {
			continue
		}
		st := endpointServing
		if leaving(node) {
			st = endpointTerminating
		}
		if local != nil {
			if local[node.Name] == endpointSkipped {
				continue
			}
			// Terminating wins: a leaving node drains even with serving pods.
			st = max(st, local[node.Name])
		}
		instanceID, err := ParseProviderID(node.Spec.ProviderID)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("node %s: %w", node.Name, err))
			continue
		}
		t := Target{Key: Key{InstanceID: instanceID, Port: int64(sp.NodePort)}, Weight: b.Weight}
		set.addEndpoint(t, st, clock)
	}
	return set.result(clock, skipped), nil
}

// localEndpoints sums up each node's endpoints: serving if any serves, else terminating if any
// terminates. Nodes without endpoints are absent (endpointSkipped).
func localEndpoints(in Input, sp corev1.ServicePort) map[string]endpointState {
	classify := newClassifier(in, false)
	byNode := map[string]endpointState{}
	for i := range in.EndpointSlices {
		slice := &in.EndpointSlices[i]
		if !ownSlice(slice, in.Service) {
			continue
		}
		if _, ok := slicePort(slice, sp); !ok {
			continue
		}
		for j := range slice.Endpoints {
			ep := &slice.Endpoints[j]
			if ep.NodeName == nil {
				continue
			}
			st := classify.state(ep)
			if st == endpointServing || (st == endpointTerminating && byNode[*ep.NodeName] != endpointServing) {
				byNode[*ep.NodeName] = st
			}
		}
	}
	return byNode
}

func nodeEligible(node *corev1.Node, selector labels.Selector) bool {
	if !NodeReady(node) {
		return false
	}
	if _, excluded := node.Labels[excludeFromLBLabel]; excluded {
		return false
	}
	return selector == nil || selector.Matches(labels.Set(node.Labels))
}

// NodeReady reports the node's Ready condition.
func NodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func leaving(node *corev1.Node) bool {
	if node.DeletionTimestamp != nil {
		return true
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == clusterAutoscalerDeleteTaint || taint.Key == karpenterDisruptedTaint {
			return true
		}
	}
	return false
}
