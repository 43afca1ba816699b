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
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// defaultWeight is spec.weight's default (the CRD's and the controller's).
const defaultWeight = 10

// Health states a backend row shows besides the CLB's own (Alive, Dead, Unknown, Close).
const (
	// HealthNotRegistered: the controller wants the backend, and the CLBHealth lists every
	// registered backend without it.
	HealthNotRegistered = "NotRegistered"
	// HealthNotListed: status.backends is capped and does not list the backend.
	HealthNotListed = "NotListed"
	// HealthNotProbed: the controller has not read the CLB's health view yet.
	HealthNotProbed = "NotProbed"
)

// Gate column values besides the pod condition's status.
const (
	// GateOff: the binding has no readiness gate (spec.readinessGate false, or Node targets).
	GateOff = "off"
	// GateMissing: the binding has a gate, and the pod does not carry it.
	GateMissing = "missing"
)

// Backend states besides serving.
const (
	StateDraining = "draining"
	StateRetiring = "retiring"
	// StateLeaving: registered on the CLB, not wanted any more; the controller removes it.
	StateLeaving = "leaving"
	// StateNotReady: the pod's endpoint is not ready; its backend is kept at weight 0
	// (spec.notReadyBackends KeepAtWeightZero) or not registered.
	StateNotReady = "not-ready"
)

// Condition is a condition as the plugin shows it.
type Condition struct {
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// BindingView is one binding and its backends.
type BindingView struct {
	Namespace      string    `json:"namespace"`
	Name           string    `json:"name"`
	LoadBalancerID string    `json:"loadBalancerId"`
	Where          string    `json:"where"` // "listener lbl-…" or "rule loc-… of listener lbl-…"
	Service        string    `json:"service"`
	TargetType     string    `json:"targetType"`
	Ready          Condition `json:"ready"`
	// Health is the CLBHealth's summary ("healthy/registered") and when it last read the CLB.
	Health    string    `json:"health,omitempty"`
	LastProbe time.Time `json:"lastProbe,omitzero"`
	Gate      string    `json:"gate,omitempty"` // the pod condition type, empty without a gate
	Backends  []Backend `json:"backends"`
	Notes     []string  `json:"notes,omitempty"`
	Unknown   bool      `json:"-"` // the desired backends could not be computed (Notes[0] says why)
}

// Backend is one row: a backend the controller wants, or one still registered on the CLB.
type Backend struct {
	Pod     string `json:"pod,omitempty"`
	Node    string `json:"node,omitempty"`
	Address string `json:"address"` // ip:port or instance:nodePort
	// Weight the controller sets (before traffic shares and slow start); nil for a backend it no
	// longer wants.
	Weight      *int64    `json:"weight,omitempty"`
	Health      string    `json:"health"`
	HealthSince time.Time `json:"healthSince,omitzero"`
	// RegisteredSince is when the controller first saw the backend registered.
	RegisteredSince time.Time `json:"registeredSince,omitzero"`
	Gate            Condition `json:"gate"`
	// State is empty for a serving backend, else StateDraining, StateRetiring, StateLeaving or
	// StateNotReady.
	State string `json:"state,omitempty"`

	ip   string
	port int64
}

// Views computes the view of every binding in s, or only of the one named, sorted by name.
func Views(s *Snapshot, only string, now time.Time) ([]BindingView, error) {
	var out []BindingView
	for i := range s.Bindings {
		b := &s.Bindings[i]
		if only != "" && b.Name != only {
			continue
		}
		out = append(out, view(s, b, now))
	}
	if only != "" && len(out) == 0 {
		return nil, fmt.Errorf("CLBBackendBinding %s/%s not found", s.Namespace, only)
	}
	slices.SortFunc(out, func(a, b BindingView) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func view(s *Snapshot, b *networkingv1alpha1.CLBBackendBinding, now time.Time) BindingView {
	v := BindingView{Namespace: b.Namespace, Name: b.Name, LoadBalancerID: b.Spec.LoadBalancerID, Where: where(b),
		Service: b.Spec.ServiceRef.Name + ":" + b.Spec.ServiceRef.Port.String(), TargetType: string(targetType(b)),
		Ready: Condition{Status: "Unknown", Reason: "NoStatus", Message: "the controller has not written the binding's status yet"}}
	if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		v.Ready = Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time}
	}
	if wantsGate(b) {
		v.Gate = networkingv1alpha1.ReadinessGateConditionType(b.Name)
	}
	h := s.Healths[b.Name]
	if h != nil {
		v.Health = cmp.Or(h.Status.Summary, fmt.Sprintf("%d/%d", h.Status.Healthy, h.Status.Registered))
		if h.Status.LastProbeTime != nil {
			v.LastProbe = h.Status.LastProbeTime.Time
		}
	}
	res, err := desired(s, b, h, now)
	if err != nil {
		v.Notes = append(v.Notes, "backends unknown: "+err.Error())
		v.Unknown = true
	}
	v.Backends = rows(s, b, h, res)
	if h != nil && int(h.Status.Registered) > len(h.Status.Backends) {
		v.Notes = append(v.Notes, fmt.Sprintf("the CLBHealth lists %d of %d registered backends (at most %d are listed); the others show %s",
			len(h.Status.Backends), h.Status.Registered, networkingv1alpha1.MaxBackendsListed, HealthNotListed))
	}
	if missing := countGate(v.Backends, GateMissing); missing > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d %s the readiness gate %s: see kubectl clbind why pod/<name>", missing, plural(missing, "pod lacks", "pods lack"), v.Gate))
	}
	return v
}

func countGate(bs []Backend, status string) int {
	n := 0
	for _, b := range bs {
		if b.Gate.Status == status {
			n++
		}
	}
	return n
}

func targetType(b *networkingv1alpha1.CLBBackendBinding) networkingv1alpha1.TargetType {
	return cmp.Or(b.Spec.TargetType, networkingv1alpha1.TargetTypePod)
}

// wantsGate mirrors the pod webhook: pods get the gate of a Pod-target binding with
// spec.readinessGate unset or true, while the binding is not being deleted.
func wantsGate(b *networkingv1alpha1.CLBBackendBinding) bool {
	return ptr.Deref(b.Spec.ReadinessGate, true) && targetType(b) == networkingv1alpha1.TargetTypePod && b.DeletionTimestamp.IsZero()
}

// where names the binding's listener or rule the way the controller's messages do.
func where(b *networkingv1alpha1.CLBBackendBinding) string {
	listener := b.Status.ListenerID
	if listener == "" {
		listener = b.Spec.Listener.ID
	}
	if listener == "" {
		listener = fmt.Sprintf("%s:%d (not resolved yet)", b.Spec.Listener.Protocol, b.Spec.Listener.Port)
	}
	if b.Spec.Rule == nil {
		return "listener " + listener
	}
	rule := cmp.Or(b.Status.LocationID, b.Spec.Rule.LocationID)
	if rule == "" {
		rule = b.Spec.Rule.Domain + b.Spec.Rule.URL
	}
	return "rule " + rule + " of listener " + listener
}

// desired runs internal/targets as the binding reconciler does, from what the snapshot holds.
// It has no memory of earlier passes: a terminating backend shows as draining however long it
// has drained, and a pod the Service no longer selects shows as leaving, not retiring.
func desired(s *Snapshot, b *networkingv1alpha1.CLBBackendBinding, h *networkingv1alpha1.CLBHealth, now time.Time) (targets.Result, error) {
	svc := s.Services[b.Spec.ServiceRef.Name]
	if svc == nil {
		return targets.Result{}, fmt.Errorf("service %s/%s does not exist", b.Namespace, b.Spec.ServiceRef.Name)
	}
	in := targets.Input{
		Binding: targets.Binding{
			Name:          b.Name,
			TargetType:    targets.TargetType(targetType(b)),
			ServicePort:   b.Spec.ServiceRef.Port,
			Weight:        int64(ptr.Deref(b.Spec.Weight, defaultWeight)),
			ReadinessGate: ptr.Deref(b.Spec.ReadinessGate, true),
			NodeSelector:  labels.Everything(),
			KeepNotReady:  b.Spec.NotReadyBackends == networkingv1alpha1.NotReadyKeepAtWeightZero,
		},
		Service: svc,
		Now:     now,
		Pods:    map[string]targets.PodInfo{},
	}
	if b.Spec.Drain != nil {
		in.Binding.Drain = time.Duration(b.Spec.Drain.Seconds) * time.Second
	}
	if b.Spec.NodeSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.NodeSelector)
		if err != nil {
			return targets.Result{}, fmt.Errorf("spec.nodeSelector: %w", err)
		}
		in.Binding.NodeSelector = sel
	}
	for i := range s.Slices {
		if s.Slices[i].Labels[discoveryv1.LabelServiceName] == svc.Name {
			in.EndpointSlices = append(in.EndpointSlices, s.Slices[i])
		}
	}
	for i := range s.Pods {
		in.Pods[s.Pods[i].Name] = targets.PodInfoFromPod(&s.Pods[i])
	}
	in.Nodes = s.Nodes
	if h != nil {
		in.Healthy = func(ip string, port int64) bool {
			for _, bh := range h.Status.Backends {
				if bh.IP == ip && int64(bh.Port) == port {
					return bh.State == "Alive" || bh.State == "Close"
				}
			}
			return false
		}
	}
	return targets.Desired(in)
}

// rows joins the desired backends with what the CLBHealth reports as registered, and adds the
// pods the Service selects that have no backend.
func rows(s *Snapshot, b *networkingv1alpha1.CLBBackendBinding, h *networkingv1alpha1.CLBHealth, res targets.Result) []Backend {
	rb := newRowBuilder(s, b, h)
	var out []Backend
	wanted := map[address]bool{}
	for _, t := range res.Targets {
		a := address{t.EniIP, t.InstanceID, t.Port}
		wanted[a] = true
		r := Backend{Weight: new(t.Weight)}
		switch {
		case t.Draining:
			r.State = StateDraining
		case t.Retiring:
			r.State = StateRetiring
		}
		rb.fill(&r, a)
		if p := rb.podByIP[a.ip]; r.State == "" && p != nil && !containersReady(p) {
			r.State = StateNotReady
		}
		out = append(out, r)
	}
	if h != nil {
		for _, bh := range h.Status.Backends {
			if a := (address{bh.IP, bh.InstanceID, int64(bh.Port)}); !wanted[a] {
				r := Backend{State: StateLeaving}
				rb.fill(&r, a)
				out = append(out, r)
			}
		}
	}
	out = append(out, rb.withoutBackend(out)...)
	slices.SortFunc(out, func(x, y Backend) int {
		return cmp.Or(cmp.Compare(unnamed(x), unnamed(y)), cmp.Compare(x.Pod, y.Pod), cmp.Compare(x.Address, y.Address))
	})
	return out
}

// address is a backend's address: an IP or an instance, and a port.
type address struct {
	ip, instance string
	port         int64
}

// rowBuilder fills in backend rows from the snapshot and the binding's CLBHealth.
type rowBuilder struct {
	s              *Snapshot
	b              *networkingv1alpha1.CLBBackendBinding
	h              *networkingv1alpha1.CLBHealth
	gate           string
	podByIP        map[string]*corev1.Pod
	nodeByInstance map[string]string
	registered     map[address]networkingv1alpha1.BackendHealth
	// complete is true when status.backends lists every registered backend, probed when the
	// controller has read the CLB's health view at least once.
	complete, probed bool
}

func newRowBuilder(s *Snapshot, b *networkingv1alpha1.CLBBackendBinding, h *networkingv1alpha1.CLBHealth) *rowBuilder {
	rb := &rowBuilder{s: s, b: b, h: h, podByIP: map[string]*corev1.Pod{}, nodeByInstance: map[string]string{},
		registered: map[address]networkingv1alpha1.BackendHealth{}}
	for i := range s.Pods {
		if p := &s.Pods[i]; p.Status.PodIP != "" && !finished(p) {
			rb.podByIP[p.Status.PodIP] = p
		}
	}
	for i := range s.Nodes {
		if id, err := targets.ParseProviderID(s.Nodes[i].Spec.ProviderID); err == nil {
			rb.nodeByInstance[id] = s.Nodes[i].Name
		}
	}
	if h != nil {
		for _, bh := range h.Status.Backends {
			rb.registered[address{bh.IP, bh.InstanceID, int64(bh.Port)}] = bh
		}
		rb.complete = int(h.Status.Registered) <= len(h.Status.Backends)
		rb.probed = h.Status.LastProbeTime != nil
	}
	if wantsGate(b) {
		rb.gate = networkingv1alpha1.ReadinessGateConditionType(b.Name)
	}
	return rb
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// fill sets the row's pod, node, address, gate and CLB health.
func (rb *rowBuilder) fill(r *Backend, a address) {
	if a.instance != "" {
		r.Node = rb.nodeByInstance[a.instance]
		r.Address = a.instance + ":" + strconv.FormatInt(a.port, 10)
	} else {
		r.Address = net.JoinHostPort(a.ip, strconv.FormatInt(a.port, 10))
		if p := rb.podByIP[a.ip]; p != nil {
			r.Pod, r.Node = p.Name, p.Spec.NodeName
			r.Gate = gateOf(p, rb.gate)
		}
	}
	if r.Gate.Status == "" {
		r.Gate.Status = GateOff
		if rb.gate != "" && r.Pod == "" {
			r.Gate.Status = "-"
		}
	}
	r.ip, r.port = a.ip, a.port
	if bh, ok := rb.registered[a]; ok {
		r.Health, r.HealthSince = bh.State, bh.Since.Time
		if bh.RegisteredSince != nil {
			r.RegisteredSince = bh.RegisteredSince.Time
		}
		return
	}
	switch {
	case !rb.probed:
		r.Health = HealthNotProbed
	case rb.complete:
		r.Health = HealthNotRegistered
	default:
		r.Health = cmp.Or(unhealthyListed(rb.h, a.ip, a.instance, a.port), HealthNotListed)
	}
}

// withoutBackend are rows for the pods the Service selects that no row names yet: no endpoint,
// or an endpoint that is not ready.
func (rb *rowBuilder) withoutBackend(have []Backend) []Backend {
	svc := rb.s.Services[rb.b.Spec.ServiceRef.Name]
	if svc == nil || targetType(rb.b) != networkingv1alpha1.TargetTypePod || len(svc.Spec.Selector) == 0 {
		return nil
	}
	named := map[string]bool{}
	for _, r := range have {
		named[r.Pod] = true
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []Backend
	for i := range rb.s.Pods {
		p := &rb.s.Pods[i]
		if named[p.Name] || finished(p) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		r := Backend{Pod: p.Name, Node: p.Spec.NodeName, Address: "-", Health: HealthNotRegistered, Gate: gateOf(p, rb.gate)}
		if r.Gate.Status == "" {
			r.Gate.Status = GateOff
		}
		if !containersReady(p) {
			r.State = StateNotReady
		}
		out = append(out, r)
	}
	return out
}

// gateOf is the pod's condition of the gate; Status GateMissing when the pod lacks the gate,
// empty when there is no gate.
func gateOf(p *corev1.Pod, gate string) Condition {
	if gate == "" {
		return Condition{}
	}
	if !slices.ContainsFunc(p.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return string(g.ConditionType) == gate }) {
		return Condition{Status: GateMissing}
	}
	for _, c := range p.Status.Conditions {
		if string(c.Type) == gate {
			return Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time}
		}
	}
	return Condition{Status: "Unknown", Reason: "NotSetYet", Message: "the controller has not set the gate's condition yet"}
}

// unhealthyListed is the state status.unhealthyTargets gives the backend, or "".
func unhealthyListed(h *networkingv1alpha1.CLBHealth, ip, instance string, port int64) string {
	for _, u := range h.Status.UnhealthyTargets {
		if u.IP == ip && u.InstanceID == instance && int64(u.Port) == port {
			return u.State
		}
	}
	return ""
}

// containersReady is the pod's ContainersReady condition: whether only readiness gates can hold
// it back.
func containersReady(p *corev1.Pod) bool {
	return targets.PodInfoFromPod(p).ContainersReady
}

// unnamed sorts rows without a pod last.
func unnamed(b Backend) int {
	if b.Pod == "" {
		return 1
	}
	return 0
}
