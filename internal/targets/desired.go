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
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podKind is the kind in an endpoint's targetRef when it is a pod.
const podKind = "Pod"

// readinessGatePrefix must match the condition type the webhook injects
// (health.clbind.io/<binding-name>).
const readinessGatePrefix = "health.clbind.io/"

// weightAnnotation on a pod overrides the binding's weight for its backends; it must match
// api/v1alpha1.PodWeightAnnotation.
const weightAnnotation = "clbind.io/weight"

// TargetType says what a binding registers for each backend.
type TargetType string

const (
	// TargetTypePod registers each endpoint's pod IP as an ENI IP with the endpoint port.
	TargetTypePod TargetType = "Pod"
	// TargetTypeNode registers each eligible node's CVM instance with the Service nodePort.
	TargetTypeNode TargetType = "Node"
)

// Binding is the part of a CLBBackendBinding that decides its desired targets. The targets it
// gives carry no listener, rule or tag: the load balancer's worker fills in the listener and rule
// once it has resolved them, and Diff writes the tag.
type Binding struct {
	// Name is the binding name; the readiness gate is health.clbind.io/<Name>.
	Name       string
	TargetType TargetType
	// ServicePort is the Service port by number (spec.ports[].port) or by name.
	ServicePort intstr.IntOrString
	// Weight of every serving target, 0 to 100, unless its pod's clbind.io/weight annotation
	// says otherwise (pod targets only).
	Weight int64
	// Drain is how long a terminating target stays at weight 0 before it is deregistered.
	Drain time.Duration
	// ReadinessGate is true when pods carry the binding's readiness gate; then a pod held back
	// only by that gate is registered, or gate and registration would wait on each other.
	ReadinessGate bool
	// NodeSelector limits Node targets; nil selects every node.
	NodeSelector labels.Selector
	// MakeBeforeBreak bounds how long backends the Service no longer selects, whose pods still run
	// and are ready, keep serving while their replacements become healthy (retire.go); 0 removes
	// them at once.
	MakeBeforeBreak time.Duration
	// KeepNotReady keeps the target of an endpoint that is not ready and not terminating at weight
	// 0 instead of leaving it out (spec.notReadyBackends KeepAtWeightZero), unless its pod carries
	// the binding's readiness gate and the gate is not True. Pod targets only.
	KeepNotReady bool
	// SlowStart is true when the binding warms new backends up: serving pod targets carry when
	// their pod became ready (Target.ReadySince).
	SlowStart bool
}

// PodInfo is what Desired needs to know of a pod: the slim copy a pod informer keeps.
type PodInfo struct {
	Name string
	UID  types.UID
	// Terminating is true once the pod has a deletionTimestamp.
	Terminating bool
	// ContainersReady is the pod's ContainersReady condition, and ReadySince when it last turned
	// True (zero while it is not).
	ContainersReady bool
	ReadySince      time.Time
	// ReadinessGates maps the condition type of each spec.readinessGates entry to whether that
	// condition is True.
	ReadinessGates map[string]bool
	// WeightAnnotation is the pod's clbind.io/weight annotation as written, and
	// HasWeightAnnotation whether the pod has it at all.
	WeightAnnotation    string
	HasWeightAnnotation bool
}

// PodInfoFromPod extracts the PodInfo of pod.
func PodInfoFromPod(pod *corev1.Pod) PodInfo {
	info := PodInfo{
		Name:           pod.Name,
		UID:            pod.UID,
		Terminating:    pod.DeletionTimestamp != nil,
		ReadinessGates: make(map[string]bool, len(pod.Spec.ReadinessGates)),
	}
	info.WeightAnnotation, info.HasWeightAnnotation = pod.Annotations[weightAnnotation]
	for _, gate := range pod.Spec.ReadinessGates {
		info.ReadinessGates[string(gate.ConditionType)] = false
	}
	for _, c := range pod.Status.Conditions {
		isTrue := c.Status == corev1.ConditionTrue
		if c.Type == corev1.ContainersReady {
			info.ContainersReady = isTrue
			if isTrue {
				info.ReadySince = c.LastTransitionTime.Time
			}
		}
		if _, gated := info.ReadinessGates[string(c.Type)]; gated {
			info.ReadinessGates[string(c.Type)] = isTrue
		}
	}
	return info
}

// Input is everything Desired reads. It is not modified.
type Input struct {
	Binding Binding
	Service *corev1.Service
	// EndpointSlices of the Service (label kubernetes.io/service-name); others are ignored.
	EndpointSlices []discoveryv1.EndpointSlice
	// Pods of the Service's endpoints by name, from the binding's namespace. A terminating
	// endpoint whose pod is missing here (or has another UID) is gone and is not drained.
	Pods map[string]PodInfo
	// Nodes of the cluster; read for Node targets only.
	Nodes []corev1.Node
	// DrainingSince is Result.DrainingSince of the previous call: when each terminating target
	// was first seen terminating. Nil on the first call.
	DrainingSince map[Key]time.Time
	Now           time.Time
	// Memory is Result.Memory of the previous call (make before break).
	Memory Memory
	// LookupPod finds a pod of the binding's namespace by name, for pods the Service no longer
	// lists; nil finds none.
	LookupPod func(name string) (PodInfo, bool)
	// Healthy reports whether the CLB finds the backend ip:port healthy; nil knows of none.
	Healthy func(ip string, port int64) bool
}

// weight is the weight of the pod's serving targets: its clbind.io/weight annotation, or the
// binding's weight when it has none. invalid reports an annotation that is not a whole number
// from 0 to 100, which is ignored.
func weight(b Binding, pod PodInfo) (w int64, invalid bool) {
	if !pod.HasWeightAnnotation {
		return b.Weight, false
	}
	w, err := strconv.ParseInt(strings.TrimSpace(pod.WeightAnnotation), 10, 64)
	if err != nil || w < 0 || w > 100 {
		return b.Weight, true
	}
	return w, false
}

// InvalidWeight is a pod whose clbind.io/weight annotation is not a whole number from 0 to 100:
// its backends get the binding's weight.
type InvalidWeight struct {
	Pod string
	UID types.UID
	// Value is the annotation as written.
	Value string
}

// Result is the desired state of a binding.
type Result struct {
	// Targets are the desired targets, sorted by key; terminating ones have Draining set and
	// weight 0.
	Targets []Target
	// DrainingSince is when each terminating target was first seen terminating; pass it back as
	// Input.DrainingSince. It keeps a target after its drain ends, for as long as it stays
	// terminating, so that it is not drained a second time.
	DrainingSince map[Key]time.Time
	// RequeueAt is the next drain deadline, when Desired must run again; zero if none.
	RequeueAt time.Time
	// Skipped explains objects left out that the user may want to know about, such as a node
	// whose provider ID is not a CVM.
	Skipped []error
	// Memory is passed back as Input.Memory.
	Memory Memory
	// Switch describes backends kept while their replacements become healthy.
	Switch Switch
	// InvalidWeights are the pods with a target whose clbind.io/weight annotation was ignored,
	// sorted by name.
	InvalidWeights []InvalidWeight
}

// Desired computes the targets the binding wants. An error means the whole set is unknown (for
// example the Service port does not exist); the caller must not deregister on it.
func Desired(in Input) (Result, error) {
	if in.Service == nil {
		return Result{}, errors.New("service is missing")
	}
	port, err := servicePort(in.Service, in.Binding.ServicePort)
	if err != nil {
		return Result{}, err
	}
	switch in.Binding.TargetType {
	case TargetTypePod:
		return podTargets(in, port), nil
	case TargetTypeNode:
		return nodeTargets(in, port)
	default:
		return Result{}, fmt.Errorf("binding %s: unknown target type %q", in.Binding.Name, in.Binding.TargetType)
	}
}

// servicePort finds the Service port a binding refers to. A number must be unambiguous: a
// Service may expose the same port over TCP and UDP under two names.
func servicePort(svc *corev1.Service, ref intstr.IntOrString) (corev1.ServicePort, error) {
	var found []corev1.ServicePort
	for _, sp := range svc.Spec.Ports {
		if (ref.Type == intstr.Int && sp.Port == ref.IntVal) || (ref.Type == intstr.String && sp.Name == ref.StrVal) {
			found = append(found, sp)
		}
	}
	switch len(found) {
	case 0:
		return corev1.ServicePort{}, fmt.Errorf("service %s has no port %s", svc.Name, ref.String())
	case 1:
		return found[0], nil
	default:
		return corev1.ServicePort{}, fmt.Errorf("service %s port %s is ambiguous: refer to it by name", svc.Name, ref.String())
	}
}

// slicePort returns the port of slice that carries the Service port sp. The EndpointSlice
// controller names slice ports after the Service port and resolves targetPort into them.
func slicePort(slice *discoveryv1.EndpointSlice, sp corev1.ServicePort) (int64, bool) {
	for _, p := range slice.Ports {
		if p.Port == nil || deref(p.Name, "") != sp.Name || deref(p.Protocol, corev1.ProtocolTCP) != protocol(sp) {
			continue
		}
		return int64(*p.Port), true
	}
	return 0, false
}

func protocol(sp corev1.ServicePort) corev1.Protocol {
	if sp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return sp.Protocol
}

// endpointState is what an endpoint means for the CLB.
type endpointState int

const (
	// endpointSkipped endpoints get no target.
	endpointSkipped endpointState = iota
	// endpointServing endpoints get a target at the binding's weight.
	endpointServing
	// endpointTerminating endpoints keep their target at weight 0 while the drain lasts.
	endpointTerminating
	// endpointNotReady endpoints are not ready and not terminating; with Binding.KeepNotReady they
	// keep a target at weight 0. Only pod targets classify endpoints so.
	endpointNotReady
)

// classifier decides the state of each endpoint of one binding.
type classifier struct {
	pods map[string]PodInfo
	// gate is the binding's readiness gate condition type; empty when gates are off.
	gate string
	// podMustExist drops terminating endpoints whose pod is gone: with pod targets there is
	// nothing left to drain.
	podMustExist bool
	// keepNotReady classifies not-ready endpoints as endpointNotReady rather than skipped.
	keepNotReady bool
}

func newClassifier(in Input, podMustExist bool) classifier {
	c := classifier{pods: in.Pods, podMustExist: podMustExist}
	if in.Binding.ReadinessGate {
		c.gate = readinessGatePrefix + in.Binding.Name
	}
	return c
}

func (c classifier) state(ep *discoveryv1.Endpoint) endpointState {
	pod, podFound := c.pod(ep)
	if deref(ep.Conditions.Terminating, false) || (podFound && pod.Terminating) {
		if c.podMustExist && !podFound {
			return endpointSkipped
		}
		return endpointTerminating
	}
	// Unknown readiness counts as ready, as the EndpointSlice API asks consumers to.
	if deref(ep.Conditions.Ready, true) {
		return endpointServing
	}
	if podFound && c.heldOnlyByGate(pod) {
		return endpointServing
	}
	// A pod whose gate has not passed yet waits for its containers and registers at full weight
	// (above): at weight 0 it could pass the CLB health check and turn Ready with no weight.
	if c.keepNotReady && (!podFound || !c.gatePending(pod)) {
		return endpointNotReady
	}
	return endpointSkipped
}

// pod looks up the pod behind ep, checking the UID so that a re-created pod of the same name
// (a StatefulSet's) is not taken for the old one.
func (c classifier) pod(ep *discoveryv1.Endpoint) (PodInfo, bool) {
	ref := ep.TargetRef
	if !isPodRef(ref) {
		return PodInfo{}, false
	}
	pod, ok := c.pods[ref.Name]
	if !ok || (ref.UID != "" && pod.UID != ref.UID) {
		return PodInfo{}, false
	}
	return pod, true
}

// heldOnlyByGate reports whether pod would be Ready but for the binding's own readiness gate and
// the gates of other bindings: a pod that two bindings select (a canary's stable and canary
// Services both select the stable pods; a Service bound on two listeners) carries both gates, and
// each binding must register it for the other's gate to pass. Another product's gate is waited
// for.
func (c classifier) heldOnlyByGate(pod PodInfo) bool {
	if c.gate == "" || !pod.ContainersReady || pod.Terminating {
		return false
	}
	if _, gated := pod.ReadinessGates[c.gate]; !gated {
		return false
	}
	for condType, isTrue := range pod.ReadinessGates {
		if !isTrue && !strings.HasPrefix(condType, readinessGatePrefix) {
			return false
		}
	}
	return true
}

// gatePending reports whether pod carries the binding's readiness gate and it is not True.
func (c classifier) gatePending(pod PodInfo) bool {
	isTrue, gated := pod.ReadinessGates[c.gate]
	return c.gate != "" && gated && !isTrue
}

// drainClock tracks when terminating targets started to drain.
type drainClock struct {
	now   time.Time
	drain time.Duration
	prev  map[Key]time.Time
	since map[Key]time.Time
}

func newDrainClock(in Input) *drainClock {
	return &drainClock{now: in.Now, drain: in.Binding.Drain, prev: in.DrainingSince, since: map[Key]time.Time{}}
}

// keep records k as terminating and reports whether it is still within its drain delay.
func (d *drainClock) keep(k Key) bool {
	since, seen := d.prev[k]
	if !seen || since.After(d.now) {
		since = d.now
	}
	d.since[k] = since
	return d.now.Before(d.end(k))
}

func (d *drainClock) end(k Key) time.Time {
	return d.since[k].Add(d.drain)
}

// targetSet collects desired targets, merging duplicates the way Diff does.
type targetSet map[Key]Target

func (s targetSet) add(t Target) {
	if old, ok := s[t.Key]; ok && !preferServing(t, old) {
		return
	}
	s[t.Key] = t
}

// addEndpoint adds the target of one endpoint in its state.
func (s targetSet) addEndpoint(t Target, st endpointState, clock *drainClock) {
	switch st {
	case endpointServing:
		s.add(t)
	case endpointTerminating:
		if clock.keep(t.Key) {
			t.Weight, t.Draining = 0, true
			s.add(t)
		}
	case endpointNotReady:
		t.Weight = 0
		s.add(t)
	}
}

// result turns the set into a Result. A key that ended up serving (listed again by another
// slice) forgets its drain start.
func (s targetSet) result(clock *drainClock, skipped []error) Result {
	r := Result{Targets: make([]Target, 0, len(s)), DrainingSince: clock.since, Skipped: skipped}
	for _, k := range sortedKeys(s) {
		t := s[k]
		r.Targets = append(r.Targets, t)
		if _, terminating := clock.since[k]; !t.Draining || !terminating {
			delete(clock.since, k) // serving, retiring, or let go by make before break (retire.go)
			continue
		}
		if end := clock.end(k); r.RequeueAt.IsZero() || end.Before(r.RequeueAt) {
			r.RequeueAt = end
		}
	}
	return r
}

// podTargets computes pod IP targets from the Service's IPv4 EndpointSlices. Each pod's weight is
// its clbind.io/weight annotation, or the binding's; terminating and (with KeepNotReady) not-ready
// pods get 0 whatever it says.
func podTargets(in Input, sp corev1.ServicePort) Result {
	b := in.Binding
	classify := newClassifier(in, true)
	classify.keepNotReady = b.KeepNotReady
	clock := newDrainClock(in)
	set := targetSet{}
	refs := map[Key]PodRef{}
	invalid := map[string]InvalidWeight{}
	for i := range in.EndpointSlices {
		slice := &in.EndpointSlices[i]
		if !ownSlice(slice, in.Service) || slice.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		port, ok := slicePort(slice, sp)
		if !ok {
			continue
		}
		for j := range slice.Endpoints {
			ep := &slice.Endpoints[j]
			ip, ok := endpointIPv4(ep)
			if !ok || !isPodRef(ep.TargetRef) {
				continue
			}
			st := classify.state(ep)
			t := Target{Key: Key{EniIP: ip, Port: port}, Weight: b.Weight}
			if pod, found := classify.pod(ep); found && (st == endpointServing || st == endpointNotReady) {
				var bad bool
				if t.Weight, bad = weight(b, pod); bad {
					invalid[pod.Name] = InvalidWeight{Pod: pod.Name, UID: pod.UID, Value: pod.WeightAnnotation}
				}
				if b.SlowStart && st == endpointServing {
					t.ReadySince = pod.ReadySince
				}
			}
			set.addEndpoint(t, st, clock)
			// Only serving targets may retire (make before break): a not-ready one leaves with its
			// endpoint, as it would without KeepNotReady.
			if st == endpointServing {
				refs[t.Key] = PodRef{Name: ep.TargetRef.Name, UID: ep.TargetRef.UID}
			}
		}
	}
	var r Result
	set.retire(in, refs, &r)
	res := set.result(clock, nil)
	res.Memory, res.Switch = r.Memory, r.Switch
	for _, name := range slices.Sorted(maps.Keys(invalid)) {
		res.InvalidWeights = append(res.InvalidWeights, invalid[name])
	}
	if !r.RequeueAt.IsZero() {
		res.requeue(r.RequeueAt)
	}
	return res
}

func isPodRef(ref *corev1.ObjectReference) bool {
	return ref != nil && ref.Kind == podKind
}

func ownSlice(slice *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	return slice.Namespace == svc.Namespace && slice.Labels[discoveryv1.LabelServiceName] == svc.Name
}

// endpointIPv4 returns the endpoint's address in canonical form; consumers use the first one.
func endpointIPv4(ep *discoveryv1.Endpoint) (string, bool) {
	if len(ep.Addresses) == 0 {
		return "", false
	}
	addr, err := netip.ParseAddr(ep.Addresses[0])
	if err != nil || !addr.Is4() {
		return "", false
	}
	return addr.String(), true
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
