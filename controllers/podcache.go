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
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// CacheOptions keeps the informer caches slim: managed fields go from every object, and pods keep
// only what the controllers read, so 10,000 pods cost megabytes, not gigabytes.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {Transform: slimPod},
		},
	}
}

// slimPod keeps what the controllers read of a pod (internal/targets.PodInfoFromPod and
// PodFingerprint, the gate and pod watches, the CLBHealth gate patches): identity, labels,
// creation and deletion times, of the annotations only clbind.io/weight, readiness gates, IPs,
// and of the conditions only ContainersReady (its status) and those of the pod's readiness gates.
// With 100,000 pods every dropped field counts: a kubelet writes five conditions, owner
// references and a node name to every pod, and tools write long annotations.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: nothing to trim
	}
	return &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, CreationTimestamp: pod.CreationTimestamp,
			ResourceVersion: pod.ResourceVersion, Labels: pod.Labels, DeletionTimestamp: pod.DeletionTimestamp,
			Annotations: slimAnnotations(pod),
		},
		Spec: corev1.PodSpec{ReadinessGates: pod.Spec.ReadinessGates},
		Status: corev1.PodStatus{
			Conditions: slimConditions(pod),
			PodIP:      pod.Status.PodIP,
			PodIPs:     pod.Status.PodIPs,
		},
	}, nil
}

// slimAnnotations keeps the pod's clbind.io/weight annotation, the only one the controllers read;
// nil when the pod has none, so most pods keep no map at all.
func slimAnnotations(pod *corev1.Pod) map[string]string {
	w, ok := pod.Annotations[networkingv1alpha1.PodWeightAnnotation]
	if !ok {
		return nil
	}
	return map[string]string{networkingv1alpha1.PodWeightAnnotation: w}
}

// slimConditions keeps the status and transition time of ContainersReady and the whole condition of each readiness
// gate (its reason, message and transition time are compared before a gate is patched).
func slimConditions(pod *corev1.Pod) []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		switch {
		case c.Type == corev1.ContainersReady:
			// The transition time starts slow start's ramp.
			out = append(out, corev1.PodCondition{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime})
		case slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == c.Type }):
			out = append(out, c)
		}
	}
	return out
}

var _ toolscache.TransformFunc = slimPod
