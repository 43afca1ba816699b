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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/clbind/clb-binding-controller/plugins/argo-rollouts/trafficrouter"
)

// controlPlane is an envtest API server with the CLBBackendBinding CRD and namespaces
// argo-rollouts and shop.
type controlPlane struct {
	cfg        *rest.Config
	kubeconfig string
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	// bindings are the CLBBackendBindings of namespace shop.
	bindings dynamic.ResourceInterface
}

// startControlPlane starts envtest from KUBEBUILDER_ASSETS (default bin/k8s), with the CRDs in
// crdDirs too, or skips the test when there is no kube-apiserver or with -short.
func startControlPlane(t *testing.T, crdDirs ...string) *controlPlane {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	repo := repoRoot(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(repo, "bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no kube-apiserver in %s (KUBEBUILDER_ASSETS); run `make envtest-assets`", assets)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs:                  []*apiextensionsv1.CustomResourceDefinition{bindingCRD(t, repo)},
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cp := &controlPlane{
		cfg:        cfg,
		kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"),
		kube:       kubernetes.NewForConfigOrDie(cfg),
		dyn:        dynamic.NewForConfigOrDie(cfg),
	}
	cp.bindings = cp.dyn.Resource(trafficrouter.BindingResource).Namespace("shop")
	if err := os.WriteFile(cp.kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"argo-rollouts", "shop"} {
		_, err := cp.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

// buildPlugin builds the plugin into dir and returns its path.
func buildPlugin(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "clb-argo-rollouts-plugin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building the plugin: %v", err)
	}
	return bin
}

// installPlugin writes Argo Rollouts' ConfigMap (argo-rollouts/argo-rollouts-config) with the
// plugin as docs/argo-rollouts.md installs it, reaching the API server with the control plane's
// kubeconfig.
func installPlugin(t *testing.T, cp *controlPlane, bin string) {
	t.Helper()
	_, err := cp.kube.CoreV1().ConfigMaps("argo-rollouts").Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "argo-rollouts-config"},
		Data: map[string]string{"trafficRouterPlugins": fmt.Sprintf(`
- name: %q
  location: "file://%s"
  args: ["-kubeconfig", %q]
`, trafficrouter.DefaultName, bin, cp.kubeconfig)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// createBinding creates the binding of Service svc, named svc, on TCP:80 of lb-aaaaaaaa in
// namespace shop, with spec.trafficShare share (negative for none).
func createBinding(g Gomega, bindings dynamic.ResourceInterface, svc string, share int64) {
	spec := map[string]any{
		"loadBalancerId": "lb-aaaaaaaa",
		"listener":       map[string]any{"port": int64(80), "protocol": "TCP"},
		"serviceRef":     map[string]any{"name": svc, "port": int64(80)},
	}
	if share >= 0 {
		spec["trafficShare"] = share
	}
	_, err := bindings.Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.clbind.io/v1alpha1",
		"kind":       "CLBBackendBinding",
		"metadata":   map[string]any{"name": svc},
		"spec":       spec,
	}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
}

// report writes the status the controller would: Ready True and TrafficShare with reason for the
// binding's current generation, both changed ago, and status.trafficShare.
func report(g Gomega, bindings dynamic.ResourceInterface, name, reason, message string, applied int64, achieved string, ago time.Duration) {
	ctx := context.Background()
	u, err := bindings.Get(ctx, name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now().Add(-ago).UTC().Format(time.RFC3339)
	status := "False"
	if reason == "Reached" {
		status, message = "True", "the weights give the binding its share"
	}
	cond := func(t, status, reason, message string) map[string]any {
		return map[string]any{"type": t, "status": status, "reason": reason, "message": message,
			"observedGeneration": u.GetGeneration(), "lastTransitionTime": now}
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": u.GetGeneration(),
		"conditions": []any{
			cond("Ready", "True", "Synced", "the CLB matches"),
			cond("TrafficShare", status, reason, message),
		},
		"trafficShare": map[string]any{"applied": applied, "achieved": achieved},
	}
	_, err = bindings.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
}

// shareOf is spec.trafficShare of binding name (0 when unset).
func shareOf(g Gomega, bindings dynamic.ResourceInterface, name string) int64 {
	u, err := bindings.Get(context.Background(), name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	s, _, _ := unstructured.NestedInt64(u.Object, "spec", "trafficShare")
	return s
}

// bindingCRD is the controller's CLBBackendBinding CRD, as `make manifests` writes it.
func bindingCRD(t *testing.T, repo string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "config", "crd", "bases", "networking.clbind.io_clbbackendbindings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != "v1alpha1" {
			continue
		}
		props := v.Schema.OpenAPIV3Schema.Properties
		if _, ok := props["spec"].Properties["trafficShare"]; !ok {
			t.Fatal("the CLBBackendBinding CRD has no spec.trafficShare: the API server would drop what the plugin writes")
		}
		if _, ok := props["status"].Properties["trafficShare"]; !ok {
			t.Fatal("the CLBBackendBinding CRD has no status.trafficShare: the API server would drop what the test writes")
		}
	}
	return crd
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
