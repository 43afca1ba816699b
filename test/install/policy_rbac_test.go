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
	"context"
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/sandbox/installcheck"
)

// The installed roles a namespace user and a policy admin are given (config/rbac, with
// config/default's namePrefix).
const (
	bindingEditorRole = "clb-binding-controller-clbbackendbinding-editor-role"
	policyEditorRole  = "clb-binding-controller-clbbindingpolicy-editor-role"
	policyViewerRole  = "clb-binding-controller-clbbindingpolicy-viewer-role"
	// rbacNS is the namespace of the namespace user.
	rbacNS = "team-a"
)

// checkPolicyRBAC: CLBBindingPolicies are for cluster admins only, as the API server's own RBAC
// decides with the installed roles. Refused every write of a policy:
//   - alice, a namespace user: the binding editor role and the built-in admin ClusterRole in her
//     namespace (RoleBindings);
//   - bob, a user of every namespace: the binding editor role and the built-in admin, edit and view
//     ClusterRoles cluster-wide (ClusterRoleBindings), so a policy role labelled to aggregate into
//     any of them would show up here;
//   - dave, bound to the policy viewer role (he may read them).
//
// Allowed: carol, bound to the policy editor role with a ClusterRoleBinding, and the cluster admin.
func checkPolicyRBAC(ctx context.Context, t *testing.T, it *installTest) {
	c := it.c
	emulateRoleAggregation(ctx, t, c)

	roleBinding := func(user, role string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: rbacNS, Name: user + "-" + role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		}
	}
	clusterRoleBinding := func(user, role string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "policy-rbac-" + user + "-" + role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		}
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rbacNS}},
		roleBinding("alice", bindingEditorRole), roleBinding("alice", "admin"),
		clusterRoleBinding("bob", bindingEditorRole), clusterRoleBinding("bob", "admin"),
		clusterRoleBinding("bob", "edit"), clusterRoleBinding("bob", "view"),
		clusterRoleBinding("carol", policyEditorRole), clusterRoleBinding("dave", policyViewerRole),
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	// The bindings are in effect: the namespace users may bind, and administer their namespace, so
	// a refusal below is about policies, not users without rights.
	for _, user := range []string{"alice", "bob"} {
		for _, a := range []authorizationv1.ResourceAttributes{
			{Namespace: rbacNS, Verb: "create", Group: networkingv1alpha1.GroupVersion.Group, Resource: "clbbackendbindings"},
			{Namespace: rbacNS, Verb: "create", Group: rbacv1.GroupName, Resource: "rolebindings"},
			{Namespace: rbacNS, Verb: "create", Resource: "services"},
		} {
			if !allowed(ctx, t, c, user, a) {
				t.Errorf("%s may not %s %s in %s: the roles the test binds are not in effect", user, a.Verb, a.Resource, rbacNS)
			}
		}
	}
	if !allowed(ctx, t, c, "dave", authorizationv1.ResourceAttributes{Verb: "list", Group: networkingv1alpha1.GroupVersion.Group, Resource: "clbbindingpolicies"}) {
		t.Error("dave may not list CLBBindingPolicies with the policy viewer role")
	}

	// An existing policy, for the updates and deletes below; the cluster admin may create it.
	existing := newPolicy("policy-rbac-existing", rbacNS)
	if err := c.Create(ctx, existing); err != nil {
		t.Fatalf("the cluster admin may not create a CLBBindingPolicy: %v", err)
	}
	for _, user := range []string{"alice", "bob", "dave"} {
		for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
			if allowed(ctx, t, c, user, authorizationv1.ResourceAttributes{Verb: verb, Group: networkingv1alpha1.GroupVersion.Group, Resource: "clbbindingpolicies"}) {
				t.Errorf("%s may %s CLBBindingPolicies: only cluster admins may", user, verb)
			}
		}
		// And the real requests, as that user.
		as := impersonate(t, it.cfg, c, user)
		if err := as.Create(ctx, newPolicy("policy-rbac-"+user, rbacNS)); !apierrors.IsForbidden(err) {
			t.Errorf("%s creating a CLBBindingPolicy: want Forbidden, got %v", user, err)
		}
		patch := client.MergeFrom(existing.DeepCopy())
		widened := existing.DeepCopy()
		widened.Spec.Namespaces.Names = append(widened.Spec.Namespaces.Names, "team-b")
		if err := as.Patch(ctx, widened, patch); !apierrors.IsForbidden(err) {
			t.Errorf("%s widening a CLBBindingPolicy: want Forbidden, got %v", user, err)
		}
		if err := as.Delete(ctx, existing.DeepCopy()); !apierrors.IsForbidden(err) {
			t.Errorf("%s deleting a CLBBindingPolicy: want Forbidden, got %v", user, err)
		}
	}

	// carol, bound to the policy editor role cluster-wide, may write them.
	asCarol := impersonate(t, it.cfg, c, "carol")
	mine := newPolicy("policy-rbac-carol", rbacNS)
	if err := asCarol.Create(ctx, mine); err != nil {
		t.Errorf("carol (policy editor role) creating a CLBBindingPolicy: %v", err)
	} else if err := asCarol.Delete(ctx, mine); err != nil {
		t.Errorf("carol (policy editor role) deleting a CLBBindingPolicy: %v", err)
	}
	if err := c.Delete(ctx, existing); err != nil {
		t.Errorf("the cluster admin deleting a CLBBindingPolicy: %v", err)
	}
}

// emulateRoleAggregation does what kube-controller-manager's clusterrole-aggregation controller
// keeps doing, which this control plane does not run: every ClusterRole with an aggregationRule
// (the built-in admin, edit and view) gets the rules of the ClusterRoles its selectors match, the
// installed ones included. Aggregation chains (edit aggregates into admin, view into edit), so it
// repeats until nothing changes.
func emulateRoleAggregation(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	var list rbacv1.ClusterRoleList
	if err := c.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	roles := list.Items
	selectors := map[string][]labels.Selector{}
	for _, r := range roles {
		if r.AggregationRule == nil {
			continue
		}
		for _, sel := range r.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				t.Fatalf("ClusterRole %s: %v", r.Name, err)
			}
			selectors[r.Name] = append(selectors[r.Name], s)
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range roles {
			agg := &roles[i]
			for _, s := range selectors[agg.Name] {
				for _, r := range roles {
					if r.Name == agg.Name || !s.Matches(labels.Set(r.Labels)) {
						continue
					}
					for _, rule := range r.Rules {
						if !slices.ContainsFunc(agg.Rules, func(have rbacv1.PolicyRule) bool { return equalRules(have, rule) }) {
							agg.Rules = append(agg.Rules, rule)
							changed = true
						}
					}
				}
			}
		}
	}
	for i := range roles {
		if selectors[roles[i].Name] == nil {
			continue
		}
		if err := c.Update(ctx, &roles[i]); err != nil {
			t.Fatalf("aggregating ClusterRole %s: %v", roles[i].Name, err)
		}
	}
}

func equalRules(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.ResourceNames, b.ResourceNames) && slices.Equal(a.NonResourceURLs, b.NonResourceURLs)
}

// allowed asks the API server's authorizer whether user may do a (a SubjectAccessReview).
func allowed(ctx context.Context, t *testing.T, c client.Client, user string, a authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{"system:authenticated"}, ResourceAttributes: &a,
	}}
	if err := c.Create(ctx, sar); err != nil {
		t.Fatalf("SubjectAccessReview for %s: %v", user, err)
	}
	return sar.Status.Allowed
}

// impersonate returns a client that sends its requests as user (authenticated, no other group).
func impersonate(t *testing.T, cfg *rest.Config, c client.Client, user string) client.Client {
	t.Helper()
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	out, err := client.New(as, client.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newPolicy allows namespace ns to bind the load balancer the install test binds.
func newPolicy(name, ns string) *networkingv1alpha1.CLBBindingPolicy {
	return installcheck.Policy(name, ns, testLoadBalancer)
}
