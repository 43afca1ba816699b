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
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Explanation is the chain from a pod to its readiness gates, in sentences.
type Explanation struct {
	// Summary is the first line: the pod and whether it is Ready.
	Summary string
	// Sections are per Service and binding, each a heading and its sentences.
	Sections []Section
	// Next is the one thing to do, for the first thing wrong along the chain; empty when
	// nothing is.
	Next string
	// Waiting is true when nothing is wrong but the pod is not Ready yet.
	Waiting bool
}

// Section is one binding's part of an Explanation (or the pod's Services).
type Section struct {
	Heading string
	Lines   []string
}

// registrationExpected is how long a backend may stay unregistered under a Ready binding before
// the plugin calls it a problem: the controller registers within seconds.
const registrationExpected = time.Minute

// explainer collects sentences and keeps the first next step.
type explainer struct {
	e   Explanation
	now time.Time
}

func (x *explainer) next(s string) {
	if x.e.Next == "" {
		x.e.Next = s
	}
}

// Why explains the pod named podName in s.
func Why(s *Snapshot, podName string, now time.Time) (Explanation, error) {
	idx := slices.IndexFunc(s.Pods, func(p corev1.Pod) bool { return p.Name == podName })
	if idx < 0 {
		return Explanation{}, fmt.Errorf("pod %s/%s not found", s.Namespace, podName)
	}
	pod := &s.Pods[idx]
	x := &explainer{now: now}
	x.e.Summary = x.podSummary(pod)

	var selecting []string
	for name, svc := range s.Services {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			selecting = append(selecting, name)
		}
	}
	slices.Sort(selecting)
	var bindings []*networkingv1alpha1.CLBBackendBinding
	for i := range s.Bindings {
		b := &s.Bindings[i]
		if slices.Contains(selecting, b.Spec.ServiceRef.Name) || carriesGate(pod, networkingv1alpha1.ReadinessGateConditionType(b.Name)) {
			bindings = append(bindings, b)
		}
	}
	slices.SortFunc(bindings, func(a, b *networkingv1alpha1.CLBBackendBinding) int { return strings.Compare(a.Name, b.Name) })

	stray := x.strayGates(s, pod)
	services := Section{Heading: "Services"}
	switch {
	case len(selecting) == 0:
		services.Lines = append(services.Lines, fmt.Sprintf("No Service of namespace %s selects the pod, so no binding registers it.", s.Namespace))
		if len(bindings) > 0 {
			break // the pod carries the gate of a binding: its section says what is wrong
		}
		x.next(fmt.Sprintf("give the pod the labels of the Service a CLBBackendBinding refers to (kubectl -n %s get cbb shows which), or create that Service", s.Namespace))
	default:
		services.Lines = append(services.Lines, fmt.Sprintf("Selected by Service %s.", strings.Join(selecting, ", ")))
		if len(bindings) == 0 {
			services.Lines = append(services.Lines, fmt.Sprintf("No CLBBackendBinding of namespace %s refers to %s.", s.Namespace, plural(len(selecting), "it", "them")))
			x.next(fmt.Sprintf("create a CLBBackendBinding with spec.serviceRef.name %s (see config/samples)", selecting[0]))
		}
	}
	x.e.Sections = append(x.e.Sections, services)
	for _, b := range bindings {
		x.e.Sections = append(x.e.Sections, x.binding(s, pod, b, slices.Contains(selecting, b.Spec.ServiceRef.Name)))
	}
	x.e.Sections = append(x.e.Sections, stray...)
	x.e.Waiting = !podReady(pod) && pod.DeletionTimestamp == nil
	if !podReady(pod) && pod.DeletionTimestamp == nil && x.e.Next == "" && !containersReady(pod) {
		x.next(fmt.Sprintf("the pod's containers are not ready: kubectl -n %s describe pod %s (readiness probe, crashes)", pod.Namespace, pod.Name))
	}
	return x.e, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (x *explainer) podSummary(pod *corev1.Pod) string {
	where := []string{}
	if pod.Spec.NodeName != "" {
		where = append(where, "node "+pod.Spec.NodeName)
	}
	if pod.Status.PodIP != "" {
		where = append(where, "IP "+pod.Status.PodIP)
	}
	head := fmt.Sprintf("Pod %s/%s", pod.Namespace, pod.Name)
	if len(where) > 0 {
		head += " (" + strings.Join(where, ", ") + ")"
	}
	if pod.DeletionTimestamp != nil {
		return head + " is terminating."
	}
	var ready, containers *corev1.PodCondition
	for i := range pod.Status.Conditions {
		switch c := &pod.Status.Conditions[i]; c.Type {
		case corev1.PodReady:
			ready = c
		case corev1.ContainersReady:
			containers = c
		}
	}
	if ready != nil && ready.Status == corev1.ConditionTrue {
		return head + " is Ready."
	}
	var held []string
	for _, g := range pod.Spec.ReadinessGates {
		st := "not set"
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType {
				st = string(c.Status)
			}
		}
		if st != string(corev1.ConditionTrue) {
			held = append(held, fmt.Sprintf("readiness gate %s is %s", g.ConditionType, st))
		}
	}
	if containers == nil || containers.Status != corev1.ConditionTrue {
		held = append([]string{"its containers are not ready"}, held...)
	}
	if len(held) == 0 {
		return head + " is not Ready."
	}
	return head + " is not Ready: " + strings.Join(held, "; ") + "."
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func carriesGate(pod *corev1.Pod, gate string) bool {
	return slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return string(g.ConditionType) == gate })
}

// restart is the command that recreates the pod's workload, or the pod itself.
func restart(s *Snapshot, pod *corev1.Pod) string {
	if w := s.Workloads[pod.Name]; w != "" && !strings.HasPrefix(w, "replicaset/") {
		return fmt.Sprintf("kubectl -n %s rollout restart %s", pod.Namespace, w)
	}
	return fmt.Sprintf("kubectl -n %s delete pod %s (its controller creates it again)", pod.Namespace, pod.Name)
}

func (x *explainer) binding(s *Snapshot, pod *corev1.Pod, b *networkingv1alpha1.CLBBackendBinding, selected bool) Section {
	v := view(s, b, x.now)
	sec := Section{Heading: fmt.Sprintf("CLBBackendBinding %s: Service %s → %s of %s (%s targets)", b.Name, v.Service, v.Where, v.LoadBalancerID, v.TargetType)}
	add := func(format string, a ...any) { sec.Lines = append(sec.Lines, fmt.Sprintf(format, a...)) }
	switch {
	case selected:
	case s.Services[b.Spec.ServiceRef.Name] == nil:
		add("The pod carries this binding's gate, but Service %s does not exist.", b.Spec.ServiceRef.Name)
	default:
		add("The pod carries this binding's gate, but Service %s no longer selects it: the controller deregisters it.", b.Spec.ServiceRef.Name)
	}

	// 1. The binding itself.
	x.bindingState(b, v, add)

	// 2. The gate on the pod.
	gate := networkingv1alpha1.ReadinessGateConditionType(b.Name)
	switch {
	case !wantsGate(b):
		add("The binding has no readiness gate (%s), so the pod's readiness does not wait for the CLB.", noGateWhy(b))
	case carriesGate(pod, gate):
		add("The pod carries the readiness gate %s.", gate)
	default:
		x.missingGate(s, pod, b, gate, add)
	}

	// 3. The backend and the CLB's health of it.
	row := slices.IndexFunc(v.Backends, func(r Backend) bool { return r.Pod == pod.Name })
	if targetType(b) == networkingv1alpha1.TargetTypeNode {
		// Node targets are the nodes' instances: the pod's is its node's.
		row = slices.IndexFunc(v.Backends, func(r Backend) bool { return r.Node != "" && r.Node == pod.Spec.NodeName })
	}
	if row < 0 {
		x.noBackend(pod, b, v, add)
	} else {
		x.backend(pod, b, v, v.Backends[row], add)
	}

	// 4. The gate's state.
	if wantsGate(b) && carriesGate(pod, gate) {
		c := gateOf(pod, gate)
		line := fmt.Sprintf("The gate is %s", c.Status)
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		if !c.Since.IsZero() {
			line += fmt.Sprintf(" since %s (%s ago)", stamp(c.Since), age(c.Since, x.now))
		}
		if c.Message != "" {
			line += ": " + c.Message
		}
		add("%s.", strings.TrimSuffix(line, "."))
		if c.Status != string(corev1.ConditionTrue) && c.Reason == networkingv1alpha1.GateHealthCheckPendingReason {
			x.next(fmt.Sprintf("wait for the CLB's health check of %s (interval × healthy threshold); if it stays Unknown, check the health-check settings of %s (kubectl -n %s get clbh %s -o yaml)",
				v.Backends[max(row, 0)].Address, v.Where, b.Namespace, b.Name))
		}
	}
	return sec
}

func noGateWhy(b *networkingv1alpha1.CLBBackendBinding) string {
	switch {
	case targetType(b) == networkingv1alpha1.TargetTypeNode:
		return "Node targets register nodes, not pods"
	case !b.DeletionTimestamp.IsZero():
		return "it is being deleted"
	default:
		return "spec.readinessGate is false"
	}
}

// bindingState says whether the binding is Ready and what to do when it is stuck.
func (x *explainer) bindingState(b *networkingv1alpha1.CLBBackendBinding, v BindingView, add func(string, ...any)) {
	r := v.Ready
	if r.Status == string(corev1.ConditionTrue) {
		add("The binding is Ready (%s).", r.Reason)
		return
	}
	line := fmt.Sprintf("The binding is not Ready (%s", r.Reason)
	if !r.Since.IsZero() {
		line += fmt.Sprintf(" for %s", age(r.Since, x.now))
	}
	add("%s): %s.", line, strings.TrimSuffix(r.Message, "."))
	describe := fmt.Sprintf("kubectl -n %s describe cbb %s", b.Namespace, b.Name)
	switch r.Reason {
	case networkingv1alpha1.BindingProgressingReason, networkingv1alpha1.BindingSwitchingReason:
		// Moving: nothing to do yet.
	case networkingv1alpha1.BindingForbiddenReason:
		x.next(fmt.Sprintf("ask a cluster administrator for a CLBBindingPolicy that allows namespace %s to bind %s (kubectl get cbp lists the policies); nothing is written to the CLB for this binding until then",
			b.Namespace, b.Spec.LoadBalancerID))
	case networkingv1alpha1.BindingCloudErrorReason:
		x.next(fmt.Sprintf("the CLB API keeps failing for this binding; the message above has the cloud's code and request ID, %s shows the Warning Events, and the manager's logs and credentials are the place to look",
			describe))
	case "NoStatus":
		x.next("the controller has not written this binding's status: check that the manager runs (kubectl -n clb-binding-controller-system get pods) and its logs")
	case networkingv1alpha1.BindingOwnershipConflictReason:
		x.next("another manager uses the same --cluster-id: give each cluster's manager its own")
	case networkingv1alpha1.BindingQuotaExceededReason:
		x.next(fmt.Sprintf("raise the CLB's backend quota (TOTAL_TARGET_BIND_QUOTA) of %s, or bind fewer backends there", v.Where))
	case networkingv1alpha1.BindingDeletingReason:
		x.next(fmt.Sprintf("the binding is being deleted; %s shows what holds it up", describe))
	default:
		x.next(fmt.Sprintf("fix the binding's spec or what it refers to, as the message says (%s)", describe))
	}
}

func (x *explainer) missingGate(s *Snapshot, pod *corev1.Pod, b *networkingv1alpha1.CLBBackendBinding, gate string, add func(string, ...any)) {
	ns := s.NamespaceObject
	line := fmt.Sprintf("The pod does not carry the readiness gate %s, so it turns Ready without waiting for the CLB", gate)
	switch {
	case ns != nil && ns.Labels[networkingv1alpha1.InjectReadinessGateLabel] != networkingv1alpha1.InjectReadinessGateEnabled:
		add("%s: namespace %s is not opted in (it lacks the label %s=%s).", line, s.Namespace,
			networkingv1alpha1.InjectReadinessGateLabel, networkingv1alpha1.InjectReadinessGateEnabled)
		x.next(fmt.Sprintf("kubectl label namespace %s %s=%s, then %s, so the pods are created again with the gate",
			s.Namespace, networkingv1alpha1.InjectReadinessGateLabel, networkingv1alpha1.InjectReadinessGateEnabled, restart(s, pod)))
	case pod.CreationTimestamp.Before(&b.CreationTimestamp):
		add("%s: the pod was created (%s) before the binding (%s), and the webhook adds gates only to pods being created.", line,
			stamp(pod.CreationTimestamp.Time), stamp(b.CreationTimestamp.Time))
		x.next(restart(s, pod) + ", so the pod is created again with the gate")
	case pod.CreationTimestamp.Equal(&b.CreationTimestamp):
		add("%s: the pod was created in the same second as the binding (%s), before the webhook knew of the binding; it adds gates only to pods being created.",
			line, stamp(b.CreationTimestamp.Time))
		x.next(restart(s, pod) + ", so the pod is created again with the gate")
	case ns == nil:
		add("%s; whether namespace %s is opted in is unknown (it could not be read).", line, s.Namespace)
		x.next(fmt.Sprintf("check that namespace %s has the label %s=%s, then %s", s.Namespace,
			networkingv1alpha1.InjectReadinessGateLabel, networkingv1alpha1.InjectReadinessGateEnabled, restart(s, pod)))
	default:
		add("%s, although namespace %s is opted in and the binding is older than the pod: the namespace was labelled after the pod was created, or the webhook did not run (it fails open).",
			line, s.Namespace)
		x.next(fmt.Sprintf("%s; if the new pod still lacks the gate, check the manager's webhook (kubectl get mutatingwebhookconfigurations, the manager's logs)", restart(s, pod)))
	}
}

func (x *explainer) noBackend(pod *corev1.Pod, b *networkingv1alpha1.CLBBackendBinding, v BindingView, add func(string, ...any)) {
	switch {
	case v.Unknown:
		add("The pod has no backend: %s.", strings.TrimPrefix(v.Notes[0], "backends unknown: "))
	case targetType(b) == networkingv1alpha1.TargetTypeNode:
		add("The binding registers nodes; node %s has no backend on %s (the node is not Ready, not selected by spec.nodeSelector, or not a CVM).", dash(pod.Spec.NodeName), v.Where)
	default:
		add("The pod has no backend on %s.", v.Where)
	}
}

func (x *explainer) backend(pod *corev1.Pod, b *networkingv1alpha1.CLBBackendBinding, v BindingView, r Backend, add func(string, ...any)) {
	if r.Address == "-" {
		if r.State == StateNotReady {
			add("The pod has no backend yet: its containers are not ready, and the controller registers a pod once they are.")
			x.next(fmt.Sprintf("the pod's containers are not ready: kubectl -n %s describe pod %s (readiness probe, crashes)", pod.Namespace, pod.Name))
			return
		}
		add("The pod has no backend: the Service's EndpointSlices do not list it on port %s.", b.Spec.ServiceRef.Port.String())
		x.next(fmt.Sprintf("check that Service %s's port %s matches a port of the pod (kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s)",
			b.Spec.ServiceRef.Name, b.Spec.ServiceRef.Port.String(), pod.Namespace, b.Spec.ServiceRef.Name))
		return
	}
	weight := ""
	if r.Weight != nil {
		weight = fmt.Sprintf(" (weight %d)", *r.Weight)
	}
	state := ""
	switch r.State {
	case StateDraining:
		state = ", draining at weight 0 because the pod is terminating"
	case StateLeaving:
		state = ", and the controller is removing it because the Service no longer wants it"
	case StateNotReady:
		state = ", while the pod's containers are not ready"
	}
	since := func() string {
		if r.HealthSince.IsZero() {
			return ""
		}
		return fmt.Sprintf(" since %s (%s ago)", stamp(r.HealthSince), age(r.HealthSince, x.now))
	}
	switch r.Health {
	case HealthNotRegistered:
		add("Backend %s%s is wanted on %s of %s but not registered yet%s.", r.Address, weight, v.Where, v.LoadBalancerID, state)
		if c := gateOf(pod, networkingv1alpha1.ReadinessGateConditionType(b.Name)); v.Ready.Status == string(corev1.ConditionTrue) &&
			x.now.Sub(cmp.Or(c.Since, pod.CreationTimestamp.Time)) > registrationExpected {
			x.next(fmt.Sprintf("the binding says it is synced but the last health poll does not list %s: wait for the next poll, then %s",
				r.Address, fmt.Sprintf("kubectl -n %s describe cbb %s", b.Namespace, b.Name)))
		}
	case HealthNotProbed:
		add("Backend %s%s is wanted on %s of %s%s; the controller has not read the CLB's health view yet.", r.Address, weight, v.Where, v.LoadBalancerID, state)
	case HealthNotListed:
		add("Backend %s%s is wanted on %s of %s%s; the CLBHealth lists only %d backends, and not this one (the counts say %s healthy).",
			r.Address, weight, v.Where, v.LoadBalancerID, state, networkingv1alpha1.MaxBackendsListed, v.Health)
	default:
		registered := ""
		if !r.RegisteredSince.IsZero() {
			registered = fmt.Sprintf(" since %s (%s ago)", stamp(r.RegisteredSince), age(r.RegisteredSince, x.now))
		}
		add("Backend %s%s is registered on %s of %s%s%s.", r.Address, weight, v.Where, v.LoadBalancerID, registered, state)
		switch r.Health {
		case "Alive":
			add("The CLB reports it healthy (Alive)%s.", since())
		case "Close":
			add("The CLB does not check its health (Close: the health check is off)%s.", since())
		case "Dead":
			add("The CLB's health check fails for it (Dead)%s.", since())
			what := "the pod"
			if targetType(b) == networkingv1alpha1.TargetTypeNode {
				what = fmt.Sprintf("node %s (the Service's nodePort, through kube-proxy)", dash(r.Node))
			}
			x.next(fmt.Sprintf("make %s answer the CLB's health check on %s (the settings are those of %s; kubectl -n %s get clbh %s -o yaml shows spec.healthCheck), or set the CLBHealth's spec.timeoutSeconds to fail open",
				what, r.Address, v.Where, b.Namespace, b.Name))
		default:
			add("The CLB has not judged it yet (%s)%s.", r.Health, since())
		}
	}
}

// strayGates explains gates of this controller on the pod whose binding does not exist.
func (x *explainer) strayGates(s *Snapshot, pod *corev1.Pod) []Section {
	var out []Section
	for _, g := range pod.Spec.ReadinessGates {
		name, ok := strings.CutPrefix(string(g.ConditionType), networkingv1alpha1.ReadinessGatePrefix)
		if !ok || slices.ContainsFunc(s.Bindings, func(b networkingv1alpha1.CLBBackendBinding) bool { return b.Name == name }) {
			continue
		}
		c := gateOf(pod, string(g.ConditionType))
		sec := Section{Heading: "Readiness gate " + string(g.ConditionType)}
		sec.Lines = append(sec.Lines, fmt.Sprintf("No CLBBackendBinding %s exists in namespace %s; the gate is %s (%s): the controller releases it after a short grace, or once the binding is deleted.",
			name, s.Namespace, c.Status, dash(c.Reason)))
		if c.Status != string(corev1.ConditionTrue) {
			x.next(fmt.Sprintf("create CLBBackendBinding %s, or wait for the controller to release the gate (check that the manager runs)", name))
		}
		out = append(out, sec)
	}
	return out
}

// RenderWhy writes the explanation as plain text.
func RenderWhy(w io.Writer, e Explanation) error {
	var sb strings.Builder
	sb.WriteString(e.Summary + "\n")
	for _, s := range e.Sections {
		sb.WriteString("\n" + s.Heading + ":\n")
		for _, l := range s.Lines {
			sb.WriteString("  " + l + "\n")
		}
	}
	if e.Next != "" {
		sb.WriteString("\nNext: " + e.Next + "\n")
	} else if e.Waiting {
		sb.WriteString("\nNothing to fix yet: the controller and the CLB are still working on this pod; run this again in a few seconds.\n")
	} else {
		sb.WriteString("\nNothing to do: every step of the chain is as it should be.\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
