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

	want := index(t, built)
	got := index(t, rendered)
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
			t.Errorf("install.yaml has %s, the chart does not render it", key)
			continue
		}
		if !reflect.DeepEqual(w, g) {
			wy, _ := yaml.Marshal(w)
			gy, _ := yaml.Marshal(g)
			t.Errorf("%s differs:\ninstall.yaml:\n%s\nchart:\n%s", key, wy, gy)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s, which install.yaml does not have", key)
		}
	}
	t.Logf("compared %d objects", len(want))
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
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		bin = filepath.Join(root, "bin", "kustomize")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", filepath.Join(root, "config", "default"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s build config/default: %v (run 'make kustomize')\n%s", bin, err, stderr.String())
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
