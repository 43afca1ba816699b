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
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/proc"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const (
	appNS      = "shop"
	promNS     = "monitoring"
	gateName   = "web"
	electionID = "clb-binding-controller.clbind.io" // the manager's --leader-election-id default
	// missingLB is a well-formed load balancer that clbsim does not have.
	missingLB = "lb-0000miss"
)

// exported is one scrape of the manager: every sample name (a histogram's _bucket, _sum and
// _count) with the label sets of its series.
type exported struct {
	series map[string][]map[string]string
	values map[string][]float64
}

// has reports whether some series of the sample name carries every label in want.
func (e exported) has(name string, want map[string]string) bool {
	return e.value(name, want) != nil
}

// value is the value of the first series of the sample name that carries every label in want,
// or nil when there is none.
func (e exported) value(name string, want map[string]string) *float64 {
	for i, got := range e.series[name] {
		if carries(got, want) {
			return &e.values[name][i]
		}
	}
	return nil
}

func carries(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func parseExposition(body string) (exported, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return exported{}, err
	}
	e := exported{series: map[string][]map[string]string{}, values: map[string][]float64{}}
	add := func(name string, labels map[string]string, v float64) {
		e.series[name] = append(e.series[name], labels)
		e.values[name] = append(e.values[name], v)
	}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					with := maps.Clone(labels)
					with["le"] = strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					add(name+"_bucket", with, float64(b.GetCumulativeCount()))
				}
				add(name+"_sum", labels, h.GetSampleSum())
				add(name+"_count", labels, float64(h.GetSampleCount()))
			case m.GetSummary() != nil:
				add(name+"_sum", labels, m.GetSummary().GetSampleSum())
				add(name+"_count", labels, float64(m.GetSummary().GetSampleCount()))
			case m.GetCounter() != nil:
				add(name, labels, m.GetCounter().GetValue())
			case m.GetGauge() != nil:
				add(name, labels, m.GetGauge().GetValue())
			default:
				add(name, labels, m.GetUntyped().GetValue())
			}
		}
	}
	return e, nil
}

// scraper reads the manager's /metrics as the ServiceMonitor does: HTTPS, the manager's
// self-signed certificate not verified, a ServiceAccount token as the bearer.
type scraper struct {
	url    string
	client *http.Client
}

func newScraper(port int) scraper {
	return scraper{
		url: fmt.Sprintf("https://127.0.0.1:%d/metrics", port),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			//nolint:gosec // as the ServiceMonitor: the manager's metrics certificate is self-signed
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}},
	}
}

func (s scraper) get(ctx context.Context, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(body), nil
}

func TestShippedMetricsAreExported(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane (bin/k8s) and builds the manager")
	}
	// Parse first: a broken rule or panel fails here at once.
	shipped := shippedSelectors(t)
	if t.Failed() {
		t.FailNow()
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The manager binary, as shipped, builds while the control plane starts.
	managerBin := filepath.Join(dir, "manager")
	built := make(chan error, 1)
	go func() {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", managerBin, "./cmd/manager")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built <- fmt.Errorf("building the manager: %w\n%s", err, out)
			return
		}
		built <- nil
	}()

	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	must(t, clientgoscheme.AddToScheme(scheme))
	must(t, networkingv1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	must(t, err)
	clientset, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	must(t, os.WriteFile(kubeconfig, env.KubeConfig, 0o600))

	sim, err := simtest.Start(clbsim.Options{}, t.TempDir())
	must(t, err)
	t.Cleanup(sim.Close)
	lbID := sim.Sim.AddLoadBalancer("monitoring")
	listenerID := sim.Sim.AddListener(lbID, "TCP", 80)
	sim.Sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID}, "Unknown")

	tokens := prometheusTokens(ctx, t, c, clientset, root)

	must(t, <-built)
	metricsPort, probePort := freePort(t), freePort(t)
	manager, err := proc.Start(proc.Options{
		Name: "manager", Bin: managerBin, LogPath: filepath.Join(dir, "manager.log"), InheritEnv: true,
		Args: []string{
			"--kubeconfig=" + kubeconfig,
			"--region=" + simtest.Region, "--cluster-id=monitoring-test",
			"--clb-endpoint=" + sim.Endpoint, "--clb-scheme=HTTP", "--credentials-dir=" + sim.CredentialsDir,
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metricsPort), // HTTPS with authn/authz: the defaults
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probePort),
			"--enable-webhooks=false", "--enforce-binding-policies=false",
			"--leader-elect=true", "--leader-election-namespace=default",
			"--health-fast-poll=500ms", "--health-slow-poll=2s", "--drift-check-interval=5s",
		},
	})
	must(t, err)
	t.Cleanup(func() {
		_ = manager.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("manager log (last lines):\n%s", manager.Tail(40))
		}
	})

	// The world the metrics describe: two gated pods behind a binding that reaches the CLB, and a
	// binding on a load balancer that does not exist.
	pods := gatedPods(ctx, t, c, 2)
	must(t, c.Create(ctx, binding("web", lbID, listenerID)))
	must(t, c.Create(ctx, binding("broken", missingLB, "lbl-0000miss")))

	scrape := newScraper(metricsPort)
	waitFor(ctx, t, 90*time.Second, "the pods' gates to wait for the CLB health check", func() (bool, string) {
		return gatesAre(ctx, c, pods, corev1.ConditionFalse, networkingv1alpha1.GateHealthCheckPendingReason)
	})
	sim.Sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID}, "Alive")
	waitFor(ctx, t, 60*time.Second, "the pods' gates to turn True", func() (bool, string) {
		return gatesAre(ctx, c, pods, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason)
	})
	// Backends removed behind the controller's back, which it puts back (a drift repair), while
	// the CLB refuses the listener's part of the first register calls (failed passes).
	sim.Sim.InjectFault(clbsim.Fault{FailListenerIDs: []string{listenerID}, Count: 3})
	if n := sim.Sim.RemoveBackends(lbID, func(clbsim.Target) bool { return true }); n == 0 {
		t.Fatal("clbsim had no backend to remove")
	}

	t.Run("UnauthorizedRefused", func(t *testing.T) {
		code, _, err := scrape.get(ctx, tokens.unbound)
		if err != nil || code != http.StatusForbidden {
			t.Errorf("a token not bound to metrics-reader got %d (%v), want 403", code, err)
		}
	})

	// Every metric the rules and the panels name, and every label value they match exactly.
	var last exported
	waitFor(ctx, t, 90*time.Second, "every metric the rules and the dashboard use", func() (bool, string) {
		code, body, err := scrape.get(ctx, tokens.reader)
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("scrape: %d %v %.200s", code, err, body)
		}
		if last, err = parseExposition(body); err != nil {
			return false, fmt.Sprintf("parsing the scrape: %v", err)
		}
		missing := missingSelectors(shipped, last)
		return len(missing) == 0, "missing: " + strings.Join(missing, "; ")
	})

	t.Run("Values", func(t *testing.T) {
		// What the alerts and panels will show for this world.
		checks := []struct {
			what   string
			name   string
			labels map[string]string
			ok     func(float64) bool
		}{
			{"this replica is leader", "leader_election_master_status", map[string]string{"name": electionID}, func(v float64) bool { return v == 1 }},
			{"binding web is Ready", "clbind_binding_ready", map[string]string{"namespace": appNS, "binding": "web"}, func(v float64) bool { return v == 1 }},
			{"binding broken is not Ready", "clbind_binding_ready", map[string]string{"namespace": appNS, "binding": "broken"}, func(v float64) bool { return v == 0 }},
			{"one gate latency per pod", "clbind_readiness_gate_latency_seconds_count", nil, func(v float64) bool { return v == float64(len(pods)) }},
			{"gate latencies within the test's run", "clbind_readiness_gate_latency_seconds_sum", nil,
				func(v float64) bool { return v > 0 && v <= float64(len(pods))*time.Since(began).Seconds() }},
			{"passes refused by the CLB failed", "clbind_lbsync_failed_passes_total", map[string]string{"load_balancer": lbID, "cause": "FailListenerIdSet"},
				func(v float64) bool { return v >= 1 }},
			{"the backends removed by hand were put back", "clbind_lbsync_drift_repairs_total", map[string]string{"load_balancer": lbID, "operation": "register"},
				func(v float64) bool { return v >= 1 }},
		}
		for _, ck := range checks {
			switch v := last.value(ck.name, ck.labels); {
			case v == nil:
				t.Errorf("%s: no series %s%v", ck.what, ck.name, ck.labels)
			case !ck.ok(*v):
				t.Errorf("%s: %s%v = %v", ck.what, ck.name, ck.labels, *v)
			}
		}
		if reason := readyReason(last, "broken"); reason == "" || reason == networkingv1alpha1.BindingSyncedReason {
			t.Errorf("binding broken's clbind_binding_ready has reason %q, want why it is not Ready", reason)
		}
	})
	t.Logf("control plane, manager, bindings and scrape took %v", time.Since(began).Round(time.Second))
}

// missingSelectors lists the selectors of the rules and panels that select nothing the manager
// exports.
func missingSelectors(shipped map[string][]selector, e exported) []string {
	var out []string
	for _, where := range slices.Sorted(maps.Keys(shipped)) {
		for _, s := range shipped[where] {
			switch {
			case len(e.series[s.metric]) == 0:
				out = append(out, fmt.Sprintf("%s: %s", where, s.metric))
			case !e.has(s.metric, s.equal):
				out = append(out, fmt.Sprintf("%s: %s%v", where, s.metric, s.equal))
			}
		}
	}
	return slices.Compact(out)
}

func readyReason(e exported, bindingName string) string {
	for _, l := range e.series["clbind_binding_ready"] {
		if l["namespace"] == appNS && l["binding"] == bindingName {
			return l["reason"]
		}
	}
	return ""
}

// promTokens are ServiceAccount tokens: reader's account is bound to the shipped ClusterRole
// metrics-reader, as README.md tells to bind Prometheus's; unbound's is not.
type promTokens struct{ reader, unbound string }

func prometheusTokens(ctx context.Context, t *testing.T, c client.Client, cs kubernetes.Interface, root string) promTokens {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "metrics_reader_role.yaml"))
	must(t, err)
	var role rbacv1.ClusterRole
	must(t, yaml.UnmarshalStrict(data, &role))
	must(t, c.Create(ctx, &role))
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: promNS}}))
	var out promTokens
	for _, name := range []string{"prometheus", "nobody"} {
		must(t, c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: promNS, Name: name}}))
		tr, err := cs.CoreV1().ServiceAccounts(promNS).CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))},
		}, metav1.CreateOptions{})
		must(t, err)
		if name == "prometheus" {
			out.reader = tr.Status.Token
		} else {
			out.unbound = tr.Status.Token
		}
	}
	must(t, c.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: promNS, Name: "prometheus"}},
	}))
	return out
}

// gatedPods creates n pods of Service web carrying the readiness gate of binding web, with
// containers ready and held back only by the gate (as a kubelet reports them), the Service, and
// an EndpointSlice listing them not ready.
func gatedPods(ctx context.Context, t *testing.T, c client.Client, n int) []*corev1.Pod {
	t.Helper()
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}))
	must(t, c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP,
		}}},
	}))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: appNS, Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}},
	}
	pods := make([]*corev1.Pod, n)
	for i := range n {
		ip := fmt.Sprintf("10.4.0.%d", i+1)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:       "node-a",
				Containers:     []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(gateName))}},
			},
		}
		must(t, c.Create(ctx, pod))
		created := pod.DeepCopy()
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady"},
			},
		}
		must(t, c.Status().Patch(ctx, pod, client.MergeFrom(created)))
		pods[i] = pod
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: new(false), Serving: new(false), Terminating: new(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: appNS, Name: pod.Name, UID: pod.UID},
		})
	}
	must(t, c.Create(ctx, slice))
	return pods
}

func binding(name, lbID, listenerID string) *networkingv1alpha1.CLBBackendBinding {
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lbID,
			Listener:       networkingv1alpha1.ListenerReference{ID: listenerID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
		},
	}
}

// gatesAre reports whether every pod's gate has status and reason, and what they have.
func gatesAre(ctx context.Context, c client.Client, pods []*corev1.Pod, status corev1.ConditionStatus, reason string) (bool, string) {
	gate := networkingv1alpha1.ReadinessGateConditionType(gateName)
	done, state := true, []string{}
	for _, p := range pods {
		var pod corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), &pod); err != nil {
			return false, err.Error()
		}
		var got *corev1.PodCondition
		for i := range pod.Status.Conditions {
			if string(pod.Status.Conditions[i].Type) == gate {
				got = &pod.Status.Conditions[i]
			}
		}
		if got == nil {
			done = false
			state = append(state, pod.Name+": no gate condition")
			continue
		}
		done = done && got.Status == status && got.Reason == reason
		state = append(state, fmt.Sprintf("%s: %s %s", pod.Name, got.Status, got.Reason))
	}
	return done, strings.Join(state, ", ")
}

// waitFor polls check every 250ms until it reports done, or fails the test after timeout with
// what was awaited and the last state check reported.
func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waited %v for %s: %s", timeout, what, state)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
