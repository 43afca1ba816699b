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

package targets

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

const (
	testNamespace = "shop"
	testService   = "web"
	ourGate       = "health.clbind.io/web-cbb"
	otherGate     = "other.io/gate"
	podAUID       = "uid-a"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func service(policy corev1.ServiceExternalTrafficPolicy) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testService},
		Spec: corev1.ServiceSpec{
			ExternalTrafficPolicy: policy,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), NodePort: 30080},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090)},
			},
		},
	}
}

// slice is an IPv4 EndpointSlice of the test Service with both of its ports.
func slice(endpoints ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: testNamespace,
			Name:      testService + "-abcde",
			Labels:    map[string]string{discoveryv1.LabelServiceName: testService},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: new("http"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)},
			{Name: new("metrics"), Port: new(int32(9090))},
		},
		Endpoints: endpoints,
	}
}

type endpointOption func(*discoveryv1.Endpoint)

func notReady(ep *discoveryv1.Endpoint) { ep.Conditions.Ready = new(false) }

func terminating(ep *discoveryv1.Endpoint) {
	ep.Conditions.Ready, ep.Conditions.Serving, ep.Conditions.Terminating = new(false), new(true), new(true)
}

func unknownReadiness(ep *discoveryv1.Endpoint) { ep.Conditions = discoveryv1.EndpointConditions{} }

func onNode(node string) endpointOption {
	return func(ep *discoveryv1.Endpoint) { ep.NodeName = new(node) }
}

// endpoint is a ready endpoint of pod <pod> (UID uid-<pod>) on node-1.
func endpoint(ip, pod string, opts ...endpointOption) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)},
		NodeName:   new("node-1"),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: testNamespace, Name: pod, UID: types.UID("uid-" + pod)},
	}
	for _, o := range opts {
		o(&ep)
	}
	return ep
}

// pod is a ContainersReady pod whose readiness gates have the given statuses.
func pod(name string, gates map[string]bool) PodInfo {
	return PodInfo{Name: name, UID: types.UID("uid-" + name), ContainersReady: true, ReadinessGates: gates}
}

func deleting(p PodInfo) PodInfo {
	p.Terminating = true
	return p
}

func pods(ps ...PodInfo) map[string]PodInfo {
	m := map[string]PodInfo{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

func binding() Binding {
	return Binding{
		Name:          "web-cbb",
		TargetType:    TargetTypePod,
		ServicePort:   intstr.FromString("http"),
		Weight:        10,
		Drain:         30 * time.Second,
		ReadinessGate: true,
	}
}

func podKey(ip string) Key {
	return Key{EniIP: ip, Port: 8080}
}

func serving(ip string) Target {
	return Target{Key: podKey(ip), Weight: 10}
}

// tagged is t as the binding registered it on the CLB.
func tagged(t Target) Target {
	t.Tag = ourTag
	return t
}

func TestDesiredPods(t *testing.T) {
	tests := []struct {
		name        string
		binding     func(*Binding)
		slices      []discoveryv1.EndpointSlice
		pods        map[string]PodInfo
		since       map[Key]time.Time
		want        []Target
		wantSince   map[Key]time.Time
		wantRequeue time.Time
	}{
		{
			name:   "ready endpoints, sorted",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.2", "b"), endpoint("10.0.0.1", "a"))},
			want:   []Target{serving("10.0.0.1"), serving("10.0.0.2")},
		},
		{
			name:   "unknown readiness counts as ready",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", unknownReadiness))},
			want:   []Target{serving("10.0.0.1")},
		},
		{
			name:   "not ready and no pod: skipped",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
		},
		{
			name:   "held back only by our gate: registered",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(pod("a", map[string]bool{ourGate: false, otherGate: true})),
			want:   []Target{serving("10.0.0.1")},
		},
		{
			name:   "held back by another gate too: skipped",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(pod("a", map[string]bool{ourGate: false, otherGate: false})),
		},
		{
			name:   "held back by our gate and another binding's: registered",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(pod("a", map[string]bool{ourGate: false, "health.clbind.io/other": false})),
			want:   []Target{serving("10.0.0.1")},
		},
		{
			name:   "held back by another binding's gate only: skipped",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(pod("a", map[string]bool{"health.clbind.io/other": false})),
		},
		{
			name:    "gates off: a gated pod waits for Ready",
			binding: func(b *Binding) { b.ReadinessGate = false },
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(pod("a", map[string]bool{ourGate: false})),
		},
		{
			name:   "containers not ready: skipped",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(PodInfo{Name: "a", UID: podAUID, ReadinessGates: map[string]bool{ourGate: false}}),
		},
		{
			name:   "pod re-created under the same name: the new pod does not vouch for the old endpoint",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(PodInfo{Name: "a", UID: "uid-new", ContainersReady: true, ReadinessGates: map[string]bool{ourGate: false}}),
		},
		{
			name:        "terminating endpoint starts to drain",
			slices:      []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating), endpoint("10.0.0.2", "b"))},
			pods:        pods(deleting(pod("a", nil))),
			want:        []Target{draining(serving("10.0.0.1")), serving("10.0.0.2")},
			wantSince:   map[Key]time.Time{podKey("10.0.0.1"): now},
			wantRequeue: now.Add(30 * time.Second),
		},
		{
			name:        "deleting pod drains before its endpoint says so",
			slices:      []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			pods:        pods(deleting(pod("a", nil))),
			want:        []Target{draining(serving("10.0.0.1"))},
			wantSince:   map[Key]time.Time{podKey("10.0.0.1"): now},
			wantRequeue: now.Add(30 * time.Second),
		},
		{
			name:        "draining keeps its first-seen time",
			slices:      []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			pods:        pods(deleting(pod("a", nil))),
			since:       map[Key]time.Time{podKey("10.0.0.1"): now.Add(-10 * time.Second), podKey("10.0.0.9"): now},
			want:        []Target{draining(serving("10.0.0.1"))},
			wantSince:   map[Key]time.Time{podKey("10.0.0.1"): now.Add(-10 * time.Second)},
			wantRequeue: now.Add(20 * time.Second),
		},
		{
			name:      "drain over: deregistered, but remembered so it does not drain again",
			slices:    []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			pods:      pods(deleting(pod("a", nil))),
			since:     map[Key]time.Time{podKey("10.0.0.1"): now.Add(-30 * time.Second)},
			wantSince: map[Key]time.Time{podKey("10.0.0.1"): now.Add(-30 * time.Second)},
		},
		{
			name:        "first-seen in the future is taken as now",
			slices:      []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			pods:        pods(deleting(pod("a", nil))),
			since:       map[Key]time.Time{podKey("10.0.0.1"): now.Add(time.Hour)},
			want:        []Target{draining(serving("10.0.0.1"))},
			wantSince:   map[Key]time.Time{podKey("10.0.0.1"): now},
			wantRequeue: now.Add(30 * time.Second),
		},
		{
			name:      "no drain delay: deregistered at once",
			binding:   func(b *Binding) { b.Drain = 0 },
			slices:    []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			pods:      pods(deleting(pod("a", nil))),
			wantSince: map[Key]time.Time{podKey("10.0.0.1"): now},
		},
		{
			name:   "terminating endpoint whose pod is gone: deregistered at once",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			since:  map[Key]time.Time{podKey("10.0.0.1"): now.Add(-5 * time.Second)},
		},
		{
			name: "endpoint in two slices, serving in one: serving wins and forgets the drain",
			slices: []discoveryv1.EndpointSlice{
				slice(endpoint("10.0.0.1", "a", terminating)),
				slice(endpoint("10.0.0.1", "a")),
			},
			pods:      pods(pod("a", nil)),
			want:      []Target{serving("10.0.0.1")},
			wantSince: map[Key]time.Time{},
		},
		{
			name: "other services, namespaces and address types are ignored",
			slices: []discoveryv1.EndpointSlice{
				func() discoveryv1.EndpointSlice {
					s := slice(endpoint("10.0.0.1", "a"))
					s.Labels[discoveryv1.LabelServiceName] = "other"
					return s
				}(),
				func() discoveryv1.EndpointSlice {
					s := slice(endpoint("10.0.0.2", "b"))
					s.Namespace = "elsewhere"
					return s
				}(),
				func() discoveryv1.EndpointSlice {
					s := slice(endpoint("fd00::3", "c"))
					s.AddressType = discoveryv1.AddressTypeIPv6
					return s
				}(),
				func() discoveryv1.EndpointSlice {
					s := slice(endpoint("web.example.com", "d"))
					s.AddressType = discoveryv1.AddressTypeFQDN
					return s
				}(),
				slice(endpoint("fd00::5", "e"), endpoint("10.0.0.6", "f")),
			},
			want: []Target{serving("10.0.0.6")},
		},
		{
			name: "endpoints without a pod are not pod targets",
			slices: []discoveryv1.EndpointSlice{slice(
				func() discoveryv1.Endpoint { ep := endpoint("10.0.0.1", "a"); ep.TargetRef = nil; return ep }(),
				func() discoveryv1.Endpoint { ep := endpoint("10.0.0.2", "a"); ep.TargetRef.Kind = "Node"; return ep }(),
				func() discoveryv1.Endpoint { ep := endpoint("10.0.0.3", "a"); ep.Addresses = nil; return ep }(),
			)},
		},
		{
			name: "slice without the service port is ignored",
			slices: []discoveryv1.EndpointSlice{func() discoveryv1.EndpointSlice {
				s := slice(endpoint("10.0.0.1", "a"))
				s.Ports = s.Ports[1:]
				return s
			}()},
		},
		{
			name:    "port by number, other port",
			binding: func(b *Binding) { b.ServicePort = intstr.FromInt32(9090) },
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			want:    []Target{{Key: Key{EniIP: "10.0.0.1", Port: 9090}, Weight: 10}},
		},
		{
			name:    "weight is carried",
			binding: func(b *Binding) { b.Weight = 100 },
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			want:    []Target{{Key: podKey("10.0.0.1"), Weight: 100}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := binding()
			if tt.binding != nil {
				tt.binding(&b)
			}
			in := Input{Binding: b, Service: service(""), EndpointSlices: tt.slices, Pods: tt.pods, DrainingSince: tt.since, Now: now}
			got, err := Desired(in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Targets).To(ConsistOf(tt.want))
			g.Expect(got.Targets).To(HaveLen(len(tt.want)))
			g.Expect(got.DrainingSince).To(HaveLen(len(tt.wantSince)))
			for k, since := range tt.wantSince {
				g.Expect(got.DrainingSince).To(HaveKeyWithValue(k, since))
			}
			g.Expect(got.RequeueAt).To(Equal(tt.wantRequeue))
			g.Expect(got.Skipped).To(BeEmpty())
		})
	}
}

func TestDesiredErrors(t *testing.T) {
	tests := []struct {
		name    string
		binding func(*Binding)
		service func(*corev1.Service) *corev1.Service
		wantErr string
	}{
		{
			name:    "no service",
			service: func(*corev1.Service) *corev1.Service { return nil },
			wantErr: "service is missing",
		},
		{
			name:    "no such port name",
			binding: func(b *Binding) { b.ServicePort = intstr.FromString("https") },
			wantErr: "service web has no port https",
		},
		{
			name:    "no such port number",
			binding: func(b *Binding) { b.ServicePort = intstr.FromInt32(8080) },
			wantErr: "service web has no port 8080",
		},
		{
			name:    "port number on TCP and UDP",
			binding: func(b *Binding) { b.ServicePort = intstr.FromInt32(80) },
			service: func(s *corev1.Service) *corev1.Service {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "quic", Port: 80, Protocol: corev1.ProtocolUDP})
				return s
			},
			wantErr: "service web port 80 is ambiguous",
		},
		{
			name:    "node targets need a nodePort",
			binding: func(b *Binding) { b.TargetType, b.ServicePort = TargetTypeNode, intstr.FromString("metrics") },
			wantErr: "service web port metrics has no nodePort",
		},
		{
			name:    "unknown target type",
			binding: func(b *Binding) { b.TargetType = "Lambda" },
			wantErr: `binding web-cbb: unknown target type "Lambda"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := binding()
			if tt.binding != nil {
				tt.binding(&b)
			}
			svc := service("")
			if tt.service != nil {
				svc = tt.service(svc)
			}
			_, err := Desired(Input{Binding: b, Service: svc, Now: now})
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestPodInfoFromPod(t *testing.T) {
	g := NewWithT(t)
	deletedAt := metav1.NewTime(now)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: podAUID, DeletionTimestamp: &deletedAt,
			Annotations: map[string]string{networkingv1alpha1.PodWeightAnnotation: "30", "other.io/note": "x"}},
		Spec: corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{
			{ConditionType: ourGate}, {ConditionType: otherGate}, {ConditionType: "missing.io/gate"},
		}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: deletedAt},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse},
			{Type: ourGate, Status: corev1.ConditionFalse},
			{Type: otherGate, Status: corev1.ConditionTrue},
			{Type: "ungated.io/condition", Status: corev1.ConditionTrue},
		}},
	}
	g.Expect(PodInfoFromPod(p)).To(Equal(PodInfo{
		Name:            "a",
		UID:             podAUID,
		Terminating:     true,
		ContainersReady: true,
		ReadySince:      deletedAt.Time,
		ReadinessGates:  map[string]bool{ourGate: false, otherGate: true, "missing.io/gate": false},

		WeightAnnotation: "30", HasWeightAnnotation: true,
	}))
	// The annotation is the one the API documents.
	g.Expect(weightAnnotation).To(Equal(networkingv1alpha1.PodWeightAnnotation))
	delete(p.Annotations, networkingv1alpha1.PodWeightAnnotation)
	g.Expect(PodInfoFromPod(p).HasWeightAnnotation).To(BeFalse())
}

// TestDrainLifecycle follows one terminating pod through Desired and Diff, feeding each result
// back as the next input, as the controller does.
func TestDrainLifecycle(t *testing.T) {
	g := NewWithT(t)
	opts := DiffOptions{OwnerTag: ourTag}
	in := Input{
		Binding: binding(),
		Service: service(""),
		EndpointSlices: []discoveryv1.EndpointSlice{slice(
			endpoint("10.0.0.1", "a", terminating),
			endpoint("10.0.0.2", "b"),
		)},
		Pods: pods(deleting(pod("a", nil)), pod("b", nil)),
	}
	actual := []Target{tagged(serving("10.0.0.1")), tagged(serving("10.0.0.2"))}
	steps := []struct {
		after       time.Duration
		want        Plan
		wantRequeue time.Duration
		wantCounts  Counts
	}{
		{after: 0, want: Plan{ModifyWeight: []Target{{Key: podKey("10.0.0.1"), Tag: ourTag}}}, wantRequeue: 30 * time.Second,
			wantCounts: Counts{Desired: 1, Registered: 1, Draining: 1}},
		{after: 10 * time.Second, wantRequeue: 30 * time.Second, wantCounts: Counts{Desired: 1, Registered: 1, Draining: 1}},
		{after: 30 * time.Second, want: Plan{Deregister: []Target{{Key: podKey("10.0.0.1"), Tag: ourTag}}},
			wantCounts: Counts{Desired: 1, Registered: 1}},
		{after: 40 * time.Second, wantCounts: Counts{Desired: 1, Registered: 1}},
	}
	for _, step := range steps {
		in.Now = now.Add(step.after)
		res, err := Desired(in)
		g.Expect(err).NotTo(HaveOccurred())
		plan := Diff(res.Targets, actual, opts)
		g.Expect(plan).To(Equal(step.want), "after %s", step.after)
		if step.wantRequeue == 0 {
			g.Expect(res.RequeueAt.IsZero()).To(BeTrue(), "after %s", step.after)
		} else {
			g.Expect(res.RequeueAt).To(Equal(now.Add(step.wantRequeue)), "after %s", step.after)
		}
		actual = apply(actual, plan)
		g.Expect(Count(res.Targets, actual, opts)).To(Equal(step.wantCounts), "after %s", step.after)
		in.DrainingSince = res.DrainingSince
	}
	// The pod is gone: its drain record goes with it.
	in.EndpointSlices = []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.2", "b"))}
	res, err := Desired(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.DrainingSince).To(BeEmpty())
}

// weighted is pod p with the clbind.io/weight annotation set to value.
func weighted(p PodInfo, value string) PodInfo {
	p.WeightAnnotation, p.HasWeightAnnotation = value, true
	return p
}

func servingAt(ip string, w int64) Target {
	return Target{Key: podKey(ip), Weight: w}
}

func invalidWeight(pod, value string) InvalidWeight {
	return InvalidWeight{Pod: pod, UID: types.UID("uid-" + pod), Value: value}
}

// TestDesiredWeights covers the weight of each target: the pod's clbind.io/weight annotation, the
// binding's weight, and weight 0 for terminating and (with KeepNotReady) not-ready endpoints.
func TestDesiredWeights(t *testing.T) {
	keep := func(b *Binding) { b.KeepNotReady = true }
	tests := []struct {
		name        string
		binding     func(*Binding)
		slices      []discoveryv1.EndpointSlice
		pods        map[string]PodInfo
		want        []Target
		wantInvalid []InvalidWeight
	}{
		{
			name:   "no annotation: the binding's weight",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			pods:   pods(pod("a", nil)),
			want:   []Target{servingAt("10.0.0.1", 10)},
		},
		{
			name:   "annotation overrides the binding's weight, per pod",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b"))},
			pods:   pods(weighted(pod("a", nil), "30"), pod("b", nil)),
			want:   []Target{servingAt("10.0.0.1", 30), servingAt("10.0.0.2", 10)},
		},
		{
			name:   "annotation 0 and 100 are weights",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b"))},
			pods:   pods(weighted(pod("a", nil), "0"), weighted(pod("b", nil), "100")),
			want:   []Target{servingAt("10.0.0.1", 0), servingAt("10.0.0.2", 100)},
		},
		{
			name:    "annotation overrides a binding weight of 0 too",
			binding: func(b *Binding) { b.Weight = 0 },
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			pods:    pods(weighted(pod("a", nil), "50")),
			want:    []Target{servingAt("10.0.0.1", 50)},
		},
		{
			name:   "surrounding spaces are tolerated",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			pods:   pods(weighted(pod("a", nil), " 40 ")),
			want:   []Target{servingAt("10.0.0.1", 40)},
		},
		{
			name: "invalid annotations: the binding's weight, each pod reported once, sorted",
			slices: []discoveryv1.EndpointSlice{
				slice(endpoint("10.0.0.6", "f"), endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b"), endpoint("10.0.0.3", "c"),
					endpoint("10.0.0.4", "d"), endpoint("10.0.0.5", "e")),
				slice(endpoint("10.0.0.1", "a")),
			},
			pods: pods(weighted(pod("a", nil), "101"), weighted(pod("b", nil), "-1"), weighted(pod("c", nil), "abc"),
				weighted(pod("d", nil), "1.5"), weighted(pod("e", nil), ""), weighted(pod("f", nil), "1e2")),
			want: []Target{servingAt("10.0.0.1", 10), servingAt("10.0.0.2", 10), servingAt("10.0.0.3", 10),
				servingAt("10.0.0.4", 10), servingAt("10.0.0.5", 10), servingAt("10.0.0.6", 10)},
			wantInvalid: []InvalidWeight{invalidWeight("a", "101"), invalidWeight("b", "-1"), invalidWeight("c", "abc"),
				invalidWeight("d", "1.5"), invalidWeight("e", ""), invalidWeight("f", "1e2")},
		},
		{
			name:   "the annotation of a re-created pod does not apply to the old endpoint",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"))},
			pods:   pods(PodInfo{Name: "a", UID: "uid-new", ContainersReady: true, WeightAnnotation: "abc", HasWeightAnnotation: true}),
			want:   []Target{servingAt("10.0.0.1", 10)},
		},
		{
			name:   "terminating: weight 0 whatever the annotation, and no report",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating), endpoint("10.0.0.2", "b", terminating))},
			pods:   pods(deleting(weighted(pod("a", nil), "70")), deleting(weighted(pod("b", nil), "abc"))),
			want:   []Target{draining(serving("10.0.0.1")), draining(serving("10.0.0.2"))},
		},
		{
			name:   "not ready, Deregister: no target",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady), endpoint("10.0.0.2", "b"))},
			pods:   pods(weighted(PodInfo{Name: "a", UID: "uid-a"}, "30"), pod("b", nil)),
			want:   []Target{serving("10.0.0.2")},
		},
		{
			name:    "not ready, KeepAtWeightZero: weight 0 whatever the annotation, not draining",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady), endpoint("10.0.0.2", "b"))},
			pods:    pods(weighted(PodInfo{Name: "a", UID: "uid-a"}, "30"), pod("b", nil)),
			want:    []Target{servingAt("10.0.0.1", 0), serving("10.0.0.2")},
		},
		{
			name:        "not ready, KeepAtWeightZero: an invalid annotation is reported before the pod is ready",
			binding:     keep,
			slices:      []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:        pods(weighted(PodInfo{Name: "a", UID: "uid-a"}, "abc")),
			want:        []Target{servingAt("10.0.0.1", 0)},
			wantInvalid: []InvalidWeight{invalidWeight("a", "abc")},
		},
		{
			name:    "not ready, KeepAtWeightZero, never seen ready and no pod in the cache: weight 0",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			want:    []Target{servingAt("10.0.0.1", 0)},
		},
		{
			name:    "not ready, KeepAtWeightZero, pod held back by another controller's gate: weight 0",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(pod("a", map[string]bool{ourGate: true, otherGate: false})),
			want:    []Target{servingAt("10.0.0.1", 0)},
		},
		{
			name:    "not ready, KeepAtWeightZero, containers failing after our gate passed: weight 0",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(PodInfo{Name: "a", UID: "uid-a", ReadinessGates: map[string]bool{ourGate: true}}),
			want:    []Target{servingAt("10.0.0.1", 0)},
		},
		{
			name:    "not ready, KeepAtWeightZero, containers starting while our gate waits: no target until they are ready",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(PodInfo{Name: "a", UID: "uid-a", ReadinessGates: map[string]bool{ourGate: false}}),
		},
		{
			name: "not ready, KeepAtWeightZero, gates off: a pod with a stale gate of ours is kept at weight 0",
			binding: func(b *Binding) {
				b.KeepNotReady, b.ReadinessGate = true, false
			},
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(PodInfo{Name: "a", UID: "uid-a", ReadinessGates: map[string]bool{ourGate: false}}),
			want:   []Target{servingAt("10.0.0.1", 0)},
		},
		{
			name:   "held back only by our gate, Deregister: full weight, the annotation's",
			slices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:   pods(weighted(pod("a", map[string]bool{ourGate: false}), "30")),
			want:   []Target{servingAt("10.0.0.1", 30)},
		},
		{
			name:    "held back only by our gate, KeepAtWeightZero: full weight, the annotation's",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(weighted(pod("a", map[string]bool{ourGate: false}), "30")),
			want:    []Target{servingAt("10.0.0.1", 30)},
		},
		{
			name:    "held back only by our gate, KeepAtWeightZero, no annotation: the binding's weight",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady))},
			pods:    pods(pod("a", map[string]bool{ourGate: false})),
			want:    []Target{serving("10.0.0.1")},
		},
		{
			name:    "terminating, KeepAtWeightZero: drains as before",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
			pods:    pods(deleting(pod("a", nil))),
			want:    []Target{draining(serving("10.0.0.1"))},
		},
		{
			name:    "terminating and its pod gone, KeepAtWeightZero: no target",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", terminating))},
		},
		{
			name:    "not ready in one slice, ready in another, KeepAtWeightZero: serving wins",
			binding: keep,
			slices:  []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a", notReady)), slice(endpoint("10.0.0.1", "a"))},
			pods:    pods(weighted(pod("a", nil), "30")),
			want:    []Target{servingAt("10.0.0.1", 30)},
		},
		{
			name:    "not ready without an address, KeepAtWeightZero: no target",
			binding: keep,
			slices: []discoveryv1.EndpointSlice{slice(func() discoveryv1.Endpoint {
				ep := endpoint("10.0.0.1", "a", notReady)
				ep.Addresses = nil
				return ep
			}())},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := binding()
			if tt.binding != nil {
				tt.binding(&b)
			}
			in := Input{Binding: b, Service: service(""), EndpointSlices: tt.slices, Pods: tt.pods, Now: now}
			got, err := Desired(in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Targets).To(ConsistOf(tt.want))
			g.Expect(got.Targets).To(HaveLen(len(tt.want)))
			g.Expect(got.InvalidWeights).To(Equal(tt.wantInvalid))
		})
	}
}

// TestDesiredWeightsIgnoredByNodeTargets: Node targets are CVMs, not pods, so neither the pods'
// annotation nor KeepNotReady changes them.
func TestDesiredWeightsIgnoredByNodeTargets(t *testing.T) {
	for _, policy := range []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal} {
		t.Run(string(policy), func(t *testing.T) {
			g := NewWithT(t)
			b := binding()
			b.TargetType, b.KeepNotReady = TargetTypeNode, true
			in := Input{
				Binding: b,
				Service: service(policy),
				Nodes:   []corev1.Node{node("n1"), node("n2")},
				EndpointSlices: []discoveryv1.EndpointSlice{slice(
					endpoint("10.0.0.1", "a", onNode("n1")),
					endpoint("10.0.0.2", "b", onNode("n2"), notReady),
				)},
				Pods: pods(weighted(pod("a", nil), "70"), weighted(PodInfo{Name: "b", UID: "uid-b"}, "abc")),
				Now:  now,
			}
			got, err := Desired(in)
			g.Expect(err).NotTo(HaveOccurred())
			want := []Target{nodeServing("n1"), nodeServing("n2")}
			if policy == corev1.ServiceExternalTrafficPolicyLocal {
				want = want[:1] // n2's only endpoint is not ready: the node goes, as without KeepNotReady
			}
			g.Expect(got.Targets).To(Equal(want))
			g.Expect(got.InvalidWeights).To(BeEmpty())
		})
	}
}

// TestNotReadyRoundTrip follows one pod through Desired and Diff with KeepAtWeightZero: ready,
// failing its readiness probe, ready again. Only weights are written.
func TestNotReadyRoundTrip(t *testing.T) {
	g := NewWithT(t)
	opts := DiffOptions{OwnerTag: ourTag}
	b := binding()
	b.KeepNotReady = true
	in := Input{Binding: b, Service: service(""), Pods: pods(weighted(pod("a", nil), "30")), Now: now}
	var actual []Target
	for _, step := range []struct {
		name string
		ep   discoveryv1.Endpoint
		want Plan
	}{
		{"ready", endpoint("10.0.0.1", "a"), Plan{Register: []Target{{Key: podKey("10.0.0.1"), Weight: 30, Tag: ourTag}}}},
		{"not ready", endpoint("10.0.0.1", "a", notReady), Plan{ModifyWeight: []Target{{Key: podKey("10.0.0.1"), Tag: ourTag}}}},
		{"still not ready", endpoint("10.0.0.1", "a", notReady), Plan{}},
		{"ready again", endpoint("10.0.0.1", "a"), Plan{ModifyWeight: []Target{{Key: podKey("10.0.0.1"), Weight: 30, Tag: ourTag}}}},
	} {
		in.EndpointSlices = []discoveryv1.EndpointSlice{slice(step.ep)}
		res, err := Desired(in)
		g.Expect(err).NotTo(HaveOccurred())
		plan := Diff(res.Targets, actual, opts)
		g.Expect(plan).To(Equal(step.want), step.name)
		actual = apply(actual, plan)
		in.DrainingSince, in.Memory = res.DrainingSince, res.Memory
	}
}

// TestDesiredSlowStart: with slow start, a serving pod target carries when its pod became ready
// (its weight ramps from then, internal/lbsync); a not-ready one and a binding without slow start
// carry nothing.
func TestDesiredSlowStart(t *testing.T) {
	g := NewWithT(t)
	readyAt := now.Add(-10 * time.Second)
	a, b := pod("a", nil), pod("b", nil)
	a.ReadySince, b.ReadySince = readyAt, readyAt
	b.ContainersReady = false
	in := Input{
		Binding: binding(), Service: service(corev1.ServiceExternalTrafficPolicyCluster), Now: now,
		EndpointSlices: []discoveryv1.EndpointSlice{slice(endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b", notReady))},
		Pods:           pods(a, b),
	}
	in.Binding.SlowStart, in.Binding.KeepNotReady, in.Binding.ReadinessGate = true, true, false
	res, err := Desired(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Targets).To(ConsistOf(
		Target{Key: podKey("10.0.0.1"), Weight: 10, ReadySince: readyAt},
		Target{Key: podKey("10.0.0.2"), Weight: 0},
	))
	in.Binding.SlowStart = false
	res, err = Desired(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Targets).To(ContainElement(Target{Key: podKey("10.0.0.1"), Weight: 10}))
}
