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

package webhooks_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// The specs that are not about policies bind in namespaces labelled openLabel to load balancers
// tagged openTag, which openPolicy allows.
const (
	openLabel = "webhooks-suite.clbind.io/open"
	openTag   = "webhooks-suite"
)

func openPolicy() *networkingv1alpha1.CLBBindingPolicy {
	return &networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "webhooks-suite-open"},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:             networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{openLabel: "true"}}},
			LoadBalancers:          []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: openTag, Value: "open"}}},
			SharedAcrossNamespaces: true,
		},
	}
}

// newLB creates a load balancer in clbsim that openPolicy allows.
func newLB() string {
	return newTaggedLB(map[string]string{openTag: "open"})
}

// newTaggedLB creates a load balancer in clbsim with these resource tags.
func newTaggedLB(tags map[string]string) string {
	lb := simServer.Sim.AddLoadBalancer("webhooks")
	Expect(simServer.Sim.SetLoadBalancerTags(lb, tags)).To(BeTrue())
	return lb
}

// newPolicyNamespace creates a namespace that openPolicy does not allow.
func newPolicyNamespace(labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pol-", Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	Eventually(func() error { return cached.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{}) }).Should(Succeed())
	return ns.Name
}

// createPolicy creates a policy for the spec, deleted when the spec ends, and waits until the
// webhook's cache sees it.
func createPolicy(spec networkingv1alpha1.CLBBindingPolicySpec) *networkingv1alpha1.CLBBindingPolicy {
	p := &networkingv1alpha1.CLBBindingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p-" + randomID()}, Spec: spec}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, p))).To(Succeed()) })
	waitPolicyCached(p)
	return p
}

func waitPolicyCached(p *networkingv1alpha1.CLBBindingPolicy) {
	Eventually(func(g Gomega) {
		var got networkingv1alpha1.CLBBindingPolicy
		g.Expect(cached.Get(ctx, client.ObjectKeyFromObject(p), &got)).To(Succeed())
		g.Expect(got.ResourceVersion).To(Equal(p.ResourceVersion))
	}).Should(Succeed())
}

func forNamespaces(ns ...string) networkingv1alpha1.NamespaceSelection {
	return networkingv1alpha1.NamespaceSelection{Names: ns}
}

func lbByID(id string) []networkingv1alpha1.LoadBalancerMatch {
	return []networkingv1alpha1.LoadBalancerMatch{{ID: id}}
}

// expectRefused expects the API server to refuse the binding with the policy's message.
func expectRefused(b *networkingv1alpha1.CLBBackendBinding, fragments ...string) {
	GinkgoHelper()
	err := k8sClient.Create(ctx, b)
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
	Expect(err).To(MatchError(ContainSubstring("spec.loadBalancerId")))
	for _, f := range fragments {
		Expect(err).To(MatchError(ContainSubstring(f)))
	}
}

// cloudCalls counts clbsim's answers to action since the last ResetCalls.
func cloudCalls(action string) int {
	n := 0
	for _, c := range simServer.Sim.Calls()[action] {
		n += c
	}
	return n
}

var _ = Describe("CLBBindingPolicy enforcement at admission", func() {
	It("refuses a binding no policy allows, naming the namespace, the load balancer and what to create", func() {
		ns := newPolicyNamespace(nil)
		createService(ns, "web", map[string]string{"app": "web"}, "")
		lb := newTaggedLB(nil)
		expectRefused(newBinding(ns, "web", lb, "web", 80),
			"no CLBBindingPolicy allows namespace "+ns+" to bind listener TCP:80 of load balancer "+lb,
			"a cluster admin must create one", "spec.namespaces.names: ["+ns+"]", "{id: "+lb+"}")

		By("allowing it once a policy names the namespace and the load balancer")
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(lb)})
		createBinding(newBinding(ns, "web", lb, "web", 80))
	})

	It("admits a binding applied in the same moment as its policy, before the cache has the policy", func() {
		for i := range 5 {
			ns := newPolicyNamespace(nil)
			lb := newTaggedLB(nil)
			p := &networkingv1alpha1.CLBBindingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p-" + randomID()},
				Spec: networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(lb)}}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, p))).To(Succeed()) })
			Expect(k8sClient.Create(ctx, newBinding(ns, "web", lb, "web", 80))).To(Succeed(), "binding %d, right after its policy", i)
		}
	})

	It("allows the namespaces a label selector selects, and no other", func() {
		team := "team-" + randomID()
		ns := newPolicyNamespace(map[string]string{"team": team})
		other := newPolicyNamespace(map[string]string{"team": "other"})
		lb := newTaggedLB(nil)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:    networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}},
			LoadBalancers: lbByID(lb),
		})
		createBinding(newBinding(ns, "web", lb, "web", 80))
		expectRefused(newBinding(other, "web", lb, "web", 81), "no CLBBindingPolicy allows namespace "+other)
	})

	It("allows load balancers by their CLB resource tag, read from the cloud", func() {
		owner := "team-" + randomID()
		ns := newPolicyNamespace(nil)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns),
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner", Value: owner}}}})
		createBinding(newBinding(ns, "web", newTaggedLB(map[string]string{"owner": owner}), "web", 80))

		By("refusing a load balancer whose tag has another value, showing its tags")
		foreign := newTaggedLB(map[string]string{"owner": "someone-else"})
		expectRefused(newBinding(ns, "foreign", foreign, "web", 80),
			"do not name load balancer "+foreign+" (its tags: owner=someone-else)", "{id: "+foreign+"}")
	})

	It("restricts listeners by port, and by ID for a binding that names its listener by port", func() {
		ns := newPolicyNamespace(nil)
		lb := newTaggedLB(nil)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(lb),
			Listeners: []networkingv1alpha1.ListenerMatch{{Port: 80, Protocol: networkingv1alpha1.ProtocolTCP}}})
		createBinding(newBinding(ns, "web", lb, "web", 80))
		expectRefused(newBinding(ns, "other-port", lb, "web", 81), "allows load balancer "+lb+" only on the listeners TCP:80")

		By("resolving the port of a binding through DescribeListeners when the policy names a listener ID")
		byIDLB := newTaggedLB(nil)
		allowed := simServer.Sim.AddListener(byIDLB, "TCP", 8080)
		notAllowed := simServer.Sim.AddListener(byIDLB, "TCP", 9090)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(byIDLB),
			Listeners: []networkingv1alpha1.ListenerMatch{{ID: allowed}}})
		createBinding(newBinding(ns, "by-port", byIDLB, "web", 8080))
		expectRefused(newBinding(ns, "by-other-port", byIDLB, "web", 9090),
			"listener "+notAllowed+" (TCP:9090) of load balancer "+byIDLB, "only on the listeners "+allowed)
	})

	It("refuses an exclusive binding where the policy forbids it, and allows a multiCluster one", func() {
		ns := newPolicyNamespace(nil)
		createService(ns, "web", map[string]string{"app": "web"}, "")
		lb := newTaggedLB(nil)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(lb),
			Exclusive: networkingv1alpha1.ExclusiveForbidden})
		expectRefused(newBinding(ns, "exclusive", lb, "web", 80), "exclusively", "set spec.multiCluster")
		shared := newBinding(ns, "shared", lb, "web", 80)
		shared.Spec.MultiCluster = true
		createBinding(shared)

		By("refusing to turn multiCluster off afterwards")
		shared.Spec.MultiCluster = false
		err := k8sClient.Update(ctx, shared)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(ContainSubstring("exclusively")))
	})

	It("refuses two namespaces on one listener unless their policies share it and both are multiCluster", func() {
		nsA, nsB := newPolicyNamespace(nil), newPolicyNamespace(nil)
		lb := newTaggedLB(nil)
		p := createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(nsA, nsB), LoadBalancers: lbByID(lb)})
		multi := func(ns, name string) *networkingv1alpha1.CLBBackendBinding {
			b := newBinding(ns, name, lb, "web", 80)
			b.Spec.MultiCluster = true
			return b
		}
		createBinding(multi(nsA, "a"))
		expectRefused(multi(nsB, "b"), "while namespace "+nsA+" binds it too", "spec.sharedAcrossNamespaces")

		By("allowing it once the policy sets sharedAcrossNamespaces")
		p.Spec.SharedAcrossNamespaces = true
		Expect(k8sClient.Update(ctx, p)).To(Succeed())
		waitPolicyCached(p)
		createBinding(multi(nsB, "b"))

		By("still refusing an exclusive binding there, as before policies")
		err := k8sClient.Create(ctx, newBinding(nsB, "exclusive", lb, "web", 80))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(ContainSubstring("spec.listener")))
	})

	It("lets metadata updates of a binding no policy allows any more through", func() {
		ns := newPolicyNamespace(nil)
		lb := newTaggedLB(nil)
		p := createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns), LoadBalancers: lbByID(lb)})
		b := newBinding(ns, "web", lb, "web", 80)
		createBinding(b)
		Expect(k8sClient.Delete(ctx, p)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(cached.Get(ctx, client.ObjectKeyFromObject(p), &networkingv1alpha1.CLBBindingPolicy{}))
		}).Should(BeTrue())

		b.Finalizers = []string{networkingv1alpha1.DeregisterTargetsFinalizer}
		Expect(k8sClient.Update(ctx, b)).To(Succeed(), "the controller's finalizer update")
		b.Annotations = map[string]string{"example.com/owner": "team-a"}
		Expect(k8sClient.Update(ctx, b)).To(Succeed(), "an annotation")

		By("checking a change of spec.multiCluster")
		b.Spec.MultiCluster = true
		Expect(k8sClient.Update(ctx, b)).To(MatchError(ContainSubstring("no CLBBindingPolicy allows namespace " + ns)))

		By("letting the deletion finish")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		Expect(k8sClient.Delete(ctx, b)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		b.Finalizers = nil
		Expect(k8sClient.Update(ctx, b)).To(Succeed())
	})

	It("reads a load balancer's tags and listeners once per 30 seconds, whatever the number of admissions", func() {
		ns := newPolicyNamespace(nil)
		owner := "team-" + randomID()
		lb := newTaggedLB(map[string]string{"owner": owner})
		listener := simServer.Sim.AddListener(lb, "TCP", 80)
		createPolicy(networkingv1alpha1.CLBBindingPolicySpec{Namespaces: forNamespaces(ns),
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner", Value: owner}}},
			Listeners:     []networkingv1alpha1.ListenerMatch{{ID: listener}}})
		simServer.Sim.ResetCalls()
		multi := func(name string) *networkingv1alpha1.CLBBackendBinding {
			b := newBinding(ns, name, lb, "web", 80)
			b.Spec.MultiCluster = true
			return b
		}
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			Expect(k8sClient.Create(ctx, multi(name))).To(Succeed())
		}
		Expect(cloudCalls("DescribeLoadBalancers")).To(Equal(1))
		Expect(cloudCalls("DescribeListeners")).To(Equal(1))

		By("reading again once the answers are 30 s old")
		policyClock.Step(29 * time.Second)
		Expect(k8sClient.Create(ctx, multi("f"))).To(Succeed())
		Expect(cloudCalls("DescribeLoadBalancers")).To(Equal(1))
		policyClock.Step(time.Second)
		Expect(k8sClient.Create(ctx, multi("g"))).To(Succeed())
		Expect(cloudCalls("DescribeLoadBalancers")).To(Equal(2))
		Expect(cloudCalls("DescribeListeners")).To(Equal(2))
	})
})
