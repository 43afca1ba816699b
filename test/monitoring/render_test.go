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

package monitoring

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// object is the part of a rendered manifest these tests read.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
	Spec struct {
		// ServiceMonitor.
		Endpoints []struct {
			Port            string `json:"port"`
			Scheme          string `json:"scheme"`
			Path            string `json:"path"`
			BearerTokenFile string `json:"bearerTokenFile"`
			HonorLabels     bool   `json:"honorLabels"`
		} `json:"endpoints"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		// Service.
		Ports []struct {
			Name string `json:"name"`
			Port int    `json:"port"`
		} `json:"ports"`
	} `json:"spec"`
	Rules []struct {
		NonResourceURLs []string `json:"nonResourceURLs"`
		Verbs           []string `json:"verbs"`
	} `json:"rules"`
}

// kustomizeBuild renders dir with the kustomize that make builds into bin/ (or $KUSTOMIZE).
func kustomizeBuild(t *testing.T, dir string) []object {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, "bin", "kustomize")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kustomize: %v; run 'make kustomize'", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	var out []object
	for doc := range strings.SplitSeq(stdout.String(), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		out = append(out, o)
	}
	return out
}

func find(objs []object, kind, name string) *object {
	for i := range objs {
		if objs[i].Kind == kind && objs[i].Metadata.Name == name {
			return &objs[i]
		}
	}
	return nil
}

// The component on its own: the three objects, the dashboard as shipped.
func TestComponentRenders(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs := kustomizeBuild(t, filepath.Join(root, "config", "prometheus"))
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.Kind] = true
	}
	if want := map[string]bool{"ServiceMonitor": true, "PrometheusRule": true, "ConfigMap": true}; !maps.Equal(kinds, want) {
		t.Errorf("config/prometheus renders %v, want a ServiceMonitor, a PrometheusRule and a ConfigMap", kinds)
	}
	cm := find(objs, "ConfigMap", "grafana-dashboard")
	if cm == nil {
		t.Fatal("no ConfigMap grafana-dashboard")
	}
	if cm.Metadata.Labels["grafana_dashboard"] != "1" {
		t.Errorf("the dashboard ConfigMap has labels %v; Grafana's sidecar looks for grafana_dashboard: \"1\"", cm.Metadata.Labels)
	}
	if cm.Data["clb-binding-controller.json"] != string(repoFile(t, dashboardFile)) {
		t.Errorf("the dashboard ConfigMap does not hold %s as it is", dashboardFile)
	}
}

// config/default with its components lines uncommented, as README.md says: the ServiceMonitor
// finds the metrics Service by its labels and port name, in its namespace, and the ClusterRole
// Prometheus must be bound to is there. Without them, config/default has no monitoring object,
// so it installs where the Prometheus Operator's CRDs are missing.
func TestComponentInDefault(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range kustomizeBuild(t, filepath.Join(root, "config", "default")) {
		if strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") {
			t.Errorf("config/default renders %s %s without the component", o.Kind, o.Metadata.Name)
		}
	}

	// A copy of config/, so that the relative paths of config/default still resolve.
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	kpath := filepath.Join(dir, "default", "kustomization.yaml")
	k, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	enabled := strings.Replace(strings.Replace(string(k), "\n#components:\n", "\ncomponents:\n", 1), "\n#- ../prometheus\n", "\n- ../prometheus\n", 1)
	if !strings.Contains(enabled, "\ncomponents:\n- ../prometheus\n") {
		t.Fatalf("config/default/kustomization.yaml has no commented lines '#components:' and '#- ../prometheus' to uncomment")
	}
	if err := os.WriteFile(kpath, []byte(enabled), fs.FileMode(0o600)); err != nil {
		t.Fatal(err)
	}
	objs := kustomizeBuild(t, filepath.Join(dir, "default"))

	const ns = "clb-binding-controller-system"
	sm := find(objs, "ServiceMonitor", "clb-binding-controller-controller-manager-metrics-monitor")
	svc := find(objs, "Service", "clb-binding-controller-controller-manager-metrics-service")
	if sm == nil || svc == nil {
		t.Fatal("the ServiceMonitor or the metrics Service is missing")
	}
	if sm.Metadata.Namespace != ns || svc.Metadata.Namespace != ns {
		t.Errorf("ServiceMonitor in %q and metrics Service in %q, want both in %s", sm.Metadata.Namespace, svc.Metadata.Namespace, ns)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s; the metrics Service has labels %v", k, v, svc.Metadata.Labels)
		}
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("the ServiceMonitor has %d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != ep.Port {
		t.Errorf("the ServiceMonitor scrapes port %q; the metrics Service has ports %+v", ep.Port, svc.Spec.Ports)
	}
	if ep.Scheme != "https" || ep.Path != "/metrics" || ep.BearerTokenFile == "" || !ep.HonorLabels {
		t.Errorf("the ServiceMonitor endpoint is %+v, want https /metrics with Prometheus's token and honorLabels", ep)
	}
	if find(objs, "PrometheusRule", "clb-binding-controller-alerts") == nil {
		t.Error("no PrometheusRule clb-binding-controller-alerts")
	}
	if cm := find(objs, "ConfigMap", "clb-binding-controller-grafana-dashboard"); cm == nil || cm.Metadata.Namespace != ns {
		t.Errorf("no dashboard ConfigMap clb-binding-controller-grafana-dashboard in %s", ns)
	}
	reader := find(objs, "ClusterRole", "clb-binding-controller-metrics-reader")
	if reader == nil || len(reader.Rules) != 1 || reader.Rules[0].NonResourceURLs[0] != "/metrics" || reader.Rules[0].Verbs[0] != "get" {
		t.Errorf("ClusterRole clb-binding-controller-metrics-reader (get /metrics, for Prometheus) is %+v", reader)
	}
}
