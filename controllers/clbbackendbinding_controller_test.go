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
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

const (
	// servicePort is the port of every test Service; targetPort is where its pods listen.
	servicePort = 80
	targetPort  = 8080
	// defaultWeight is the weight of a binding that does not set one.
	defaultWeight = 10
)

var _ = Describe("CLBBackendBinding controller", func() {
	It("follows a Service scaled 0→3→10→2 with one batch write per step", func() {
		f := newFixture()
		lis := f.listener(8000)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(10)
		f.setEndpoints("web")

		sim.ResetCalls()
		key := f.binding("web", lis, "web")
		f.expectReady(key, 0)
		Expect(writes()).To(BeZero(), "a binding with no endpoints writes nothing")
		tag := ownerTag(key)

		// A bystander on the same load balancer takes part in every pass of its worker, but
		// nothing happens to it: its status must not be written again and again.
		f.service("idle", corev1.ServiceTypeClusterIP)
		bystander := f.binding("idle", f.listener(8001), "idle")
		f.expectReady(bystander, 0)
		bystanderVersion := f.get(bystander).ResourceVersion

		steps := []struct {
			name string
			eps  []endpoint
			want writeCalls
		}{
			{name: "0→3", eps: eps[:3], want: writeCalls{Register: 1}},
			{name: "3→10", eps: eps, want: writeCalls{Register: 1}},
			{name: "10→2", eps: []endpoint{eps[0], eps[7]}, want: writeCalls{Deregister: 1}},
		}
		for _, step := range steps {
			By("scaling " + step.name)
			sim.ResetCalls()
			f.setEndpoints("web", step.eps...)
			f.expectBackends(key, lis, podBackends(tag, defaultWeight, step.eps...))
			f.expectReady(key, len(step.eps))
			got := writes()
			AddReportEntry("writes "+step.name, got)
			Expect(got).To(Equal(step.want), "write calls while scaling %s", step.name)
		}

		By("changes that leave the backends as they are write nothing")
		sim.ResetCalls()
		f.touch(&discoveryv1.EndpointSlice{}, "web-slice")
		f.touch(&corev1.Service{}, "web")
		Consistently(writes, time.Second).Should(BeZero())
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[0], eps[7]))
		Expect(f.get(bystander).ResourceVersion).To(Equal(bystanderVersion), "the bystander's status was rewritten")
	})

	It("registers the backends of 50 bindings on one load balancer in ⌈targets/500⌉ calls", func() {
		const bindings, perService = 50, 12 // 600 targets: 2 calls of at most 500
		f := newFixture()
		listeners := make([]string, bindings)
		endpoints := make([][]endpoint, bindings)
		for i := range bindings {
			listeners[i] = f.listener(int64(10000 + i))
			svc := fmt.Sprintf("svc-%02d", i)
			f.service(svc, corev1.ServiceTypeClusterIP)
			for j := range perService + 2 {
				// Endpoints whose pods are not in the informer count as serving: no pods needed.
				endpoints[i] = append(endpoints[i], ready(fmt.Sprintf("%s-%d", svc, j), fmt.Sprintf("10.2.%d.%d", i, j+1)))
			}
			f.setEndpoints(svc, endpoints[i][:perService]...)
		}
		bindingName := func(i int) string { return fmt.Sprintf("b-%02d", i) }
		serviceName := func(i int) string { return fmt.Sprintf("svc-%02d", i) }

		By("creating the 50 bindings at once, while the load balancer's backends cannot be read")
		// New bindings reach the worker one reconcile (two API writes) apart, which on a busy
		// machine is more than the window. Failing reads hold the worker's writes back until it
		// knows all 50, so what is counted is the batching, not the speed of this machine.
		DeferCleanup(sim.ClearFaults)
		sim.InjectFault(clbsim.Fault{Action: "DescribeTargets", Code: "InternalError", Rate: 1})
		sim.ResetCalls()
		parallel(bindings, func(i int) { f.binding(bindingName(i), listeners[i], serviceName(i)) })
		keys := make([]types.NamespacedName, bindings)
		for i := range bindings {
			keys[i] = types.NamespacedName{Namespace: f.ns, Name: bindingName(i)}
			f.expectNotReady(keys[i], networkingv1alpha1.BindingCloudErrorReason)
		}
		Expect(writes()).To(BeZero())

		By("the reads work again: the next pass registers the 600 backends")
		sim.ClearFaults()
		Eventually(func(g Gomega) {
			g.Expect(sim.Targets(f.lbID)).To(HaveLen(bindings * perService))
		}).Should(Succeed(), f.dump(keys[0]))
		for i, key := range keys {
			f.expectBackends(key, listeners[i], podBackends(ownerTag(key), defaultWeight, endpoints[i][:perService]...))
			f.expectReady(key, perService)
		}
		got := writes()
		AddReportEntry("writes for 50 new bindings (600 targets)", got)
		Expect(got).To(Equal(writeCalls{Register: (bindings*perService + 499) / 500}))

		By("changing the endpoints of all 50 Services while a write is in flight")
		// A real CLB write takes a second or more, and a worker has one write in flight per load
		// balancer: the changes that arrive meanwhile go out together in its next pass. Here the
		// write in flight is binding 0's own change (one backend in, one out), held by clbsim
		// until all 50 changes have reached the worker, however slow the machine.
		hold := sim.HoldWrites(f.lbID)
		DeferCleanup(hold.Release)
		sim.ResetCalls()
		f.setEndpoints(serviceName(0), endpoints[0][1:perService+1]...)
		Eventually(hold.Waiting).Should(Equal(1), "binding 0's write did not start")
		parallel(bindings, func(i int) { f.setEndpoints(serviceName(i), endpoints[i][2:]...) })
		Eventually(func() float64 { return pendingBindings(f.lbID) }).Should(BeEquivalentTo(bindings),
			"the 50 changes did not all reach the worker")
		hold.Release()
		for i, key := range keys {
			f.expectBackends(key, listeners[i], podBackends(ownerTag(key), defaultWeight, endpoints[i][2:]...))
			f.expectReady(key, perService)
		}
		got = writes()
		AddReportEntry("writes for 50 changed bindings (100 in, 100 out) made during binding 0's write", got)
		Expect(got).To(Equal(writeCalls{Register: 2, Deregister: 2}),
			"one register and one deregister call for binding 0's slow write, then one each for all 50 changes")
	})

	It("drains terminating endpoints at weight 0 and deregisters them after spec.drain.seconds", func() {
		const drain = 2 * time.Second
		f := newFixture()
		lis := f.listener(8000)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Drain = &networkingv1alpha1.DrainSpec{Seconds: int32(drain / time.Second)}
		})
		tag := ownerTag(key)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps...))
		f.expectReady(key, 3)

		start := time.Now()
		By("web-1 is deleted and its endpoint turns terminating; web-2 is deleted before its endpoint follows")
		f.deletePod("web-1")
		f.deletePod("web-2")
		f.setEndpoints("web", eps[0], terminating(eps[1]), eps[2])
		f.expectBackends(key, lis, append(podBackends(tag, defaultWeight, eps[0]), podBackends(tag, 0, eps[1], eps[2])...))
		Eventually(func(g Gomega) {
			st := f.get(key).Status
			g.Expect(st.Draining).To(BeEquivalentTo(2))
			g.Expect(st.Desired).To(BeEquivalentTo(1))
			g.Expect(st.Backends).To(Equal("1/1"))
		}).Should(Succeed(), f.dump(key))

		By("after the drain delay they are deregistered")
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[0]))
		Expect(time.Since(start)).To(BeNumerically(">=", drain), "deregistered before the drain delay ended")
		f.expectReady(key, 1)
		Expect(f.get(key).Status.Draining).To(BeZero())
	})

	It("registers Ready nodes' instances with the nodePort and follows node add, NotReady and removal", func() {
		f := newFixture()
		lis := f.listener(8000)
		svc := f.service("web", corev1.ServiceTypeNodePort)
		nodePort := int64(svc.Spec.Ports[0].NodePort)
		Expect(nodePort).NotTo(BeZero())
		pool := map[string]string{"clbind.io/test-pool": f.ns}
		for i := 1; i <= 3; i++ {
			f.node(i, pool)
		}
		f.node(9, nil) // Ready, but not in the binding's pool
		key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.TargetType = networkingv1alpha1.TargetTypeNode
			b.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: pool}
		})
		tag := ownerTag(key)
		nodeBackends := func(ids ...int) []string {
			out := make([]string, 0, len(ids))
			for _, i := range ids {
				out = append(out, backend(instanceID(i), nodePort, defaultWeight, tag))
			}
			return out
		}
		f.expectBackends(key, lis, nodeBackends(1, 2, 3))
		f.expectReady(key, 3)

		By("a node joins")
		f.node(4, pool)
		f.expectBackends(key, lis, nodeBackends(1, 2, 3, 4))
		By("a node turns NotReady")
		f.setNodeReady(2, false)
		f.expectBackends(key, lis, nodeBackends(1, 3, 4))
		By("a node is removed")
		Expect(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.nodeName(3)}})).To(Succeed())
		f.expectBackends(key, lis, nodeBackends(1, 4))
		f.expectReady(key, 2)
	})

	It("removes foreign backends from an exclusive listener and leaves them alone with multiCluster", func() {
		f := newFixture()
		exclusive, shared := f.listener(8000), f.listener(8001)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)

		By("adding backends by hand, untagged and tagged by another cluster")
		foreign := make([]targets.Target, 0, 4)
		for _, lis := range []string{exclusive, shared} {
			foreign = append(foreign,
				targets.Target{Key: targets.Key{ListenerID: lis, EniIP: "10.99.0.1", Port: targetPort}, Weight: 7},
				targets.Target{Key: targets.Key{ListenerID: lis, EniIP: "10.99.0.2", Port: targetPort}, Weight: 7, Tag: "cbb-othercluster00000"})
		}
		res, err := cloud.RegisterTargets(ctx, f.lbID, foreign)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.FailedListenerIDs).To(BeEmpty())
		hand := []string{backend("10.99.0.1", targetPort, 7, ""), backend("10.99.0.2", targetPort, 7, "cbb-othercluster00000")}

		owner := f.binding("owner", exclusive, "web")
		sharer := f.binding("sharer", shared, "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.MultiCluster = true })
		f.expectBackends(owner, exclusive, podBackends(ownerTag(owner), defaultWeight, eps...))
		f.expectBackends(sharer, shared, append(podBackends(ownerTag(sharer), defaultWeight, eps...), hand...))
		f.expectReady(owner, 2)
		f.expectReady(sharer, 2)
	})

	It("marks a second exclusive binding on the same listener Conflict without touching the cloud", func() {
		f := newFixture()
		lis := f.listener(8100)
		f.service("web", corev1.ServiceTypeClusterIP)
		f.service("other", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		f.setEndpoints("other", ready("other-0", "10.98.0.1"))
		first := f.binding("first", lis, "web")
		f.expectReady(first, 2)

		By("creating a second binding on the listener (the webhook would refuse it; none runs here)")
		sim.ResetCalls()
		second := f.binding("second", lis, "other")
		f.expectNotReady(second, networkingv1alpha1.BindingConflictReason)
		Expect(meta.FindStatusCondition(f.get(second).Status.Conditions, networkingv1alpha1.BindingReadyCondition).Message).To(
			ContainSubstring(first.String()), "the message names the binding that owns the listener")
		Consistently(func() []string { return backendsOn(f.lbID, lis) }, time.Second).Should(
			ConsistOf(podBackends(ownerTag(first), defaultWeight, eps...)), "the first binding's backends stay")
		Expect(writes()).To(Equal(writeCalls{}), "no cloud write for the conflicting binding")

		By("deleting the conflicting binding, which never wrote anything")
		Expect(k8sClient.Delete(ctx, f.get(second))).To(Succeed())
		f.expectGone(second)
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(podBackends(ownerTag(first), defaultWeight, eps...)))
		f.expectReady(first, 2)
	})

	It("deletes exactly the binding's backends, also once its listener is gone", func() {
		f := newFixture()
		lisA, lisB := f.listener(8000), f.listener(8001)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps...)
		res, err := cloud.RegisterTargets(ctx, f.lbID, []targets.Target{
			{Key: targets.Key{ListenerID: lisA, EniIP: "10.99.0.1", Port: targetPort}, Weight: 5},
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.FailedListenerIDs).To(BeEmpty())
		hand := backend("10.99.0.1", targetPort, 5, "")

		a := f.binding("a", lisA, "web", func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.MultiCluster = true })
		b := f.binding("b", lisB, "web")
		f.expectBackends(a, lisA, append(podBackends(ownerTag(a), defaultWeight, eps...), hand))
		f.expectBackends(b, lisB, podBackends(ownerTag(b), defaultWeight, eps...))
		f.expectReady(a, 3)
		f.expectReady(b, 3)
		Expect(f.get(a).Finalizers).To(ContainElement(networkingv1alpha1.DeregisterTargetsFinalizer))
		bBackends := backendsOn(f.lbID, lisB)

		By("deleting binding a")
		Expect(k8sClient.Delete(ctx, f.get(a))).To(Succeed())
		f.expectGone(a)
		Expect(backendsOn(f.lbID, lisA)).To(ConsistOf(hand), "only a's own backends go")
		Expect(backendsOn(f.lbID, lisB)).To(ConsistOf(bBackends), "b's backends stay")

		By("deleting binding b after its listener vanished")
		sim.DeleteListener(f.lbID, lisB)
		Expect(k8sClient.Delete(ctx, f.get(b))).To(Succeed())
		f.expectGone(b)
	})

	It("waits with ListenerNotFound for a listener given by port and protocol, then binds it", func() {
		f := newFixture()
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(2)
		f.setEndpoints("web", eps...)
		key := f.binding("web", "", "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: 9100, Protocol: networkingv1alpha1.ProtocolTCP}
		})
		f.expectNotReady(key, networkingv1alpha1.BindingListenerNotFoundReason)
		Expect(sim.Targets(f.lbID)).To(BeEmpty())

		By("creating the listener in the cloud")
		lis := f.listener(9100)
		f.expectBackends(key, lis, podBackends(ownerTag(key), defaultWeight, eps...))
		f.expectReady(key, 2)
		Expect(f.get(key).Status.ListenerID).To(Equal(lis))
	})

	It("converges to exactly the desired backends across a controller restart", func() {
		f := newFixture()
		lis := f.listener(8000)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(8)
		f.setEndpoints("web", eps[:5]...)
		key := f.binding("web", lis, "web")
		tag := ownerTag(key)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[:5]...))
		f.expectReady(key, 5)

		By("restarting the controller; the endpoints change while it is down")
		restartManager(func() {
			f.setEndpoints("web", eps[2:]...)
		})

		By("the new controller finishes the job")
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[2:]...))
		f.expectReady(key, 6)
	})

	It("writes no binding or CLBHealth status after a restart that finds the binding in sync and healthy", func() {
		f := newFixture()
		lis := f.listener(8000)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web")
		DeferCleanup(func() { sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "") })
		sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: f.lbID}, "Alive")
		f.expectBackends(key, lis, podBackends(ownerTag(key), defaultWeight, eps...))
		f.expectReady(key, 3)
		health := func() *networkingv1alpha1.CLBHealth {
			var hc networkingv1alpha1.CLBHealth
			ExpectWithOffset(1, k8sClient.Get(ctx, key, &hc)).To(Succeed())
			return &hc
		}
		Eventually(func() int32 { return f.get(key).Status.Healthy }, 10*time.Second).Should(BeEquivalentTo(3))
		Eventually(func() int32 { return health().Status.Healthy }).Should(BeEquivalentTo(3))
		before, healthBefore := f.get(key), health()
		Expect(before.Status.LastSyncTime).NotTo(BeNil())

		By("restarting the controller a second later, with nothing changed")
		time.Sleep(time.Second) // lastSyncTime has a resolution of a second
		reads, polls := sim.Calls()["DescribeTargets"]["OK"], sim.Calls()["DescribeTargetHealth"]["OK"]
		// The new manager's first health poll answers late, as one of a 500-LB start does: its
		// worker reports the binding in sync before any health is known.
		DeferCleanup(sim.ClearFaults)
		sim.InjectFault(clbsim.Fault{Action: "DescribeTargetHealth", Delay: 3 * time.Second, Count: 1})
		restartManager(nil)
		Eventually(func() int { return sim.Calls()["DescribeTargets"]["OK"] }).Should(BeNumerically(">", reads),
			"the new controller never read the load balancer")
		Eventually(func() int { return sim.Calls()["DescribeTargetHealth"]["OK"] }).Should(BeNumerically(">", polls),
			"the new controller never polled the load balancer's health")
		// Before its first poll, a new manager knows nothing of the backends' health: neither the
		// binding's healthy count nor the CLBHealth may be rewritten from that empty view.
		Consistently(func(g Gomega) {
			g.Expect(f.get(key).ResourceVersion).To(Equal(before.ResourceVersion),
				"the restarted controller wrote a binding in sync: %s", cmp.Diff(before, f.get(key)))
			g.Expect(health().ResourceVersion).To(Equal(healthBefore.ResourceVersion),
				"the restarted controller wrote a CLBHealth whose view did not change: %s", cmp.Diff(healthBefore, health()))
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	It("does not take the cloud's view during a predecessor's unfinished write for the truth", func() {
		f := newFixture()
		lis := f.listener(8000)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(6)
		f.setEndpoints("web", eps[:5]...)
		key := f.binding("web", lis, "web")
		tag := ownerTag(key)
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[:5]...))
		f.expectReady(key, 5)

		By("stopping the controller while the CLB is still applying its registration of web-5")
		// Batch calls are synchronous: this one holds the load balancer for 2 s and is applied at
		// the end even if the caller has gone away, as when a leader dies mid-call.
		DeferCleanup(sim.SetLatency, clbsim.Latency{})
		sim.SetLatency(clbsim.Latency{TaskFixed: 2 * time.Second, BatchSync: true})
		f.setEndpoints("web", eps...)
		Eventually(func() bool { return lbBusy(f.lbID) }).Should(BeTrue(), "no write started")
		restartManager(func() {
			sim.SetLatency(clbsim.Latency{})
			By("web-5 goes away while the controller is down")
			f.setEndpoints("web", eps[:5]...)
		})
		Expect(lbBusy(f.lbID)).To(BeTrue(), "the write ended before the new controller started")

		By("the write lands after the new controller has read the backends")
		Eventually(func() []string { return backendsOn(f.lbID, lis) }).
			Should(ContainElement(podBackends(tag, defaultWeight, eps[5])[0]), f.dump(key))

		By("the new controller takes web-5 off all the same")
		f.expectBackends(key, lis, podBackends(tag, defaultWeight, eps[:5]...))
		f.expectReady(key, 5)
	})

	It("reports ServiceNotFound and deregisters the backends while the Service is missing, and comes back with it", func() {
		f := newFixture()
		lis, lis2 := f.listener(8000), f.listener(8001)
		svc := f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web")
		f.expectBackends(key, lis, podBackends(ownerTag(key), defaultWeight, eps...))
		f.expectReady(key, 3)

		By("deleting the Service; its EndpointSlice stays, as nothing garbage-collects it here")
		Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
		f.expectNotReady(key, networkingv1alpha1.BindingServiceNotFoundReason)
		f.expectBackends(key, lis, nil)
		Eventually(func(g Gomega) {
			st := f.get(key).Status
			g.Expect(st.Registered).To(BeZero())
			g.Expect(st.Desired).To(BeZero())
			g.Expect(st.Backends).To(Equal("0/0"))
		}).Should(Succeed(), f.dump(key))

		By("creating the Service again")
		f.service("web", corev1.ServiceTypeClusterIP)
		f.expectBackends(key, lis, podBackends(ownerTag(key), defaultWeight, eps...))
		f.expectReady(key, 3)

		By("a binding to a Service that never existed")
		ghost := f.binding("ghost", lis2, "absent")
		f.expectNotReady(ghost, networkingv1alpha1.BindingServiceNotFoundReason)
		Expect(backendsOn(f.lbID, lis2)).To(BeEmpty())
	})

	It("reports InvalidSpec for a Service port that does not exist and leaves the CLB alone", func() {
		f := newFixture()
		lis, lis2 := f.listener(8000), f.listener(8001)
		f.service("web", corev1.ServiceTypeClusterIP)
		eps := f.webPods(3)
		f.setEndpoints("web", eps...)
		key := f.binding("web", lis, "web")
		want := podBackends(ownerTag(key), defaultWeight, eps...)
		f.expectBackends(key, lis, want)
		f.expectReady(key, 3)

		By("pointing the binding at a port the Service does not have")
		sim.ResetCalls()
		stored := f.get(key)
		changed := stored.DeepCopy()
		changed.Spec.ServiceRef.Port = intstr.FromInt32(81)
		Expect(k8sClient.Patch(ctx, changed, client.MergeFrom(stored))).To(Succeed())
		f.expectNotReady(key, networkingv1alpha1.BindingInvalidSpecReason)

		By("a new binding with a port name the Service does not have")
		wrong := f.binding("wrong", lis2, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
			b.Spec.ServiceRef.Port = intstr.FromString("grpc")
		})
		f.expectNotReady(wrong, networkingv1alpha1.BindingInvalidSpecReason)
		Consistently(writes, time.Second).Should(BeZero())
		Expect(backendsOn(f.lbID, lis)).To(ConsistOf(want))
		Expect(backendsOn(f.lbID, lis2)).To(BeEmpty())
	})
})

// fixture is one spec's world: a fresh namespace, and a fresh load balancer in clbsim.
type fixture struct {
	ns   string
	lbID string
}

func newFixture() *fixture {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cbb-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	f := &fixture{ns: ns.Name, lbID: sim.AddLoadBalancer(ns.Name)}
	Expect(f.lbID).NotTo(BeEmpty())
	// Bindings left behind would keep their load balancer worker busy during later specs.
	DeferCleanup(f.deleteBindings)
	return f
}

// deleteBindings deletes every binding of the namespace and waits until they are gone.
func (f *fixture) deleteBindings() {
	Expect(k8sClient.DeleteAllOf(ctx, &networkingv1alpha1.CLBBackendBinding{}, client.InNamespace(f.ns))).To(Succeed())
	Eventually(func(g Gomega) {
		var list networkingv1alpha1.CLBBackendBindingList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(f.ns))).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}).Should(Succeed(), "bindings of %s were not deleted", f.ns)
}

// listener creates a TCP listener on the fixture's load balancer.
func (f *fixture) listener(port int64) string {
	id := sim.AddListener(f.lbID, "TCP", port)
	Expect(id).NotTo(BeEmpty())
	return id
}

// service creates a Service with port "http" 80 → 8080.
func (f *fixture) service(name string, typ corev1.ServiceType) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: servicePort, TargetPort: intstr.FromInt32(targetPort), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	Expect(k8sClient.Create(ctx, svc)).To(Succeed())
	return svc
}

// webPods creates n running, Ready pods web-0 … web-(n-1) of the Service web (as a kubelet
// would report them) and returns their endpoints, ready.
func (f *fixture) webPods(n int) []endpoint {
	return f.readyPods("web", nil, n, func(i int) string { return fmt.Sprintf("10.1.%d.%d", i/250, i%250+1) })
}

// readyPods creates n running, Ready pods <prefix>-0 … of the Service web, with extra labels and
// the IPs ipOf gives, and returns their endpoints.
func (f *fixture) readyPods(prefix string, extra map[string]string, n int, ipOf func(i int) string) []endpoint {
	out := make([]endpoint, n)
	for i := range n {
		name, ip := fmt.Sprintf("%s-%d", prefix, i), ipOf(i)
		podLabels := map[string]string{"app": "web"}
		maps.Copy(podLabels, extra)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Labels: podLabels},
			Spec: corev1.PodSpec{
				// With a node, deleting the pod leaves it Terminating: there is no kubelet to finish it.
				NodeName:   "node-a",
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
			},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
		}
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		out[i] = endpoint{pod: name, uid: pod.UID, ip: ip}
	}
	return out
}

func (f *fixture) deletePod(name string) {
	Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}})).To(Succeed())
	Eventually(func(g Gomega) {
		var pod corev1.Pod
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, &pod)).To(Succeed())
		g.Expect(pod.DeletionTimestamp).NotTo(BeNil())
	}).Should(Succeed())
}

// endpoint is one entry of an EndpointSlice, as the EndpointSlice controller would write it.
type endpoint struct {
	pod         string
	uid         types.UID
	ip          string
	terminating bool
}

func ready(pod, ip string) endpoint { return endpoint{pod: pod, ip: ip} }

// terminating is ep once its pod is terminating: not ready, still serving.
func terminating(ep endpoint) endpoint {
	ep.terminating = true
	return ep
}

// setEndpoints makes the Service's only EndpointSlice hold exactly eps, in one write.
func (f *fixture) setEndpoints(svc string, eps ...endpoint) {
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: svc + "-slice"}}
	err := k8sClient.Get(ctx, client.ObjectKeyFromObject(slice), slice)
	if err != nil {
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "reading EndpointSlice: %v", err)
	}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
	slice.AddressType = discoveryv1.AddressTypeIPv4
	slice.Ports = []discoveryv1.EndpointPort{{
		Name: new("http"), Port: new(int32(targetPort)), Protocol: new(corev1.ProtocolTCP),
	}}
	slice.Endpoints = make([]discoveryv1.Endpoint, 0, len(eps))
	for _, ep := range eps {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ep.ip},
			Conditions: discoveryv1.EndpointConditions{
				Ready: new(!ep.terminating), Serving: new(true), Terminating: new(ep.terminating),
			},
			NodeName:  new("node-a"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: f.ns, Name: ep.pod, UID: ep.uid},
		})
	}
	if apierrors.IsNotFound(err) {
		Expect(k8sClient.Create(ctx, slice)).To(Succeed())
		return
	}
	Expect(k8sClient.Update(ctx, slice)).To(Succeed())
}

// touch changes an annotation of an object, and nothing that matters to the binding.
func (f *fixture) touch(obj client.Object, name string) {
	Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, obj)).To(Succeed())
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	obj.SetAnnotations(map[string]string{"test.clbind.io/touched": time.Now().Format(time.RFC3339Nano)})
	Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
}

func (f *fixture) nodeName(i int) string { return fmt.Sprintf("%s-node-%d", f.ns, i) }

// instanceID is the CVM instance of test node i.
func instanceID(i int) string { return fmt.Sprintf("ins-node%04d", i) }

// node creates a Ready node whose providerID names a CVM instance, as TKE sets it.
func (f *fixture) node(i int, labels map[string]string) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: f.nodeName(i), Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: "qcloud:///100003/" + instanceID(i)},
	}
	Expect(k8sClient.Create(ctx, node)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed())
	})
	f.setNodeReady(i, true)
}

func (f *fixture) setNodeReady(i int, isReady bool) {
	var node corev1.Node
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: f.nodeName(i)}, &node)).To(Succeed())
	status := corev1.ConditionFalse
	if isReady {
		status = corev1.ConditionTrue
	}
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: status, Reason: "Test", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	Expect(k8sClient.Status().Update(ctx, &node)).To(Succeed())
}

// binding creates a binding of the fixture's load balancer, edited by edit.
func (f *fixture) binding(name, listenerID, svc string, edit ...func(*networkingv1alpha1.CLBBackendBinding)) types.NamespacedName {
	b := &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: f.lbID,
			Listener:       networkingv1alpha1.ListenerReference{ID: listenerID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: svc, Port: intstr.FromInt32(servicePort)},
		},
	}
	for _, e := range edit {
		e(b)
	}
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	return client.ObjectKeyFromObject(b)
}

func (f *fixture) get(key types.NamespacedName) *networkingv1alpha1.CLBBackendBinding {
	var b networkingv1alpha1.CLBBackendBinding
	ExpectWithOffset(1, k8sClient.Get(ctx, key, &b)).To(Succeed())
	return &b
}

// ownerTag is the tag the controller puts on the binding's backends.
func ownerTag(key types.NamespacedName) string {
	var b networkingv1alpha1.CLBBackendBinding
	ExpectWithOffset(1, k8sClient.Get(ctx, key, &b)).To(Succeed())
	return targets.OwnerTag(testClusterID, b.UID)
}

// backend renders one CLB backend for comparisons.
func backend(addr string, port, weight int64, tag string) string {
	return fmt.Sprintf("%s:%d weight=%d tag=%q", addr, port, weight, tag)
}

// podBackends are the backends of eps as the binding registers them.
func podBackends(tag string, weight int64, eps ...endpoint) []string {
	out := make([]string, 0, len(eps))
	for _, ep := range eps {
		out = append(out, backend(ep.ip, targetPort, weight, tag))
	}
	return out
}

// backendsOn lists the backends of one listener in clbsim, duplicates included.
func backendsOn(lbID, listenerID string) []string {
	var out []string
	for _, t := range sim.Targets(lbID) {
		if t.ListenerID != listenerID {
			continue
		}
		addr := t.EniIP
		if t.InstanceID != "" {
			addr = t.InstanceID
		}
		out = append(out, backend(addr, t.Port, t.Weight, t.Tag))
	}
	return out
}

// expectBackends waits until the listener holds exactly want.
func (f *fixture) expectBackends(key types.NamespacedName, listenerID string, want []string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		if len(want) == 0 {
			g.Expect(backendsOn(f.lbID, listenerID)).To(BeEmpty())
			return
		}
		g.Expect(backendsOn(f.lbID, listenerID)).To(ConsistOf(want))
	}).Should(Succeed(), f.dump(key))
}

// expectReady waits until the binding reports n of n backends registered and Ready=True Synced
// for its current generation.
func (f *fixture) expectReady(key types.NamespacedName, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		b := f.get(key)
		c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(networkingv1alpha1.BindingSyncedReason))
		g.Expect(c.ObservedGeneration).To(Equal(b.Generation))
		g.Expect(b.Status.ObservedGeneration).To(Equal(b.Generation))
		g.Expect(b.Status.Desired).To(BeEquivalentTo(n))
		g.Expect(b.Status.Registered).To(BeEquivalentTo(n))
		g.Expect(b.Status.Backends).To(Equal(fmt.Sprintf("%d/%d", n, n)))
		g.Expect(b.Status.LastSyncTime).NotTo(BeNil())
	}).Should(Succeed(), f.dump(key))
}

// expectNotReady waits for the binding's Ready condition to be False with reason.
func (f *fixture) expectNotReady(key types.NamespacedName, reason string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		b := f.get(key)
		c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.ObservedGeneration).To(Equal(b.Generation))
	}).Should(Succeed(), f.dump(key))
}

// expectGone waits until the binding no longer exists.
func (f *fixture) expectGone(key types.NamespacedName) {
	GinkgoHelper()
	Eventually(func() bool {
		err := k8sClient.Get(ctx, key, &networkingv1alpha1.CLBBackendBinding{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue(), f.dump(key))
}

// dump describes the load balancer's backends and the binding for a failure message.
func (f *fixture) dump(key types.NamespacedName) func() string {
	return func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "backends of %s in clbsim:\n", f.lbID)
		for _, t := range sim.Targets(f.lbID) {
			fmt.Fprintf(&sb, "  %+v\n", t)
		}
		var b networkingv1alpha1.CLBBackendBinding
		if err := k8sClient.Get(ctx, key, &b); err != nil {
			fmt.Fprintf(&sb, "binding %s: %v\n", key, err)
			return sb.String()
		}
		out, _ := json.MarshalIndent(map[string]any{"metadata": map[string]any{
			"generation": b.Generation, "finalizers": b.Finalizers, "deletionTimestamp": b.DeletionTimestamp,
		}, "status": b.Status}, "", "  ")
		fmt.Fprintf(&sb, "binding %s:\n%s\n", key, out)
		return sb.String()
	}
}

// writeCalls counts the batch write calls clbsim received since the last ResetCalls, failed
// ones included.
type writeCalls struct {
	Register, Reweight, Deregister int
}

func writes() writeCalls {
	calls := sim.Calls()
	total := func(action string) int {
		n := 0
		for _, c := range calls[action] {
			n += c
		}
		return n
	}
	return writeCalls{
		Register:   total("BatchRegisterTargets"),
		Reweight:   total("BatchModifyTargetWeight"),
		Deregister: total("BatchDeregisterTargets"),
	}
}

// lbBusy reports whether a write is running on the load balancer in clbsim.
func lbBusy(lbID string) bool {
	raw, err := sim.DumpState()
	Expect(err).NotTo(HaveOccurred())
	var state struct {
		LoadBalancers []struct{ ID, BusyTask string } `json:"loadBalancers"`
	}
	Expect(json.Unmarshal(raw, &state)).To(Succeed())
	for _, lb := range state.LoadBalancers {
		if lb.ID == lbID {
			return lb.BusyTask != ""
		}
	}
	return false
}

// parallel runs fn(0) … fn(n-1) from a few goroutines, so that n API writes land at once.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			defer GinkgoRecover()
			for i := range next {
				fn(i)
			}
		})
	}
	wg.Wait()
}
