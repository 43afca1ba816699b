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

package trafficrouter

import (
	"context"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/plugin/types"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func newFakeRouter(objs ...runtime.Object) (*Router, *dynamicfake.FakeDynamicClient) {
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{BindingResource: "CLBBackendBindingList"}, objs...)
	return &Router{Client: c}, c
}

// patches lists the bindings patched since the last ClearActions, with their patches, in order.
func patches(c *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			out = append(out, p.GetName()+" "+string(p.GetPatch()))
		}
	}
	return out
}

// shareOf is spec.trafficShare of binding name in namespace shop, -1 when unset.
func shareOf(g Gomega, c *dynamicfake.FakeDynamicClient, name string) int64 {
	u, err := c.Resource(BindingResource).Namespace("shop").Get(context.Background(), name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	b, err := bindingFrom(u)
	g.Expect(err).NotTo(HaveOccurred())
	if b.share == nil {
		return -1
	}
	return int64(*b.share)
}

func TestSetWeightFindsTheBindingsByService(t *testing.T) {
	g := NewWithT(t)
	r, c := newFakeRouter(
		testBinding("web-stable-80", "web-stable", 80, 100),
		testBinding("web-canary-80", "web-canary", 80, 0),
		// The stable Service alone on another listener: not split, left alone.
		testBinding("web-stable-8080", "web-stable", 8080, -1),
		// Another Service on the same listener's load balancer: not the Rollout's.
		testBinding("api-80", "api", 81, -1),
	)
	ro := testRollout(new(""))

	g.Expect(r.SetWeight(ro, 10, nil)).To(Equal(types.RpcError{}))
	// The stable share decreases, so it goes first.
	g.Expect(patches(c)).To(Equal([]string{
		`web-stable-80 {"spec":{"trafficShare":90}}`,
		`web-canary-80 {"spec":{"trafficShare":10}}`,
	}))
	g.Expect(shareOf(g, c, "web-stable-8080")).To(Equal(int64(-1)))
	g.Expect(shareOf(g, c, "api-80")).To(Equal(int64(-1)))

	// Setting the same weight again patches nothing.
	c.ClearActions()
	g.Expect(r.SetWeight(ro, 10, nil)).To(Equal(types.RpcError{}))
	g.Expect(patches(c)).To(BeEmpty())

	// Back to 0 (an abort): the canary share decreases, so it goes first.
	g.Expect(r.SetWeight(ro, 0, nil)).To(Equal(types.RpcError{}))
	g.Expect(patches(c)).To(Equal([]string{
		`web-canary-80 {"spec":{"trafficShare":0}}`,
		`web-stable-80 {"spec":{"trafficShare":100}}`,
	}))
}

func TestSetWeightSplitsEveryListenerOfTheServices(t *testing.T) {
	g := NewWithT(t)
	r, c := newFakeRouter(
		testBinding("web-stable-80", "web-stable", 80, -1),
		testBinding("web-canary-80", "web-canary", 80, -1),
		testBinding("web-stable-443", "web-stable", 443, -1),
		testBinding("web-canary-443", "web-canary", 443, -1),
	)
	g.Expect(r.SetWeight(testRollout(nil), 50, nil)).To(Equal(types.RpcError{}))
	for _, name := range []string{"web-stable-80", "web-canary-80", "web-stable-443", "web-canary-443"} {
		g.Expect(shareOf(g, c, name)).To(Equal(int64(50)), name)
	}
}

func TestSetWeightWithNamedBindings(t *testing.T) {
	g := NewWithT(t)
	r, c := newFakeRouter(
		testBinding("blue", "web-v1", 80, 100),
		testBinding("green", "web-v2", 80, 0),
	)
	ro := testRollout(new(`{"stableBinding":"blue","canaryBinding":"green"}`))
	g.Expect(r.SetWeight(ro, 25, nil)).To(Equal(types.RpcError{}))
	g.Expect(shareOf(g, c, "blue")).To(Equal(int64(75)))
	g.Expect(shareOf(g, c, "green")).To(Equal(int64(25)))

	ro = testRollout(new(`{"stableBinding":"blue","canaryBinding":"missing"}`))
	g.Expect(r.SetWeight(ro, 25, nil).ErrorString).To(ContainSubstring("getting CLBBackendBinding shop/missing"))
}

func TestSetWeightRefuses(t *testing.T) {
	tests := []struct {
		name     string
		bindings []runtime.Object
		err      string
	}{{
		name:     "no canary binding",
		bindings: []runtime.Object{testBinding("web-stable-80", "web-stable", 80, 100)},
		err: "no listener or rule has a CLBBackendBinding of both Service web-stable (stable: shop/web-stable-80 on lb-aaaaaaaa listener TCP:80) " +
			"and Service web-canary (canary: none) in namespace shop",
	}, {
		name: "canary on another listener",
		bindings: []runtime.Object{
			testBinding("web-stable-80", "web-stable", 80, 100),
			testBinding("web-canary-81", "web-canary", 81, 0),
		},
		err: "canary: shop/web-canary-81 on lb-aaaaaaaa listener TCP:81",
	}, {
		name: "two bindings of one Service on one listener",
		bindings: []runtime.Object{
			testBinding("web-stable-80", "web-stable", 80, 100),
			testBinding("web-stable-80-again", "web-stable", 80, 100),
			testBinding("web-canary-80", "web-canary", 80, 0),
		},
		err: "both bind Service web-stable to lb-aaaaaaaa listener TCP:80",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			r, c := newFakeRouter(tt.bindings...)
			g.Expect(r.SetWeight(testRollout(nil), 10, nil).ErrorString).To(ContainSubstring(tt.err))
			g.Expect(patches(c)).To(BeEmpty())
		})
	}
}

func TestVerifyWeight(t *testing.T) {
	g := NewWithT(t)
	ro := testRollout(nil)
	verify := func(r *Router) (types.RpcVerified, string) {
		v, err := r.VerifyWeight(ro, 10, nil)
		return v, err.ErrorString
	}

	// SetWeight's patches are not yet picked up by the controller.
	r, _ := newFakeRouter(
		withStatus(testBinding("web-stable-80", "web-stable", 80, 90), metav1.ConditionTrue, reachedReason, 1, 100),
		withStatus(testBinding("web-canary-80", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 1, 0),
	)
	v, err := verify(r)
	g.Expect(err).To(BeEmpty())
	g.Expect(v).To(Equal(types.NotVerified))

	// The stable binding has its new weights, the canary's are not on the CLB yet.
	r, _ = newFakeRouter(
		withStatus(testBinding("web-stable-80", "web-stable", 80, 90), metav1.ConditionTrue, reachedReason, 2, 90),
		withStatus(testBinding("web-canary-80", "web-canary", 80, 10), metav1.ConditionFalse, reachedReason, 2, 0),
	)
	v, err = verify(r)
	g.Expect(err).To(BeEmpty())
	g.Expect(v).To(Equal(types.NotVerified))

	// Both in effect.
	r, _ = newFakeRouter(
		withStatus(testBinding("web-stable-80", "web-stable", 80, 90), metav1.ConditionTrue, reachedReason, 2, 90),
		withStatus(testBinding("web-canary-80", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 2, 10),
	)
	v, err = verify(r)
	g.Expect(err).To(BeEmpty())
	g.Expect(v).To(Equal(types.Verified))

	// The canary's share cannot be reached: an error that says why, never verified.
	r, _ = newFakeRouter(
		withStatus(testBinding("web-stable-80", "web-stable", 80, 90), metav1.ConditionTrue, reachedReason, 2, 90),
		withStatus(testBinding("web-canary-80", "web-canary", 80, 10), metav1.ConditionTrue, unreachableReason, 2, 10),
	)
	v, err = verify(r)
	g.Expect(err).To(Equal("CLBBackendBinding shop/web-canary-80 cannot get a traffic share of 10%: TrafficShare Unreachable: because Unreachable"))
	g.Expect(v).To(Equal(types.NotVerified))
}

func TestUnsupportedRoutes(t *testing.T) {
	g := NewWithT(t)
	r, _ := newFakeRouter()
	ro := testRollout(nil)
	g.Expect(r.SetHeaderRoute(ro, &v1alpha1.SetHeaderRoute{Name: "beta",
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-beta"}}}).ErrorString).To(ContainSubstring("not supported by CLB"))
	g.Expect(r.SetHeaderRoute(ro, &v1alpha1.SetHeaderRoute{Name: "beta"})).To(Equal(types.RpcError{}))
	g.Expect(r.SetMirrorRoute(ro, &v1alpha1.SetMirrorRoute{Name: "shadow",
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}}).ErrorString).To(ContainSubstring("not supported by CLB"))
	g.Expect(r.SetMirrorRoute(ro, &v1alpha1.SetMirrorRoute{Name: "shadow"})).To(Equal(types.RpcError{}))
	g.Expect(r.UpdateHash(ro, "canary", "stable", nil)).To(Equal(types.RpcError{}))
	g.Expect(r.RemoveManagedRoutes(ro)).To(Equal(types.RpcError{}))
	g.Expect(r.Type()).To(Equal(DefaultName))
}

func TestInitPluginNeedsAConfiguration(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&Router{}).InitPlugin().ErrorString).To(ContainSubstring("no API server configuration"))
	g.Expect((&Router{}).SetWeight(testRollout(nil), 10, nil).ErrorString).To(ContainSubstring("not initialized"))
}
