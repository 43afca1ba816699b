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

package controllers_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// The node watch passes exactly the node changes internal/targets reads: a node an autoscaler is
// about to remove drains within seconds, not at the next resync.
var _ = Describe("Node changes in Node mode", func() {
	It("drains a node tainted by the cluster autoscaler and removes one labelled exclude-from-external-load-balancers, within seconds", func() {
		f := newFixture()
		lis := f.listener(8000)
		svc := f.service("web", corev1.ServiceTypeNodePort)
		nodePort := int64(svc.Spec.Ports[0].NodePort)
		pool := map[string]string{"clbind.io/test-pool": f.ns}
		for i := 1; i <= 3; i++ {
			f.node(i, pool)
		}
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.TargetType = networkingv1alpha1.TargetTypeNode
			b.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: pool}
			b.Spec.Drain = &networkingv1alpha1.DrainSpec{Seconds: 600}
		})
		tag := ownerTag(key)
		nodeBackend := func(i int, weight int64) string { return backend(instanceID(i), nodePort, weight, tag) }
		f.expectBackends(key, lis, []string{nodeBackend(1, defaultWeight), nodeBackend(2, defaultWeight), nodeBackend(3, defaultWeight)})
		f.expectReady(key, 3)

		By("the cluster autoscaler tainting node 1")
		start := time.Now()
		f.editNode(1, func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "ToBeDeletedByClusterAutoscaler", Value: "1733130000", Effect: corev1.TaintEffectNoSchedule})
		})
		Eventually(func() []string { return backendsOn(f.lbID, lis) }, 5*time.Second).Should(ConsistOf(
			nodeBackend(1, 0), nodeBackend(2, defaultWeight), nodeBackend(3, defaultWeight)))
		AddReportEntry(fmt.Sprintf("tainted node at weight 0 in %s", time.Since(start).Round(time.Millisecond)))

		By("labelling node 2 node.kubernetes.io/exclude-from-external-load-balancers")
		start = time.Now()
		f.editNode(2, func(n *corev1.Node) { n.Labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "true" })
		Eventually(func() []string { return backendsOn(f.lbID, lis) }, 5*time.Second).Should(ConsistOf(
			nodeBackend(1, 0), nodeBackend(3, defaultWeight)))
		AddReportEntry(fmt.Sprintf("excluded node gone in %s", time.Since(start).Round(time.Millisecond)))

		By("a node whose provider ID names no CVM joining the pool")
		odd := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-odd", Labels: pool},
			Spec: corev1.NodeSpec{ProviderID: "aws:///us-east-1a/i-0123456789"}}
		Expect(k8sClient.Create(ctx, odd)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, odd))).To(Succeed()) })
		odd.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "Test",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		Expect(k8sClient.Status().Update(ctx, odd)).To(Succeed())
		Eventually(func(g Gomega) {
			ws := warningsOf(key, "NodesSkipped")
			g.Expect(ws).To(HaveLen(1))
			g.Expect(ws[0].Note).To(And(ContainSubstring("1 nodes are not registered"), ContainSubstring(odd.Name)))
		}).Should(Succeed())
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(nodeBackend(1, 0), nodeBackend(3, defaultWeight)))
	})
})

// editNode changes test node i.
func (f *fixture) editNode(i int, edit func(*corev1.Node)) {
	GinkgoHelper()
	var node corev1.Node
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: f.nodeName(i)}, &node)).To(Succeed())
	patch := client.MergeFrom(node.DeepCopy())
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	edit(&node)
	Expect(k8sClient.Patch(ctx, &node, patch)).To(Succeed())
}
