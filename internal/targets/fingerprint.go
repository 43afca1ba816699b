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

// NodeFingerprint renders every field of a node that Desired reads: readiness, whether it is
// leaving (deleting, or tainted by an autoscaler), its labels (the binding's node selector and
// the exclude-from-load-balancers label) and its provider ID. Two nodes with the same
// fingerprint give the same targets, so a watch passes exactly the changes that matter.
func NodeFingerprint(node *corev1.Node) string {
	return fmt.Sprintf("ready=%t leaving=%t provider=%s labels=%s",
		NodeReady(node), leaving(node), node.Spec.ProviderID, labels.Set(node.Labels).String())
}

// PodFingerprint renders every field of a pod that Desired reads (PodInfoFromPod) and its IPs.
func PodFingerprint(pod *corev1.Pod) string {
	return fmt.Sprintf("%v ips=%v", PodInfoFromPod(pod), pod.Status.PodIPs)
}
