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
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// k8sVersion is the Kubernetes version the validators check removed APIs against.
const k8sVersion = "1.37"

// makeDefaults reads the Makefile's `NAME ?= value` defaults, which is what `make bundle` runs
// with.
func makeDefaults(t *testing.T, root string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) \?= (.*)$`).FindAllStringSubmatch(string(data), -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	return vars
}

// makeOptions are the options `make bundle` passes with the Makefile's defaults.
func makeOptions(t *testing.T) options {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	vars := makeDefaults(t, root)
	o := options{
		root: root, pkg: defaultPackage, minKubeVersion: defaultMinKubeVersion,
		image: vars["IMG"], version: vars["VERSION"],
		channels: vars["BUNDLE_CHANNELS"], defaultChannel: vars["BUNDLE_DEFAULT_CHANNEL"],
	}
	for name, v := range map[string]string{"IMG": o.image, "VERSION": o.version, "BUNDLE_CHANNELS": o.channels} {
		if v == "" || strings.Contains(v, "$") {
			t.Fatalf("Makefile: want a literal default for %s, got %q", name, v)
		}
	}
	return o
}

// generateTo writes a fresh bundle into a temporary directory and returns it.
func generateTo(t *testing.T, o options) (dir string) {
	t.Helper()
	b, err := generate(o)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := b.write(filepath.Join(dir, "bundle"), filepath.Join(dir, "bundle.Dockerfile")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// files maps the paths of the regular files under dir (slash-separated, relative) to contents.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBundleUpToDate regenerates the bundle and compares it with the committed one.
func TestBundleUpToDate(t *testing.T) {
	o := makeOptions(t)
	fresh := generateTo(t, o)

	want := files(t, filepath.Join(fresh, "bundle"))
	got := files(t, filepath.Join(o.root, "bundle"))
	var stale []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range []map[string][]byte{want, got} {
			for name := range m {
				if !seen[name] && !yield(name) {
					return
				}
				seen[name] = true
			}
		}
	}) {
		switch w, g := want[name], got[name]; {
		case w == nil:
			stale = append(stale, "bundle/"+name+" should not exist")
		case g == nil:
			stale = append(stale, "bundle/"+name+" is missing")
		case !bytes.Equal(w, g):
			stale = append(stale, "bundle/"+name+" differs: "+firstDifference(w, g))
		}
	}
	wantDockerfile, err := os.ReadFile(filepath.Join(fresh, "bundle.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if gotDockerfile, err := os.ReadFile(filepath.Join(o.root, "bundle.Dockerfile")); err != nil || !bytes.Equal(wantDockerfile, gotDockerfile) {
		stale = append(stale, "bundle.Dockerfile is missing or differs")
	}
	if len(stale) > 0 {
		t.Errorf("the committed bundle is out of date; run `make bundle` and commit:\n  %s", strings.Join(stale, "\n  "))
	}
}

// firstDifference describes the first line where the generated and the committed file differ.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return "line " + strconv.Itoa(i+1) + ": generated " + strings.TrimSpace(w[i]) + ", committed " + strings.TrimSpace(g[i])
		}
	}
	return "lengths differ"
}

// TestBundleValidates runs operator-framework/api's validators, as `operator-sdk bundle
// validate --select-optional suite=operatorframework --optional-values=k8s-version=1.37` would,
// on a freshly generated bundle: any error fails, warnings are logged (go test -v shows them).
// OperatorHubV2Validator includes the removed-API check for k8sVersion.
func TestBundleValidates(t *testing.T) {
	dir := generateTo(t, makeOptions(t))
	b, err := manifests.GetBundleFromDir(filepath.Join(dir, "bundle"))
	if err != nil {
		t.Fatalf("loading the bundle: %v", err)
	}
	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.GoodPracticesValidator,
	)
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": k8sVersion})
	for _, result := range validators.Validate(objs...) {
		for _, e := range result.Errors {
			t.Errorf("%s: %s", result.Name, describe(e))
		}
		for _, w := range result.Warnings {
			t.Logf("warning: %s: %s", result.Name, describe(w))
		}
	}
}

func describe(e errors.Error) string {
	if e.Field != "" {
		return e.Field + ": " + e.Detail
	}
	return e.Error()
}

// TestBundleContents checks what the validators do not: the CSV carries the Deployment, both
// webhooks and the RBAC the way OLM must receive them.
func TestBundleContents(t *testing.T) {
	o := makeOptions(t)
	dir := generateTo(t, o)
	b, err := manifests.GetBundleFromDir(filepath.Join(dir, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	csv := b.CSV
	if csv.Name != o.pkg+".v"+o.version || csv.Spec.Version.String() != o.version {
		t.Errorf("CSV name %s, version %s; want %s.v%s", csv.Name, csv.Spec.Version, o.pkg, o.version)
	}
	if got := len(b.V1CRDs); got != 3 || len(csv.Spec.CustomResourceDefinitions.Owned) != 3 {
		t.Errorf("want 3 CRDs in the bundle and 3 owned, got %d and %d", got, len(csv.Spec.CustomResourceDefinitions.Owned))
	}
	// CLBBindingPolicy has no status: the controllers only read it.
	withStatus := map[string]bool{"CLBBackendBinding": true, "CLBHealth": true}
	owned := map[string]bool{}
	for _, crd := range csv.Spec.CustomResourceDefinitions.Owned {
		owned[crd.Kind] = true
		if crd.DisplayName == "" || crd.Description == "" || len(crd.SpecDescriptors) == 0 {
			t.Errorf("owned CRD %s: want a display name, a description and spec descriptors", crd.Name)
		}
		hasConditions := slices.ContainsFunc(crd.StatusDescriptors, func(d operatorsv1alpha1.StatusDescriptor) bool {
			return d.Path == "conditions" && slices.Contains(d.XDescriptors, uiConditions)
		})
		if withStatus[crd.Kind] != hasConditions {
			t.Errorf("owned CRD %s: conditions status descriptor %v, want %v", crd.Name, hasConditions, withStatus[crd.Kind])
		}
	}
	for _, kind := range []string{"CLBBackendBinding", "CLBHealth", "CLBBindingPolicy"} {
		if !owned[kind] {
			t.Errorf("the CSV does not own %s", kind)
		}
	}
	checkPolicyDescriptors(t, csv)
	for _, m := range csv.Spec.InstallModes {
		if m.Supported != (m.Type == operatorsv1alpha1.InstallModeTypeAllNamespaces) {
			t.Errorf("install mode %s supported=%v; only AllNamespaces is", m.Type, m.Supported)
		}
	}
	var examples []map[string]any
	if err := json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples); err != nil || len(examples) < 2 {
		t.Errorf("alm-examples: %v, %d examples", err, len(examples))
	}
	if !slices.ContainsFunc(examples, func(e map[string]any) bool { return e["kind"] == "CLBBindingPolicy" }) {
		t.Error("alm-examples has no CLBBindingPolicy: a user installing from the console needs one before the first binding")
	}
	checkPolicyRoles(t, b.Objects)

	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deps) != 1 {
		t.Fatalf("want one deployment, got %d", len(deps))
	}
	checkDeployment(t, deps[0], o.image)
	checkWebhooks(t, csv.Spec.WebhookDefinitions, deps[0].Name)
	checkPermissions(t, csv.Spec.InstallStrategy.StrategySpec, deps[0].Spec.Template.Spec.ServiceAccountName)
}

func checkDeployment(t *testing.T, dep operatorsv1alpha1.StrategyDeploymentSpec, image string) {
	t.Helper()
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != image {
		t.Errorf("manager image %s, want %s", c.Image, image)
	}
	for _, arg := range []string{"--region=$(" + regionEnv + ")", "--cluster-id=$(" + clusterIDEnv + ")", "--webhook-cert-dir=" + certDir} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("manager args %q lack %s", c.Args, arg)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 9443 }) {
		t.Errorf("manager ports %v lack the webhook port 9443", c.Ports)
	}
}

func checkWebhooks(t *testing.T, hooks []operatorsv1alpha1.WebhookDescription, deployment string) {
	t.Helper()
	types := map[operatorsv1alpha1.WebhookAdmissionType][]string{}
	for _, h := range hooks {
		types[h.Type] = append(types[h.Type], h.GenerateName)
		complete := h.DeploymentName == deployment && h.ContainerPort == 9443 && h.TargetPort != nil && h.TargetPort.IntValue() == 9443 &&
			h.WebhookPath != nil && h.SideEffects != nil && h.FailurePolicy != nil && len(h.AdmissionReviewVersions) > 0 && len(h.Rules) > 0
		if !complete {
			t.Errorf("webhook %s is incomplete: %+v", h.GenerateName, h)
		}
	}
	slices.Sort(types[operatorsv1alpha1.ValidatingAdmissionWebhook])
	if !slices.Equal(types[operatorsv1alpha1.MutatingAdmissionWebhook], []string{"mpod.clbind.io"}) ||
		!slices.Equal(types[operatorsv1alpha1.ValidatingAdmissionWebhook], []string{"vclbbackendbinding.clbind.io", "vclbhealth.clbind.io"}) {
		t.Errorf("want the mutating pod webhook and the validating binding and CLBHealth webhooks, got %v", types)
	}
}

func checkPermissions(t *testing.T, perms operatorsv1alpha1.StrategyDetailsDeployment, sa string) {
	t.Helper()
	if len(perms.ClusterPermissions) != 1 || perms.ClusterPermissions[0].ServiceAccountName != sa ||
		len(perms.Permissions) != 1 || perms.Permissions[0].ServiceAccountName != sa {
		t.Fatalf("want cluster and namespaced permissions for %s, got %+v / %+v", sa, perms.ClusterPermissions, perms.Permissions)
	}
	has := func(rules []rbacv1.PolicyRule, resource string) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, resource) })
	}
	if !has(perms.Permissions[0].Rules, "leases") {
		t.Error("permissions lack the leader election Lease rule")
	}
	if !has(perms.ClusterPermissions[0].Rules, "endpointslices") {
		t.Error("clusterPermissions lack the manager role's rules")
	}
}

// checkPolicyDescriptors: the console gets a namespace selector for spec.namespaces.selector, the
// two choices of spec.exclusive, and no text widget for the lists.
func checkPolicyDescriptors(t *testing.T, csv *operatorsv1alpha1.ClusterServiceVersion) {
	t.Helper()
	for _, crd := range csv.Spec.CustomResourceDefinitions.Owned {
		if crd.Kind != "CLBBindingPolicy" {
			continue
		}
		if crd.DisplayName != "CLB Binding Policy" {
			t.Errorf("CLBBindingPolicy display name %q, want CLB Binding Policy", crd.DisplayName)
		}
		want := map[string][]string{
			"namespaces.selector": {uiSelector + "Namespace", uiFieldGroup + "namespaces"},
			"namespaces.names":    {uiFieldGroup + "namespaces"},
			"loadBalancers":       nil,
			"listeners":           nil,
			"exclusive":           {uiSelect + "Allowed", uiSelect + "Forbidden"},
		}
		for _, d := range crd.SpecDescriptors {
			if w, ok := want[d.Path]; ok {
				if !slices.Equal(d.XDescriptors, w) {
					t.Errorf("CLBBindingPolicy spec descriptor %s: x-descriptors %v, want %v", d.Path, d.XDescriptors, w)
				}
				delete(want, d.Path)
			}
		}
		for path := range want {
			t.Errorf("CLBBindingPolicy: no spec descriptor for %s", path)
		}
	}
}

// checkPolicyRoles: the bundle ships the policy roles, none of them aggregated into the built-in
// roles namespace users hold.
func checkPolicyRoles(t *testing.T, objects []*unstructured.Unstructured) {
	t.Helper()
	found := 0
	for _, o := range objects {
		if o.GetKind() != "ClusterRole" || !strings.Contains(o.GetName(), "clbbindingpolicy-") {
			continue
		}
		found++
		for label := range o.GetLabels() {
			if strings.HasPrefix(label, "rbac.authorization.k8s.io/aggregate-to-") {
				t.Errorf("ClusterRole %s aggregates (%s): policies are for cluster admins only", o.GetName(), label)
			}
		}
	}
	if found != 3 {
		t.Errorf("want the admin, editor and viewer ClusterRoles of CLBBindingPolicy in the bundle, found %d", found)
	}
}
