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

package webhooks

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
)

// policyWorld is clbsim behind the real SDK plus a fake API server holding namespaces, policies
// and bindings: the validator reads exactly what it reads from the manager's cache in production.
type policyWorld struct {
	sim    *clbsim.Sim
	cloud  PolicyCloud
	clock  *clocktesting.FakeClock
	scheme *runtime.Scheme
	// tagged carries owner=b; plain has no tags; missing does not exist.
	tagged, plain, missing string
	// l80 and l443 are TCP listeners of tagged.
	l80, l443 string
}

func newPolicyWorld(t *testing.T) *policyWorld {
	t.Helper()
	srv, err := simtest.Start(clbsim.Options{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cloud, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	w := &policyWorld{sim: srv.Sim, cloud: cloud, clock: clocktesting.NewFakeClock(time.Now()), scheme: runtime.NewScheme(),
		missing: "lb-gone0000"}
	if err := clientgoscheme.AddToScheme(w.scheme); err != nil {
		t.Fatal(err)
	}
	if err := networkingv1alpha1.AddToScheme(w.scheme); err != nil {
		t.Fatal(err)
	}
	w.tagged = srv.Sim.AddLoadBalancer("tagged")
	srv.Sim.SetLoadBalancerTags(w.tagged, map[string]string{"owner": "b"})
	w.plain = srv.Sim.AddLoadBalancer("plain")
	w.l80 = srv.Sim.AddListener(w.tagged, "TCP", 80)
	w.l443 = srv.Sim.AddListener(w.tagged, "TCP", 443)
	return w
}

// validator returns an enforcing validator over namespaces a (team=a), b (team=b), c and d, and objs.
func (w *policyWorld) validator(objs ...client.Object) *CLBBackendBindingValidator {
	for _, ns := range []struct{ name, team string }{{"a", "a"}, {"b", "b"}, {"c", ""}, {"d", ""}} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name}}
		if ns.team != "" {
			n.Labels = map[string]string{"team": ns.team}
		}
		objs = append(objs, n, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}})
	}
	reader := fake.NewClientBuilder().WithScheme(w.scheme).WithObjects(objs...).
		WithIndex(&networkingv1alpha1.CLBBackendBinding{}, LoadBalancerIDIndex, func(o client.Object) []string {
			return []string{o.(*networkingv1alpha1.CLBBackendBinding).Spec.LoadBalancerID}
		}).Build()
	return &CLBBackendBindingValidator{Reader: reader, Policies: NewPolicyChecker(reader, w.cloud, w.clock)}
}

// calls counts the cloud calls of action since the last reset.
func (w *policyWorld) calls(action string) int {
	n := 0
	for _, c := range w.sim.Calls()[action] {
		n += c
	}
	return n
}

func bindingPolicy(name string, spec networkingv1alpha1.CLBBindingPolicySpec) *networkingv1alpha1.CLBBindingPolicy {
	return &networkingv1alpha1.CLBBindingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func names(ns ...string) networkingv1alpha1.NamespaceSelection {
	return networkingv1alpha1.NamespaceSelection{Names: ns}
}

func lbIDs(ids ...string) []networkingv1alpha1.LoadBalancerMatch {
	out := make([]networkingv1alpha1.LoadBalancerMatch, 0, len(ids))
	for _, id := range ids {
		out = append(out, networkingv1alpha1.LoadBalancerMatch{ID: id})
	}
	return out
}

// bound is a binding in namespace ns on lb's TCP listener port.
func bound(ns, name, lb string, port int32, multiCluster bool) *networkingv1alpha1.CLBBackendBinding {
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lb, MultiCluster: multiCluster,
			Listener:   networkingv1alpha1.ListenerReference{Port: port, Protocol: networkingv1alpha1.ProtocolTCP},
			ServiceRef: networkingv1alpha1.ServiceReference{Name: "web"},
		},
	}
}

func TestValidateCreateUnderPolicies(t *testing.T) {
	w := newPolicyWorld(t)
	teamB := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}
	byTag := []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner", Value: "b"}}}
	shared := func(name string, ns ...string) *networkingv1alpha1.CLBBindingPolicy {
		return bindingPolicy(name, networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names(ns...), LoadBalancers: lbIDs(w.tagged), SharedAcrossNamespaces: true})
	}
	tests := []struct {
		name     string
		existing []client.Object
		// notEnforced runs the validator as with --enforce-binding-policies=false.
		notEnforced bool
		binding     *networkingv1alpha1.CLBBackendBinding
		// wantErr are fragments of the refusal; none means admitted. noErr must not be in it.
		wantErr, noErr []string
		// wantUnavailable is a refusal because the cloud could not be read.
		wantUnavailable bool
		// describeLBs and describeListeners are the cloud reads the admission costs.
		describeLBs, describeListeners int
	}{
		{name: "no policy: refused, naming the namespace, the load balancer and what to create",
			binding: bound("a", "web", w.plain, 80, false),
			wantErr: []string{"spec.loadBalancerId", "no CLBBindingPolicy allows namespace a to bind listener TCP:80 of load balancer " + w.plain,
				"a cluster admin must create one", "{id: " + w.plain + "}"}},
		{name: "not enforced: no policy needed", notEnforced: true, binding: bound("a", "web", w.plain, 80, false)},
		{name: "allowed by namespace name and load balancer ID, without reading the cloud",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.plain)})},
			binding:  bound("a", "web", w.plain, 80, false)},
		{name: "allowed by namespace label selector",
			existing: []client.Object{bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{
				Namespaces: networkingv1alpha1.NamespaceSelection{Selector: teamB}, LoadBalancers: lbIDs(w.plain)})},
			binding: bound("b", "web", w.plain, 80, false)},
		{name: "an empty selector selects a namespace without labels",
			existing: []client.Object{bindingPolicy("all", networkingv1alpha1.CLBBindingPolicySpec{
				Namespaces: networkingv1alpha1.NamespaceSelection{Selector: &metav1.LabelSelector{}}, LoadBalancers: lbIDs(w.plain)})},
			binding: bound("c", "web", w.plain, 80, false)},
		{name: "the selector of another team: refused",
			existing: []client.Object{bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{
				Namespaces: networkingv1alpha1.NamespaceSelection{Selector: teamB}, LoadBalancers: lbIDs(w.plain)})},
			binding: bound("a", "web", w.plain, 80, false), wantErr: []string{"no CLBBindingPolicy allows namespace a"}},
		{name: "allowed by the load balancer's tag, read once",
			existing: []client.Object{bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("b"), LoadBalancers: byTag})},
			binding:  bound("b", "web", w.tagged, 80, false), describeLBs: 1},
		{name: "a load balancer without the tag: refused, with its tags",
			existing: []client.Object{bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("b"), LoadBalancers: byTag})},
			binding:  bound("b", "web", w.plain, 80, false), describeLBs: 1,
			wantErr: []string{"the policies for the namespace (b) do not name load balancer " + w.plain + " (its tags: none)"}},
		{name: "a load balancer that does not exist has no tags",
			existing: []client.Object{bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("b"), LoadBalancers: byTag})},
			binding:  bound("b", "web", w.missing, 80, false), describeLBs: 1,
			wantErr: []string{"do not name load balancer " + w.missing + " (its tags: none)"}},
		{name: "listener restricted by port: the port allowed",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Listeners: []networkingv1alpha1.ListenerMatch{{Port: 80, Protocol: networkingv1alpha1.ProtocolTCP}}})},
			binding: bound("a", "web", w.tagged, 80, false)},
		{name: "listener restricted by port: another port refused",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Listeners: []networkingv1alpha1.ListenerMatch{{Port: 80, Protocol: networkingv1alpha1.ProtocolTCP}}})},
			binding: bound("a", "web", w.tagged, 443, false),
			wantErr: []string{"CLBBindingPolicy a allows load balancer " + w.tagged + " only on the listeners TCP:80"}},
		{name: "a policy listener by ID, a binding by port: resolved with DescribeListeners",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Listeners: []networkingv1alpha1.ListenerMatch{{ID: w.l443}}})},
			binding: bound("a", "web", w.tagged, 443, false), describeListeners: 1},
		{name: "a policy listener by ID, a binding by the port of another listener: refused",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Listeners: []networkingv1alpha1.ListenerMatch{{ID: w.l443}}})},
			binding: bound("a", "web", w.tagged, 80, false), describeListeners: 1,
			wantErr: []string{"listener " + w.l80 + " (TCP:80) of load balancer " + w.tagged, "only on the listeners " + w.l443}},
		{name: "exclusive where the policy forbids it: refused",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Exclusive: networkingv1alpha1.ExclusiveForbidden})},
			binding: bound("a", "web", w.tagged, 80, false), wantErr: []string{"exclusively", "set spec.multiCluster"}},
		{name: "multiCluster where the policy forbids exclusive: allowed",
			existing: []client.Object{bindingPolicy("a", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("a"), LoadBalancers: lbIDs(w.tagged),
				Exclusive: networkingv1alpha1.ExclusiveForbidden})},
			binding: bound("a", "web", w.tagged, 80, true)},
		{name: "two namespaces on one listener without sharedAcrossNamespaces: refused",
			existing: []client.Object{
				bindingPolicy("cd", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("c", "d"), LoadBalancers: lbIDs(w.tagged)}),
				bound("c", "first", w.tagged, 80, true)},
			binding: bound("d", "second", w.tagged, 80, true),
			wantErr: []string{"while namespace c binds it too", "spec.sharedAcrossNamespaces"}},
		{name: "two namespaces on one listener, both sharing and multiCluster: allowed",
			existing: []client.Object{shared("c", "c"), shared("d", "d"), bound("c", "first", w.tagged, 80, true)},
			binding:  bound("d", "second", w.tagged, 80, true)},
		{name: "the neighbor's own policy does not share: refused",
			existing: []client.Object{
				bindingPolicy("c", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("c"), LoadBalancers: lbIDs(w.tagged)}),
				shared("d", "d"), bound("c", "first", w.tagged, 80, true)},
			binding: bound("d", "second", w.tagged, 80, true),
			wantErr: []string{"already bound from namespace c (CLBBackendBinding c/first)"}},
		{name: "the neighbor may share through a tag policy, read although an ID policy already allows it",
			existing: []client.Object{
				bindingPolicy("c", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("c"), LoadBalancers: lbIDs(w.tagged)}),
				bindingPolicy("c-tag", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("c"), LoadBalancers: byTag, SharedAcrossNamespaces: true}),
				shared("d", "d"), bound("c", "first", w.tagged, 80, true)},
			binding: bound("d", "second", w.tagged, 80, true), describeLBs: 1},
		{name: "one namespace sharing its own listener needs no sharing policy",
			existing: []client.Object{
				bindingPolicy("c", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("c"), LoadBalancers: lbIDs(w.tagged)}),
				bound("c", "first", w.tagged, 80, true)},
			binding: bound("c", "second", w.tagged, 80, true)},
		{name: "a namespace no policy allows learns nothing of the binding already on the listener",
			existing: []client.Object{bound("c", "first", w.tagged, 80, false)},
			binding:  bound("d", "second", w.tagged, 80, true),
			wantErr:  []string{"spec.loadBalancerId", "no CLBBindingPolicy allows namespace d"},
			noErr:    []string{"c/first"}},
		{name: "an allowed namespace is refused a listener another binding owns, as before",
			existing: []client.Object{
				bindingPolicy("d", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("d"), LoadBalancers: lbIDs(w.tagged)}),
				bound("c", "first", w.tagged, 80, false)},
			binding: bound("d", "second", w.tagged, 80, true),
			wantErr: []string{"spec.listener", "already bound by CLBBackendBinding c/first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			v := w.validator(tt.existing...)
			if tt.notEnforced {
				v.Policies = nil
			}
			w.sim.ResetCalls()
			_, err := v.ValidateCreate(context.Background(), tt.binding)
			if len(tt.wantErr) == 0 {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
				for _, want := range tt.wantErr {
					g.Expect(err).To(MatchError(ContainSubstring(want)))
				}
				for _, not := range tt.noErr {
					g.Expect(err.Error()).NotTo(ContainSubstring(not))
				}
			}
			g.Expect(w.calls("DescribeLoadBalancers")).To(Equal(tt.describeLBs), "DescribeLoadBalancers calls")
			g.Expect(w.calls("DescribeListeners")).To(Equal(tt.describeListeners), "DescribeListeners calls")
		})
	}
}

func TestValidateCloudErrorIsRetriable(t *testing.T) {
	g := NewWithT(t)
	w := newPolicyWorld(t)
	v := w.validator(bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("b"),
		LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner"}}}}))
	w.sim.InjectFault(clbsim.Fault{Action: "DescribeLoadBalancers", Code: "UnauthorizedOperation", Count: 1})

	_, err := v.ValidateCreate(context.Background(), bound("b", "web", w.tagged, 80, false))
	g.Expect(apierrors.IsServiceUnavailable(err)).To(BeTrue(), "got %v", err)
	g.Expect(err).To(MatchError(And(ContainSubstring("could not be checked"), ContainSubstring("UnauthorizedOperation"),
		ContainSubstring("retry"), ContainSubstring(w.tagged))))

	_, err = v.ValidateCreate(context.Background(), bound("b", "web", w.tagged, 80, false))
	g.Expect(err).NotTo(HaveOccurred(), "the error is not kept: the next admission reads again and is allowed")
}

func TestValidateUpdateUnderPolicies(t *testing.T) {
	w := newPolicyWorld(t)
	// No policy allows existing: it predates enforcement, or its policy was deleted.
	existing := bound("a", "web", w.plain, 80, true)
	withFinalizer := existing.DeepCopy()
	withFinalizer.Finalizers = []string{networkingv1alpha1.DeregisterTargetsFinalizer}
	annotated := existing.DeepCopy()
	annotated.Annotations = map[string]string{"example.com/note": "x"}
	exclusive := existing.DeepCopy()
	exclusive.Spec.MultiCluster = false
	deleting := exclusive.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	tests := []struct {
		name     string
		old, new *networkingv1alpha1.CLBBackendBinding
		wantErr  string
	}{
		{"the controller's finalizer passes", existing, withFinalizer, ""},
		{"an annotation passes", existing, annotated, ""},
		{"a binding being deleted passes whatever changes", existing, deleting, ""},
		{"turning multiCluster off is checked", existing, exclusive, "no CLBBindingPolicy allows namespace a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			v := w.validator(existing)
			_, err := v.ValidateUpdate(context.Background(), tt.old, tt.new)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestPolicyCloudReadsAreKept30Seconds(t *testing.T) {
	g := NewWithT(t)
	w := newPolicyWorld(t)
	v := w.validator(bindingPolicy("b", networkingv1alpha1.CLBBindingPolicySpec{Namespaces: names("b"),
		LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{Tag: &networkingv1alpha1.LoadBalancerTag{Key: "owner", Value: "b"}}},
		Listeners:     []networkingv1alpha1.ListenerMatch{{ID: w.l80}}}))
	// Slow answers, so that the burst's admissions overlap the first read.
	w.sim.SetLatency(clbsim.Latency{PerCall: 100 * time.Millisecond})
	w.sim.ResetCalls()

	admit := func() error {
		_, err := v.ValidateCreate(context.Background(), bound("b", "web", w.tagged, 80, false))
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { errs[i] = admit() })
	}
	wg.Wait()
	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(w.calls("DescribeLoadBalancers")).To(Equal(1), "a burst costs one read of the tags")
	g.Expect(w.calls("DescribeListeners")).To(Equal(1), "and one of the listeners")

	w.clock.Step(29 * time.Second)
	g.Expect(admit()).To(Succeed())
	g.Expect(w.calls("DescribeLoadBalancers")).To(Equal(1), "still fresh after 29s")

	w.clock.Step(2 * time.Second)
	w.sim.SetLoadBalancerTags(w.tagged, map[string]string{"owner": "a"})
	g.Expect(admit()).To(MatchError(ContainSubstring("(its tags: owner=a)")), "a tag change is seen once the answer expires")
	g.Expect(w.calls("DescribeLoadBalancers")).To(Equal(2))
}
