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
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

const (
	// defaultWeight is spec.weight when it is not given (the CRD defaults it too).
	defaultWeight = 10
)

// BindingSyncer is what the reconciler needs from internal/lbsync.
type BindingSyncer interface {
	Update(b lbsync.Binding)
	Forget(key types.NamespacedName)
	Release(key types.NamespacedName)
	Status(key types.NamespacedName) (lbsync.Status, bool)
	Leftovers(key types.NamespacedName) (lbsync.Leftovers, bool)
	// Expect and Reconciling tell the workers which changes are on their way (lbsync group commit).
	Expect(key types.NamespacedName, lbID string)
	Reconciling(key types.NamespacedName) (done func())
}

// CLBBackendBindingReconciler computes each binding's desired backends from its Service's
// endpoints and hands them to the load balancer's worker. It never calls the cloud itself.
type CLBBackendBindingReconciler struct {
	client.Client
	Syncer BindingSyncer
	// ClusterID goes into the owner tag of every backend.
	ClusterID string
	Recorder  recorder.EventRecorder
	Clock     clock.Clock
	// Health, when set, gives the status its healthy count.
	Health HealthView
	// MaxConcurrentReconciles bounds parallel reconciles (default 1). Reconciles only read the
	// cache and write status, so a few in parallel keep a burst of 1,000 bindings short.
	MaxConcurrentReconciles int

	// reports carries the worker's reports and health changes back into the controller's queue.
	reports *reportQueue
	// memory is what targets.Desired keeps between reconciles of a binding: when each
	// terminating backend was first seen, and the make-before-break state.
	memory sync.Map // types.NamespacedName → *desiredMemory
	// forbidden are the bindings whose last status says no policy allows them (the gauge).
	forbidden forbiddenSet
}

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=services;pods;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes a binding's desired backends, hands them to its load balancer's worker and
// writes the worker's last result into status.
func (r *CLBBackendBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// Once this returns, the change the binding was queued for has reached its worker, which may
	// have held its write for it (queued below).
	defer r.Syncer.Reconciling(req.NamespacedName)()
	var binding networkingv1alpha1.CLBBackendBinding
	if err := r.Get(ctx, req.NamespacedName, &binding); err != nil {
		if apierrors.IsNotFound(err) {
			r.Syncer.Forget(req.NamespacedName)
			r.memory.Delete(req.NamespacedName)
			r.forbidden.set(req.NamespacedName, false)
			forgetBindingTargets(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !binding.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, &binding)
	}
	if controllerutil.AddFinalizer(&binding, networkingv1alpha1.DeregisterTargetsFinalizer) {
		if err := r.Update(ctx, &binding); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer to %s: %w", req.NamespacedName, err)
		}
	}

	stored := binding.DeepCopy()
	desired, missingGate, inputErr := r.desired(ctx, &binding)
	if inputErr == nil {
		r.warnSwitch(&binding, desired.Switch)
		r.warnSkipped(&binding, desired.Skipped)
		r.warnInvalidWeights(&binding, desired.InvalidWeights)
	}
	input := classifyInput(inputErr)
	if input.knownSet() {
		r.Syncer.Update(r.syncBinding(&binding, desired.Targets, false))
	}
	st, seen := r.Syncer.Status(req.NamespacedName)
	healthy, polled := r.healthyCount(&binding, st)
	setBindingStatus(&binding, bindingObservation{
		desired: desired, input: input, sync: st, synced: seen,
		healthy: healthy, polled: polled, podsMissingGate: missingGate,
	})
	recordBindingTargets(binding.Namespace, binding.Name, binding.Status)
	r.forbidden.set(req.NamespacedName, seen && st.Reason == networkingv1alpha1.BindingForbiddenReason)
	if err := r.patchStatus(ctx, stored, &binding); err != nil {
		return ctrl.Result{}, err
	}
	switch input.kind {
	case inputServiceGone, inputInvalid:
		r.warnNewCondition(stored, &binding)
	case inputUnreadable:
		return ctrl.Result{}, inputErr // a failed read of the cluster: retry with backoff
	}
	// No periodic resync: the load balancer worker reads its backends again every
	// --drift-check-interval and repairs changes made outside the controller itself, and every
	// input of the desired backends is watched. At 10,000 bindings a resync was most of a steady
	// manager's reconciles.
	if !desired.RequeueAt.IsZero() {
		return ctrl.Result{RequeueAfter: max(desired.RequeueAt.Sub(r.Clock.Now()), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// healthyCount counts the binding's registered backends that the CLB reports healthy; polled is
// false until the health poller has read the load balancer (a new manager), when nothing is known.
func (r *CLBBackendBindingReconciler) healthyCount(b *networkingv1alpha1.CLBBackendBinding, st lbsync.Status) (healthy int, polled bool) {
	if r.Health == nil {
		return 0, true
	}
	view, polled := r.Health.View(b.Spec.LoadBalancerID)
	if !polled {
		return 0, false
	}
	n := 0
	for _, t := range backendsInScope(view, st.ListenerID, st.LocationID) {
		if servesTraffic(t) {
			n++
		}
	}
	return min(n, st.Registered), true
}

// servesTraffic reports whether the CLB sends traffic to a backend: it passes the health check,
// or the check is off.
func servesTraffic(t clb.TargetHealth) bool { return t.Healthy || t.Detail == clb.HealthClose }

// healthyBackends tells, from the latest health poll, whether a backend ip:port of the binding's
// listener or rule serves traffic; make before break waits for it.
func (r *CLBBackendBindingReconciler) healthyBackends(b *networkingv1alpha1.CLBBackendBinding) func(ip string, port int64) bool {
	st, seen := r.Syncer.Status(client.ObjectKeyFromObject(b))
	if r.Health == nil || !seen {
		return nil
	}
	view, _ := r.Health.View(b.Spec.LoadBalancerID)
	serving := map[string]bool{}
	for k, t := range view.Targets {
		if k.ListenerID == st.ListenerID && k.LocationID == st.LocationID && k.EniIP != "" && servesTraffic(t) {
			serving[net.JoinHostPort(k.EniIP, strconv.FormatInt(k.Port, 10))] = true
		}
	}
	return func(ip string, port int64) bool { return serving[net.JoinHostPort(ip, strconv.FormatInt(port, 10))] }
}

// desiredMemory is what targets.Desired keeps between reconciles of one binding.
type desiredMemory struct {
	drainingSince map[targets.Key]time.Time
	retire        targets.Memory
	// warnedNoEndpoints is set once the Warning about a Service that lost every endpoint is out.
	warnedNoEndpoints bool
	// warnedSkipped is the last list of objects left out (targets.Result.Skipped) a Warning named.
	warnedSkipped string
	// warnedWeights are the invalid clbind.io/weight values a Warning named, by pod.
	warnedWeights map[types.UID]string
}

// nodesSkippedReason is the Event reason of nodes left out of Node targets, for example for a
// provider ID that names no CVM.
const nodesSkippedReason = "NodesSkipped"

// warnSkipped records a Warning Event when the objects left out of the targets change.
func (r *CLBBackendBindingReconciler) warnSkipped(b *networkingv1alpha1.CLBBackendBinding, skipped []error) {
	v, ok := r.memory.Load(client.ObjectKeyFromObject(b))
	if !ok || r.Recorder == nil {
		return
	}
	mem := v.(*desiredMemory)
	msgs := make([]string, 0, len(skipped))
	for _, err := range skipped {
		msgs = append(msgs, err.Error())
	}
	joined := strings.Join(msgs, "; ")
	if joined == mem.warnedSkipped {
		return
	}
	mem.warnedSkipped = joined
	if joined != "" {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, nodesSkippedReason, "Reconcile",
			"%d nodes are not registered: %s", len(skipped), joined)
	}
}

// invalidWeightReason is the Event reason, on a pod, of a clbind.io/weight annotation that is not
// a weight.
const invalidWeightReason = "InvalidWeight"

// warnInvalidWeights records a Warning Event on each pod whose clbind.io/weight annotation the
// binding ignored, once per pod and value: a reconcile runs often, the annotation rarely changes.
func (r *CLBBackendBindingReconciler) warnInvalidWeights(b *networkingv1alpha1.CLBBackendBinding, invalid []targets.InvalidWeight) {
	v, ok := r.memory.Load(client.ObjectKeyFromObject(b))
	if !ok || r.Recorder == nil {
		return
	}
	mem := v.(*desiredMemory)
	warned := make(map[types.UID]string, len(invalid))
	for _, w := range invalid {
		warned[w.UID] = w.Value
		if prev, seen := mem.warnedWeights[w.UID]; seen && prev == w.Value {
			continue
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: w.Pod, UID: w.UID}}
		pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
		r.Recorder.Eventf(pod, b, corev1.EventTypeWarning, invalidWeightReason, "Reconcile",
			"annotation %s=%q of pod %s is not a whole number from 0 to 100: CLBBackendBinding %s registers the pod at "+
				"its spec.weight %d instead; set the annotation to a number from 0 to 100, or remove it",
			networkingv1alpha1.PodWeightAnnotation, shorten(w.Value, 64), w.Pod, b.Name, ptr.Deref(b.Spec.Weight, defaultWeight))
	}
	mem.warnedWeights = warned
}

// shorten cuts s to at most n bytes for a message, marking the cut: an Event's note holds 1 kB.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Event reasons of make before break.
const (
	makeBeforeBreakTimedOutReason = "MakeBeforeBreakTimedOut"
	endpointsVanishedReason       = "EndpointsVanished"
)

// warnSwitch records the Warning Events of make before break: the Service lost every endpoint
// while its pods run (once per occurrence), and the bound ended a wait.
func (r *CLBBackendBindingReconciler) warnSwitch(b *networkingv1alpha1.CLBBackendBinding, sw targets.Switch) {
	key := client.ObjectKeyFromObject(b)
	v, ok := r.memory.Load(key)
	if !ok || r.Recorder == nil {
		return
	}
	mem := v.(*desiredMemory)
	switch {
	case sw.NoEndpoints && sw.Retiring > 0 && !mem.warnedNoEndpoints:
		mem.warnedNoEndpoints = true
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, endpointsVanishedReason, "Reconcile",
			"Service %s: %s", b.Spec.ServiceRef.Name, sw.Message())
	case !sw.NoEndpoints:
		mem.warnedNoEndpoints = false
	}
	if sw.TimedOut {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, makeBeforeBreakTimedOutReason, "Reconcile",
			"%d backends of pods Service %s no longer selects waited %s (spec.makeBeforeBreak.timeoutSeconds) for their "+
				"replacements to be healthy on the CLB; %d of the %d needed were: the old backends leave now",
			sw.Released, b.Spec.ServiceRef.Name, makeBeforeBreakBound(b), sw.Healthy, sw.Needed)
	}
}

// makeBeforeBreakBound is the make-before-break bound of a binding, for messages.
func makeBeforeBreakBound(b *networkingv1alpha1.CLBBackendBinding) time.Duration {
	if b.Spec.MakeBeforeBreak != nil {
		return time.Duration(b.Spec.MakeBeforeBreak.TimeoutSeconds) * time.Second
	}
	return networkingv1alpha1.DefaultMakeBeforeBreakSeconds * time.Second
}

// reconcileDelete deregisters the binding's backends and lets the object go once they are off.
func (r *CLBBackendBindingReconciler) reconcileDelete(ctx context.Context, binding *networkingv1alpha1.CLBBackendBinding) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(binding, networkingv1alpha1.DeregisterTargetsFinalizer) {
		return ctrl.Result{}, nil
	}
	key := client.ObjectKeyFromObject(binding)
	skip := binding.Annotations[networkingv1alpha1.SkipCloudCleanupAnnotation] == "true"
	if !skip {
		r.Syncer.Update(r.syncBinding(binding, nil, true))
	}
	st, seen := r.Syncer.Status(key)
	if skip || (seen && st.Cleaned) {
		if skip {
			// No pass writes for it any more; what it left stays known until the finalizer is off,
			// should the update below need a retry.
			r.Syncer.Release(key)
		}
		left, _ := r.Syncer.Leftovers(key)
		controllerutil.RemoveFinalizer(binding, networkingv1alpha1.DeregisterTargetsFinalizer)
		if err := r.Update(ctx, binding); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if skip && (!seen || !st.Cleaned) {
			r.reportSkippedCleanup(ctx, binding, left)
		}
		r.Syncer.Forget(key)
		r.memory.Delete(key)
		r.forbidden.set(key, false)
		return ctrl.Result{}, nil
	}
	stored := binding.DeepCopy()
	setBindingStatus(binding, bindingObservation{deleting: true, sync: st, synced: seen, polled: true})
	recordBindingTargets(binding.Namespace, binding.Name, binding.Status)
	if err := r.patchStatus(ctx, stored, binding); err != nil {
		return ctrl.Result{}, err
	}
	// The worker reports back when the backends are off; this is only a safety net.
	return ctrl.Result{RequeueAfter: time.Minute}, nil
}

// reportSkippedCleanup records, in a Warning Event and the log, which backends a deletion with
// clbind.io/skip-cloud-cleanup left on the CLB, so that someone can remove them by hand.
func (r *CLBBackendBindingReconciler) reportSkippedCleanup(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding, lo lbsync.Leftovers) {
	tag := targets.OwnerTag(r.ClusterID, b.UID)
	var msg string
	switch {
	case lo.Known && len(lo.Backends) == 0:
		msg = fmt.Sprintf("deleted without cleaning up the CLB (%s): the controller knew of no backend of the binding left on %s",
			networkingv1alpha1.SkipCloudCleanupAnnotation, lo.Scope)
	case lo.Known:
		msg = fmt.Sprintf("deleted without cleaning up the CLB (%s): left %d backends on %s: %s; those of them that carry tag %s "+
			"were registered by this binding, remove them in the CLB console if they should go",
			networkingv1alpha1.SkipCloudCleanupAnnotation, len(lo.Backends), lo.Scope, strings.Join(lo.Backends, ", "), tag)
	default:
		scope := lo.Scope
		if scope == "" {
			scope = "load balancer " + b.Spec.LoadBalancerID
		}
		msg = fmt.Sprintf("deleted without cleaning up the CLB (%s): the controller could not read %s, so backends this binding "+
			"registered may be left there; they carry tag %s", networkingv1alpha1.SkipCloudCleanupAnnotation, scope, tag)
	}
	ctrl.LoggerFrom(ctx).Info("Binding deleted without cloud cleanup", "loadBalancer", b.Spec.LoadBalancerID,
		"scope", lo.Scope, "backends", lo.Backends, "known", lo.Known, "ownerTag", tag)
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, cloudCleanupSkippedReason, "Delete", "%s", msg)
	}
}

// cloudCleanupSkippedReason is the Event reason of a deletion that left backends on the CLB.
const cloudCleanupSkippedReason = "CloudCleanupSkipped"

// desired computes the binding's targets. An error means they are unknown, and nothing on the
// CLB may change because of it.
// It also counts the pods that should carry the binding's readiness gate but do not.
func (r *CLBBackendBindingReconciler) desired(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) (targets.Result, int, error) {
	var svc corev1.Service
	if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			// The Service is gone: so are its endpoints, and the backends go too. spec.serviceRef has
			// no namespace, which a Service found only in another namespace makes easy to miss.
			return targets.Result{}, 0, &serviceGoneError{namespace: b.Namespace, name: b.Spec.ServiceRef.Name}
		}
		return targets.Result{}, 0, fmt.Errorf("reading Service %s/%s: %w", b.Namespace, b.Spec.ServiceRef.Name, err)
	}
	in := targets.Input{
		Binding: targets.Binding{
			Name:          b.Name,
			TargetType:    targets.TargetType(b.Spec.TargetType),
			ServicePort:   b.Spec.ServiceRef.Port,
			Weight:        int64(ptr.Deref(b.Spec.Weight, defaultWeight)),
			ReadinessGate: ptr.Deref(b.Spec.ReadinessGate, true),
			NodeSelector:  labels.Everything(),
			KeepNotReady:  b.Spec.NotReadyBackends == networkingv1alpha1.NotReadyKeepAtWeightZero,
			SlowStart:     b.Spec.SlowStart != nil,
		},
		Service: &svc,
		Now:     r.Clock.Now(),
	}
	if b.Spec.Drain != nil {
		in.Binding.Drain = time.Duration(b.Spec.Drain.Seconds) * time.Second
	}
	in.Binding.MakeBeforeBreak = networkingv1alpha1.DefaultMakeBeforeBreakSeconds * time.Second
	if mbb := b.Spec.MakeBeforeBreak; mbb != nil {
		in.Binding.MakeBeforeBreak = time.Duration(mbb.TimeoutSeconds) * time.Second
	}
	key := client.ObjectKeyFromObject(b)
	mem := &desiredMemory{}
	if prev, ok := r.memory.Load(key); ok {
		mem = prev.(*desiredMemory)
	}
	in.DrainingSince, in.Memory = mem.drainingSince, mem.retire
	in.LookupPod = func(name string) (targets.PodInfo, bool) {
		var pod corev1.Pod
		if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: name}, &pod); err != nil {
			return targets.PodInfo{}, false
		}
		return targets.PodInfoFromPod(&pod), true
	}
	in.Healthy = r.healthyBackends(b)
	if err := r.readEndpoints(ctx, b, &in); err != nil {
		return targets.Result{}, 0, err
	}
	res, err := targets.Desired(in)
	if err != nil {
		return targets.Result{}, 0, &invalidInputError{err: err}
	}
	r.memory.Store(key, &desiredMemory{drainingSince: res.DrainingSince, retire: res.Memory,
		warnedNoEndpoints: mem.warnedNoEndpoints, warnedSkipped: mem.warnedSkipped, warnedWeights: mem.warnedWeights})
	missing := 0
	if in.Binding.ReadinessGate && in.Binding.TargetType == targets.TargetTypePod {
		gate := networkingv1alpha1.ReadinessGateConditionType(b.Name)
		for _, pod := range in.Pods {
			if _, gated := pod.ReadinessGates[gate]; !gated && !pod.Terminating {
				missing++
			}
		}
	}
	return res, missing, nil
}

// readEndpoints fills in the EndpointSlices, pods and nodes the target type needs.
func (r *CLBBackendBindingReconciler) readEndpoints(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding, in *targets.Input) error {
	// Read in place, not copied: targets.Desired does not modify its input, and a binding's
	// reconcile copied its Service's slices and every pod of them.
	var slices discoveryv1.EndpointSliceList
	if err := r.List(ctx, &slices, client.InNamespace(b.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: b.Spec.ServiceRef.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing EndpointSlices of Service %s/%s: %w", b.Namespace, b.Spec.ServiceRef.Name, err)
	}
	in.EndpointSlices = slices.Items
	if b.Spec.TargetType == networkingv1alpha1.TargetTypeNode {
		if b.Spec.NodeSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.NodeSelector)
			if err != nil {
				return &invalidInputError{err: fmt.Errorf("spec.nodeSelector: %w", err)}
			}
			in.Binding.NodeSelector = sel
		}
		var nodes corev1.NodeList
		if err := r.List(ctx, &nodes); err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		in.Nodes = nodes.Items
		return nil
	}
	in.Pods = map[string]targets.PodInfo{}
	for i := range slices.Items {
		for _, ep := range slices.Items[i].Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			var pod corev1.Pod
			err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: ep.TargetRef.Name}, &pod, client.UnsafeDisableDeepCopy)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("reading pod %s/%s: %w", b.Namespace, ep.TargetRef.Name, err)
			default:
				in.Pods[pod.Name] = targets.PodInfoFromPod(&pod)
			}
		}
	}
	return nil
}

// syncBinding translates the binding for the load balancer worker.
// slowStart is the binding's warm-up, 0 without one.
func slowStart(b *networkingv1alpha1.CLBBackendBinding) time.Duration {
	if b.Spec.SlowStart == nil {
		return 0
	}
	return time.Duration(b.Spec.SlowStart.Seconds) * time.Second
}

func (r *CLBBackendBindingReconciler) syncBinding(b *networkingv1alpha1.CLBBackendBinding, desired []targets.Target, deleting bool) lbsync.Binding {
	out := lbsync.Binding{
		Key:            client.ObjectKeyFromObject(b),
		UID:            b.UID,
		LoadBalancerID: b.Spec.LoadBalancerID,
		Listener:       lbsync.ListenerRef{ID: b.Spec.Listener.ID, Port: int64(b.Spec.Listener.Port), Protocol: string(b.Spec.Listener.Protocol)},
		OwnerTag:       targets.OwnerTag(r.ClusterID, b.UID),
		Exclusive:      !b.Spec.MultiCluster,
		Share:          b.Spec.TrafficShare,
		SlowStart:      slowStart(b),
		ByInstance:     b.Spec.TargetType == networkingv1alpha1.TargetTypeNode,
		Desired:        desired,
		Deleting:       deleting,
		CreatedAt:      b.CreationTimestamp.Time,
	}
	if rule := b.Spec.Rule; rule != nil {
		out.Rule = &lbsync.RuleRef{LocationID: rule.LocationID, Domain: rule.Domain, URL: rule.URL}
	}
	if t := b.Status.LastSyncTime; t != nil {
		out.StoredSyncTime = t.Time
	}
	return out
}

// patchStatus writes status once, only when it changed.
func (r *CLBBackendBindingReconciler) patchStatus(ctx context.Context, stored, b *networkingv1alpha1.CLBBackendBinding) error {
	if equality.Semantic.DeepEqual(stored.Status, b.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, b, client.MergeFrom(stored)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("writing status of %s/%s: %w", b.Namespace, b.Name, err))
	}
	return nil
}

// Synced receives the load balancer worker's report: it records events for the writes and
// queues the binding so its status follows.
func (r *CLBBackendBindingReconciler) Synced(key types.NamespacedName, uid types.UID, st lbsync.Status, c lbsync.Changes) {
	ref := &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, UID: uid}}
	ref.SetGroupVersionKind(networkingv1alpha1.GroupVersion.WithKind("CLBBackendBinding"))
	if r.Recorder != nil {
		if c.Repaired {
			r.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, repairedReason, "Sync", "%s", repairNote(c))
		} else {
			for _, e := range changeEvents(c) {
				r.Recorder.Eventf(ref, nil, corev1.EventTypeNormal, e.reason, "Sync", "%s", e.note)
			}
		}
		if c.Vanished > 0 {
			r.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, backendsVanishedReason, "Sync",
				"%d backends of %s were no longer on the CLB when the controller went to change them: someone removed them "+
					"by hand or with another tool; they were left out of the write, and wanted ones are registered again",
				c.Vanished, scopeOf(c.ListenerID, c.LocationID))
		}
		if c.Degraded != "" {
			// The writes went through, but the cloud failed, throttled or slowed calls on the way.
			r.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, cloudRetriedReason, "Sync", "%s", c.Degraded)
		}
		if st.Err != nil || (!st.Synced && !st.Cleaned && st.Reason != "") {
			r.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, st.Reason, "Sync", "%s", st.Message)
		}
		switch st.Share.Reason {
		case networkingv1alpha1.TrafficShareUnreachableReason, networkingv1alpha1.TrafficShareDoNotAddUpReason:
			r.Recorder.Eventf(ref, nil, corev1.EventTypeWarning, st.Share.Reason, "Sync", "%s", st.Share.Message)
		}
	}
	r.reports.add(key)
}

// healthChanged queues the bindings of load balancers whose health view changed: status.healthy
// and make before break follow the latest poll.
func (r *CLBBackendBindingReconciler) healthChanged(changed []networkingv1alpha1.CLBBackendBinding) {
	for i := range changed {
		r.reports.add(client.ObjectKeyFromObject(&changed[i]))
	}
}

// bindingsOn lists the bindings of the load balancers whose health view changed, by the
// load balancer index: a poll that changes a few of 500 load balancers copies their bindings only.
func bindingsOn(c client.Reader, lbIDs []string) []networkingv1alpha1.CLBBackendBinding {
	var out []networkingv1alpha1.CLBBackendBinding
	for _, id := range lbIDs {
		var list networkingv1alpha1.CLBBackendBindingList
		if err := c.List(context.Background(), &list, client.MatchingFields{loadBalancerIndex: id}); err != nil {
			continue // the next poll that sees a change reports again
		}
		out = append(out, list.Items...)
	}
	return out
}

// warnNewCondition records a Warning event for a Ready condition the reconcile itself found
// (the Service or its port is missing) when it is new: the worker's findings arrive as events
// through Synced.
func (r *CLBBackendBindingReconciler) warnNewCondition(stored, b *networkingv1alpha1.CLBBackendBinding) {
	c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
	old := meta.FindStatusCondition(stored.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
	if r.Recorder == nil || c == nil || c.Status == metav1.ConditionTrue ||
		(old != nil && old.Reason == c.Reason && old.Message == c.Message) {
		return
	}
	r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, c.Reason, "Reconcile", "%s", c.Message)
}

// cloudRetriedReason is the Event reason of a pass whose writes succeeded only after retries.
const cloudRetriedReason = "CloudRetried"

// backendsVanishedReason is the Event reason of a pass that found backends removed out of band.
const backendsVanishedReason = "BackendsRemovedOutOfBand"

// repairedReason is the Event reason of a pass that undid changes made outside the controller.
const repairedReason = "RepairedOutOfBand"

// repairNote says what a pass put back after someone changed the CLB behind the controller.
func repairNote(c lbsync.Changes) string {
	var parts []string
	if c.Registered > 0 {
		parts = append(parts, fmt.Sprintf("re-registered %s removed outside the controller", backends(c.Registered)))
	}
	if c.Deregistered > 0 {
		parts = append(parts, fmt.Sprintf("removed %s added outside the controller (%s)", backends(c.Deregistered), c.DeregisteredNames))
	}
	if c.Reweighted > 0 {
		parts = append(parts, fmt.Sprintf("restored the weight of %s changed outside the controller", backends(c.Reweighted)))
	}
	if c.Retagged > 0 {
		parts = append(parts, fmt.Sprintf("restored the tag of %s changed outside the controller", backends(c.Retagged)))
	}
	return strings.Join(parts, "; ") + " on " + scopeOf(c.ListenerID, c.LocationID) + "; the CLB holds what the binding wants again"
}

// backends is "1 backend" or "n backends".
func backends(n int) string {
	if n == 1 {
		return "1 backend"
	}
	return fmt.Sprintf("%d backends", n)
}

type changeEvent struct{ reason, note string }

func changeEvents(c lbsync.Changes) []changeEvent {
	where := scopeOf(c.ListenerID, c.LocationID)
	var out []changeEvent
	if c.Registered > 0 {
		out = append(out, changeEvent{"Registered", fmt.Sprintf("registered %d targets on %s", c.Registered, where)})
	}
	if c.Reweighted > 0 {
		out = append(out, changeEvent{"Reweighted", fmt.Sprintf("changed the weight of %d targets on %s", c.Reweighted, where)})
	}
	if c.Deregistered > 0 {
		out = append(out, changeEvent{"Deregistered", fmt.Sprintf("deregistered %d targets from %s", c.Deregistered, where)})
	}
	return out
}

// SetupWithManager registers the reconciler, its index and its watches.
func (r *CLBBackendBindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Syncer == nil || r.ClusterID == "" {
		return errors.New("CLBBackendBindingReconciler: Client, Syncer and ClusterID must be set")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.reports = &reportQueue{low: true}
	return ctrl.NewControllerManagedBy(mgr).
		For(&networkingv1alpha1.CLBBackendBinding{}, builder.WithPredicates(r.queuedBy(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, deletionPredicate())))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfService)).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfEndpointSlice)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.podBindings), builder.WithPredicates(podChangePredicate())).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.nodeBindings), builder.WithPredicates(nodeChangePredicate())).
		WatchesRawSource(r.reports.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("clbbackendbinding").
		Complete(r)
}

func deletionPredicate() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func (r *CLBBackendBindingReconciler) bindingsOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.bindingsByService(ctx, o.GetNamespace(), o.GetName())
}

func (r *CLBBackendBindingReconciler) bindingsOfEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	return r.bindingsByService(ctx, o.GetNamespace(), svc)
}

func (r *CLBBackendBindingReconciler) bindingsByService(ctx context.Context, namespace, service string) []reconcile.Request {
	var list networkingv1alpha1.CLBBackendBindingList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{serviceRefIndex: service}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing bindings of a Service", "Service", klog.KRef(namespace, service))
		return nil
	}
	return r.queued(list.Items, func(networkingv1alpha1.CLBBackendBinding) bool { return true })
}

// podBindings maps a pod to the Pod-mode bindings it matters to: those of the Services that
// select it, and those whose readiness gate it carries (a pod the Service no longer selects may
// still be retiring there). Other bindings of the namespace never hear of it.
func (r *CLBBackendBindingReconciler) podBindings(ctx context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	var services corev1.ServiceList
	// Every pod event lists the namespace's Services: read them in place (they are only
	// matched), or a namespace of many Services and pods spends the manager's CPU on copies.
	if err := r.List(ctx, &services, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing the Services of a namespace", "namespace", pod.Namespace)
		return nil
	}
	seen := map[types.NamespacedName]bool{}
	var out []reconcile.Request
	add := func(list []networkingv1alpha1.CLBBackendBinding) {
		out = append(out, r.queued(list, func(b networkingv1alpha1.CLBBackendBinding) bool {
			key := client.ObjectKeyFromObject(&b)
			if seen[key] || b.Spec.TargetType == networkingv1alpha1.TargetTypeNode {
				return false
			}
			seen[key] = true
			return true
		})...)
	}
	for i := range services.Items {
		svc := &services.Items[i]
		if selects(svc, pod) {
			var list networkingv1alpha1.CLBBackendBindingList
			if err := r.List(ctx, &list, client.InNamespace(pod.Namespace), client.MatchingFields{serviceRefIndex: svc.Name}, client.UnsafeDisableDeepCopy); err == nil {
				add(list.Items)
			}
		}
	}
	for _, gate := range pod.Spec.ReadinessGates {
		if name, ours := strings.CutPrefix(string(gate.ConditionType), networkingv1alpha1.ReadinessGatePrefix); ours {
			var b networkingv1alpha1.CLBBackendBinding
			if err := r.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, &b); err == nil {
				add([]networkingv1alpha1.CLBBackendBinding{b})
			}
		}
	}
	return out
}

// selects reports whether the Service's selector matches the pod's labels, as the EndpointSlice
// controller matches them; a Service without a selector has its EndpointSlices written by hand,
// so any pod may be in them. It allocates nothing: a cold start matches every pod against every
// Service of its namespace (10 million matches for 100,000 pods in namespaces of 100 Services).
func selects(svc *corev1.Service, pod *corev1.Pod) bool {
	for k, v := range svc.Spec.Selector {
		if got, ok := pod.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (r *CLBBackendBindingReconciler) nodeBindings(ctx context.Context, _ client.Object) []reconcile.Request {
	var list networkingv1alpha1.CLBBackendBindingList
	if err := r.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing bindings")
		return nil
	}
	return r.queued(list.Items, func(b networkingv1alpha1.CLBBackendBinding) bool {
		return b.Spec.TargetType == networkingv1alpha1.TargetTypeNode
	})
}

func requests(items []networkingv1alpha1.CLBBackendBinding, keep func(networkingv1alpha1.CLBBackendBinding) bool) []reconcile.Request {
	var out []reconcile.Request
	for _, b := range items {
		if keep(b) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&b)})
		}
	}
	return out
}

// queued returns the requests of the bindings kept and tells the Syncer they are queued for a
// reconcile: their workers hold their next write for the change (lbsync's group commit).
func (r *CLBBackendBindingReconciler) queued(items []networkingv1alpha1.CLBBackendBinding, keep func(networkingv1alpha1.CLBBackendBinding) bool) []reconcile.Request {
	return requests(items, func(b networkingv1alpha1.CLBBackendBinding) bool {
		if !keep(b) {
			return false
		}
		r.Syncer.Expect(client.ObjectKeyFromObject(&b), b.Spec.LoadBalancerID)
		return true
	})
}

// queuedBy passes the binding events p passes, telling the Syncer of each (see queued).
func (r *CLBBackendBindingReconciler) queuedBy(p predicate.Predicate) predicate.Funcs {
	mark := func(o client.Object, pass bool) bool {
		if b, ok := o.(*networkingv1alpha1.CLBBackendBinding); ok && pass {
			r.Syncer.Expect(client.ObjectKeyFromObject(b), b.Spec.LoadBalancerID)
		}
		return pass
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return mark(e.Object, p.Create(e)) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return mark(e.ObjectNew, p.Update(e)) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return mark(e.Object, p.Delete(e)) },
		GenericFunc: func(e event.GenericEvent) bool { return mark(e.Object, p.Generic(e)) },
	}
}

// podChangePredicate passes the pod changes that can change registration: those of the fields
// internal/targets reads (targets.PodFingerprint), so the watch cannot drift from the logic.
func podChangePredicate() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldPod, okOld := e.ObjectOld.(*corev1.Pod)
		newPod, okNew := e.ObjectNew.(*corev1.Pod)
		return !okOld || !okNew || targets.PodFingerprint(oldPod) != targets.PodFingerprint(newPod)
	}}
}

// nodeChangePredicate passes the node changes that can change Node-mode targets: those of the
// fields internal/targets reads (targets.NodeFingerprint), taints of a node an autoscaler is about
// to remove among them.
func nodeChangePredicate() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldNode, okOld := e.ObjectOld.(*corev1.Node)
		newNode, okNew := e.ObjectNew.(*corev1.Node)
		return !okOld || !okNew || targets.NodeFingerprint(oldNode) != targets.NodeFingerprint(newNode)
	}}
}
