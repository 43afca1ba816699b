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

// Package argocd tests the Argo CD support under config/argocd. health_test.go: each health.lua
// runs with gopher-lua the way Argo CD runs argocd-cm scripts, on objects whose status is shaped
// as the controllers write it, and the verdict is compared with kstatus on the same object.
// install_test.go (make test-argocd): the real Argo CD installs config/default with
// application.yaml and argocd-cm-patch.yaml, and assesses a binding's health with them.
package argocd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

const (
	group       = "networking.clbind.io"
	argocdDir   = "../../config/argocd"
	healthy     = "Healthy"
	progressing = "Progressing"
	degraded    = "Degraded"
)

var (
	now      = metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	earlier  = metav1.NewTime(now.Add(-time.Minute))
	gvBinder = networkingv1alpha1.GroupVersion
)

// healthStatus is what a health.lua returns.
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// runHealth runs a health script as Argo CD runs one from argocd-cm (util/lua/lua.go): standard
// libraries off except package, base and table, the object as global obj, a 1 s deadline.
func runHealth(t *testing.T, script string, obj map[string]any) healthStatus {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", l.Get(-1).Type())
	}
	hs := healthStatus{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	switch hs.Status {
	case healthy, progressing, degraded, "Suspended", "Missing", "Unknown":
	default:
		t.Fatalf("health.lua returned status %q, which Argo CD turns into Unknown", hs.Status)
	}
	return hs
}

// toLua converts an unstructured value as Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch t := v.(type) {
	case bool:
		return lua.LBool(t)
	case string:
		return lua.LString(t)
	case float64:
		return lua.LNumber(t)
	case int64:
		return lua.LNumber(t)
	case int:
		return lua.LNumber(t)
	case []any:
		arr := l.CreateTable(len(t), 0)
		for _, e := range t {
			arr.Append(toLua(l, e))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(t))
		for k, e := range t {
			tbl.RawSetH(lua.LString(k), toLua(l, e))
		}
		return tbl
	default:
		return lua.LNil
	}
}

// unstructuredOf converts a typed object the way the API server hands it to Argo CD and kstatus.
func unstructuredOf(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func readScript(t *testing.T, kind string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(argocdDir, "resource_customizations", group, kind, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// agrees reports whether an Argo CD health and a kstatus status say the same thing: Healthy is
// Current, Progressing is InProgress, and Degraded is Failed or InProgress (kstatus has no
// "stuck" for Ready=False).
func agrees(argo string, k status.Status) bool {
	switch argo {
	case healthy:
		return k == status.CurrentStatus
	case progressing:
		return k == status.InProgressStatus
	case degraded:
		return k == status.FailedStatus || k == status.InProgressStatus
	}
	return false
}

// healthCase is one object and what both assessors must say about it.
type healthCase struct {
	name    string
	obj     runtime.Object
	argo    string
	kstatus status.Status
	// message must appear in the script's message.
	message string
	// mismatch, when set, documents why Argo CD and kstatus disagree on purpose.
	mismatch string
}

func checkCases(t *testing.T, kind string, cases []healthCase) {
	t.Helper()
	script := readScript(t, kind)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := unstructuredOf(t, tc.obj)
			got := runHealth(t, script, u.Object)
			if got.Status != tc.argo || !strings.Contains(got.Message, tc.message) {
				t.Errorf("health.lua = %s %q, want %s containing %q", got.Status, got.Message, tc.argo, tc.message)
			}
			res, err := status.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.kstatus {
				t.Errorf("kstatus = %s (%s), want %s", res.Status, res.Message, tc.kstatus)
			}
			if agrees(got.Status, res.Status) == (tc.mismatch != "") {
				t.Errorf("Argo CD %s vs kstatus %s: agreement is %v, but the case documents mismatch %q",
					got.Status, res.Status, agrees(got.Status, res.Status), tc.mismatch)
			}
		})
	}
}

// binding is a CLBBackendBinding at generation gen; with observed > 0 the controller has written
// status for that generation with the given Ready condition, as setBindingStatus does.
func binding(gen, observed int64, ready *metav1.Condition) *networkingv1alpha1.CLBBackendBinding {
	b := &networkingv1alpha1.CLBBackendBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: gvBinder.String(), Kind: "CLBBackendBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: gen, CreationTimestamp: earlier},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: "lb-1a2b3c4d",
			Listener:       networkingv1alpha1.ListenerReference{ID: "lbl-1a2b3c4d"},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			TargetType:     networkingv1alpha1.TargetTypePod,
		},
	}
	if observed == 0 {
		return b
	}
	st := &b.Status
	st.ObservedGeneration = observed
	st.ListenerID = "lbl-1a2b3c4d"
	st.Desired, st.Registered, st.Healthy = 3, 3, 3
	st.Backends = fmt.Sprintf("%d/%d", st.Registered, st.Desired)
	st.LastSyncTime = &earlier
	if ready != nil {
		c := *ready
		c.Type, c.ObservedGeneration = networkingv1alpha1.BindingReadyCondition, observed
		meta.SetStatusCondition(&st.Conditions, c)
	}
	return b
}

func readyFalse(reason, message string) *metav1.Condition {
	return &metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

func TestCLBBackendBindingHealth(t *testing.T) {
	synced := &metav1.Condition{Status: metav1.ConditionTrue, Reason: networkingv1alpha1.BindingSyncedReason,
		Message: "3 backends registered on listener lbl-1a2b3c4d"}
	deleting := binding(1, 1, readyFalse(networkingv1alpha1.BindingDeletingReason, "deregistering the binding's backends from the CLB"))
	deleting.DeletionTimestamp = &now
	deleting.Finalizers = []string{networkingv1alpha1.DeregisterTargetsFinalizer}

	reasons := []string{
		networkingv1alpha1.BindingLoadBalancerNotFoundReason, networkingv1alpha1.BindingLoadBalancerInAnotherVPCReason,
		networkingv1alpha1.BindingListenerNotFoundReason,
		networkingv1alpha1.BindingRuleNotFoundReason, networkingv1alpha1.BindingServiceNotFoundReason,
		networkingv1alpha1.BindingConflictReason, networkingv1alpha1.BindingInvalidSpecReason,
		networkingv1alpha1.BindingCloudErrorReason,
	}
	stuck := make([]healthCase, 0, len(reasons))
	for _, reason := range reasons {
		msg := "the CLB says " + reason
		stuck = append(stuck, healthCase{name: "stuck: " + reason, obj: binding(1, 1, readyFalse(reason, msg)),
			argo: degraded, kstatus: status.InProgressStatus, message: reason + ": " + msg})
	}
	cases := append([]healthCase{
		{name: "created, no status yet", obj: binding(1, 0, nil), argo: progressing, kstatus: status.CurrentStatus,
			message: "Waiting for the controller", mismatch: "kstatus cannot tell a missing status from a kind without conditions"},
		{name: "spec changed, not observed yet", obj: binding(2, 1, synced), argo: progressing, kstatus: status.InProgressStatus,
			message: "observe generation 2"},
		{name: "waiting for the first sync", obj: binding(1, 1, readyFalse(networkingv1alpha1.BindingProgressingReason,
			"waiting for the first sync of load balancer lb-1a2b3c4d")), argo: progressing, kstatus: status.InProgressStatus,
			message: "Progressing: waiting for the first sync of load balancer lb-1a2b3c4d"},
		{name: "switching pods (make before break)", obj: binding(1, 1, readyFalse(networkingv1alpha1.BindingSwitchingReason,
			"switching pods: 2 old backends keep serving until 2 new ones are healthy on the CLB (0 are)")), argo: progressing,
			kstatus: status.InProgressStatus, message: "Switching: switching pods"},
		{name: "synced", obj: binding(3, 3, synced), argo: healthy, kstatus: status.CurrentStatus,
			message: "Synced: 3 backends registered on listener lbl-1a2b3c4d"},
		{name: "deleting", obj: deleting, argo: progressing, kstatus: status.TerminatingStatus,
			message: "Deleting", mismatch: "kstatus has Terminating; Argo CD says Progressing (Pending deletion) before it runs any script"},
	}, stuck...)
	checkCases(t, "CLBBackendBinding", cases)
}

// health is a CLBHealth at generation gen; with observed > 0 the controller has written status
// for that generation, as setHealthStatus does, with the given counts.
func health(gen, observed int64, registered, healthyN, unhealthy, unknown int32, ready *metav1.Condition) *networkingv1alpha1.CLBHealth {
	h := &networkingv1alpha1.CLBHealth{
		TypeMeta:   metav1.TypeMeta{APIVersion: gvBinder.String(), Kind: "CLBHealth"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: gen, CreationTimestamp: earlier},
		Spec:       networkingv1alpha1.CLBHealthSpec{ReadinessPolicy: networkingv1alpha1.ReadinessPolicyOnceHealthy},
	}
	if observed == 0 {
		return h
	}
	st := &h.Status
	st.ObservedGeneration = observed
	st.Registered, st.Healthy, st.Unhealthy, st.Unknown = registered, healthyN, unhealthy, unknown
	st.Summary = fmt.Sprintf("%d/%d", healthyN, registered)
	st.LastProbeTime = &now
	for i := range unhealthy {
		st.UnhealthyTargets = append(st.UnhealthyTargets, networkingv1alpha1.UnhealthyTarget{
			IP: fmt.Sprintf("10.0.0.%d", i+1), Port: 8080, Pod: fmt.Sprintf("web-%d", i), State: "Dead", Since: earlier})
	}
	c := *ready
	c.Type, c.ObservedGeneration = networkingv1alpha1.HealthReadyCondition, observed
	meta.SetStatusCondition(&st.Conditions, c)
	return h
}

// refusedCheck adds the condition of a spec.healthCheck the listener's protocol does not take.
func refusedCheck(h *networkingv1alpha1.CLBHealth) *networkingv1alpha1.CLBHealth {
	meta.SetStatusCondition(&h.Status.Conditions, metav1.Condition{
		Type: networkingv1alpha1.HealthCheckAppliedCondition, Status: metav1.ConditionFalse, Reason: networkingv1alpha1.HealthCheckInvalidReason,
		Message: "spec.healthCheck.type PING is not allowed on TCP listener lbl-1a2b3c4d; use TCP, HTTP or CUSTOM", ObservedGeneration: h.Generation,
	})
	return h
}

func TestCLBHealthHealth(t *testing.T) {
	allHealthy := &metav1.Condition{Status: metav1.ConditionTrue, Reason: networkingv1alpha1.HealthAllHealthyReason, Message: "all 3 backends are healthy"}
	cases := []healthCase{
		{name: "created, no status yet", obj: health(1, 0, 0, 0, 0, 0, nil), argo: progressing, kstatus: status.CurrentStatus,
			message: "Waiting for the controller", mismatch: "kstatus cannot tell a missing status from a kind without conditions"},
		{name: "first poll pending", obj: health(1, 1, 0, 0, 0, 0, readyFalse(networkingv1alpha1.HealthPendingReason, "waiting for the first health poll")),
			argo: progressing, kstatus: status.InProgressStatus, message: "HealthCheckPending: waiting for the first health poll"},
		{name: "no targets", obj: health(1, 1, 0, 0, 0, 0, readyFalse(networkingv1alpha1.HealthNoTargetsReason, "the binding has no backends registered")),
			argo: progressing, kstatus: status.InProgressStatus, message: "NoTargets"},
		{name: "some not judged yet", obj: health(1, 1, 3, 2, 0, 1, readyFalse(networkingv1alpha1.HealthPendingReason, "1 of 3 backends are not judged by the CLB yet")),
			argo: progressing, kstatus: status.InProgressStatus, message: "1 of 3 backends are not judged"},
		{name: "unhealthy", obj: health(1, 1, 3, 1, 2, 0, readyFalse(networkingv1alpha1.HealthUnhealthyReason, "2 of 3 backends fail the CLB health check")),
			argo: degraded, kstatus: status.InProgressStatus, message: "Unhealthy: 2 of 3 backends fail the CLB health check"},
		{name: "binding missing", obj: health(1, 1, 0, 0, 0, 0, readyFalse(networkingv1alpha1.HealthBindingMissingReason, "the owning binding does not exist")),
			argo: degraded, kstatus: status.InProgressStatus, message: "BindingMissing"},
		{name: "all healthy", obj: health(2, 2, 3, 3, 0, 0, allHealthy), argo: healthy, kstatus: status.CurrentStatus,
			message: "AllHealthy: all 3 backends are healthy"},
		{name: "health check change not applied yet", obj: health(3, 2, 3, 3, 0, 0, allHealthy), argo: progressing, kstatus: status.InProgressStatus,
			message: "apply generation 3"},
		{name: "health check refused by the listener", obj: refusedCheck(health(2, 2, 3, 3, 0, 0, allHealthy)), argo: degraded, kstatus: status.CurrentStatus,
			message: "InvalidHealthCheck: spec.healthCheck.type PING", mismatch: "kstatus reads only the Ready condition, which is True"},
	}
	checkCases(t, "CLBHealth", cases)
}

// TestArgoCMPatchMatchesScripts keeps argocd-cm-patch.yaml equal to the health.lua files.
func TestArgoCMPatchMatchesScripts(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(argocdDir, "argocd-cm-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" || cm.Metadata.Namespace != "argocd" {
		t.Errorf("want ConfigMap argocd/argocd-cm, got %s %s/%s", cm.Kind, cm.Metadata.Namespace, cm.Metadata.Name)
	}
	for _, kind := range []string{"CLBBackendBinding", "CLBHealth"} {
		key := "resource.customizations.health." + group + "_" + kind
		if got, want := cm.Data[key], readScript(t, kind); got != want {
			t.Errorf("argocd-cm-patch.yaml %s differs from resource_customizations/%s/%s/health.lua", key, group, kind)
		}
	}
	if len(cm.Data) != 2 {
		t.Errorf("want exactly the two health keys, got %d keys", len(cm.Data))
	}
}

// TestApplication checks the example Application: config/default, server-side apply, and the
// caBundle of both webhook configurations ignored.
func TestApplication(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(argocdDir, "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Source struct {
				RepoURL string `json:"repoURL"`
				Path    string `json:"path"`
			} `json:"source"`
			SyncPolicy struct {
				SyncOptions []string `json:"syncOptions"`
			} `json:"syncPolicy"`
			IgnoreDifferences []struct {
				Group             string   `json:"group"`
				Kind              string   `json:"kind"`
				JQPathExpressions []string `json:"jqPathExpressions"`
			} `json:"ignoreDifferences"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &app); err != nil {
		t.Fatal(err)
	}
	if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" {
		t.Errorf("want an argoproj.io/v1alpha1 Application, got %s %s", app.APIVersion, app.Kind)
	}
	if app.Spec.Source.Path != "config/default" || app.Spec.Source.RepoURL == "" {
		t.Errorf("source %+v: want a repoURL and path config/default", app.Spec.Source)
	}
	if !strings.Contains(strings.Join(app.Spec.SyncPolicy.SyncOptions, ","), "ServerSideApply=true") {
		t.Errorf("syncOptions %v lack ServerSideApply=true", app.Spec.SyncPolicy.SyncOptions)
	}
	ignored := map[string]bool{}
	for _, d := range app.Spec.IgnoreDifferences {
		if d.Group == "admissionregistration.k8s.io" && strings.Contains(strings.Join(d.JQPathExpressions, ","), ".clientConfig.caBundle") {
			ignored[d.Kind] = true
		}
	}
	if !ignored["MutatingWebhookConfiguration"] || !ignored["ValidatingWebhookConfiguration"] {
		t.Errorf("ignoreDifferences must cover the caBundle of both webhook configurations, got %v", ignored)
	}
}

// TestEveryKindHasAHealthCheck fails when an API kind is added without a health.lua.
func TestEveryKindHasAHealthCheck(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := networkingv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	for gvk := range scheme.AllKnownTypes() {
		if gvk.Group != group || strings.HasSuffix(gvk.Kind, "List") || gvk.Kind == "WatchEvent" || strings.HasSuffix(gvk.Kind, "Options") ||
			gvk.Kind == "Status" || gvk.Kind == "APIVersions" || gvk.Kind == "APIGroup" {
			continue
		}
		if _, err := os.Stat(filepath.Join(argocdDir, "resource_customizations", group, gvk.Kind, "health.lua")); err != nil {
			t.Errorf("kind %s has no Argo CD health check: %v", gvk.Kind, err)
		}
	}
}
