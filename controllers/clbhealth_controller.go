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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// HealthView is what the reconciler needs from internal/health.
type HealthView interface {
	Watch(owner types.NamespacedName, lbID string, fast bool)
	Unwatch(owner types.NamespacedName)
	View(lbID string) (health.Snapshot, bool)
}

// HealthCheckSyncer is what the reconciler needs from internal/lbsync to apply spec.healthCheck:
// the load balancer's worker writes it, as it writes backends, so that two writes never race on
// one load balancer (the CLB refuses the second with FailedOperation.ResourceInOperating).
type HealthCheckSyncer interface {
	SetHealthCheck(key types.NamespacedName, lbID string, req lbsync.HealthCheckRequest)
	ClearHealthCheck(key types.NamespacedName)
	HealthCheckResult(key types.NamespacedName) (lbsync.HealthCheckOutcome, bool)
}

// CLBHealthReconciler publishes the CLB's health view of a binding's backends to its CLBHealth
// status and to the readiness gates of its pods, and has spec.healthCheck applied to the
// listener or rule. Requests are named after the binding.
type CLBHealthReconciler struct {
	client.Client
	Health HealthView
	// Checks applies spec.healthCheck; nil leaves every listener's health check alone.
	Checks   HealthCheckSyncer
	Recorder recorder.EventRecorder
	Clock    clock.Clock
	// MaxConcurrentReconciles bounds parallel reconciles (default 1).
	MaxConcurrentReconciles int

	// reports queues the CLBHealth of a binding whose health or health check changed.
	reports *reportQueue
	// registeredSince remembers, per binding, when each of its gated pods was first seen
	// registered, for timeoutSeconds and the gate latency metric. A reconcile stores a new map
	// holding only the pods still gated, so a deleted pod leaves with the reconcile its deletion
	// queues.
	registeredSince sync.Map // types.NamespacedName → map[types.UID]registration, never changed once stored
}

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbhealths,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbhealths/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch

// Reconcile sets the readiness gates of a binding's pods and its CLBHealth status from the
// latest health poll.
func (r *CLBHealthReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var binding networkingv1alpha1.CLBBackendBinding
	err := r.Get(ctx, req.NamespacedName, &binding)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if apierrors.IsNotFound(err) || !binding.DeletionTimestamp.IsZero() {
		r.Health.Unwatch(req.NamespacedName)
		r.registeredSince.Delete(req.NamespacedName)
		if r.Checks != nil {
			r.Checks.ClearHealthCheck(req.NamespacedName)
		}
		requeue, err := r.releaseGates(ctx, req.NamespacedName, err == nil)
		return ctrl.Result{RequeueAfter: requeue}, err
	}
	hc, err := r.ensureHealthObject(ctx, &binding)
	if err != nil {
		return ctrl.Result{}, err
	}
	ready := meta.IsStatusConditionTrue(binding.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
	view, polled := r.Health.View(binding.Spec.LoadBalancerID)
	if !polled && hc.Status.ObservedGeneration == hc.Generation && len(hc.Status.Conditions) > 0 {
		// A new manager that has not polled the load balancer yet knows nothing of its health: the
		// gates and the status stay as the last view left them (an empty view would turn gates
		// False and write every CLBHealth twice). The first poll reports a change and queues this
		// binding again.
		r.Health.Watch(req.NamespacedName, binding.Spec.LoadBalancerID, !ready)
		return ctrl.Result{}, nil
	}
	inScope := backendsInScope(view, binding.Status.ListenerID, binding.Status.LocationID)
	podOf, err := r.podsByIP(ctx, &binding)
	if err != nil {
		return ctrl.Result{}, err
	}
	waiting, requeue, err := r.updateGates(ctx, &binding, hc, inScope)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Polled fast while anything is to be seen soon: a gate waits, the binding converges, or one
	// of its backends does not pass the health check (its recovery shows within a fast poll).
	failing := slices.ContainsFunc(slices.Collect(maps.Values(inScope)), func(t clb.TargetHealth) bool { return !servesTraffic(t) })
	r.Health.Watch(req.NamespacedName, binding.Spec.LoadBalancerID, waiting || !ready || failing)

	stored := hc.DeepCopy()
	r.syncHealthCheck(&binding, hc)
	setHealthStatus(hc, healthObservation{
		targets: mine(inScope, binding.Spec.MultiCluster, podOf), podOf: podOf,
		readAt: view.ReadAt, readErr: view.Err, failingSince: view.FailingSince, lbID: binding.Spec.LoadBalancerID,
		now: r.Clock.Now(), previous: stored.Status.UnhealthyTargets,
	})
	keepProbeTime(stored, hc)
	if !equality.Semantic.DeepEqual(stored.Status, hc.Status) {
		// Optimistic: a reconcile that read the object before the last status write reached the
		// cache must not write (and warn) a second time; it runs again on the fresh object.
		if err := r.Status().Patch(ctx, hc, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: staleRetry}, nil
			}
			return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("writing status of CLBHealth %s: %w", req.NamespacedName, err))
		}
		r.warnHealthCheck(stored, hc)
	}
	if requeue > 0 {
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	return ctrl.Result{}, nil
}

// ensureHealthObject returns the binding's CLBHealth, creating it (owned by the binding, so it is
// deleted with it) when missing.
func (r *CLBHealthReconciler) ensureHealthObject(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) (*networkingv1alpha1.CLBHealth, error) {
	var hc networkingv1alpha1.CLBHealth
	err := r.Get(ctx, client.ObjectKeyFromObject(b), &hc)
	if err == nil || !apierrors.IsNotFound(err) {
		return &hc, err
	}
	hc = networkingv1alpha1.CLBHealth{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: b.Name},
		Spec:       networkingv1alpha1.CLBHealthSpec{ReadinessPolicy: networkingv1alpha1.ReadinessPolicyOnceHealthy},
	}
	if err := controllerutil.SetControllerReference(b, &hc, r.Scheme()); err != nil {
		return nil, fmt.Errorf("owning CLBHealth %s/%s: %w", b.Namespace, b.Name, err)
	}
	if err := r.Create(ctx, &hc); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating CLBHealth %s/%s: %w", b.Namespace, b.Name, err)
	}
	return &hc, nil
}

// updateGates sets the gate condition of every pod carrying the binding's gate. It reports
// whether some pod still waits, and when a fail-open timeout falls due.
func (r *CLBHealthReconciler) updateGates(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding, hc *networkingv1alpha1.CLBHealth,
	inScope map[string]clb.TargetHealth) (bool, time.Duration, error) {
	gate := networkingv1alpha1.ReadinessGateConditionType(b.Name)
	pods, err := r.gatedPods(ctx, b.Namespace, gate)
	if err != nil {
		return false, 0, err
	}
	now := r.Clock.Now()
	timeout := time.Duration(ptr.Deref(hc.Spec.TimeoutSeconds, 0)) * time.Second
	waiting, requeue := false, time.Duration(0)
	conds := make([]corev1.PodCondition, len(pods))
	key := client.ObjectKeyFromObject(b)
	prev, _ := r.registeredSince.Load(key)
	prevSince, _ := prev.(map[types.UID]registration)
	since := map[types.UID]registration{}
	for i := range pods {
		pod := &pods[i]
		th, registered := inScope[pod.Status.PodIP]
		registered = registered && pod.Status.PodIP != ""
		in := gateInput{registered: registered, health: th, policy: hc.Spec.ReadinessPolicy,
			current: podCondition(pod, gate), where: scopeOf(b.Status.ListenerID, b.Status.LocationID) + " of " + b.Spec.LoadBalancerID}
		first, known := prevSince[pod.UID]
		if registered && !known {
			first, known = registration{at: now, timed: awaitedRegistration(in.current)}, true
		}
		if registered && timeout > 0 {
			left := timeout - now.Sub(first.at)
			in.waitedTooLong = left <= 0
			if left > 0 && (requeue == 0 || left < requeue) {
				requeue = left
			}
		}
		status, reason, msg := gateCondition(in)
		if known && status != corev1.ConditionTrue {
			since[pod.UID] = first
		}
		if known && first.timed && status == corev1.ConditionTrue && (in.current == nil || in.current.Status != corev1.ConditionTrue) {
			gateLatency.Observe(now.Sub(first.at).Seconds())
		}
		waiting = waiting || status != corev1.ConditionTrue
		conds[i] = corev1.PodCondition{Type: corev1.PodConditionType(gate), Status: status, Reason: reason, Message: msg}
	}
	if len(since) > 0 {
		r.registeredSince.Store(key, since)
	} else {
		r.registeredSince.Delete(key)
	}
	return waiting, requeue, r.patchGates(ctx, pods, conds)
}

// gatePatchers bounds the pod status patches in flight for one binding: when a poll turns many
// backends healthy at once, the last pod must not wait for every patch before it.
const gatePatchers = 8

// patchGates writes each pod's gate condition, a few pods at a time.
func (r *CLBHealthReconciler) patchGates(ctx context.Context, pods []corev1.Pod, conds []corev1.PodCondition) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, gatePatchers)
	for i := range pods {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := r.patchGate(ctx, &pods[i], conds[i]); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// bindingMissingGrace is how long a gate naming a binding that does not exist stays False: pods
// and their binding are often applied together, and the pods may come first. After it, or at once
// when the binding is being deleted, the gate is released so pods are never stuck.
const bindingMissingGrace = 30 * time.Second

// releaseGates handles the gates naming a binding that is gone or going. It returns when to look
// again at pods still within the grace.
func (r *CLBHealthReconciler) releaseGates(ctx context.Context, key types.NamespacedName, deleting bool) (time.Duration, error) {
	gate := networkingv1alpha1.ReadinessGateConditionType(key.Name)
	pods, err := r.gatedPods(ctx, key.Namespace, gate)
	if err != nil {
		return 0, err
	}
	var errs []error
	var requeue time.Duration
	for i := range pods {
		pod := &pods[i]
		if cur := podCondition(pod, gate); cur != nil && cur.Status == corev1.ConditionTrue {
			continue // already passing: leave its reason as it is
		}
		c := corev1.PodCondition{Type: corev1.PodConditionType(gate), Status: corev1.ConditionTrue,
			Reason: networkingv1alpha1.GateBindingDeletedReason, Message: "CLBBackendBinding " + key.Name + " is deleted; the gate is released"}
		if wait := bindingMissingGrace - r.Clock.Since(pod.CreationTimestamp.Time); !deleting && wait > 0 {
			c.Status, c.Reason = corev1.ConditionFalse, networkingv1alpha1.GateBindingMissingReason
			c.Message = "CLBBackendBinding " + key.Name + " does not exist; the gate is released if it does not appear soon"
			if requeue == 0 || wait < requeue {
				requeue = wait
			}
		} else if !deleting {
			c.Message = "CLBBackendBinding " + key.Name + " does not exist; the gate is released"
		}
		if err := r.patchGate(ctx, pod, c); err != nil {
			errs = append(errs, err)
		}
	}
	return requeue, errors.Join(errs...)
}

// patchGate writes one pod condition, only when it changes, with the pod's UID as a
// precondition so a re-created pod of the same name is never touched.
func (r *CLBHealthReconciler) patchGate(ctx context.Context, pod *corev1.Pod, c corev1.PodCondition) error {
	conds, changed := setPodCondition(append([]corev1.PodCondition(nil), pod.Status.Conditions...), c, r.Clock.Now())
	if !changed {
		return nil
	}
	for _, cond := range conds {
		if cond.Type == c.Type {
			c = cond
		}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   map[string]any{"conditions": []corev1.PodCondition{c}},
	})
	if err != nil {
		return fmt.Errorf("encoding the gate of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	err = r.Status().Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, patch))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // the pod is gone or was replaced
	}
	if err != nil {
		return fmt.Errorf("setting gate %s of pod %s/%s: %w", c.Type, pod.Namespace, pod.Name, err)
	}
	gateTransitions.WithLabelValues(string(c.Status), c.Reason).Inc()
	return nil
}

// gatedPods lists the pods of a namespace that carry gate, through a cache index: a binding's
// reconcile must not walk every pod of its namespace.
func (r *CLBHealthReconciler) gatedPods(ctx context.Context, namespace, gate string) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingFields{podGateIndex: gate}); err != nil {
		return nil, fmt.Errorf("listing pods with gate %s in %s: %w", gate, namespace, err)
	}
	return pods.Items, nil
}

// podsByIP maps the IPs of the binding's endpoints to their pods.
func (r *CLBHealthReconciler) podsByIP(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) (map[string]string, error) {
	var endpointSlices discoveryv1.EndpointSliceList
	if err := r.List(ctx, &endpointSlices, client.InNamespace(b.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: b.Spec.ServiceRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of Service %s/%s: %w", b.Namespace, b.Spec.ServiceRef.Name, err)
	}
	out := map[string]string{}
	for _, s := range endpointSlices.Items {
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			for _, ip := range ep.Addresses {
				out[ip] = ep.TargetRef.Name
			}
		}
	}
	return out, nil
}

// syncHealthCheck hands spec.healthCheck to the load balancer's worker, which validates it
// against the listener's protocol and writes it, and sets the HealthCheckApplied condition and
// observedGeneration from the worker's last outcome. The worker reports each new outcome through
// healthCheckDone, which queues the binding again.
func (r *CLBHealthReconciler) syncHealthCheck(b *networkingv1alpha1.CLBBackendBinding, hc *networkingv1alpha1.CLBHealth) {
	key := client.ObjectKeyFromObject(hc)
	if hc.Spec.HealthCheck == nil || r.Checks == nil {
		if r.Checks != nil {
			r.Checks.ClearHealthCheck(key)
		}
		meta.RemoveStatusCondition(&hc.Status.Conditions, networkingv1alpha1.HealthCheckAppliedCondition)
		hc.Status.ObservedGeneration = hc.Generation
		return
	}
	var req *lbsync.HealthCheckRequest
	var outcome *lbsync.HealthCheckOutcome
	if b.Status.ListenerID != "" {
		req = &lbsync.HealthCheckRequest{ListenerID: b.Status.ListenerID, LocationID: b.Status.LocationID,
			Check: lbsync.HealthCheckFromSpec(hc.Spec.HealthCheck), Generation: hc.Generation}
		r.Checks.SetHealthCheck(key, b.Spec.LoadBalancerID, *req)
		if o, ok := r.Checks.HealthCheckResult(key); ok && o.For(*req) {
			outcome = &o
		}
	}
	c, observed := healthCheckCondition(hc, b, outcome)
	meta.SetStatusCondition(&hc.Status.Conditions, c)
	if observed {
		hc.Status.ObservedGeneration = hc.Generation
	}
}

// staleRetry is how soon a reconcile that read a stale CLBHealth runs again.
const staleRetry = 100 * time.Millisecond

// warnHealthCheck records a Warning event when the HealthCheckApplied condition newly reports
// a refusal or a failure.
func (r *CLBHealthReconciler) warnHealthCheck(stored, hc *networkingv1alpha1.CLBHealth) {
	c := meta.FindStatusCondition(hc.Status.Conditions, networkingv1alpha1.HealthCheckAppliedCondition)
	old := meta.FindStatusCondition(stored.Status.Conditions, networkingv1alpha1.HealthCheckAppliedCondition)
	if r.Recorder == nil || c == nil || c.Status != metav1.ConditionFalse || c.Reason == networkingv1alpha1.HealthCheckApplyingReason ||
		(old != nil && old.Reason == c.Reason && old.Message == c.Message) {
		return
	}
	r.Recorder.Eventf(hc, nil, corev1.EventTypeWarning, c.Reason, "ApplyHealthCheck", "%s", c.Message)
}

// healthCheckDone queues the binding whose health-check request has a new outcome.
func (r *CLBHealthReconciler) healthCheckDone(key types.NamespacedName) {
	r.reports.add(key)
}

// backendsInScope indexes by IP (or instance ID) the backends on the binding's listener or rule.
func backendsInScope(view health.Snapshot, listenerID, locationID string) map[string]clb.TargetHealth {
	out := map[string]clb.TargetHealth{}
	if listenerID == "" {
		return out
	}
	for k, t := range view.Targets {
		if k.ListenerID == listenerID && k.LocationID == locationID {
			out[cmpKey(k)] = t
		}
	}
	return out
}

func cmpKey(k targets.Key) string {
	if k.EniIP != "" {
		return k.EniIP
	}
	return k.InstanceID
}

// mine keeps the backends of the binding: all of them on an exclusive listener, and only those
// of its own pods when the listener is shared.
func mine(inScope map[string]clb.TargetHealth, multiCluster bool, podOf map[string]string) []clb.TargetHealth {
	out := make([]clb.TargetHealth, 0, len(inScope))
	for key, t := range inScope {
		if _, ours := podOf[key]; multiCluster && !ours {
			continue
		}
		out = append(out, t)
	}
	return out
}

func podCondition(pod *corev1.Pod, condType string) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if string(pod.Status.Conditions[i].Type) == condType {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// SetupWithManager registers the reconciler and its watches; the poller's change reports reach
// it through healthChanged (setup.go).
func (r *CLBHealthReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Health == nil {
		return errors.New("CLBHealthReconciler: Client and Health must be set")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.reports = &reportQueue{}
	toBinding := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&networkingv1alpha1.CLBHealth{}).
		Watches(&networkingv1alpha1.CLBBackendBinding{}, toBinding).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(gatesOfPod), builder.WithPredicates(gatedPodPredicate())).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfSlice)).
		WatchesRawSource(r.reports.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("clbhealth").
		Complete(r)
}

// healthChanged queues every binding on load balancers whose health view changed.
func (r *CLBHealthReconciler) healthChanged(changed []networkingv1alpha1.CLBBackendBinding) {
	for i := range changed {
		r.reports.add(client.ObjectKeyFromObject(&changed[i]))
	}
}

func (r *CLBHealthReconciler) bindingsOfSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	var list networkingv1alpha1.CLBBackendBindingList
	if svc == "" || r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{serviceRefIndex: svc},
		client.UnsafeDisableDeepCopy) != nil {
		return nil
	}
	return requests(list.Items, func(networkingv1alpha1.CLBBackendBinding) bool { return true })
}

// ourGates lists the condition types of a pod's readiness gates that name a binding.
func ourGates(o client.Object) []string {
	reqs := gatesOfPod(context.Background(), o)
	out := make([]string, 0, len(reqs))
	for _, req := range reqs {
		out = append(out, networkingv1alpha1.ReadinessGateConditionType(req.Name))
	}
	return out
}

// gatesOfPod maps a pod to the bindings its readiness gates name.
func gatesOfPod(_ context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	for _, g := range pod.Spec.ReadinessGates {
		if name, ours := strings.CutPrefix(string(g.ConditionType), networkingv1alpha1.ReadinessGatePrefix); ours && name != "" {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: name}})
		}
	}
	return out
}

// gatedPodPredicate passes events of pods that carry one of our gates.
func gatedPodPredicate() predicate.Funcs {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return len(gatesOfPod(context.Background(), o)) > 0 })
}
