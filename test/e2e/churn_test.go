//go:build e2e

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

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// churnSliceSize is the endpoints per EndpointSlice of a churn Service (the EndpointSlice
// controller's default maximum).
const churnSliceSize = 100

// churn is a binding whose Service's endpoints the test writes itself: many targets that
// change fast without running a pod for each. The addresses (10.240.0.0/16) are data only:
// clbsim probes nothing outside the sandbox's pod network, and no one dials them.
type churn struct {
	Namespace, Name string
	Listener        sandbox.Listener

	mu   sync.Mutex
	ips  []string // the endpoints' addresses, in slice order
	next int      // the next fresh address
	rng  *rand.Rand
}

// deployChurn creates a namespace with a policy that allows it (allowNamespace), a
// selector-less Service with n ready endpoints in EndpointSlices of 100, and a binding without
// readiness gates on a listener of its own (multiCluster: sharing it with backends of other
// owners); it waits until the CLB holds exactly them and registers a cleanup.
func deployChurn(ctx context.Context, ns string, n int, multiCluster bool) *churn {
	GinkgoHelper()
	allowNamespace(ctx, ns)
	l, err := sb.AddListener(nextPort)
	nextPort++
	Expect(err).NotTo(HaveOccurred())
	c := &churn{Namespace: ns, Name: "churn", Listener: l, rng: rand.New(rand.NewPCG(uint64(n), 9))}
	for range n {
		c.ips = append(c.ips, c.fresh())
	}
	cl := sb.Client()
	Expect(cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	Expect(cl.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.Name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	})).To(Succeed())
	for i, s := range c.slices() {
		Expect(cl.Create(ctx, s)).To(Succeed(), "creating EndpointSlice %d", i)
	}
	// The webhook admits it once its cache has seen the namespace's policy.
	Expect(sb.CreateBinding(ctx, &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.Name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: sb.LoadBalancerID(),
			Listener:       networkingv1alpha1.ListenerReference{ID: l.ID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: c.Name, Port: intstr.FromInt32(80)},
			TargetType:     networkingv1alpha1.TargetTypePod,
			ReadinessGate:  new(false),
			MultiCluster:   multiCluster,
		},
	}, 30*time.Second)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(cl.Delete(ctx, &networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.Name}}))).To(Succeed())
		Expect(sb.WaitFor(ctx, cleanupTimeout, "the churn binding's backends to go", func(context.Context) (bool, string, error) {
			n := len(c.ours())
			return n == 0, fmt.Sprintf("%d backends left", n), nil
		})).To(Succeed())
	}, NodeTimeout(cleanupTimeout+10*time.Second))
	c.waitExact(ctx, settleTimeout)
	return c
}

func (c *churn) fresh() string {
	c.next++
	return fmt.Sprintf("10.240.%d.%d", c.next/250, c.next%250+1)
}

// slices are the Service's EndpointSlices for the current addresses.
func (c *churn) slices() []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for i := 0; i*churnSliceSize < len(c.ips); i++ {
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: fmt.Sprintf("%s-%d", c.Name, i),
				Labels: map[string]string{discoveryv1.LabelServiceName: c.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}},
		}
		for _, ip := range c.ips[i*churnSliceSize : min(len(c.ips), (i+1)*churnSliceSize)] {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: new(true)},
				// A pod the controller cannot see: a ready endpoint of it is registered.
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: c.Namespace, Name: "churn-" + ip},
			})
		}
		out = append(out, s)
	}
	return out
}

// step replaces k random addresses with fresh ones and writes the slices.
func (c *churn) step(ctx context.Context, k int) error {
	c.mu.Lock()
	for range k {
		c.ips[c.rng.IntN(len(c.ips))] = c.fresh()
	}
	updated := c.slices()
	c.mu.Unlock()
	for _, s := range updated {
		if err := sb.Client().Update(ctx, s); err != nil {
			return fmt.Errorf("updating EndpointSlice %s: %w", s.Name, err)
		}
	}
	return nil
}

// run steps every interval until ctx ends, and returns the number of steps.
func (c *churn) run(ctx context.Context, interval time.Duration, k int) <-chan int {
	done := make(chan int, 1)
	go func() {
		defer GinkgoRecover()
		steps := 0
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- steps
				return
			case <-t.C:
				if err := c.step(ctx, k); err != nil && ctx.Err() == nil {
					logf("churn step failed (retried next tick): %v", err)
					continue
				}
				steps++
			}
		}
	}()
	return done
}

// ours are the addresses on the churn listener that are not foreign: this cluster's.
func (c *churn) ours() []string {
	var out []string
	for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
		if t.ListenerID == c.Listener.ID && t.Tag != foreignTag {
			out = append(out, t.EniIP)
		}
	}
	return out
}

// foreignTag marks backends that another owner registered by hand.
const foreignTag = "someone-else"

// endpoints are the addresses the Service's EndpointSlices hold in the API server: what the
// binding must register. A step cut short (its context ended between two slice updates) leaves
// them apart from c.ips, so they, not c.ips, are the truth.
func (c *churn) endpoints(ctx context.Context) ([]string, error) {
	var list discoveryv1.EndpointSliceList
	if err := sb.Client().List(ctx, &list, client.InNamespace(c.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: c.Name}); err != nil {
		return nil, fmt.Errorf("listing the EndpointSlices of %s/%s: %w", c.Namespace, c.Name, err)
	}
	var out []string
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			out = append(out, ep.Addresses...)
		}
	}
	return out, nil
}

// exact reports whether the listener holds exactly the Service's endpoints, once each.
func (c *churn) exact(ctx context.Context) (bool, string) {
	want, err := c.endpoints(ctx)
	if err != nil {
		return false, err.Error()
	}
	slices.Sort(want)
	got := c.ours()
	slices.Sort(got)
	if slices.Equal(got, want) {
		return true, ""
	}
	missing := 0
	for _, ip := range want {
		if _, found := slices.BinarySearch(got, ip); !found {
			missing++
		}
	}
	// Whatever is on the listener beyond the wanted addresses it holds is extra or a duplicate.
	extra := len(got) - (len(want) - missing)
	return false, fmt.Sprintf("%d backends for %d endpoints: %d missing, %d extra or duplicated", len(got), len(want), missing, extra)
}

func (c *churn) waitExact(ctx context.Context, timeout time.Duration) {
	GinkgoHelper()
	Expect(sb.WaitFor(ctx, timeout, fmt.Sprintf("the churn listener to hold exactly its %d endpoints", len(c.ips)),
		func(ctx context.Context) (bool, string, error) {
			ok, msg := c.exact(ctx)
			return ok, msg, nil
		})).To(Succeed())
}
