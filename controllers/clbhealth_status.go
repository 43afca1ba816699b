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
	"cmp"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// maxUnhealthyListed caps status.unhealthyTargets (the CRD allows 50).
const maxUnhealthyListed = 50

// gateInput is what decides one pod's readiness gate.
type gateInput struct {
	// registered is true when the CLB lists the pod as a backend of the binding's listener/rule.
	registered bool
	health     clb.TargetHealth
	policy     networkingv1alpha1.ReadinessPolicy
	current    *corev1.PodCondition
	// waitedTooLong is true when the pod has been registered for longer than timeoutSeconds.
	waitedTooLong bool
	where         string // "listener lbl-… of lb-…", for messages
}

// gateCondition decides the pod condition of a binding's readiness gate.
func gateCondition(in gateInput) (corev1.ConditionStatus, string, string) {
	if in.policy != networkingv1alpha1.ReadinessPolicyFollowHealth && in.current != nil && in.current.Status == corev1.ConditionTrue {
		return corev1.ConditionTrue, in.current.Reason, in.current.Message // OnceHealthy latches
	}
	switch {
	case !in.registered:
		return corev1.ConditionFalse, networkingv1alpha1.GateRegistrationPendingReason,
			"waiting for the pod to be registered on " + in.where
	case in.health.Detail == clb.HealthAlive || in.health.Detail == clb.HealthClose:
		msg := "registered on " + in.where + " and healthy"
		if in.health.Detail == clb.HealthClose {
			msg = "registered on " + in.where + "; its health check is off"
		}
		return corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason, msg
	case in.waitedTooLong:
		return corev1.ConditionTrue, networkingv1alpha1.GateHealthCheckTimeoutReason,
			"the CLB did not report the pod healthy within spec.timeoutSeconds of its CLBHealth; failing open"
	case in.health.Detail == clb.HealthDead:
		return corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason,
			"the CLB health check of " + in.where + " fails for this pod"
	default:
		return corev1.ConditionFalse, networkingv1alpha1.GateHealthCheckPendingReason,
			"registered on " + in.where + "; waiting for the CLB health check to pass"
	}
}

// registration is when a gated pod was first seen registered on its binding's listener or rule.
// timed is true when its gate said, until then, that it waited for its registration: the time
// from then to its gate turning True is its gate latency. A pod this manager first sees already
// registered (registered before a restart, or again after its gate turned False) is not timed.
type registration struct {
	at    time.Time
	timed bool
}

// awaitedRegistration reports whether a gate condition says the pod is not registered yet (or
// has none written yet), so that seeing it registered now is seeing its registration.
func awaitedRegistration(current *corev1.PodCondition) bool {
	if current == nil {
		return true
	}
	return current.Status != corev1.ConditionTrue && (current.Reason == networkingv1alpha1.GateRegistrationPendingReason ||
		current.Reason == networkingv1alpha1.GateBindingMissingReason)
}

// setPodCondition updates or adds the condition and reports whether anything changed.
func setPodCondition(conds []corev1.PodCondition, c corev1.PodCondition, now time.Time) ([]corev1.PodCondition, bool) {
	for i := range conds {
		if conds[i].Type != c.Type {
			continue
		}
		if conds[i].Status == c.Status && conds[i].Reason == c.Reason && conds[i].Message == c.Message {
			return conds, false
		}
		if conds[i].Status != c.Status {
			c.LastTransitionTime = metav1.NewTime(now)
		} else {
			c.LastTransitionTime = conds[i].LastTransitionTime
		}
		conds[i] = c
		return conds, true
	}
	c.LastTransitionTime = metav1.NewTime(now)
	return append(conds, c), true
}

// healthObservation is what one reconcile learned about a binding's backends.
type healthObservation struct {
	targets []clb.TargetHealth // the binding's backends as the CLB reports them
	podOf   map[string]string  // backend IP → pod name
	readAt  time.Time
	readErr error
	// failingSince is when health polls of lbID started failing; zero while they succeed.
	failingSince time.Time
	lbID         string
	now          time.Time
	previous     []networkingv1alpha1.UnhealthyTarget
}

// setHealthStatus computes a CLBHealth's status from the health view.
func setHealthStatus(h *networkingv1alpha1.CLBHealth, o healthObservation) {
	st := &h.Status
	st.Registered, st.Healthy, st.Unhealthy, st.Unknown = 0, 0, 0, 0
	since := map[string]metav1.Time{}
	for _, u := range o.previous {
		since[fmt.Sprintf("%s/%s/%d/%s", u.IP, u.InstanceID, u.Port, u.State)] = u.Since
	}
	st.Backends = backendHealths(st.Backends, o)
	unhealthy := make([]networkingv1alpha1.UnhealthyTarget, 0, len(o.targets))
	for _, t := range o.targets {
		st.Registered++
		state := t.Detail
		switch t.Detail {
		case clb.HealthAlive, clb.HealthClose:
			st.Healthy++
			continue
		case clb.HealthDead:
			st.Unhealthy++
		default:
			st.Unknown++
			state = clb.HealthUnknown
		}
		u := networkingv1alpha1.UnhealthyTarget{IP: t.EniIP, InstanceID: t.InstanceID, Port: int32(t.Port), Pod: o.podOf[t.EniIP], State: state}
		u.Since = metav1.NewTime(o.now)
		if s, ok := since[fmt.Sprintf("%s/%s/%d/%s", u.IP, u.InstanceID, u.Port, u.State)]; ok {
			u.Since = s
		}
		unhealthy = append(unhealthy, u)
	}
	slices.SortFunc(unhealthy, func(a, b networkingv1alpha1.UnhealthyTarget) int {
		return cmp.Or(a.Since.Compare(b.Since.Time), cmp.Compare(a.IP, b.IP), cmp.Compare(a.InstanceID, b.InstanceID), cmp.Compare(a.Port, b.Port))
	})
	st.UnhealthyTargets = unhealthy[:min(len(unhealthy), maxUnhealthyListed)]
	st.Summary = fmt.Sprintf("%d/%d", st.Healthy, st.Registered)
	if !o.readAt.IsZero() {
		st.LastProbeTime = &metav1.Time{Time: o.readAt}
	}
	meta.SetStatusCondition(&st.Conditions, healthReadyCondition(h, o))
}

// backendHealths is status.backends: every backend in o.targets with its state and since when,
// keeping the since of a backend still in the state previous lists it in, and the registration
// time of a backend previous lists. Sorted by address; past
// MaxBackendsListed, the backends that are not healthy are kept first.
func backendHealths(previous []networkingv1alpha1.BackendHealth, o healthObservation) []networkingv1alpha1.BackendHealth {
	if len(o.targets) == 0 {
		return nil
	}
	type key struct {
		ip, instance, state string
		port                int32
	}
	since := make(map[key]metav1.Time, len(previous))
	registered := make(map[key]*metav1.Time, len(previous)) // by address, state left out
	for _, b := range previous {
		since[key{b.IP, b.InstanceID, b.State, b.Port}] = b.Since
		registered[key{ip: b.IP, instance: b.InstanceID, port: b.Port}] = b.RegisteredSince
	}
	now := metav1.NewTime(o.now)
	out := make([]networkingv1alpha1.BackendHealth, 0, len(o.targets))
	for _, t := range o.targets {
		state := t.Detail
		switch state {
		case clb.HealthAlive, clb.HealthClose, clb.HealthDead:
		default:
			state = clb.HealthUnknown
		}
		b := networkingv1alpha1.BackendHealth{IP: t.EniIP, InstanceID: t.InstanceID, Port: int32(t.Port), State: state, Since: now, RegisteredSince: &now}
		if s, ok := since[key{b.IP, b.InstanceID, b.State, b.Port}]; ok {
			b.Since = s
		}
		if r := registered[key{ip: b.IP, instance: b.InstanceID, port: b.Port}]; r != nil {
			b.RegisteredSince = r
		}
		out = append(out, b)
	}
	byAddress := func(a, b networkingv1alpha1.BackendHealth) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.InstanceID, b.InstanceID), cmp.Compare(a.Port, b.Port))
	}
	if len(out) > networkingv1alpha1.MaxBackendsListed {
		serving := func(b networkingv1alpha1.BackendHealth) bool {
			return b.State == clb.HealthAlive || b.State == clb.HealthClose
		}
		slices.SortFunc(out, func(a, b networkingv1alpha1.BackendHealth) int {
			if sa, sb := serving(a), serving(b); sa != sb {
				if sb {
					return -1
				}
				return 1
			}
			return byAddress(a, b)
		})
		out = out[:networkingv1alpha1.MaxBackendsListed]
	}
	slices.SortFunc(out, byAddress)
	return out
}

func healthReadyCondition(h *networkingv1alpha1.CLBHealth, o healthObservation) metav1.Condition {
	st := h.Status
	c := metav1.Condition{Type: networkingv1alpha1.HealthReadyCondition, Status: metav1.ConditionFalse, ObservedGeneration: h.Generation}
	switch {
	case o.readAt.IsZero():
		c.Reason, c.Message = networkingv1alpha1.HealthPendingReason, "waiting for the first health poll"
		if o.readErr != nil {
			c.Message += ": " + o.readErr.Error()
		}
	case st.Registered == 0:
		c.Reason, c.Message = networkingv1alpha1.HealthNoTargetsReason, "the binding has no backends registered"
	case st.Unhealthy > 0:
		c.Reason = networkingv1alpha1.HealthUnhealthyReason
		c.Message = fmt.Sprintf("%d of %d backends fail the CLB health check", st.Unhealthy, st.Registered)
	case st.Unknown > 0:
		c.Reason = networkingv1alpha1.HealthPendingReason
		c.Message = fmt.Sprintf("%d of %d backends are not judged by the CLB yet", st.Unknown, st.Registered)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, networkingv1alpha1.HealthAllHealthyReason
		c.Message = fmt.Sprintf("all %d backends are healthy", st.Registered)
	}
	if !o.readAt.IsZero() && !o.failingSince.IsZero() {
		// Said once per outage: the error of each poll (with its request ID) is in the
		// manager's log and the clbind_health_poll_errors_total metric, not here.
		code := clb.Code(o.readErr)
		if code == "" {
			code = "no answer"
		}
		c.Message += fmt.Sprintf("; health polls of %s fail since %s (%s): this is the view read at %s",
			o.lbID, o.failingSince.UTC().Format(time.RFC3339), code, o.readAt.UTC().Format(time.RFC3339))
	}
	return c
}

// keepProbeTime keeps the stored lastProbeTime when nothing else in the status changed. A
// CLBHealth is written when its view or its binding changes, not after every poll: at 10,000
// bindings a write per poll is hundreds of writes a second, and each one queued the CLBHealth
// again, so that once a round of reconciles took longer than a poll the writes never stopped.
func keepProbeTime(stored, computed *networkingv1alpha1.CLBHealth) {
	if stored.Status.LastProbeTime == nil || computed.Status.LastProbeTime == nil {
		return
	}
	probe := computed.Status.LastProbeTime
	computed.Status.LastProbeTime = stored.Status.LastProbeTime
	if !equality.Semantic.DeepEqual(stored.Status, computed.Status) {
		computed.Status.LastProbeTime = probe
	}
}

// healthCheckCondition is the HealthCheckApplied condition of a CLBHealth with spec.healthCheck,
// from the load balancer worker's outcome of its current request (nil while there is none).
// observed is true when the outcome stays as it is for this generation of the CLBHealth.
func healthCheckCondition(h *networkingv1alpha1.CLBHealth, b *networkingv1alpha1.CLBBackendBinding,
	out *lbsync.HealthCheckOutcome) (c metav1.Condition, observed bool) {
	c = metav1.Condition{Type: networkingv1alpha1.HealthCheckAppliedCondition, Status: metav1.ConditionFalse,
		ObservedGeneration: h.Generation, Reason: networkingv1alpha1.HealthCheckApplyingReason}
	where := scopeOf(b.Status.ListenerID, b.Status.LocationID) + " of " + b.Spec.LoadBalancerID
	switch {
	case b.Status.ListenerID == "":
		c.Message = fmt.Sprintf("waiting for CLBBackendBinding %s to find its listener on %s", b.Name, b.Spec.LoadBalancerID)
	case out == nil:
		c.Message = "waiting for the controller to write spec.healthCheck to " + where
	case out.Applied:
		c.Status, c.Reason = metav1.ConditionTrue, networkingv1alpha1.HealthCheckAppliedReason
		c.Message = where + " has the settings of spec.healthCheck"
	default:
		c.Reason, c.Message = out.Reason, out.Message
		if !out.RetryAt.IsZero() {
			c.Message += "; the controller tries again"
		}
	}
	return c, out != nil && out.Final()
}
