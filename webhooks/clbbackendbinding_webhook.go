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

package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// LoadBalancerIDIndex indexes bindings by spec.loadBalancerId in the manager's cache, for the
// duplicate-listener lookup.
const LoadBalancerIDIndex = "webhooks.spec.loadBalancerId"

// SetupCLBBackendBindingWebhookWithManager registers the binding validator and the cache index
// and informers it uses.
func SetupCLBBackendBindingWebhookWithManager(mgr ctrl.Manager, opts Options) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &networkingv1alpha1.CLBBackendBinding{}, LoadBalancerIDIndex,
		func(obj client.Object) []string {
			return []string{obj.(*networkingv1alpha1.CLBBackendBinding).Spec.LoadBalancerID}
		}); err != nil {
		return fmt.Errorf("indexing bindings by load balancer: %w", err)
	}
	informers := []client.Object{&corev1.Service{}}
	v := &CLBBackendBindingValidator{Reader: mgr.GetClient()}
	if opts.EnforcePolicies {
		informers = append(informers, &corev1.Namespace{}, &networkingv1alpha1.CLBBindingPolicy{})
		v.Policies = NewPolicyChecker(mgr.GetClient(), opts.Cloud, opts.Clock).WithLiveReader(mgr.GetAPIReader())
	}
	for _, obj := range informers {
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj); err != nil {
			return err
		}
	}
	return ctrl.NewWebhookManagedBy(mgr, &networkingv1alpha1.CLBBackendBinding{}).
		WithValidator(v).
		Complete()
}

// +kubebuilder:webhook:path=/validate-networking-clbind-io-v1alpha1-clbbackendbinding,mutating=false,failurePolicy=fail,sideEffects=None,groups=networking.clbind.io,resources=clbbackendbindings,verbs=create;update,versions=v1alpha1,name=vclbbackendbinding.clbind.io,admissionReviewVersions=v1,timeoutSeconds=10

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbindingpolicies,verbs=get;list;watch

// CLBBackendBindingValidator checks what the CRD's CEL rules cannot: rules that need other objects.
// It refuses a second binding on the same listener (or rule) unless both are multiCluster, with
// Policies a binding no CLBBindingPolicy allows, and warns about Services that are missing or
// cannot work with the binding.
type CLBBackendBindingValidator struct {
	// Reader is the manager's cache-backed client; it must have LoadBalancerIDIndex.
	Reader client.Reader
	// Policies is nil when policies are not enforced.
	Policies *PolicyChecker
}

// ValidateCreate validates a new binding.
func (v *CLBBackendBindingValidator) ValidateCreate(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	return v.validate(ctx, nil, b)
}

// ValidateUpdate validates a changed binding, for example multiCluster turned off while another
// binding shares the listener, or turned on or off where no policy allows it. Updates that change
// neither multiCluster nor the Service (the controller's finalizer and metadata updates among
// them), and updates of a binding being deleted, are let through unchecked: a conflict that
// already exists, or a binding a policy no longer allows, is reported by the controller in
// status, and refusing those updates would only wedge the binding.
func (v *CLBBackendBindingValidator) ValidateUpdate(ctx context.Context, old, b *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	if !b.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return v.validate(ctx, old, b)
}

// ValidateDelete allows every deletion: the finalizer cleans up.
func (v *CLBBackendBindingValidator) ValidateDelete(_ context.Context, _ *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	return nil, nil
}

// validate checks a new binding (old nil) or an update of one.
func (v *CLBBackendBindingValidator) validate(ctx context.Context, old, b *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	var warnings admission.Warnings
	if old == nil || old.Spec.ServiceRef != b.Spec.ServiceRef {
		var err error
		if warnings, err = v.serviceWarnings(ctx, b); err != nil {
			return nil, err
		}
	}
	if old != nil && old.Spec.MultiCluster == b.Spec.MultiCluster {
		return warnings, nil // the load balancer, listener and rule are immutable (CEL)
	}

	others, err := v.othersOnTarget(ctx, b)
	if err != nil {
		return nil, err
	}
	var allErrs field.ErrorList
	var neighbors []*networkingv1alpha1.CLBBackendBinding
	for _, other := range others {
		if SharesByTraffic(b, other) {
			continue // they split the listener's traffic; the controller checks that the shares add up
		}
		if b.Spec.MultiCluster && other.Spec.MultiCluster {
			if other.Namespace != b.Namespace {
				neighbors = append(neighbors, other)
			}
			continue
		}
		path := field.NewPath("spec", "listener")
		what := "listener " + describeListener(other)
		if b.Spec.Rule != nil {
			path = field.NewPath("spec", "rule")
			what = "rule " + describeRule(other) + " of listener " + describeListener(other)
		}
		msg := fmt.Sprintf("%s of load balancer %s is already bound by CLBBackendBinding %s/%s; "+
			"two bindings may share a listener or rule only if both set spec.multiCluster, or both set spec.trafficShare in one namespace", what, b.Spec.LoadBalancerID, other.Namespace, other.Name)
		if !other.DeletionTimestamp.IsZero() {
			msg += " (that binding is being deleted: retry once it is gone)"
		}
		allErrs = append(allErrs, field.Forbidden(path, msg))
	}
	// The policies come first: a namespace that may not bind the listener learns nothing of the
	// bindings of other namespaces on it.
	if v.Policies != nil {
		refused, err := v.checkPolicies(ctx, b, neighbors)
		if err != nil {
			return warnings, err
		}
		if len(refused) > 0 {
			allErrs = refused
		}
	}

	if len(allErrs) > 0 {
		return warnings, apierrors.NewInvalid(bindingGroupKind, b.Name, allErrs)
	}
	return warnings, nil
}

// policyCheckTimeout bounds the cloud reads of one admission below the webhook's 10 s timeout,
// so that a slow or throttled CLB API gets our message (what failed, retry) rather than the API
// server's bare timeout.
const policyCheckTimeout = 7 * time.Second

var bindingGroupKind = networkingv1alpha1.SchemeGroupVersion.WithKind("CLBBackendBinding").GroupKind()

// othersOnTarget returns the other bindings on b's listener or rule.
func (v *CLBBackendBindingValidator) othersOnTarget(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) ([]*networkingv1alpha1.CLBBackendBinding, error) {
	var list networkingv1alpha1.CLBBackendBindingList
	if err := v.Reader.List(ctx, &list, client.MatchingFields{LoadBalancerIDIndex: b.Spec.LoadBalancerID}); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("listing bindings of load balancer %s: %w", b.Spec.LoadBalancerID, err))
	}
	var out []*networkingv1alpha1.CLBBackendBinding
	for i := range list.Items {
		other := &list.Items[i]
		if (other.Namespace != b.Namespace || other.Name != b.Name) && SameTarget(b, other) {
			out = append(out, other)
		}
	}
	return out, nil
}

// checkPolicies refuses b unless a CLBBindingPolicy allows it, with the policy's message as is.
// A cloud read that fails refuses it too, as retriable: admitting it unchecked would let any
// namespace in whenever the cloud API is slow.
func (v *CLBBackendBindingValidator) checkPolicies(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding,
	neighbors []*networkingv1alpha1.CLBBackendBinding) (field.ErrorList, error) {
	ctx, cancel := context.WithTimeout(ctx, policyCheckTimeout)
	defer cancel()
	d, err := v.Policies.Check(ctx, b, neighbors)
	if cloudErr, ok := errors.AsType[*CloudError](err); ok {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("the CLBBindingPolicies that may allow namespace %s to bind load balancer %s "+
			"could not be checked: %v; retry in a few seconds, and if it persists check that the manager reaches the CLB API "+
			"and that its credentials may call DescribeLoadBalancers and DescribeListeners", b.Namespace, b.Spec.LoadBalancerID, cloudErr))
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("checking the CLBBindingPolicies of namespace %s: %w", b.Namespace, err))
	}
	if d.Allowed {
		return nil, nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec", "loadBalancerId"), d.Message)}, nil
}

// serviceWarnings warns, without refusing, about a Service that does not exist (yet) or that
// cannot give the binding what it needs.
func (v *CLBBackendBindingValidator) serviceWarnings(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding) (admission.Warnings, error) {
	var svc corev1.Service
	key := types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.ServiceRef.Name}
	if err := v.Reader.Get(ctx, key, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return admission.Warnings{fmt.Sprintf("spec.serviceRef.name: Service %s does not exist; the binding registers no backends until it does", key)}, nil
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("reading Service %s: %w", key, err))
	}
	var warnings admission.Warnings
	targetType := b.Spec.TargetType
	if targetType == "" {
		targetType = networkingv1alpha1.TargetTypePod
	}
	switch targetType {
	case networkingv1alpha1.TargetTypePod:
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			warnings = append(warnings, fmt.Sprintf("spec.serviceRef.name: Service %s is headless (clusterIP: None); "+
				"pod targets follow its EndpointSlices, check that they list the pods and port you expect", key))
		}
		if len(svc.Spec.Selector) == 0 {
			warnings = append(warnings, fmt.Sprintf("spec.serviceRef.name: Service %s has no selector; "+
				"its EndpointSlices are managed by hand and no pod gets the readiness gate of this binding", key))
		}
	case networkingv1alpha1.TargetTypeNode:
		if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			warnings = append(warnings, fmt.Sprintf("spec.serviceRef.name: Service %s is of type %s and has no nodePort; "+
				"targetType Node needs a NodePort or LoadBalancer Service", key, svc.Spec.Type))
		}
	}
	return warnings, nil
}

// SameTarget reports whether two bindings on the same load balancer provably point at the same
// listener and, for HTTP/HTTPS, the same rule, using only what the objects hold (no cloud calls).
// A listener is the same when both name it by port and protocol and those match, or when its ID is
// known on both sides (spec.listener.id, or status.listenerId once the controller resolved a port)
// and matches. A rule is the same when neither binding names one (the whole listener), or when
// both name one and the location IDs (spec or status) or domain and URL match. A binding with a
// rule and one without are never reported: one of them is invalid, and the controller says which.
func SameTarget(a, b *networkingv1alpha1.CLBBackendBinding) bool {
	if a.Spec.LoadBalancerID != b.Spec.LoadBalancerID || !sameListener(a, b) {
		return false
	}
	ra, rb := a.Spec.Rule, b.Spec.Rule
	if ra == nil || rb == nil {
		return ra == nil && rb == nil
	}
	if la, lb := locationID(a), locationID(b); la != "" && la == lb {
		return true
	}
	return ra.Domain != "" && strings.EqualFold(ra.Domain, rb.Domain) && ra.URL == rb.URL
}

// SharesByTraffic reports whether two bindings on one listener or rule split its traffic by
// spec.trafficShare: both set it, in one namespace, with the same spec.multiCluster (the
// controller refuses any other pair as a conflict).
func SharesByTraffic(a, b *networkingv1alpha1.CLBBackendBinding) bool {
	return a.Spec.TrafficShare != nil && b.Spec.TrafficShare != nil && a.Namespace == b.Namespace &&
		a.Spec.MultiCluster == b.Spec.MultiCluster
}

func sameListener(a, b *networkingv1alpha1.CLBBackendBinding) bool {
	la, lb := a.Spec.Listener, b.Spec.Listener
	if la.Port != 0 && la.Port == lb.Port && la.Protocol == lb.Protocol {
		return true
	}
	ida, idb := listenerID(a), listenerID(b)
	return ida != "" && ida == idb
}

func listenerID(b *networkingv1alpha1.CLBBackendBinding) string {
	if b.Spec.Listener.ID != "" {
		return b.Spec.Listener.ID
	}
	return b.Status.ListenerID
}

func locationID(b *networkingv1alpha1.CLBBackendBinding) string {
	if b.Spec.Rule != nil && b.Spec.Rule.LocationID != "" {
		return b.Spec.Rule.LocationID
	}
	return b.Status.LocationID
}

func describeListener(b *networkingv1alpha1.CLBBackendBinding) string {
	l := b.Spec.Listener
	if l.ID != "" {
		return l.ID
	}
	s := fmt.Sprintf("%s:%d", l.Protocol, l.Port)
	if b.Status.ListenerID != "" {
		s += " (" + b.Status.ListenerID + ")"
	}
	return s
}

func describeRule(b *networkingv1alpha1.CLBBackendBinding) string {
	r := b.Spec.Rule
	if r.LocationID != "" {
		return r.LocationID
	}
	s := r.Domain + r.URL
	if b.Status.LocationID != "" {
		s += " (" + b.Status.LocationID + ")"
	}
	return s
}
