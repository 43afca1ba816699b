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

package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/rollout/trafficrouting/plugin"
	argoconfig "github.com/argoproj/argo-rollouts/utils/config"
	"github.com/argoproj/argo-rollouts/utils/defaults"
	argoplugin "github.com/argoproj/argo-rollouts/utils/plugin"
	goplugin "github.com/hashicorp/go-plugin"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/clbind/clb-binding-controller/plugins/argo-rollouts/trafficrouter"
)

// TestPluginThroughArgoRollouts starts the plugin binary the way the Argo Rollouts controller does
// (controller/controller.go, rollout/trafficrouting.go): it reads trafficRouterPlugins from the
// argo-rollouts-config ConfigMap, copies the file:// plugin into ./plugin-bin, starts it through
// Argo Rollouts' go-plugin client (its handshake and plugin map) and calls SetWeight and
// VerifyWeight through the traffic-routing reconciler Argo Rollouts uses. The API server is envtest
// with the controller's CLBBackendBinding CRD (config/crd/bases); the test writes the bindings'
// status the way the controller would.
func TestPluginThroughArgoRollouts(t *testing.T) {
	g := NewWithT(t)
	cp := startControlPlane(t)
	work := t.TempDir()
	bin := buildPlugin(t, work)
	installPlugin(t, cp, bin)
	kube, bindings := cp.kube, cp.bindings
	ctx := context.Background()

	t.Setenv("POD_NAMESPACE", "argo-rollouts")
	t.Chdir(work) // Argo Rollouts copies plugins into ./plugin-bin.
	_, err := argoconfig.InitializeConfig(kube, defaults.DefaultRolloutsConfigMapName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(argoplugin.DownloadPlugins(argoplugin.FileDownloaderImpl{}, kube)).To(Succeed())
	t.Cleanup(goplugin.CleanupClients)

	// The Rollout's two Services, each bound to TCP:80 of one CLB; no shares yet.
	createBinding(g, bindings, "web-stable", -1)
	createBinding(g, bindings, "web-canary", -1)
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable",
			CanaryService: "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Plugins: map[string]json.RawMessage{trafficrouter.DefaultName: json.RawMessage(`{}`)},
			},
		}}},
	}
	r, err := plugin.NewReconciler(&plugin.ReconcilerConfig{Rollout: ro, PluginName: trafficrouter.DefaultName, Client: kube})
	g.Expect(err).NotTo(HaveOccurred(), "starting the plugin through Argo Rollouts")
	g.Expect(r.Type()).To(Equal(trafficrouter.DefaultName))

	get := func(name string) *unstructured.Unstructured {
		u, err := bindings.Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return u
	}
	share := func(name string) int64 { return shareOf(g, bindings, name) }
	verify := func(weight int32) (*bool, error) { return r.VerifyWeight(weight) }

	// setWeight: 10.
	g.Expect(r.SetWeight(10)).To(Succeed())
	g.Expect(share("web-stable")).To(BeNumerically("==", 90))
	g.Expect(share("web-canary")).To(BeNumerically("==", 10))
	verified, err := verify(10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*verified).To(BeFalse(), "verified before the controller reported the weights")

	// The controller puts the weights on the CLB and says so.
	report(g, bindings, "web-stable", "Reached", "", 90, "90.0", 0)
	report(g, bindings, "web-canary", "Reached", "", 10, "10.0", 0)
	verified, err = verify(10)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*verified).To(BeTrue())

	// setWeight: 50. The conditions are for the previous generation until the controller catches up.
	g.Expect(r.SetWeight(50)).To(Succeed())
	g.Expect(share("web-stable")).To(BeNumerically("==", 50))
	g.Expect(share("web-canary")).To(BeNumerically("==", 50))
	g.Expect(get("web-canary").GetGeneration()).To(BeNumerically("==", 3))
	verified, err = verify(50)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*verified).To(BeFalse())

	// The canary has too few pods for half the traffic. For a moment that is only not verified
	// (Argo Rollouts asks again soon); once it holds, an error that says why, for the Rollout's Events.
	unreachable := "1 backend against 9: the closest share is 9.9%; scale Deployment web-canary"
	report(g, bindings, "web-stable", "Reached", "", 50, "50.0", 0)
	report(g, bindings, "web-canary", "Unreachable", unreachable, 50, "9.9", 0)
	verified, err = verify(50)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*verified).To(BeFalse())
	report(g, bindings, "web-canary", "Unreachable", unreachable, 50, "9.9", time.Minute)
	verified, err = verify(50)
	g.Expect(err).To(MatchError(ContainSubstring("CLBBackendBinding shop/web-canary cannot get a traffic share of 50%: TrafficShare Unreachable: 1 backend against 9")))
	g.Expect(*verified).To(BeFalse())

	report(g, bindings, "web-canary", "Reached", "", 50, "50.0", 0)
	verified, err = verify(50)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*verified).To(BeTrue())

	// What CLB cannot do is refused, in words.
	err = r.SetHeaderRoute(&v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-beta"}}})
	g.Expect(err).To(MatchError(ContainSubstring("header-based routing is not supported by CLB")))
	g.Expect(r.RemoveManagedRoutes()).To(Succeed())
	g.Expect(r.UpdateHash("canary", "stable")).To(Succeed())
}
