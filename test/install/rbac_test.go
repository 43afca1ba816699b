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

package install

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// allowedVerbs is every permission the manager may hold, with the reason it needs it. A rule the
// markers add beyond this list fails the test, so a new permission is a reviewed decision.
var allowedVerbs = map[string]struct {
	verbs []string
	why   string
}{
	"/namespaces":                     {[]string{"get", "list", "watch"}, "the pod webhook checks the namespace opt-in label"},
	"/nodes":                          {[]string{"get", "list", "watch"}, "Node targets: readiness, labels, provider IDs"},
	"/pods":                           {[]string{"get", "list", "watch"}, "registration and readiness gates"},
	"/services":                       {[]string{"get", "list", "watch"}, "the binding's Service and its ports"},
	"/pods/status":                    {[]string{"patch"}, "writing the readiness gate condition"},
	"/secrets":                        {[]string{"create", "get", "list", "update", "watch"}, "the webhook certificate Secret, in our namespace only"},
	"discovery.k8s.io/endpointslices": {[]string{"get", "list", "watch"}, "desired targets"},
	"events.k8s.io/events":            {[]string{"create", "patch"}, "events on bindings"},
	"admissionregistration.k8s.io/mutatingwebhookconfigurations": {[]string{"create", "get", "list", "patch", "update", "watch"},
		"self-repair and CA injection of our webhook configurations"},
	"admissionregistration.k8s.io/validatingwebhookconfigurations": {[]string{"create", "get", "list", "patch", "update", "watch"},
		"self-repair and CA injection of our webhook configurations"},
	"networking.clbind.io/clbbackendbindings":            {[]string{"get", "list", "patch", "update", "watch"}, "the finalizer"},
	"networking.clbind.io/clbbackendbindings/finalizers": {[]string{"update"}, "the finalizer (owner references)"},
	"networking.clbind.io/clbbackendbindings/status":     {[]string{"get", "patch", "update"}, "status"},
	"networking.clbind.io/clbhealths":                    {[]string{"create", "get", "list", "patch", "update", "watch"}, "one CLBHealth per binding"},
	"networking.clbind.io/clbhealths/status":             {[]string{"get", "patch", "update"}, "status"},
	"networking.clbind.io/clbbindingpolicies": {[]string{"get", "list", "watch"},
		"enforcing policies in the webhook and before every cloud write; the manager never writes them"},
}

// TestManagerRBACIsLeastPrivilege reads the generated roles of the manager: no wildcard, and no
// verb it has no reason for.
func TestManagerRBACIsLeastPrivilege(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var role rbacv1.ClusterRole // a Role has the same rules field
		err := decoder.Decode(&role)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding config/rbac/role.yaml: %v", err)
		}
		for _, rule := range role.Rules {
			rules++
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				if slices.Contains(list, "*") {
					t.Errorf("%s %s: wildcard in rule %+v", role.Kind, role.Name, rule)
				}
			}
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					allowed, ok := allowedVerbs[group+"/"+resource]
					if !ok {
						t.Errorf("%s %s grants %v on %s/%s, which the manager has no listed reason to touch", role.Kind, role.Name, rule.Verbs, group, resource)
						continue
					}
					for _, verb := range rule.Verbs {
						if !slices.Contains(allowed.verbs, verb) {
							t.Errorf("%s %s grants %q on %s/%s; only %v are needed (%s)", role.Kind, role.Name, verb, group, resource, allowed.verbs, allowed.why)
						}
					}
				}
			}
		}
	}
	if rules == 0 {
		t.Fatal("no rules found in config/rbac/role.yaml")
	}
}

// policyWriters are the only roles of config/rbac that may write CLBBindingPolicies.
var policyWriters = []string{"clbbindingpolicy-admin-role", "clbbindingpolicy-editor-role"}

// TestPolicyRolesAreForClusterAdmins reads every role config/rbac installs: only the policy admin
// and editor roles may write CLBBindingPolicies, and no role that grants anything on them
// aggregates into the built-in admin, edit or view roles that namespace users hold. The install
// test proves the same against the API server (checkPolicyRBAC).
func TestPolicyRolesAreForClusterAdmins(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "config", "rbac")
	var k struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, file := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var role rbacv1.ClusterRole // a Role has the same metadata and rules
			err := decoder.Decode(&role)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("decoding config/rbac/%s: %v", file, err)
			}
			if role.Kind != "ClusterRole" && role.Kind != "Role" {
				continue
			}
			found[role.Name] = true
			grants, writes := policyVerbs(role.Rules)
			if writes && !slices.Contains(policyWriters, role.Name) {
				t.Errorf("%s %s (config/rbac/%s) may write CLBBindingPolicies; only %v may", role.Kind, role.Name, file, policyWriters)
			}
			for label := range role.Labels {
				if grants && strings.HasPrefix(label, "rbac.authorization.k8s.io/aggregate-to-") {
					t.Errorf("%s %s (config/rbac/%s) grants access to CLBBindingPolicies and aggregates into a built-in role (%s)",
						role.Kind, role.Name, file, label)
				}
			}
		}
	}
	for _, name := range append(policyWriters, "clbbindingpolicy-viewer-role") {
		if !found[name] {
			t.Errorf("config/rbac installs no ClusterRole %s", name)
		}
	}
}

// policyVerbs reports whether rules grant anything on CLBBindingPolicies, and whether they grant
// more than reading them; wildcards count.
func policyVerbs(rules []rbacv1.PolicyRule) (grants, writes bool) {
	for _, r := range rules {
		group := slices.Contains(r.APIGroups, "networking.clbind.io") || slices.Contains(r.APIGroups, "*")
		resource := slices.Contains(r.Resources, "clbbindingpolicies") || slices.Contains(r.Resources, "*")
		if !group || !resource {
			continue
		}
		grants = true
		for _, v := range r.Verbs {
			if !slices.Contains([]string{"get", "list", "watch"}, v) {
				writes = true
			}
		}
	}
	return grants, writes
}
