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

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// SetupCLBHealthWebhookWithManager registers the CLBHealth validator.
func SetupCLBHealthWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &networkingv1alpha1.CLBHealth{}).
		WithValidator(&CLBHealthValidator{Reader: mgr.GetClient()}).
		Complete()
}

// The failure policy is Ignore: the controller itself creates CLBHealths, which must not wait for
// the webhook server, and it checks spec.healthCheck against the listener again before any write.
// +kubebuilder:webhook:path=/validate-networking-clbind-io-v1alpha1-clbhealth,mutating=false,failurePolicy=ignore,sideEffects=None,groups=networking.clbind.io,resources=clbhealths,verbs=create;update,versions=v1alpha1,name=vclbhealth.clbind.io,admissionReviewVersions=v1,timeoutSeconds=5

// CLBHealthValidator refuses a spec.healthCheck that the listener of the CLBHealth's binding
// (same name and namespace) cannot take, when the binding tells enough about the listener: its
// protocol when it names the listener by port and protocol, or whether it is HTTP/HTTPS (a rule)
// or not. The CRD's CEL rules check everything that does not depend on the listener.
type CLBHealthValidator struct {
	// Reader is the manager's cache-backed client.
	Reader client.Reader
}

// ValidateCreate validates a new CLBHealth.
func (v *CLBHealthValidator) ValidateCreate(ctx context.Context, h *networkingv1alpha1.CLBHealth) (admission.Warnings, error) {
	return v.validate(ctx, h)
}

// ValidateUpdate validates a CLBHealth whose spec.healthCheck changes. Other updates are let
// through: a binding's listener is immutable, so an accepted health check stays acceptable.
func (v *CLBHealthValidator) ValidateUpdate(ctx context.Context, old, h *networkingv1alpha1.CLBHealth) (admission.Warnings, error) {
	if !h.DeletionTimestamp.IsZero() || equality.Semantic.DeepEqual(old.Spec.HealthCheck, h.Spec.HealthCheck) {
		return nil, nil
	}
	return v.validate(ctx, h)
}

// ValidateDelete allows every deletion.
func (v *CLBHealthValidator) ValidateDelete(_ context.Context, _ *networkingv1alpha1.CLBHealth) (admission.Warnings, error) {
	return nil, nil
}

// l4Protocols are the protocols of a listener that takes backends without a rule.
var l4Protocols = []string{"TCP", "UDP", "TCP_SSL", "QUIC"}

func (v *CLBHealthValidator) validate(ctx context.Context, h *networkingv1alpha1.CLBHealth) (admission.Warnings, error) {
	if h.Spec.HealthCheck == nil {
		return nil, nil
	}
	var b networkingv1alpha1.CLBBackendBinding
	if err := v.Reader.Get(ctx, client.ObjectKeyFromObject(h), &b); err != nil {
		if apierrors.IsNotFound(err) {
			return admission.Warnings{fmt.Sprintf("spec.healthCheck: CLBBackendBinding %s/%s does not exist; "+
				"the health check is checked against its listener once it does", h.Namespace, h.Name)}, nil
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("reading CLBBackendBinding %s/%s: %w", h.Namespace, h.Name, err))
	}
	// The protocols the binding's listener may have: known, or narrowed by spec.rule.
	protocols, known := []string{string(b.Spec.Listener.Protocol)}, true
	switch {
	case b.Spec.Listener.Protocol != "":
	case b.Spec.Rule != nil:
		protocols, known = []string{"HTTP", "HTTPS"}, false
	default:
		protocols, known = l4Protocols, false
	}
	check := lbsync.HealthCheckFromSpec(h.Spec.HealthCheck)
	var first *clb.InvalidHealthCheckError
	for _, p := range protocols {
		err := clb.ValidateHealthCheck(p, clb.CompleteHealthCheck(p, nil, check))
		invalid, ok := errors.AsType[*clb.InvalidHealthCheckError](err)
		if !ok {
			return nil, nil // the listener may take it; the controller checks again with its real protocol
		}
		if first == nil {
			first = invalid
		}
	}
	problem := first.Problem
	if by, ok := strings.CutPrefix(problem, "is required by "); ok {
		problem = by + " requires it" // after "Required value: "
	}
	detail := fmt.Sprintf("%s; %s (CLBBackendBinding %s is on %s)", problem, first.Fix, b.Name, listenerOf(&b))
	if !known {
		detail = fmt.Sprintf("CLBBackendBinding %s is on %s, a %s listener, and none of these takes the check: %s; %s",
			b.Name, listenerOf(&b), strings.Join(protocols, " or "), problem, first.Fix)
	}
	path := specPath(lbsync.HealthCheckSpecPath(first.Field))
	var fieldErr *field.Error
	if value := fieldValue(check, first.Field); value == "" {
		fieldErr = field.Required(path, detail)
	} else {
		fieldErr = field.Invalid(path, value, detail)
	}
	return nil, apierrors.NewInvalid(networkingv1alpha1.SchemeGroupVersion.WithKind("CLBHealth").GroupKind(), h.Name, field.ErrorList{fieldErr})
}

// listenerOf names the binding's listener for messages.
func listenerOf(b *networkingv1alpha1.CLBBackendBinding) string {
	l := "listener " + describeListener(b)
	if b.Spec.Rule != nil {
		l = "rule " + describeRule(b) + " of " + l
	}
	return l + " of " + b.Spec.LoadBalancerID
}

// specPath turns "spec.healthCheck.type" into a field path.
func specPath(dotted string) *field.Path {
	parts := strings.Split(dotted, ".")
	return field.NewPath(parts[0], parts[1:]...)
}

// fieldValue is the value the check gives a field of the CLB API, as named by
// InvalidHealthCheckError.
func fieldValue(hc clb.HealthCheck, name string) string {
	switch name {
	case "CheckType":
		return hc.CheckType
	case "HttpCheckDomain":
		return hc.HTTPCheckDomain
	case "HttpVersion":
		return hc.HTTPVersion
	case "ContextType":
		return hc.ContextType
	case "SendContext":
		return hc.SendContext
	case "RecvContext":
		return hc.RecvContext
	}
	return ""
}
