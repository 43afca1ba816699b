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
	"cmp"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
)

// Bad input, each with a clear error and no cloud write. What the API server can know is refused
// at admission and is covered in test/crdvalidation: malformed load balancer, listener and
// location IDs, weight 101, and a 64-character name while readiness gates are on. The rows here
// are what only the controller can find out.

const (
	// otherVPC is the VPC of a load balancer the controller (in simtest.VpcID) must not write to.
	otherVPC = "vpc-other001"
	// absentLB is a well-formed load balancer ID clbsim does not have: one of another region
	// looks the same, as the CLB API is regional.
	absentLB = "lb-n0tf0und"
	// manyPorts is the port count of the Service of the 1,000-ports row.
	manyPorts = 1000
	// slicePorts is how many ports one EndpointSlice may hold.
	slicePorts = 100
)

// writeActions are all CLB actions that change backends.
var writeActions = []string{
	"RegisterTargets", "DeregisterTargets", "BatchRegisterTargets", "BatchDeregisterTargets",
	"ModifyTargetWeight", "BatchModifyTargetWeight", "BatchModifyTargetTag",
}

// badInput is one row of the table. arrange builds the row's world, which may write to the
// cloud; the call counters are reset after it. It returns act, which applies the bad input and
// returns the binding to watch and a phrase of the message it must end up with.
type badInput struct {
	arrange func(f *fixture) (act func() (types.NamespacedName, string))
	// reason is the Ready condition's reason; Synced means Ready=True and no Warning event.
	reason string
	// writes are the cloud writes act causes, by action; none when empty.
	writes map[string]int
	// check, when set, asserts more about the outcome.
	check func(f *fixture, key types.NamespacedName)
	// deleteClean: deleting the binding afterwards writes nothing either.
	deleteClean bool
	// within bounds the time to the condition, when it is shorter than the default timeout.
	within time.Duration
}

var _ = Describe("Bad input", func() {
	DescribeTable("ends with a clear condition and a Warning event, and writes to the cloud only what it must",
		func(row badInput) {
			f := newFixture()
			act := row.arrange(f)
			sim.ResetCalls()
			start := time.Now()
			key, phrase := act()

			Eventually(func(g Gomega) {
				b := f.get(key)
				c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.ObservedGeneration).To(Equal(b.Generation))
				g.Expect(c.Reason).To(Equal(row.reason))
				g.Expect(c.Status).To(Equal(boolCondition(row.reason == networkingv1alpha1.BindingSyncedReason)))
				g.Expect(c.Message).To(ContainSubstring(phrase))
			}).WithTimeout(cmp.Or(row.within, 30*time.Second)).Should(Succeed(), f.dump(key))
			AddReportEntry(fmt.Sprintf("time to %s: %s", row.reason, time.Since(start).Round(time.Millisecond)))
			if row.reason == networkingv1alpha1.BindingSyncedReason {
				Expect(warnings(key)).To(BeEmpty())
			} else {
				Eventually(func() []eventsv1.Event { return warnings(key) }).Should(ContainElement(And(
					HaveField("Reason", row.reason), HaveField("Note", ContainSubstring(phrase)))),
					"a Warning event with the condition's reason on the binding")
			}

			want := row.writes
			if want == nil {
				want = map[string]int{}
			}
			Eventually(cloudWrites).Should(Equal(want), "cloud writes")
			Consistently(cloudWrites, time.Second).Should(Equal(want), "cloud writes, and no more")
			if row.check != nil {
				row.check(f, key)
			}
			if row.deleteClean {
				By("deleting the binding, which never wrote anything")
				Expect(k8sClient.Delete(ctx, f.get(key))).To(Succeed())
				f.expectGone(key)
				Expect(cloudWrites()).To(Equal(want), "cloud writes after the deletion")
			}
		},

		Entry("a listener given by port and protocol whose port has a listener of another protocol (case 2)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				f.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("udp", "", "web", func(b *networkingv1alpha1.CLBBackendBinding) {
						b.Spec.Listener = networkingv1alpha1.ListenerReference{Port: 80, Protocol: networkingv1alpha1.ProtocolUDP}
					})
					return key, "listener " + lis + " on port 80 is TCP, not UDP; fix spec.listener.protocol"
				}
			},
			reason: networkingv1alpha1.BindingInvalidSpecReason, deleteClean: true,
		}),

		Entry("a rule on an L4 listener given by ID (case 3)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				f.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("rule", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
						b.Spec.Rule = &networkingv1alpha1.RuleReference{LocationID: "loc-1a2b3c4d"}
					})
					return key, "listener " + lis + " is TCP and has no rules; remove spec.rule"
				}
			},
			reason: networkingv1alpha1.BindingInvalidSpecReason, deleteClean: true,
		}),

		Entry("a Service that exists only in another namespace (case 4)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				other := &fixture{ns: newNamespace(), lbID: f.lbID}
				other.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("web", lis, "web")
					return key, "Service web in namespace " + f.ns + " (the binding's namespace: spec.serviceRef cannot name a Service in another one) does not exist"
				}
			},
			reason: networkingv1alpha1.BindingServiceNotFoundReason, deleteClean: true,
		}),

		Entry("a Service port that does not exist (case 5)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				f.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("grpc", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
						b.Spec.ServiceRef.Port = intstr.FromString("grpc")
					})
					return key, "service web has no port grpc"
				}
			},
			reason: networkingv1alpha1.BindingInvalidSpecReason, deleteClean: true,
		}),

		Entry("a load balancer in another VPC (case 6)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				f.lbID = sim.AddLoadBalancerInVPC(f.ns, otherVPC)
				lis := f.listener(80)
				f.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("web", lis, "web")
					return key, fmt.Sprintf("load balancer %s is in VPC %s, not in the controller's VPC %s (--vpc-id)", f.lbID, otherVPC, simtest.VpcID)
				}
			},
			reason: networkingv1alpha1.BindingLoadBalancerInAnotherVPCReason, deleteClean: true,
			check: func(f *fixture, _ types.NamespacedName) {
				Expect(sim.Targets(f.lbID)).To(BeEmpty())
			},
		}),

		Entry("a load balancer of another region: one the controller's region does not have (case 6)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				f.lbID = absentLB
				f.webService()
				return func() (types.NamespacedName, string) {
					key := f.binding("web", "lbl-n0tf0und", "web")
					return key, "load balancer " + absentLB + " does not exist in the controller's region"
				}
			},
			reason: networkingv1alpha1.BindingLoadBalancerNotFoundReason, deleteClean: true,
		}),

		Entry("the 1,000th port of a Service with 1,000 ports, over 10 EndpointSlices (case 7)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				eps := f.webPods(3)
				f.manyPortsService("web", manyPorts, eps)
				return func() (types.NamespacedName, string) {
					key := f.binding("web", lis, "web", func(b *networkingv1alpha1.CLBBackendBinding) {
						b.Spec.ServiceRef.Port = intstr.FromString(portName(manyPorts))
					})
					return key, "3 backends registered on listener " + lis
				}
			},
			reason: networkingv1alpha1.BindingSyncedReason,
			// As quick as a binding on a one-port Service (well under a second here).
			within: 5 * time.Second,
			writes: map[string]int{"BatchRegisterTargets": 1},
			check: func(f *fixture, key types.NamespacedName) {
				tag := ownerTag(key)
				want := make([]string, 0, 3)
				for i := range 3 {
					want = append(want, backend(fmt.Sprintf("10.1.0.%d", i+1), manyTargetPort(manyPorts), defaultWeight, tag))
				}
				Expect(backendsOn(f.lbID, f.get(key).Status.ListenerID)).To(ConsistOf(want))
				Expect(sim.Targets(f.lbID)).To(HaveLen(3), "only the port of the binding")
				st := f.get(key).Status
				Expect(st.Desired).To(BeEquivalentTo(3))
				Expect(st.Registered).To(BeEquivalentTo(3))
			},
		}),

		Entry("a second exclusive binding on a listener (case 10)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				f.webService()
				first := f.binding("first", lis, "web")
				f.expectReady(first, 2)
				return func() (types.NamespacedName, string) {
					return f.binding("second", lis, "web"), "listener " + lis + " of " + f.lbID + " is already bound by " + first.String()
				}
			},
			reason: networkingv1alpha1.BindingConflictReason, deleteClean: true,
		}),

		Entry("a Service deleted after its backends were registered (case 11)", badInput{
			arrange: func(f *fixture) func() (types.NamespacedName, string) {
				lis := f.listener(80)
				svc := f.webService()
				key := f.binding("web", lis, "web")
				f.expectReady(key, 2)
				return func() (types.NamespacedName, string) {
					Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
					return key, "Service web in namespace " + f.ns + " (the binding's namespace: spec.serviceRef cannot name a Service in another one) " +
						"does not exist; its backends are deregistered until it is created"
				}
			},
			reason: networkingv1alpha1.BindingServiceNotFoundReason,
			writes: map[string]int{"BatchDeregisterTargets": 1},
			check: func(f *fixture, key types.NamespacedName) {
				Expect(sim.Targets(f.lbID)).To(BeEmpty())
				Eventually(func() string { return f.get(key).Status.Backends }).Should(Equal("0/0"))
			},
		}),
	)
})

// webService creates the Service web with two Ready pods in one EndpointSlice.
func (f *fixture) webService() *corev1.Service {
	svc := f.service("web", corev1.ServiceTypeClusterIP)
	f.setEndpoints("web", f.webPods(2)...)
	return svc
}

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cbb-other-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func portName(i int) string { return fmt.Sprintf("p%d", i) }

// manyTargetPort is where the pods serve Service port i of manyPortsService.
func manyTargetPort(i int) int64 { return int64(20000 + i) }

// manyPortsService creates a Service with n ports p1 … pn (10001… → 20001…) and, as the
// EndpointSlice controller would, one EndpointSlice per 100 ports, each with all of eps.
func (f *fixture) manyPortsService(name string, n int, eps []endpoint) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}},
	}
	for i := 1; i <= n; i++ {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: portName(i), Port: int32(10000 + i), TargetPort: intstr.FromInt(int(manyTargetPort(i))), Protocol: corev1.ProtocolTCP,
		})
	}
	Expect(k8sClient.Create(ctx, svc)).To(Succeed(), "the API server takes a Service with %d ports", n)

	endpoints := make([]discoveryv1.Endpoint, 0, len(eps))
	for _, ep := range eps {
		endpoints = append(endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ep.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)},
			NodeName:   new("node-a"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: f.ns, Name: ep.pod, UID: ep.uid},
		})
	}
	for first := 1; first <= n; first += slicePorts {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: f.ns, Name: fmt.Sprintf("%s-%d", name, first/slicePorts),
				Labels: map[string]string{discoveryv1.LabelServiceName: name},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   endpoints,
		}
		for i := first; i < first+slicePorts && i <= n; i++ {
			slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
				Name: new(portName(i)), Port: new(int32(manyTargetPort(i))), Protocol: new(corev1.ProtocolTCP),
			})
		}
		Expect(k8sClient.Create(ctx, slice)).To(Succeed())
	}
}

// cloudWrites counts the write calls clbsim received since the last ResetCalls, by action,
// failed ones included.
func cloudWrites() map[string]int {
	calls := sim.Calls()
	out := map[string]int{}
	for _, action := range writeActions {
		for _, n := range calls[action] {
			out[action] += n
		}
	}
	return out
}

// warnings lists the Warning events recorded on a binding.
func warnings(key types.NamespacedName) []eventsv1.Event {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(key.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "CLBBackendBinding" && e.Regarding.Name == key.Name && e.Type == corev1.EventTypeWarning {
			out = append(out, e)
		}
	}
	return out
}

func boolCondition(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
