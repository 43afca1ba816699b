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
	"errors"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// serviceGoneError: the binding's Service does not exist, so it wants no backends.
type serviceGoneError struct{ namespace, name string }

func (e *serviceGoneError) Error() string {
	return fmt.Sprintf("Service %s in namespace %s (the binding's namespace: spec.serviceRef cannot name a Service in another one) "+
		"does not exist; its backends are deregistered until it is created", e.name, e.namespace)
}

// invalidInputError: the Service or nodes cannot give a desired set (for example the Service
// port does not exist). Nothing on the CLB changes until it is fixed.
type invalidInputError struct{ err error }

func (e *invalidInputError) Error() string {
	return e.err.Error() + "; the CLB backends are left as they are until this is fixed"
}

func (e *invalidInputError) Unwrap() error { return e.err }

// inputKind is what a reconcile found of a binding's inputs (Service, port, endpoints, nodes).
type inputKind int

const (
	// inputOK: the desired backends are known.
	inputOK inputKind = iota
	// inputServiceGone: the Service does not exist, so the desired set is known and empty.
	inputServiceGone
	// inputInvalid: the Service or nodes cannot give a desired set; the CLB is left alone until
	// the spec or the Service is fixed.
	inputInvalid
	// inputUnreadable: reading the cluster failed; the reconcile is retried with backoff.
	inputUnreadable
)

// inputProblem is a binding's input, classified once, with the error that explains it.
type inputProblem struct {
	kind inputKind
	err  error
}

// classifyInput decodes the error of desired into its kind: the one place that does.
func classifyInput(err error) inputProblem {
	switch {
	case err == nil:
		return inputProblem{}
	case isType[*serviceGoneError](err):
		return inputProblem{kind: inputServiceGone, err: err}
	case isType[*invalidInputError](err):
		return inputProblem{kind: inputInvalid, err: err}
	default:
		return inputProblem{kind: inputUnreadable, err: err}
	}
}

func isType[T error](err error) bool {
	_, ok := errors.AsType[T](err)
	return ok
}

// knownSet reports whether the desired backends are known: none is missing, or the Service is
// gone (none are wanted).
func (p inputProblem) knownSet() bool { return p.kind == inputOK || p.kind == inputServiceGone }

// bindingObservation is everything one reconcile learned about a binding.
type bindingObservation struct {
	desired targets.Result
	input   inputProblem
	sync    lbsync.Status
	synced  bool // the worker has reported on the binding
	healthy int
	// polled is false before the first health poll of the load balancer: healthy is unknown, and
	// status.healthy keeps what the last view said (a restarted manager writes no flap to 0).
	polled bool
	// podsMissingGate counts the Service's pods without the binding's readiness gate.
	podsMissingGate int
	deleting        bool
}

// setBindingStatus computes the binding's whole status from what the reconcile observed.
func setBindingStatus(b *networkingv1alpha1.CLBBackendBinding, o bindingObservation) {
	st := &b.Status
	st.ObservedGeneration = b.Generation
	if o.synced {
		st.ListenerID, st.LocationID = o.sync.ListenerID, o.sync.LocationID
		st.Registered = int32(o.sync.Registered)
		if o.polled {
			st.Healthy = int32(o.healthy)
		}
		if !o.sync.LastSyncTime.IsZero() {
			st.LastSyncTime = &metav1.Time{Time: o.sync.LastSyncTime}
		}
	}
	// A missing Service is a known desired set, the empty one (its backends are being removed),
	// so the counts follow it; any other input error leaves the last known counts.
	if !o.deleting && o.input.knownSet() {
		st.Desired, st.Draining, st.Retiring = 0, 0, 0
		for _, t := range o.desired.Targets {
			switch {
			case t.Draining:
				st.Draining++
			case t.Retiring:
				st.Retiring++
			default:
				st.Desired++
			}
		}
	}
	if o.input.kind == inputOK && !o.deleting {
		st.PodsMissingGate = int32(o.podsMissingGate)
	}
	st.Backends = fmt.Sprintf("%d/%d", st.Registered, st.Desired)
	meta.SetStatusCondition(&st.Conditions, readyCondition(b, o))
	setTrafficShareStatus(b, o)
}

// setTrafficShareStatus reports how spec.trafficShare is carried out: status.trafficShare from the
// worker's last pass, and the TrafficShare condition, True once the CLB carries the wanted share
// within a percentage point.
func setTrafficShareStatus(b *networkingv1alpha1.CLBBackendBinding, o bindingObservation) {
	st := &b.Status
	if b.Spec.TrafficShare == nil || o.deleting {
		st.TrafficShare = nil
		meta.RemoveStatusCondition(&st.Conditions, networkingv1alpha1.TrafficShareCondition)
		return
	}
	wanted := *b.Spec.TrafficShare
	share := o.sync.Share
	if o.synced && share.Reason != "" {
		st.TrafficShare = &networkingv1alpha1.TrafficShareStatus{
			Applied: share.Wanted, Achieved: strconv.FormatFloat(float64(share.AchievedPermille)/10, 'f', 1, 64)}
	}
	c := metav1.Condition{Type: networkingv1alpha1.TrafficShareCondition, Status: metav1.ConditionFalse, ObservedGeneration: b.Generation,
		Reason:  networkingv1alpha1.BindingProgressingReason,
		Message: fmt.Sprintf("waiting for the weights of a %d%% share to be written to the CLB", wanted)}
	if last := lastVerdict(b, networkingv1alpha1.TrafficShareCondition); !o.synced && last != nil {
		c = *last
	}
	if o.synced && share.Wanted == wanted && share.Reason != "" {
		c.Reason, c.Message = share.Reason, share.Message
		if share.Reason == networkingv1alpha1.TrafficShareReachedReason && o.sync.Synced {
			c.Status = metav1.ConditionTrue
		}
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

func readyCondition(b *networkingv1alpha1.CLBBackendBinding, o bindingObservation) metav1.Condition {
	c := metav1.Condition{Type: networkingv1alpha1.BindingReadyCondition, Status: metav1.ConditionFalse, ObservedGeneration: b.Generation}
	switch {
	case o.deleting:
		c.Reason = networkingv1alpha1.BindingDeletingReason
		c.Message = "deregistering the binding's backends from the CLB"
		if o.synced && !o.sync.Cleaned && o.sync.Reason != "" && o.sync.Reason != networkingv1alpha1.BindingDeletingReason {
			c.Message += fmt.Sprintf(" is held up (%s): %s; if the load balancer cannot be reached for good, annotate the binding "+
				"%s=true to finish the deletion without touching the CLB (a Warning Event then names what is left there)",
				o.sync.Reason, o.sync.Message, networkingv1alpha1.SkipCloudCleanupAnnotation)
		}
	case o.input.kind == inputServiceGone:
		c.Reason, c.Message = networkingv1alpha1.BindingServiceNotFoundReason, o.input.err.Error()
	case o.input.kind == inputInvalid:
		c.Reason, c.Message = networkingv1alpha1.BindingInvalidSpecReason, o.input.err.Error()
	case o.input.kind == inputUnreadable:
		c.Reason, c.Message = networkingv1alpha1.BindingProgressingReason, o.input.err.Error()
	case !o.synced:
		if last := lastVerdict(b, networkingv1alpha1.BindingReadyCondition); last != nil {
			return *last
		}
		c.Reason = networkingv1alpha1.BindingProgressingReason
		c.Message = fmt.Sprintf("waiting for the first sync of load balancer %s", b.Spec.LoadBalancerID)
	case o.sync.Synced && o.desired.Switch.Retiring > 0:
		c.Reason, c.Message = networkingv1alpha1.BindingSwitchingReason, o.desired.Switch.Message()
	case o.sync.Synced:
		c.Status, c.Reason = metav1.ConditionTrue, networkingv1alpha1.BindingSyncedReason
		c.Message = fmt.Sprintf("%d backends registered on %s", o.sync.Registered, where(o.sync))
	default:
		c.Reason, c.Message = o.sync.Reason, o.sync.Message
		if c.Reason == "" {
			c.Reason = networkingv1alpha1.BindingProgressingReason
		}
	}
	return c
}

// lastVerdict is the stored condition of type t when it was set for the binding's current
// generation: until the load balancer's worker reports on the binding (the manager just started,
// or this replica just became the leader), that verdict stands. Saying "waiting for the first
// sync" instead would flap every Ready binding to False and back at each restart, and write
// every binding's status twice.
func lastVerdict(b *networkingv1alpha1.CLBBackendBinding, t string) *metav1.Condition {
	last := meta.FindStatusCondition(b.Status.Conditions, t)
	if last == nil || last.ObservedGeneration != b.Generation {
		return nil
	}
	return last.DeepCopy()
}

func where(s lbsync.Status) string { return scopeOf(s.ListenerID, s.LocationID) }

// scopeOf names a binding's listener or rule for messages, "its listener" until it is resolved.
func scopeOf(listenerID, locationID string) string {
	if listenerID == "" {
		return "its listener"
	}
	return targets.Scope{ListenerID: listenerID, LocationID: locationID}.String()
}
