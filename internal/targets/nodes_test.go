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
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

type nodeOption func(*corev1.Node)

func notReadyNode(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }

func withLabel(key, value string) nodeOption {
	return func(n *corev1.Node) { n.Labels[key] = value }
}

func withTaint(key string) nodeOption {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

func deletingNode(n *corev1.Node) {
	deletedAt := metav1.NewTime(now)
	n.DeletionTimestamp = &deletedAt
}

// node is a Ready TKE node whose instance is ins-<name padded to 8>.
func node(name string, opts ...nodeOption) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": "web"}},
		Spec:       corev1.NodeSpec{ProviderID: "qcloud:///800002/" + instanceOf(name)},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func instanceOf(nodeName string) string {
	return "ins-" + strings.Repeat("0", 8-len(nodeName)) + strings.ReplaceAll(nodeName, "-", "")
}

func nodeKey(nodeName string) Key {
	return Key{InstanceID: instanceOf(nodeName), Port: 30080}
}

func nodeServing(nodeName string) Target {
	return Target{Key: nodeKey(nodeName), Weight: 10}
}

func nodeDraining(nodeName string) Target {
	return Target{Key: nodeKey(nodeName), Draining: true}
}

func TestDesiredNodes(t *testing.T) {
	local := corev1.ServiceExternalTrafficPolicyLocal
	tests := []struct {
		name        string
		policy      corev1.ServiceExternalTrafficPolicy
		selector    labels.Selector
		nodes       []corev1.Node
		slices      []discoveryv1.EndpointSlice
		pods        map[string]PodInfo
		want        []Target
		wantSince   map[Key]time.Time
		wantRequeue time.Time
		wantSkipped []string
	}{
		{
			name: "ready nodes at the nodePort",
			nodes: []corev1.Node{
				node("n2"), node("n1"),
				node("n3", notReadyNode),
				node("n4", withLabel("node.kubernetes.io/exclude-from-external-load-balancers", "")),
				func() corev1.Node { n := node("n5"); n.Status.Conditions = nil; return n }(),
			},
			want: []Target{nodeServing("n1"), nodeServing("n2")},
		},
		{
			name:     "selector picks nodes",
			selector: labels.SelectorFromSet(labels.Set{"pool": "web"}),
			nodes:    []corev1.Node{node("n1"), node("n2", withLabel("pool", "batch"))},
			want:     []Target{nodeServing("n1")},
		},
		{
			name: "a node that is not a CVM is skipped and reported",
			nodes: []corev1.Node{
				node("n1"),
				func() corev1.Node {
					n := node("eklet-1")
					n.Spec.ProviderID = "qcloud:///800002/eklet-subnet-1"
					return n
				}(),
			},
			want:        []Target{nodeServing("n1")},
			wantSkipped: []string{`node eklet-1: provider id "qcloud:///800002/eklet-subnet-1"`},
		},
		{
			name:        "nodes being removed drain",
			nodes:       []corev1.Node{node("n1", withTaint("ToBeDeletedByClusterAutoscaler")), node("n2", deletingNode), node("n3", withTaint("karpenter.sh/disrupted")), node("n4")},
			want:        []Target{nodeDraining("n1"), nodeDraining("n2"), nodeDraining("n3"), nodeServing("n4")},
			wantSince:   map[Key]time.Time{nodeKey("n1"): now, nodeKey("n2"): now, nodeKey("n3"): now},
			wantRequeue: now.Add(30 * time.Second),
		},
		{
			name:   "Local: only nodes with local endpoints",
			policy: local,
			nodes:  []corev1.Node{node("n1"), node("n2"), node("n3"), node("n4"), node("n5", withTaint("ToBeDeletedByClusterAutoscaler"))},
			slices: []discoveryv1.EndpointSlice{slice(
				endpoint("10.0.0.1", "a", onNode("n1")),
				endpoint("10.0.0.2", "b", onNode("n2"), terminating),
				endpoint("10.0.0.3", "c", onNode("n3"), terminating),
				endpoint("10.0.0.4", "d", onNode("n3")),
				endpoint("10.0.0.5", "e", onNode("n5")),
			)},
			want:        []Target{nodeServing("n1"), nodeDraining("n2"), nodeServing("n3"), nodeDraining("n5")},
			wantSince:   map[Key]time.Time{nodeKey("n2"): now, nodeKey("n5"): now},
			wantRequeue: now.Add(30 * time.Second),
		},
		{
			name:   "Local: a pod held back only by our gate makes its node serve",
			policy: local,
			nodes:  []corev1.Node{node("n1"), node("n2")},
			slices: []discoveryv1.EndpointSlice{slice(
				endpoint("10.0.0.1", "a", onNode("n1"), notReady),
				endpoint("10.0.0.2", "b", onNode("n2"), notReady),
			)},
			pods: pods(pod("a", map[string]bool{ourGate: false}), pod("b", map[string]bool{otherGate: false})),
			want: []Target{nodeServing("n1")},
		},
		{
			name:   "Local: no endpoints, no nodes",
			policy: local,
			nodes:  []corev1.Node{node("n1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := binding()
			b.TargetType, b.NodeSelector = TargetTypeNode, tt.selector
			in := Input{Binding: b, Service: service(tt.policy), EndpointSlices: tt.slices, Pods: tt.pods, Nodes: tt.nodes, Now: now}
			got, err := Desired(in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Targets).To(Equal(sortedTargets(tt.want)))
			g.Expect(got.DrainingSince).To(HaveLen(len(tt.wantSince)))
			for k, since := range tt.wantSince {
				g.Expect(got.DrainingSince).To(HaveKeyWithValue(k, since))
			}
			g.Expect(got.RequeueAt).To(Equal(tt.wantRequeue))
			g.Expect(got.Skipped).To(HaveLen(len(tt.wantSkipped)))
			for i, msg := range tt.wantSkipped {
				g.Expect(got.Skipped[i]).To(MatchError(ContainSubstring(msg)))
			}
		})
	}
}

func sortedTargets(ts []Target) []Target {
	set := targetSet{}
	for _, t := range ts {
		set.add(t)
	}
	out := make([]Target, 0, len(ts))
	for _, k := range sortedKeys(set) {
		out = append(out, set[k])
	}
	return out
}
