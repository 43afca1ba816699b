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
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

var _ = Describe("CLBHealth controller and pod readiness gates", func() {
	const binding = "web"
	gate := networkingv1alpha1.ReadinessGateConditionType(binding)

	gatedPods := func(f *fixture, n int) []*corev1.Pod {
		return createGatedPods(f, n, func(int) string { return gate }, func(i int) string { return fmt.Sprintf("10.2.0.%d", i+1) })
	}

	gateOf := func(pod *corev1.Pod) func(g Gomega) corev1.PodCondition {
		return func(g Gomega) corev1.PodCondition {
			var current corev1.Pod
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), &current)).To(Succeed())
			for _, c := range current.Status.Conditions {
				if string(c.Type) == gate {
					return c
				}
			}
			return corev1.PodCondition{}
		}
	}
	expectGate := func(pods []*corev1.Pod, status corev1.ConditionStatus, reason string) {
		GinkgoHelper()
		for _, pod := range pods {
			Eventually(gateOf(pod)).Should(And(
				HaveField("Status", status), HaveField("Reason", reason), HaveField("Message", Not(BeEmpty()))),
				func() string { return fmt.Sprintf("gate of pod %s: %+v", pod.Name, gateOf(pod)(Default)) })
		}
	}
	setPolicy := func(key types.NamespacedName, policy networkingv1alpha1.ReadinessPolicy) {
		var h networkingv1alpha1.CLBHealth
		Eventually(func() error { return k8sClient.Get(ctx, key, &h) }).Should(Succeed())
		patch := client.MergeFrom(h.DeepCopy())
		h.Spec.ReadinessPolicy = policy
		Expect(k8sClient.Patch(ctx, &h, patch)).To(Succeed())
	}

	It("turns gates True only once the CLB reports the pods Alive, and latches them with OnceHealthy", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Unknown")
		pods := gatedPods(f, 3)
		key := f.binding(binding, lis, "web")

		By("registering pods held back only by the gate, whose gate then waits for the health check")
		f.expectBackends(key, lis, []string{
			backend("10.2.0.1", targetPort, 10, ownerTag(key)),
			backend("10.2.0.2", targetPort, 10, ownerTag(key)),
			backend("10.2.0.3", targetPort, 10, ownerTag(key)),
		})
		expectGate(pods, corev1.ConditionFalse, networkingv1alpha1.GateHealthCheckPendingReason)

		By("setting the gates True within the fast poll once clbsim reports Alive")
		alive := time.Now()
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Alive")
		expectGate(pods, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason)
		latency := time.Since(alive)
		GinkgoWriter.Printf("READINESS-LATENCY clbsim Alive → pod gate True: %v (fast poll 2s)\n", latency)
		AddReportEntry("readiness latency", latency.String())
		Expect(latency).To(BeNumerically("<", 3*time.Second+time.Second), "fast poll 2 s + reconcile")

		By("showing the health view in CLBHealth status")
		Eventually(func(g Gomega) {
			var h networkingv1alpha1.CLBHealth
			g.Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
			g.Expect(h.Status.Summary).To(Equal("3/3"))
			g.Expect(meta.IsStatusConditionTrue(h.Status.Conditions, networkingv1alpha1.HealthReadyCondition)).To(BeTrue())
			g.Expect(h.OwnerReferences).To(ContainElement(HaveField("Name", binding)), "owned by its binding")
			g.Expect(h.Status.LastProbeTime).NotTo(BeNil())
		}).Should(Succeed())

		By("keeping the gates True when the CLB turns Dead, with OnceHealthy")
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		Eventually(func(g Gomega) {
			var h networkingv1alpha1.CLBHealth
			g.Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
			g.Expect(h.Status.Unhealthy).To(BeEquivalentTo(3))
			g.Expect(h.Status.UnhealthyTargets).To(HaveLen(3))
			g.Expect(h.Status.UnhealthyTargets[0].Pod).To(HavePrefix("gated-"))
			g.Expect(meta.FindStatusCondition(h.Status.Conditions, networkingv1alpha1.HealthReadyCondition)).To(
				HaveField("Reason", networkingv1alpha1.HealthUnhealthyReason))
		}).Should(Succeed())
		for _, pod := range pods {
			Consistently(gateOf(pod), time.Second).Should(HaveField("Status", corev1.ConditionTrue))
		}
	})

	It("follows the CLB's view with FollowHealth, and releases the gates when the binding is deleted", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		pods := gatedPods(f, 2)
		key := f.binding(binding, lis, "web")
		setPolicy(key, networkingv1alpha1.ReadinessPolicyFollowHealth)

		expectGate(pods, corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Alive")
		expectGate(pods, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		expectGate(pods, corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason)

		By("releasing the gates of a deleted binding so its pods are never stuck")
		Expect(k8sClient.Delete(ctx, f.get(key))).To(Succeed())
		f.expectGone(key)
		expectGate(pods, corev1.ConditionTrue, networkingv1alpha1.GateBindingDeletedReason)
	})

	It("refuses a health check the listener's protocol does not take, without writing it, and applies a fixed one once", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80) // TCP
		key := f.binding(binding, lis, "web")
		Eventually(func() string { return f.get(key).Status.ListenerID }).Should(Equal(lis))
		writesBefore := modifyListenerCalls()

		By("setting a PING check, which a TCP listener does not take")
		setHealthCheck(key, &networkingv1alpha1.HealthCheckSpec{Type: networkingv1alpha1.HealthCheckPING})
		Eventually(func(g Gomega) {
			c := healthCheckApplied(g, key)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.HealthCheckInvalidReason))
			g.Expect(c.Message).To(And(ContainSubstring("listener "+lis), ContainSubstring("is TCP"),
				ContainSubstring("spec.healthCheck.type PING"), ContainSubstring("use TCP, HTTP or CUSTOM")))
		}).Should(Succeed())
		Eventually(func() []eventsv1.Event { return healthWarnings(key) }).Should(ConsistOf(And(
			HaveField("Reason", networkingv1alpha1.HealthCheckInvalidReason), HaveField("Note", ContainSubstring("spec.healthCheck.type")))))

		By("never writing it, nor trying again while nothing changes")
		Consistently(modifyListenerCalls, 2*time.Second).Should(Equal(writesBefore))
		Expect(healthWarnings(key)).To(ConsistOf(HaveField("Series", BeNil())), "one Warning event, not repeated")

		By("writing the check once it is fixed, with the HTTP version and codes the API requires")
		setHealthCheck(key, &networkingv1alpha1.HealthCheckSpec{Type: networkingv1alpha1.HealthCheckHTTP,
			HTTPDomain: "web.example.com", HTTPPath: "/healthz"})
		Eventually(func(g Gomega) {
			c := healthCheckApplied(g, key)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(networkingv1alpha1.HealthCheckAppliedReason))
			var h networkingv1alpha1.CLBHealth
			g.Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
			g.Expect(h.Status.ObservedGeneration).To(Equal(h.Generation))
		}).Should(Succeed())
		Expect(modifyListenerCalls()).To(Equal(writesBefore + 1))
		ls, err := cloud.DescribeListeners(ctx, f.lbID, lis)
		Expect(err).NotTo(HaveOccurred())
		Expect(ls[0].HealthCheck).To(PointTo(MatchFields(IgnoreExtras, Fields{
			"CheckType": Equal("HTTP"), "HTTPCheckDomain": Equal("web.example.com"), "HTTPCheckPath": Equal("/healthz"),
			"HTTPVersion": Equal("HTTP/1.1"), "HTTPCode": BeEquivalentTo(31),
		})))

		By("not writing it again when the CLBHealth changes elsewhere")
		setPolicy(key, networkingv1alpha1.ReadinessPolicyFollowHealth)
		Consistently(modifyListenerCalls, time.Second).Should(Equal(writesBefore + 1))
	})

	It("writes a CLBHealth's status when the health view changes, not at each poll, and says once since when polls fail", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80)
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Dead")
		pods := gatedPods(f, 2) // a failing backend keeps the fast poll (2 s) going
		key := f.binding(binding, lis, "web")
		var settled networkingv1alpha1.CLBHealth
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &settled)).To(Succeed())
			g.Expect(settled.Status.Unhealthy).To(BeEquivalentTo(2))
			g.Expect(settled.Status.LastProbeTime).NotTo(BeNil())
		}).Should(Succeed())
		polls := func() int { return sim.Calls()["DescribeTargetHealth"]["OK"] }
		awaitPoll := func() {
			GinkgoHelper()
			from := polls()
			Eventually(polls, 5*time.Second, 50*time.Millisecond).Should(BeNumerically(">", from))
		}
		healthStatus := func() networkingv1alpha1.CLBHealth {
			var h networkingv1alpha1.CLBHealth
			Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
			return h
		}

		By("reconciling after polls that read the same view, woken by pod events, without writing")
		awaitPoll()
		settled = healthStatus() // after any write the first view caused
		for range 3 {
			awaitPoll()
			f.touch(&corev1.Pod{}, pods[0].Name) // queues the CLBHealth of the pod's gate
			Consistently(func() string { return healthStatus().ResourceVersion }, 500*time.Millisecond, 50*time.Millisecond).
				Should(Equal(settled.ResourceVersion), "a poll that read the same view rewrote the status (lastProbeTime %v)", settled.Status.LastProbeTime)
		}

		By("saying since when the polls of the load balancer fail, in one write")
		sim.InjectFault(clbsim.Fault{Action: "DescribeTargetHealth", Code: "InternalError", Rate: 1})
		DeferCleanup(sim.ClearFaults)
		var failing networkingv1alpha1.CLBHealth
		Eventually(func(g Gomega) {
			failing = healthStatus()
			ready := meta.FindStatusCondition(failing.Status.Conditions, networkingv1alpha1.HealthReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(networkingv1alpha1.HealthUnhealthyReason), "the last view still stands")
			g.Expect(ready.Message).To(ContainSubstring("health polls of " + f.lbID + " fail since "))
			g.Expect(ready.Message).To(ContainSubstring("(InternalError)"))
		}, 10*time.Second).Should(Succeed())
		for range 2 {
			Eventually(func() int { return sim.Calls()["DescribeTargetHealth"]["InternalError"] }, 5*time.Second, 50*time.Millisecond).
				Should(BeNumerically(">", 0))
			sim.ResetCalls()
			f.touch(&corev1.Pod{}, pods[1].Name)
			Consistently(func() string { return healthStatus().ResourceVersion }, 500*time.Millisecond, 50*time.Millisecond).
				Should(Equal(failing.ResourceVersion), "each failed poll rewrote the status")
		}

		By("dropping the message once a poll succeeds again")
		sim.ClearFaults()
		Eventually(func(g Gomega) {
			ready := meta.FindStatusCondition(healthStatus().Status.Conditions, networkingv1alpha1.HealthReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Message).NotTo(ContainSubstring("fail since"))
		}, 10*time.Second).Should(Succeed())
	})

	It("counts the Service's pods that lack the binding's gate", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		lis := f.listener(80)
		eps := f.webPods(2) // Ready pods created without the gate
		f.setEndpoints("web", eps...)
		key := f.binding(binding, lis, "web")
		f.expectReady(key, 2)
		Eventually(func() int32 { return f.get(key).Status.PodsMissingGate }).Should(BeEquivalentTo(2))
	})
})

// setHealthCheck sets spec.healthCheck of the binding's CLBHealth, once the controller created it.
func setHealthCheck(key types.NamespacedName, hc *networkingv1alpha1.HealthCheckSpec) {
	GinkgoHelper()
	Eventually(func() error {
		var h networkingv1alpha1.CLBHealth
		if err := k8sClient.Get(ctx, key, &h); err != nil {
			return err
		}
		patch := client.MergeFrom(h.DeepCopy())
		h.Spec.HealthCheck = hc
		return k8sClient.Patch(ctx, &h, patch)
	}).Should(Succeed())
}

// healthCheckApplied returns the HealthCheckApplied condition of a CLBHealth.
func healthCheckApplied(g Gomega, key types.NamespacedName) metav1.Condition {
	var h networkingv1alpha1.CLBHealth
	g.Expect(k8sClient.Get(ctx, key, &h)).To(Succeed())
	c := meta.FindStatusCondition(h.Status.Conditions, networkingv1alpha1.HealthCheckAppliedCondition)
	g.Expect(c).NotTo(BeNil(), "no %s condition: %+v", networkingv1alpha1.HealthCheckAppliedCondition, h.Status.Conditions)
	g.Expect(c.ObservedGeneration).To(Equal(h.Generation))
	return *c
}

// healthWarnings lists the Warning events recorded on a CLBHealth.
func healthWarnings(key types.NamespacedName) []eventsv1.Event {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(key.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "CLBHealth" && e.Regarding.Name == key.Name && e.Type == corev1.EventTypeWarning {
			out = append(out, e)
		}
	}
	return out
}

// modifyListenerCalls counts the ModifyListener calls clbsim received, failed ones included.
func modifyListenerCalls() int {
	n := 0
	for _, c := range sim.Calls()["ModifyListener"] {
		n += c
	}
	return n
}

// createGatedPods creates n pods of Service web, pod i at ip(i) carrying the readiness gate
// gate(i), with containers ready and the pod held back only by its gate (as the kubelet reports
// such a pod), and an EndpointSlice that lists them as not ready: the state in which the gate
// and the registration could wait on each other for ever.
func createGatedPods(f *fixture, n int, gate, ip func(i int) string) []*corev1.Pod {
	GinkgoHelper()
	pods := make([]*corev1.Pod, n)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: f.ns, Name: "web-gated", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(targetPort)), Protocol: new(corev1.ProtocolTCP)}},
	}
	for i := range n {
		addr := ip(i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("gated-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:       "node-a",
				Containers:     []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(gate(i))}},
			},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		// A patch, not an update: the controller may already have written the gate condition.
		created := pod.DeepCopy()
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: addr, PodIPs: []corev1.PodIP{{IP: addr}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady"},
			},
		}
		Expect(k8sClient.Status().Patch(ctx, pod, client.MergeFrom(created))).To(Succeed())
		pods[i] = pod
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: new(false), Serving: new(false), Terminating: new(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: f.ns, Name: pod.Name, UID: pod.UID},
		})
	}
	Expect(k8sClient.Create(ctx, slice)).To(Succeed())
	return pods
}
