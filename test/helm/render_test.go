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

package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"

	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// Names config/default gives the objects (namespace and namePrefix clb-binding-controller-).
const (
	namespace      = "clb-binding-controller-system"
	deploymentName = "clb-binding-controller-controller-manager"
	releaseName    = "clb-binding-controller"
	managedBy      = "app.kubernetes.io/managed-by"
)

// TestChartRendersInstallYAML: with its default values, the chart renders the objects of
// `kustomize build config/default` (dist/install.yaml), field for field, but for the two
// differences the chart exists for: the objects live in the release's namespace, which
// `helm install --create-namespace` creates (no Namespace object), and Helm manages them.
func TestChartRendersInstallYAML(t *testing.T) {
	root := repoRoot(t)
	built := kustomizeBuild(t, root)
	rendered := render(t, root, nil)

	n := compareWithKustomize(t, index(t, built), index(t, rendered))
	t.Logf("compared %d objects", n)
}

// compareWithKustomize checks that the chart rendered got, the objects of a kustomize build want
// but its Namespace, with Helm as their manager; it returns the number of objects compared.
func compareWithKustomize(t *testing.T, want, got map[string]map[string]any) int {
	t.Helper()
	for key, obj := range want {
		if strings.HasPrefix(key, "Namespace/") {
			if _, ok := got[key]; ok {
				t.Errorf("the chart renders %s: the release's namespace holds the objects", key)
			}
			delete(want, key)
			continue
		}
		setManagedBy(obj, "Helm")
	}
	for key, w := range want {
		g, ok := got[key]
		if !ok {
			t.Errorf("kustomize build has %s, the chart does not render it", key)
			continue
		}
		if !reflect.DeepEqual(w, g) {
			wy, _ := yaml.Marshal(w)
			gy, _ := yaml.Marshal(g)
			t.Errorf("%s differs:\nkustomize build:\n%s\nchart:\n%s", key, wy, gy)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s, which kustomize build does not have", key)
		}
	}
	return len(want)
}

// The chart's monitoring objects, by the value that renders each.
var monitoringObjects = map[string]string{
	"serviceMonitor": "ServiceMonitor/" + namespace + "/clb-binding-controller-controller-manager-metrics-monitor",
	"prometheusRule": "PrometheusRule/" + namespace + "/clb-binding-controller-alerts",
	"dashboards":     "ConfigMap/" + namespace + "/clb-binding-controller-grafana-dashboard",
}

// TestChartMonitoring: with monitoring.serviceMonitor, prometheusRule and dashboards enabled, the
// chart renders what kustomize builds from config/default with the component config/prometheus
// included as README.md says (its two lines uncommented), object by object: the alerts' and the
// dashboard's own {{ }} reach the cluster as written. Each value alone adds its one object; by
// default there is none (the Prometheus Operator's CRDs may be absent).
func TestChartMonitoring(t *testing.T) {
	root := repoRoot(t)
	on := map[string]any{"enabled": true}
	rendered := render(t, root, map[string]any{"monitoring": map[string]any{
		"serviceMonitor": on, "prometheusRule": on, "dashboards": on,
	}})
	got := index(t, rendered)
	for _, key := range monitoringObjects {
		if _, ok := got[key]; !ok {
			t.Errorf("monitoring on: no %s", key)
		}
	}
	n := compareWithKustomize(t, index(t, kustomizeBuildWithMonitoring(t, root)), got)
	t.Logf("compared %d objects", n)

	defaults := index(t, render(t, root, nil))
	for value, key := range monitoringObjects {
		if _, ok := defaults[key]; ok {
			t.Errorf("by default the chart renders %s", key)
		}
		one := index(t, render(t, root, map[string]any{"monitoring": map[string]any{value: on}}))
		for k := range one {
			if _, ok := defaults[k]; !ok && k != key {
				t.Errorf("monitoring.%s.enabled renders %s", value, k)
			}
		}
		if _, ok := one[key]; !ok || len(one) != len(defaults)+1 {
			t.Errorf("monitoring.%s.enabled: %d objects (%d by default), want %s added", value, len(one), len(defaults), key)
		}
	}
	for key := range defaults {
		if strings.HasPrefix(key, "ServiceMonitor/") || strings.HasPrefix(key, "PrometheusRule/") {
			t.Errorf("by default the chart renders %s", key)
		}
	}
}

// TestChartMonitoringLabels: monitoring.labels reach the ServiceMonitor and the PrometheusRule (an
// operator that selects them by label, as kube-prometheus-stack's release label does), beside
// their own labels.
func TestChartMonitoringLabels(t *testing.T) {
	root := repoRoot(t)
	on := map[string]any{"enabled": true}
	objs := index(t, render(t, root, map[string]any{"monitoring": map[string]any{
		"serviceMonitor": on, "prometheusRule": on, "dashboards": on,
		"labels": map[string]any{"release": "kube-prometheus-stack", "team": "network"},
	}}))
	for _, value := range []string{"serviceMonitor", "prometheusRule"} {
		labels, _ := lookup(objs[monitoringObjects[value]], "metadata", "labels").(map[string]any)
		if labels["release"] != "kube-prometheus-stack" || labels["team"] != "network" {
			t.Errorf("%s labels %v lack release and team", value, labels)
		}
		if labels["app.kubernetes.io/name"] != "clb-binding-controller" || labels[managedBy] != "Helm" {
			t.Errorf("%s labels %v lost their own", value, labels)
		}
	}
	if sel := lookup(objs[monitoringObjects["serviceMonitor"]], "spec", "selector", "matchLabels"); fmt.Sprint(sel) !=
		"map[app.kubernetes.io/name:clb-binding-controller control-plane:controller-manager]" {
		t.Errorf("the labels changed the ServiceMonitor's selector: %v", sel)
	}
}

// TestChartValues: each value reaches the field it is for.
func TestChartValues(t *testing.T) {
	root := repoRoot(t)
	objs := index(t, render(t, root, map[string]any{
		"region": "ap-shanghai", "clusterId": "cls-1a2b3c4d", "vpcId": "vpc-1a2b3c4d",
		"credentials":     map[string]any{"secretName": "my-clb-credentials"},
		"image":           map[string]any{"repository": "registry.example/clb", "tag": "v9.9.9"},
		"replicas":        1,
		"resources":       map[string]any{"requests": map[string]any{"cpu": "1", "memory": "1Gi"}},
		"bindingPolicies": map[string]any{"enforce": false},
	}))
	cm := objs["ConfigMap/"+namespace+"/clb-binding-controller-config"]
	if data := lookup(cm, "data"); !reflect.DeepEqual(data, map[string]any{"region": "ap-shanghai", "cluster-id": "cls-1a2b3c4d", "vpc-id": "vpc-1a2b3c4d"}) {
		t.Errorf("ConfigMap data %v", data)
	}
	dep := objs["Deployment/"+namespace+"/"+deploymentName]
	if r := lookup(dep, "spec", "replicas"); r != float64(1) {
		t.Errorf("replicas %v, want 1", r)
	}
	c := lookup(dep, "spec", "template", "spec", "containers").([]any)[0]
	if img := lookup(c, "image"); img != "registry.example/clb:v9.9.9" {
		t.Errorf("image %v", img)
	}
	// Helm merges maps of values: the limits stay the defaults.
	if res := lookup(c, "resources", "requests"); !reflect.DeepEqual(res, map[string]any{"cpu": "1", "memory": "1Gi"}) {
		t.Errorf("resources.requests %v", res)
	}
	args := fmt.Sprint(lookup(c, "args"))
	if !strings.Contains(args, "--enforce-binding-policies=false") {
		t.Errorf("args %s lack --enforce-binding-policies=false", args)
	}
	for _, e := range lookup(c, "env").([]any) {
		if ref := lookup(e, "valueFrom", "secretKeyRef"); ref != nil && lookup(ref, "name") != "my-clb-credentials" {
			t.Errorf("env %v reads Secret %v, want my-clb-credentials", lookup(e, "name"), lookup(ref, "name"))
		}
	}
	for key := range objs {
		if strings.HasPrefix(key, "PodDisruptionBudget/") {
			t.Errorf("one replica and %s: no node could be drained", key)
		}
	}
}

// TestChartLints: helm lint --strict passes with the defaults and with the values of a real
// install; the values schema refuses a wrong type.
func TestChartLints(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "charts", releaseName)
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"set":      {"region": "ap-guangzhou", "clusterId": "cls-1a2b3c4d", "replicas": 3},
		"monitoring": {"monitoring": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true},
			"dashboards": map[string]any{"enabled": true}, "labels": map[string]any{"release": "prom"},
		}},
	} {
		lint := action.NewLint()
		lint.Strict, lint.Namespace = true, namespace
		res := lint.Run([]string{dir}, vals)
		for _, m := range res.Messages {
			t.Logf("lint (%s): %s", name, m)
		}
		if len(res.Errors) > 0 || action.HasWarningsOrErrors(res) {
			t.Errorf("helm lint --strict (%s): %v", name, res.Errors)
		}
	}
	lint := action.NewLint()
	lint.Namespace = namespace
	if res := lint.Run([]string{dir}, map[string]any{"replicas": "two"}); len(res.Errors) == 0 {
		t.Error("helm lint accepted replicas: two")
	}
	if res := lint.Run([]string{dir}, map[string]any{"monitoring": map[string]any{"serviceMonitor": true}}); len(res.Errors) == 0 {
		t.Error("helm lint accepted monitoring.serviceMonitor: true (it is a map with enabled)")
	}
}

// render renders the chart as `helm template --namespace clb-binding-controller-system` does.
func render(t *testing.T, root string, vals map[string]any) []byte {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(root, "charts", releaseName))
	if err != nil {
		t.Fatal(err)
	}
	inst := action.NewInstall(action.NewConfiguration())
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName, inst.Namespace = releaseName, namespace
	rel, err := inst.Run(chrt, vals)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	r, ok := rel.(*release.Release)
	if !ok {
		t.Fatalf("release of type %T", rel)
	}
	return []byte(r.Manifest)
}

// kustomizeBuild is what `make build-installer` writes into dist/install.yaml.
func kustomizeBuild(t *testing.T, root string) []byte {
	t.Helper()
	return kustomizeBuildDir(t, root, filepath.Join(root, "config", "default"))
}

// kustomizeBuildWithMonitoring builds config/default with the monitoring component, as README.md
// says to: its lines '#components:' and '#- ../prometheus' uncommented (in a copy of config/).
func kustomizeBuildWithMonitoring(t *testing.T, root string) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	kpath := filepath.Join(dir, "default", "kustomization.yaml")
	k, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	enabled := strings.Replace(string(k), "\n#components:\n#- ../prometheus\n", "\ncomponents:\n- ../prometheus\n", 1)
	if enabled == string(k) {
		t.Fatal("config/default/kustomization.yaml has no lines '#components:' and '#- ../prometheus' to uncomment")
	}
	if err := os.WriteFile(kpath, []byte(enabled), 0o600); err != nil {
		t.Fatal(err)
	}
	return kustomizeBuildDir(t, root, filepath.Join(dir, "default"))
}

func kustomizeBuildDir(t *testing.T, root, dir string) []byte {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		bin = filepath.Join(root, "bin", "kustomize")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s build %s: %v (run 'make kustomize')\n%s", bin, dir, err, stderr.String())
	}
	return stdout.Bytes()
}

// index parses a manifest stream into objects by kind/namespace/name.
func index(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for doc := range strings.SplitSeq(string(data), "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("parsing %q: %v", doc, err)
		}
		if len(obj) == 0 {
			continue
		}
		key := fmt.Sprintf("%v/%v/%v", obj["kind"], lookup(obj, "metadata", "namespace"), lookup(obj, "metadata", "name"))
		key = strings.Replace(key, "/<nil>/", "/", 1)
		if _, dup := out[key]; dup {
			t.Fatalf("two objects %s", key)
		}
		out[key] = obj
	}
	return out
}

// setManagedBy sets the managed-by label wherever the object has it.
func setManagedBy(node any, value string) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if _, ok := v.(string); ok && k == managedBy {
				n[k] = value
				continue
			}
			setManagedBy(v, value)
		}
	case []any:
		for _, v := range n {
			setManagedBy(v, value)
		}
	}
}

func lookup(node any, path ...string) any {
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[p]
	}
	return node
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
