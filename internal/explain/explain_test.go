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

package explain

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// now is the clock of every golden file.
var now = time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/explain -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was rendered (go test ./internal/explain -update rewrites it after review)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// fixture is a namespace with a binding per case a user meets.
type fixture struct{ s *Snapshot }

func newFixture(optedIn bool) *fixture {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if optedIn {
		ns.Labels = map[string]string{networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled}
	}
	return &fixture{s: &Snapshot{Namespace: "shop", NamespaceObject: ns, Healths: map[string]*networkingv1alpha1.CLBHealth{},
		Services: map[string]*corev1.Service{}, Workloads: map[string]string{}}}
}

func (f *fixture) service(name string, selector map[string]string) {
	f.s.Services[name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
}

func (f *fixture) binding(name, service string, created time.Duration, ready metav1.Condition, mutate ...func(*networkingv1alpha1.CLBBackendBinding)) {
	b := networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: ago(created)},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{LoadBalancerID: "lb-1a2b3c4d", Listener: networkingv1alpha1.ListenerReference{ID: "lbl-" + pad(name)},
			ServiceRef: networkingv1alpha1.ServiceReference{Name: service, Port: intstr.FromInt32(80)}, TargetType: networkingv1alpha1.TargetTypePod, Weight: new(int32(10))},
		Status: networkingv1alpha1.CLBBackendBindingStatus{ListenerID: "lbl-" + pad(name)},
	}
	ready.Type = networkingv1alpha1.BindingReadyCondition
	if ready.Status != "" {
		b.Status.Conditions = []metav1.Condition{ready}
	}
	for _, m := range mutate {
		m(&b)
	}
	f.s.Bindings = append(f.s.Bindings, b)
}

func pad(s string) string { return (s + "00000000")[:8] }

func (f *fixture) health(name string, probed time.Duration, backends ...networkingv1alpha1.BackendHealth) {
	h := &networkingv1alpha1.CLBHealth{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
	h.Status.Backends = backends
	healthy := 0
	for _, b := range backends {
		if b.State == "Alive" || b.State == "Close" {
			healthy++
		}
	}
	h.Status.Registered, h.Status.Healthy = int32(len(backends)), int32(healthy)
	h.Status.Summary = itoa(healthy) + "/" + itoa(len(backends))
	t := ago(probed)
	h.Status.LastProbeTime = &t
	f.s.Healths[name] = h
}

func itoa(i int) string { return strconv.Itoa(i) }

type podOpt func(*corev1.Pod)

func gated(binding string, status corev1.ConditionStatus, reason, message string, since time.Duration) podOpt {
	return func(p *corev1.Pod) {
		gate := networkingv1alpha1.ReadinessGateConditionType(binding)
		p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(gate)})
		if status != "" {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodConditionType(gate), Status: status,
				Reason: reason, Message: message, LastTransitionTime: ago(since)})
		}
	}
}

func notReadyContainers(p *corev1.Pod) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.ContainersReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
}

func terminating(p *corev1.Pod) { p.DeletionTimestamp = new(ago(5 * time.Second)) }

// pod adds a running pod with ContainersReady True; Ready is computed from its gates.
func (f *fixture) pod(name, app, ip string, created time.Duration, opts ...podOpt) {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": app}, CreationTimestamp: ago(created)},
		Spec:   corev1.PodSpec{NodeName: "node-" + ip[len(ip)-1:]},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: ago(created)}}}}
	for _, o := range opts {
		o(&p)
	}
	ready := corev1.ConditionTrue
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.ContainersReady && c.Status != corev1.ConditionTrue {
			ready = corev1.ConditionFalse
		}
	}
	for _, g := range p.Spec.ReadinessGates {
		st := corev1.ConditionFalse
		for _, c := range p.Status.Conditions {
			if c.Type == g.ConditionType {
				st = c.Status
			}
		}
		if st != corev1.ConditionTrue {
			ready = corev1.ConditionFalse
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: ready})
	f.s.Pods = append(f.s.Pods, p)
}

// endpoints publishes the Service's EndpointSlice from its pods, as the EndpointSlice controller
// would: ready when the pod is Ready, serving when its containers are, terminating when deleted.
func (f *fixture) endpoints(service string) {
	svc := f.s.Services[service]
	slice := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: service + "-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}}}
	for _, p := range f.s.Pods {
		if p.Labels["app"] != svc.Spec.Selector["app"] || p.Status.PodIP == "" {
			continue
		}
		var ready, serving bool
		for _, c := range p.Status.Conditions {
			switch c.Type {
			case corev1.PodReady:
				ready = c.Status == corev1.ConditionTrue
			case corev1.ContainersReady:
				serving = c.Status == corev1.ConditionTrue
			}
		}
		term := p.DeletionTimestamp != nil
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP}, NodeName: new(p.Spec.NodeName),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: p.Name, UID: p.UID},
			Conditions: discoveryv1.EndpointConditions{Ready: new(ready && !term), Serving: new(serving), Terminating: new(term)}})
	}
	f.s.Slices = append(f.s.Slices, slice)
}

func backend(ip, state string, since time.Duration) networkingv1alpha1.BackendHealth {
	return networkingv1alpha1.BackendHealth{IP: ip, Port: 8080, State: state, Since: ago(since), RegisteredSince: new(ago(since + 10*time.Second))}
}

func synced() metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: "Synced", Message: "3 backends registered on listener lbl-web00000 of lb-1a2b3c4d", LastTransitionTime: ago(time.Hour)}
}

// shop is the namespace of the golden files: binding web (Synced) with a healthy pod, a Dead
// one, one waiting for registration, one draining, one without the gate and a leftover
// backend; binding api Forbidden; binding pay in CloudError; binding legacy without gates.
func shop() *Snapshot {
	f := newFixture(true)
	f.service("web", map[string]string{"app": "web"})
	f.service("api", map[string]string{"app": "api"})
	f.service("pay", map[string]string{"app": "pay"})
	f.service("legacy", map[string]string{"app": "legacy"})
	f.binding("web", "web", 2*time.Hour, synced(), func(b *networkingv1alpha1.CLBBackendBinding) {
		b.Spec.Drain = &networkingv1alpha1.DrainSpec{Seconds: 30}
	})
	f.binding("api", "api", time.Hour, metav1.Condition{Status: metav1.ConditionFalse, Reason: "Forbidden", LastTransitionTime: ago(10 * time.Minute),
		Message: "no CLBBindingPolicy allows namespace shop to bind lb-1a2b3c4d"})
	f.binding("pay", "pay", time.Hour, metav1.Condition{Status: metav1.ConditionFalse, Reason: "CloudError", LastTransitionTime: ago(3 * time.Minute),
		Message: "BatchRegisterTargets: FailedOperation.ResourceInOperating (request 7d1c0d9e-0b4a): the load balancer is busy"})
	f.binding("legacy", "legacy", time.Hour, synced(), func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.ReadinessGate = new(false) })

	f.pod("web-1", "web", "10.0.0.1", 90*time.Minute, gated("web", corev1.ConditionTrue, "Healthy", "registered on listener lbl-web00000 of lb-1a2b3c4d and healthy", 89*time.Minute))
	f.pod("web-2", "web", "10.0.0.2", 30*time.Minute, gated("web", corev1.ConditionFalse, "Unhealthy", "the CLB health check of listener lbl-web00000 of lb-1a2b3c4d fails for this pod", 25*time.Minute))
	f.pod("web-3", "web", "10.0.0.3", 20*time.Second, gated("web", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered on listener lbl-web00000 of lb-1a2b3c4d", 20*time.Second))
	f.pod("web-4", "web", "10.0.0.4", 3*time.Hour) // created before the binding: no gate
	f.pod("web-5", "web", "10.0.0.5", 2*time.Minute, gated("web", corev1.ConditionFalse, "", "", 0), notReadyContainers)
	f.pod("web-0", "web", "10.0.0.6", 5*time.Hour, gated("web", corev1.ConditionTrue, "Healthy", "registered on listener lbl-web00000 of lb-1a2b3c4d and healthy", 5*time.Hour), terminating)
	f.endpoints("web")
	f.health("web", 4*time.Second,
		backend("10.0.0.1", "Alive", 89*time.Minute), backend("10.0.0.2", "Dead", 25*time.Minute),
		backend("10.0.0.4", "Alive", 2*time.Hour), backend("10.0.0.6", "Alive", 5*time.Hour),
		backend("10.0.0.99", "Alive", 3*time.Hour))

	f.pod("api-1", "api", "10.0.1.1", 50*time.Minute, gated("api", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered on listener lbl-api00000 of lb-1a2b3c4d", 50*time.Minute))
	f.endpoints("api")
	f.health("api", 10*time.Second)

	f.pod("pay-1", "pay", "10.0.2.1", 5*time.Minute, gated("pay", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered on listener lbl-pay00000 of lb-1a2b3c4d", 5*time.Minute))
	f.endpoints("pay")
	f.health("pay", 3*time.Second)

	f.pod("legacy-1", "legacy", "10.0.3.1", time.Hour)
	f.endpoints("legacy")
	f.health("legacy", 20*time.Second, backend("10.0.3.1", "Alive", 59*time.Minute))

	f.service("edge", map[string]string{"app": "edge"})
	f.s.Services["edge"].Spec.Type = corev1.ServiceTypeNodePort
	f.s.Services["edge"].Spec.Ports[0].NodePort = 30080
	f.binding("edge", "edge", time.Hour, synced(), func(b *networkingv1alpha1.CLBBackendBinding) { b.Spec.TargetType = networkingv1alpha1.TargetTypeNode })
	f.pod("edge-1", "edge", "10.0.4.1", time.Hour)
	f.pod("edge-2", "edge", "10.0.4.2", time.Hour)
	f.endpoints("edge")
	for _, n := range []string{"1", "2"} {
		f.s.Nodes = append(f.s.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + n},
			Spec:   corev1.NodeSpec{ProviderID: "qcloud:///800002/ins-0000000" + n},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	}
	f.health("edge", 5*time.Second, networkingv1alpha1.BackendHealth{InstanceID: "ins-00000001", Port: 30080, State: "Alive", Since: ago(time.Hour)},
		networkingv1alpha1.BackendHealth{InstanceID: "ins-00000002", Port: 30080, State: "Dead", Since: ago(time.Minute)})

	f.binding("ghost", "ghost", time.Hour, metav1.Condition{Status: metav1.ConditionFalse, Reason: "ServiceNotFound", LastTransitionTime: ago(time.Hour),
		Message: "Service shop/ghost does not exist; spec.serviceRef names a Service of the binding's namespace"})
	f.pod("ghost-1", "ghost", "10.0.5.1", time.Minute, gated("ghost", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered on listener lbl-ghost000 of lb-1a2b3c4d", time.Minute))

	f.pod("lonely", "nothing", "10.0.9.1", time.Hour)
	f.pod("orphan", "none", "10.0.9.2", time.Minute, gated("gone", corev1.ConditionFalse, "BindingMissing", "no CLBBackendBinding gone exists yet", time.Minute))
	f.s.Workloads["web-4"] = "deployment/web"
	return f.s
}

func TestRenderGet(t *testing.T) {
	for _, tt := range []struct{ format, file string }{{OutputTable, "get.golden"}, {OutputWide, "get-wide.golden"}, {OutputJSON, "get-json.golden"}} {
		t.Run(tt.file, func(t *testing.T) {
			g := NewWithT(t)
			views, err := Views(shop(), "", now)
			g.Expect(err).NotTo(HaveOccurred())
			var buf bytes.Buffer
			g.Expect(RenderGet(&buf, views, tt.format, now)).To(Succeed())
			golden(t, tt.file, buf.Bytes())
		})
	}
	t.Run("one binding", func(t *testing.T) {
		g := NewWithT(t)
		views, err := Views(shop(), "legacy", now)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(views).To(HaveLen(1))
		_, err = Views(shop(), "nope", now)
		g.Expect(err).To(MatchError(ContainSubstring("CLBBackendBinding shop/nope not found")))
	})
	t.Run("unknown format", func(t *testing.T) {
		NewWithT(t).Expect(RenderGet(&bytes.Buffer{}, nil, "yaml", now)).To(MatchError(ContainSubstring(`unknown output format "yaml"`)))
	})
}

func TestWhy(t *testing.T) {
	notOptedIn := func() *Snapshot {
		s := shop()
		s.NamespaceObject.Labels = nil
		return s
	}
	sameSecond := func() *Snapshot {
		s := shop()
		for i := range s.Pods {
			if s.Pods[i].Name == "web-4" {
				s.Pods[i].CreationTimestamp = s.Bindings[0].CreationTimestamp
			}
		}
		return s
	}
	for _, tt := range []struct {
		name, pod string
		snapshot  func() *Snapshot
		next      string // a part of the next step, "" when there is none
	}{
		{"healthy", "web-1", shop, ""},
		{"dead", "web-2", shop, "make the pod answer the CLB's health check on 10.0.0.2:8080"},
		{"registration-pending", "web-3", shop, ""},
		{"created-before-binding", "web-4", shop, "kubectl -n shop rollout restart deployment/web"},
		{"created-with-binding", "web-4", sameSecond, "kubectl -n shop rollout restart deployment/web"},
		{"containers-not-ready", "web-5", shop, "the pod's containers are not ready"},
		{"draining", "web-0", shop, ""},
		{"not-opted-in", "web-4", notOptedIn, "kubectl label namespace shop clbind.io/readiness-gate-inject=enabled"},
		{"forbidden", "api-1", shop, "a CLBBindingPolicy that allows namespace shop to bind lb-1a2b3c4d"},
		{"cloud-error", "pay-1", shop, "the CLB API keeps failing"},
		{"no-gate", "legacy-1", shop, ""},
		{"node-targets", "edge-1", shop, ""},
		{"node-targets-dead", "edge-2", shop, "make node node-2 (the Service's nodePort, through kube-proxy) answer the CLB's health check on ins-00000002:30080"},
		{"no-service", "lonely", shop, "give the pod the labels of the Service"},
		{"service-missing", "ghost-1", shop, "fix the binding's spec or what it refers to"},
		{"stray-gate", "orphan", shop, "create CLBBackendBinding gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			e, err := Why(tt.snapshot(), tt.pod, now)
			g.Expect(err).NotTo(HaveOccurred())
			if tt.next == "" {
				g.Expect(e.Next).To(BeEmpty())
			} else {
				g.Expect(e.Next).To(ContainSubstring(tt.next))
			}
			var buf bytes.Buffer
			g.Expect(RenderWhy(&buf, e)).To(Succeed())
			golden(t, "why-"+tt.name+".golden", buf.Bytes())
		})
	}
	t.Run("unknown pod", func(t *testing.T) {
		_, err := Why(shop(), "nope", now)
		NewWithT(t).Expect(err).To(MatchError("pod shop/nope not found"))
	})
}

func TestViewsOfACappedList(t *testing.T) {
	g := NewWithT(t)
	s := shop()
	h := s.Healths["web"]
	h.Status.Registered += 2000 // status.backends lists MaxBackendsListed of them at most
	h.Status.UnhealthyTargets = []networkingv1alpha1.UnhealthyTarget{{IP: "10.0.0.3", Port: 8080, State: "Unknown"}}
	views, err := Views(s, "web", now)
	g.Expect(err).NotTo(HaveOccurred())
	health := map[string]string{}
	for _, b := range views[0].Backends {
		health[b.Pod] = b.Health
	}
	g.Expect(health).To(HaveKeyWithValue("web-1", "Alive"), "listed")
	g.Expect(health).To(HaveKeyWithValue("web-3", "Unknown"), "not listed, but in status.unhealthyTargets")
	g.Expect(views[0].Notes).To(ContainElement(ContainSubstring("the CLBHealth lists 5 of 2005 registered backends")))
	h.Status.UnhealthyTargets = nil
	views, err = Views(s, "web", now)
	g.Expect(err).NotTo(HaveOccurred())
	for _, b := range views[0].Backends {
		if b.Pod == "web-3" {
			g.Expect(b.Health).To(Equal(HealthNotListed))
		}
	}
}
