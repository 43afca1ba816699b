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

package lbsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Health checks are written by the load balancer's worker, like backends: the CLB refuses a
// write to a load balancer that is busy with another (FailedOperation.ResourceInOperating), so
// one writer per load balancer is the only way to never race it.

// HealthCheckRequest asks the worker of a load balancer to give a listener or rule a health check.
type HealthCheckRequest struct {
	ListenerID string
	// LocationID is the rule, on HTTP and HTTPS listeners.
	LocationID string
	// Check is the wanted check; its zero fields keep what the listener or rule has.
	Check clb.HealthCheck
	// Generation of the CLBHealth the request comes from.
	Generation int64
}

// HealthCheckOutcome is what the worker made of a CLBHealth's latest request.
type HealthCheckOutcome struct {
	// Generation, ListenerID and LocationID are those of the request.
	Generation int64
	ListenerID string
	LocationID string
	// Applied is true when the listener or rule has the wanted check, written now or before.
	Applied bool
	// Wrote is true when the outcome came with a Modify call.
	Wrote bool
	// Reason (a HealthCheck*Reason of the API) and Message explain an outcome that is not
	// Applied: waiting (Applying), refused for good (InvalidHealthCheck, or CloudError with
	// RetryAt zero), or failed and tried again at RetryAt (CloudError).
	Reason  string
	Message string
	// Err is the cloud's error when a write failed.
	Err     error
	RetryAt time.Time
}

// Final reports whether the outcome stays as it is until the request changes.
func (o HealthCheckOutcome) Final() bool {
	return o.Applied || o.Reason == networkingv1alpha1.HealthCheckInvalidReason ||
		(o.Reason == networkingv1alpha1.HealthCheckCloudErrorReason && o.RetryAt.IsZero())
}

// For reports whether the outcome answers req.
func (o HealthCheckOutcome) For(req HealthCheckRequest) bool {
	return o.Generation == req.Generation && o.ListenerID == req.ListenerID && o.LocationID == req.LocationID
}

// checkEntry is a request as its worker keeps it.
type checkEntry struct {
	req HealthCheckRequest
	// done is set once the outcome of req is final.
	done bool
	// failures counts the failed writes of req in a row; retryAt is when to try again.
	failures int
	retryAt  time.Time
}

// SetHealthCheck hands the worker of lbID the health check key (a CLBHealth) wants. It returns
// at once; the worker applies it in its next pass, before any backend write, and reports the
// outcome through HealthCheckResult and the function given to OnHealthCheck. Handing the same
// request again changes nothing: a refused request is tried again only once it changes.
func (s *Syncer) SetHealthCheck(key types.NamespacedName, lbID string, req HealthCheckRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, w := range s.workers {
		if id != lbID && w.dropCheck(key) {
			s.reapIfIdle(w) // the check was all it had left
		}
	}
	w := s.workerFor(lbID)
	w.setCheck(key, req)
}

// ClearHealthCheck forgets the health check of key: the listener keeps the one it has.
func (s *Syncer) ClearHealthCheck(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		if w.dropCheck(key) {
			s.reapIfIdle(w)
		}
	}
	delete(s.checkOutcomes, key)
}

// HealthCheckResult returns the outcome of the latest request of key that a pass handled.
func (s *Syncer) HealthCheckResult(key types.NamespacedName) (HealthCheckOutcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.checkOutcomes[key]
	return o, ok
}

// OnHealthCheck sets the function called, outside any lock, after each new outcome of key's
// request. Set it before Start.
func (s *Syncer) OnHealthCheck(fn func(key types.NamespacedName)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onHealthCheck = fn
}

func (s *Syncer) setCheckOutcome(w *worker, key types.NamespacedName, o HealthCheckOutcome) {
	s.mu.Lock()
	if !w.hasCheck(key) {
		// Cleared during the pass: ClearHealthCheck has run, and nothing would delete it again.
		s.mu.Unlock()
		return
	}
	if s.checkOutcomes == nil {
		s.checkOutcomes = map[types.NamespacedName]HealthCheckOutcome{}
	}
	prev, seen := s.checkOutcomes[key]
	s.checkOutcomes[key] = o
	notify := s.onHealthCheck
	s.mu.Unlock()
	if notify != nil && (!seen || !sameOutcome(prev, o)) {
		notify(key)
	}
}

func sameOutcome(a, b HealthCheckOutcome) bool {
	a.Err, b.Err, a.RetryAt, b.RetryAt = nil, nil, time.Time{}, time.Time{}
	return a == b
}

// setCheck records key's request and wakes the worker when it is new.
func (w *worker) setCheck(key types.NamespacedName, req HealthCheckRequest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.checks[key]; ok && reflect.DeepEqual(e.req, req) {
		return // pending, done, or waiting for its retry
	}
	if w.checks == nil {
		w.checks = map[types.NamespacedName]*checkEntry{}
	}
	w.checks[key] = &checkEntry{req: req}
	w.changed, w.settled = true, false
	w.markDirty()
}

func (w *worker) dropCheck(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, had := w.checks[key]
	delete(w.checks, key)
	w.settled = w.settled && !had
	return had
}

// wantsHealthCheck reports whether a health-check request waits to be written or refused.
func (w *worker) wantsHealthCheck() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.checks {
		if !e.done {
			return true
		}
	}
	return false
}

// hasCheck reports whether the worker has a health-check request of key.
func (w *worker) hasCheck(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.checks[key]
	return ok
}

// wakeForCheck starts a pass for a health check whose retry is due, even while the worker
// backs off from failed passes: the health check's own backoff bounds it.
func (w *worker) wakeForCheck() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed, w.settled = true, false
	w.markDirty()
}

type dueCheck struct {
	key types.NamespacedName
	req HealthCheckRequest
}

// dueChecks returns the requests to handle in this pass, in key order.
func (w *worker) dueChecks(now time.Time) []dueCheck {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []dueCheck
	for key, e := range w.checks {
		if !e.done && !now.Before(e.retryAt) {
			out = append(out, dueCheck{key: key, req: e.req})
		}
	}
	slices.SortFunc(out, func(a, b dueCheck) int { return strings.Compare(a.key.String(), b.key.String()) })
	return out
}

// applyHealthChecks writes the pending health checks of the pass, one at a time and each awaited,
// after the listeners are resolved and before any backend write: the worker is the load
// balancer's only writer. A check the listener's protocol does not take is refused without a
// write.
func (w *worker) applyHealthChecks(ctx context.Context, plans []*plan) {
	if w.listeners.partial {
		// Read without health checks (seedListeners): a request that came during the pass marked
		// the worker changed, and its next pass reads the listeners in full first.
		return
	}
	for _, c := range w.dueChecks(w.s.opts.Clock.Now()) {
		var out HealthCheckOutcome
		if msg := w.checkForbidden(c.key.Namespace, c.req, plans); msg != "" {
			out = HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckApplyingReason, Message: msg}
		} else {
			out = w.applyHealthCheck(ctx, c.key, c.req)
		}
		out.Generation, out.ListenerID, out.LocationID = c.req.Generation, c.req.ListenerID, c.req.LocationID
		w.recordCheck(c.key, c.req, &out)
		w.s.setCheckOutcome(w, c.key, out)
	}
}

// checkForbidden explains why a health check may not be written while binding policies are
// enforced: a CLBHealth changes the listener or rule of a binding of its namespace, so that
// binding must be on it and allowed there. It is "" when the check may be written.
func (w *worker) checkForbidden(namespace string, req HealthCheckRequest, plans []*plan) string {
	if w.s.opts.Policies == nil {
		return ""
	}
	scope := targets.Scope{ListenerID: req.ListenerID, LocationID: req.LocationID}
	for _, p := range plans {
		if p.active && p.forbidden == "" && p.b.Key.Namespace == namespace && p.scope() == scope {
			return ""
		}
	}
	return fmt.Sprintf("waiting for a binding of namespace %s that a CLBBindingPolicy allows on %s of %s: "+
		"nothing is written until then", namespace, scope, w.lbID)
}

// applyHealthCheck validates one request against its listener and writes it when the listener
// or rule does not have it yet.
func (w *worker) applyHealthCheck(ctx context.Context, key types.NamespacedName, req HealthCheckRequest) HealthCheckOutcome {
	waiting := func(msg string) HealthCheckOutcome {
		return HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckApplyingReason, Message: msg}
	}
	scope := targets.Scope{ListenerID: req.ListenerID, LocationID: req.LocationID}.String() + " of " + w.lbID
	l, ok := w.listeners.byID[req.ListenerID]
	if !ok {
		return waiting(fmt.Sprintf("waiting for listener %s to exist on %s", req.ListenerID, w.lbID))
	}
	if clb.IsLayer7(l.Protocol) != (req.LocationID != "") {
		return waiting(fmt.Sprintf("waiting for the binding to resolve its rule: %s is %s", scope, l.Protocol))
	}
	cur := l.HealthCheck
	var rule *clb.Rule
	if req.LocationID != "" {
		i := slices.IndexFunc(l.Rules, func(r clb.Rule) bool { return r.LocationID == req.LocationID })
		if i < 0 {
			return waiting(fmt.Sprintf("waiting for %s to exist", scope))
		}
		rule = &l.Rules[i]
		cur = rule.HealthCheck
	}
	want := clb.CompleteHealthCheck(l.Protocol, cur, req.Check)
	merged := clb.MergeHealthCheck(ptr.Deref(cur, clb.HealthCheck{}), want)
	if invalid, ok := errors.AsType[*clb.InvalidHealthCheckError](clb.ValidateHealthCheck(l.Protocol, merged)); ok {
		return HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckInvalidReason,
			Message: InvalidHealthCheckMessage(scope, invalid) + "; nothing was written"}
	}
	if want.SatisfiedBy(cur) {
		return HealthCheckOutcome{Applied: true}
	}
	var err error
	if rule != nil {
		err = w.s.cloud.ModifyRuleHealthCheck(ctx, w.lbID, req.ListenerID, req.LocationID, want)
		w.auditHealthCheck(ctx, "ModifyRule", key, req, err)
	} else {
		err = w.s.cloud.ModifyListenerHealthCheck(ctx, w.lbID, req.ListenerID, want)
		w.auditHealthCheck(ctx, "ModifyListener", key, req, err)
	}
	if err == nil {
		// The cache follows our own write, as it does for backends.
		if rule != nil {
			rule.HealthCheck = &merged
		} else {
			l.HealthCheck = &merged
			w.listeners.byID[l.ID] = l
		}
		return HealthCheckOutcome{Applied: true, Wrote: true}
	}
	out := HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckCloudErrorReason, Err: err, Wrote: true,
		Message: fmt.Sprintf("writing spec.healthCheck to %s failed: %v", scope, err)}
	switch refused, ok := errors.AsType[*clb.InvalidConfigError](err); {
	case ok && refused.Reason == clb.ReasonInvalidParameter:
		out.Reason = networkingv1alpha1.HealthCheckInvalidReason
		out.Message = fmt.Sprintf("the CLB refused spec.healthCheck for %s (%s listener): %v; fix spec.healthCheck", scope, l.Protocol, err)
	case ok:
		out.Message += "; fix the cause, then change spec.healthCheck to try again"
	case clb.IsNotFound(err):
		w.listeners.readAt = time.Time{} // the listener or rule is gone: read them again
	}
	return out
}

// recordCheck keeps what the pass did with req, unless a newer request replaced it, and sets
// out.RetryAt for a failure worth trying again.
func (w *worker) recordCheck(key types.NamespacedName, req HealthCheckRequest, out *HealthCheckOutcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.checks[key]
	if !ok || !reflect.DeepEqual(e.req, req) {
		return
	}
	_, permanent := errors.AsType[*clb.InvalidConfigError](out.Err)
	switch {
	case out.Applied || out.Reason == networkingv1alpha1.HealthCheckInvalidReason || permanent:
		e.done = true
	case out.Err != nil:
		e.failures++
		d := w.s.opts.RetryBase << min(e.failures-1, 16)
		d = min(d, w.s.opts.RetryMax)
		d = d/2 + rand.N(d/2+1)
		e.retryAt = w.s.opts.Clock.Now().Add(d)
		out.RetryAt = e.retryAt
		if runCtx := w.s.runCtx; runCtx != nil {
			after := w.s.opts.Clock.After(d)
			go func() {
				select {
				case <-runCtx.Done():
				case <-after:
					w.wakeForCheck()
				}
			}()
		}
	}
	// Otherwise it waits for its listener or rule: every pass looks again, without a call.
}

// HealthCheckFromSpec is spec.healthCheck of a CLBHealth in the CLB API's terms.
func HealthCheckFromSpec(spec *networkingv1alpha1.HealthCheckSpec) clb.HealthCheck {
	hc := clb.HealthCheck{
		Enabled:            ptr.Deref(spec.Enabled, true),
		CheckType:          string(spec.Type),
		IntervalSeconds:    int64(ptr.Deref(spec.IntervalSeconds, 0)),
		TimeoutSeconds:     int64(ptr.Deref(spec.TimeoutSeconds, 0)),
		HealthyThreshold:   int64(ptr.Deref(spec.HealthyThreshold, 0)),
		UnhealthyThreshold: int64(ptr.Deref(spec.UnhealthyThreshold, 0)),
		HTTPCode:           int64(ptr.Deref(spec.HTTPCodes, 0)),
		HTTPCheckPath:      spec.HTTPPath,
		HTTPCheckDomain:    spec.HTTPDomain,
		HTTPVersion:        string(spec.HTTPVersion),
	}
	if c := spec.Custom; c != nil {
		hc.ContextType, hc.SendContext, hc.RecvContext = string(c.ContextType), c.Send, c.Receive
	}
	return hc
}

// specPaths names the CLBHealth field behind each HealthCheck field of the CLB API.
var specPaths = map[string]string{
	"CheckType":       "spec.healthCheck.type",
	"HttpCheckDomain": "spec.healthCheck.httpDomain",
	"HttpCheckPath":   "spec.healthCheck.httpPath",
	"HttpCode":        "spec.healthCheck.httpCodes",
	"HttpVersion":     "spec.healthCheck.httpVersion",
	"ContextType":     "spec.healthCheck.custom.contextType",
	"SendContext":     "spec.healthCheck.custom.send",
	"RecvContext":     "spec.healthCheck.custom.receive",
}

// HealthCheckSpecPath is the CLBHealth field behind a HealthCheck field of the CLB API.
func HealthCheckSpecPath(field string) string {
	return cmp.Or(specPaths[field], "spec.healthCheck")
}

// InvalidHealthCheckMessage explains, in CLBHealth terms, why the health check is refused on
// scope (for example "listener lbl-… of lb-…").
func InvalidHealthCheckMessage(scope string, err *clb.InvalidHealthCheckError) string {
	return fmt.Sprintf("%s is %s, and %s %s; %s", scope, err.Protocol, HealthCheckSpecPath(err.Field), err.Problem, err.Fix)
}
