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
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartIsCurrent: the committed chart is what `make chart` writes from config/ now, so it
// cannot drift from dist/install.yaml (test/helm renders both and compares them).
func TestChartIsCurrent(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	kustomize := envOr("KUSTOMIZE", filepath.Join(root, "bin", "kustomize"))
	if _, err := os.Stat(kustomize); err != nil {
		if testing.Short() {
			t.Skipf("no kustomize (%v)", err)
		}
		t.Fatalf("kustomize: %v; run 'make kustomize'", err)
	}
	out := t.TempDir()
	if err := run(root, kustomize, out); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join(root, "charts", chartName)
	want, got := readTree(t, out), readTree(t, committed)
	for name, data := range want {
		switch have, ok := got[name]; {
		case !ok:
			t.Errorf("%s is missing from %s", name, committed)
		case !bytes.Equal(have, data):
			t.Errorf("%s differs from what make chart writes now", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is not written by make chart any more", name)
		}
	}
	if t.Failed() {
		t.Log("the chart is out of date: run 'make chart' and commit charts/")
	}
}

// TestPlaceholdersAllReplaced: a field the generator meant to template but did not find fails
// generation, rather than ship a chart that ignores a value.
func TestPlaceholdersAllReplaced(t *testing.T) {
	const dep = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: clb-binding-controller-controller-manager
  namespace: clb-binding-controller-system
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: manager
        image: example.com/m:v1
`
	const monitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: clb-binding-controller-controller-manager-metrics-monitor
  namespace: clb-binding-controller-system
`
	files, err := generate([]byte(dep), []byte(dep+"\n---\n"+monitor))
	if err == nil {
		t.Fatalf("want an error for a Deployment without resources or credentials, got %d files", len(files))
	}
	if !strings.Contains(err.Error(), "credentials") {
		t.Errorf("error %q does not say what is missing", err)
	}
}

// TestMonitoringOnlyAdds: the chart gates the monitoring component's objects behind values, so a
// component that changed an object of config/default, or added one the chart has no value for,
// fails generation instead of being left out of the chart.
func TestMonitoringOnlyAdds(t *testing.T) {
	const svc = `apiVersion: v1
kind: Service
metadata:
  name: clb-binding-controller-controller-manager-metrics-service
  namespace: clb-binding-controller-system
spec:
  ports:
  - name: https
    port: 8443
`
	const monitor = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: clb-binding-controller-controller-manager-metrics-monitor
  namespace: clb-binding-controller-system
`
	const probe = `apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata:
  name: clb-binding-controller-probe
  namespace: clb-binding-controller-system
`
	changed := strings.Replace(svc, "8443", "9443", 1)
	for name, tc := range map[string]struct{ monitored, want string }{
		"changes an object": {changed + "---\n" + monitor, "changes Service/"},
		"removes an object": {monitor, "removes Service/"},
		"adds a Probe":      {svc + "---\n" + monitor + "---\n" + probe, "Probe/clb-binding-controller-probe"},
		"adds nothing":      {svc, "adds no object"},
	} {
		_, err := generate([]byte(svc), []byte(tc.monitored))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
