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

package explain

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Snapshot is what the plugin read of one namespace. Everything it explains comes from here.
type Snapshot struct {
	Namespace string
	// NamespaceObject is nil when it could not be read (not found, or not allowed): then whether
	// the namespace is opted into gate injection is unknown.
	NamespaceObject *corev1.Namespace
	Bindings        []networkingv1alpha1.CLBBackendBinding
	// Healths by name (a binding's CLBHealth has the binding's name).
	Healths  map[string]*networkingv1alpha1.CLBHealth
	Services map[string]*corev1.Service
	Slices   []discoveryv1.EndpointSlice
	Pods     []corev1.Pod
	// Nodes are read when a binding has Node targets, and to name the node of a backend.
	Nodes []corev1.Node
	// Workloads names the workload that owns a pod, for example "deployment/web", by pod name; it
	// is filled for the pods a command asks about (ReadWorkload).
	Workloads map[string]string
	// Problems are reads that failed without making the answer impossible, for example nodes the
	// user may not list.
	Problems []string
}

// Read reads the namespace's objects that kubectl clbind explains.
func Read(ctx context.Context, c client.Reader, namespace string) (*Snapshot, error) {
	s := &Snapshot{Namespace: namespace, Healths: map[string]*networkingv1alpha1.CLBHealth{},
		Services: map[string]*corev1.Service{}, Workloads: map[string]string{}}
	var ns corev1.Namespace
	switch err := c.Get(ctx, types.NamespacedName{Name: namespace}, &ns); {
	case err == nil:
		s.NamespaceObject = &ns
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("namespace %s not found", namespace)
	default:
		s.Problems = append(s.Problems, fmt.Sprintf("cannot read namespace %s (%v): whether it is opted into gate injection is unknown", namespace, reason(err)))
	}
	var bindings networkingv1alpha1.CLBBackendBindingList
	if err := c.List(ctx, &bindings, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing CLBBackendBindings in %s: %w", namespace, err)
	}
	s.Bindings = bindings.Items
	var healths networkingv1alpha1.CLBHealthList
	if err := c.List(ctx, &healths, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing CLBHealths in %s: %w", namespace, err)
	}
	for i := range healths.Items {
		s.Healths[healths.Items[i].Name] = &healths.Items[i]
	}
	var services corev1.ServiceList
	if err := c.List(ctx, &services, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing Services in %s: %w", namespace, err)
	}
	for i := range services.Items {
		s.Services[services.Items[i].Name] = &services.Items[i]
	}
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing EndpointSlices in %s: %w", namespace, err)
	}
	s.Slices = slices.Items
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	s.Pods = pods.Items
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		if s.needsNodes() {
			return nil, fmt.Errorf("listing nodes (a binding has Node targets): %w", err)
		}
		s.Problems = append(s.Problems, fmt.Sprintf("cannot list nodes (%v): the NODE column is empty", reason(err)))
	} else {
		s.Nodes = nodes.Items
	}
	return s, nil
}

func (s *Snapshot) needsNodes() bool {
	for i := range s.Bindings {
		if s.Bindings[i].Spec.TargetType == networkingv1alpha1.TargetTypeNode {
			return true
		}
	}
	return false
}

// ReadWorkload records in s.Workloads the workload that owns the pod (a Deployment through its
// ReplicaSet, a StatefulSet, a DaemonSet...), so that advice can name what to restart.
func ReadWorkload(ctx context.Context, c client.Reader, s *Snapshot, pod *corev1.Pod) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return
	}
	if owner.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: owner.Name}, &rs); err == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				s.Workloads[pod.Name] = "deployment/" + d.Name
				return
			}
		}
	}
	switch owner.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
		s.Workloads[pod.Name] = strings.ToLower(owner.Kind) + "/" + owner.Name
	}
}

// reason is the short form of an API error for a message.
func reason(err error) string {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return "forbidden"
	}
	return err.Error()
}
