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

package controllers

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

type fixedStatuses map[types.NamespacedName]lbsync.Status

func (f fixedStatuses) Status(key types.NamespacedName) (lbsync.Status, bool) {
	st, ok := f[key]
	return st, ok
}

// TestForbiddenReportAfterUpgrade: once the workers have judged every binding, the manager logs
// how many no policy allows and names them, the list of policies an upgrade still needs.
func TestForbiddenReportAfterUpgrade(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := networkingv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	bindings := []struct {
		ns, name, reason string
	}{{"shop", "web", networkingv1alpha1.BindingForbiddenReason}, {"shop", "api", networkingv1alpha1.BindingSyncedReason},
		{"blog", "web", networkingv1alpha1.BindingForbiddenReason}}
	objs := make([]runtime.Object, 0, len(bindings))
	statuses := fixedStatuses{}
	for _, b := range bindings {
		objs = append(objs, &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: b.name}})
		statuses[types.NamespacedName{Namespace: b.ns, Name: b.name}] = lbsync.Status{Reason: b.reason}
	}
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	r := &forbiddenReport{reader: fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(objs...).Build(), statuses: statuses, log: log}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("log lines = %q, want one", lines)
	}
	for _, want := range []string{"allowed by no CLBBindingPolicy", `"bindings"=3`, `"forbidden"=2`, `"complete"=true`, `"examples"=["blog/web" "shop/web"]`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q does not contain %s", lines[0], want)
		}
	}
}

// TestForbiddenGaugeFollowsTheStatuses: the gauge counts bindings whose last status is Forbidden.
func TestForbiddenGaugeFollowsTheStatuses(t *testing.T) {
	var set forbiddenSet
	a, b := types.NamespacedName{Namespace: "x", Name: "a"}, types.NamespacedName{Namespace: "x", Name: "b"}
	set.set(a, true)
	set.set(b, true)
	set.set(a, true)
	if got := testutil.ToFloat64(forbiddenBindings); got != 2 {
		t.Fatalf("clbind_bindings_forbidden = %v, want 2", got)
	}
	set.set(a, false)
	set.set(b, false)
	if got := testutil.ToFloat64(forbiddenBindings); got != 0 {
		t.Fatalf("clbind_bindings_forbidden = %v, want 0", got)
	}
}
