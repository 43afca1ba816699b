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

package sandbox

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Binding policies. The manager enforces CLBBindingPolicies by default: its validating webhook
// refuses a binding that no policy allows, and its load balancer workers write nothing for one.
// Whatever starts the manager and creates bindings therefore creates a policy first, the one a
// cluster admin creates by following the README: these namespaces may bind these load balancers.

// AllowPolicy is the CLBBindingPolicy name that lets the bindings of namespaces bind every
// listener of the load balancers lbIDs, exclusively or not (spec.exclusive is left to its
// default, Allowed). Nothing is created: see ApplyPolicy and (*Sandbox).AllowNamespaces.
func AllowPolicy(name string, lbIDs []string, namespaces ...string) *networkingv1alpha1.CLBBindingPolicy {
	p := &networkingv1alpha1.CLBBindingPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingv1alpha1.GroupVersion.String(), Kind: "CLBBindingPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces: networkingv1alpha1.NamespaceSelection{Names: append([]string(nil), namespaces...)},
		},
	}
	for _, id := range lbIDs {
		p.Spec.LoadBalancers = append(p.Spec.LoadBalancers, networkingv1alpha1.LoadBalancerMatch{ID: id})
	}
	return p
}

// ApplyPolicy creates the policy, or gives an existing policy of the same name p's spec. On
// success p holds the object as the API server stored it (defaults filled in).
func ApplyPolicy(ctx context.Context, c client.Client, p *networkingv1alpha1.CLBBindingPolicy) error {
	err := c.Create(ctx, p)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CLBBindingPolicy %s: %w", p.Name, err)
	}
	spec := p.Spec
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKey{Name: p.Name}, p); err != nil {
			return err
		}
		p.Spec = spec
		return c.Update(ctx, p)
	})
	if err != nil {
		return fmt.Errorf("updating CLBBindingPolicy %s: %w", p.Name, err)
	}
	return nil
}

// AllowNamespaces creates (or updates) the CLBBindingPolicy policyName that lets the bindings
// of namespaces bind every listener of the load balancers lbIDs (AllowPolicy), and returns it as
// stored.
func (s *Sandbox) AllowNamespaces(ctx context.Context, policyName string, lbIDs []string, namespaces ...string) (*networkingv1alpha1.CLBBindingPolicy, error) {
	p := AllowPolicy(policyName, lbIDs, namespaces...)
	if err := ApplyPolicy(ctx, s.client, p); err != nil {
		return nil, err
	}
	s.logf("CLBBindingPolicy %s: namespaces %v may bind load balancers %v", policyName, namespaces, lbIDs)
	return p, nil
}

// ApplyPolicy creates or updates p with the sandbox's admin client (see ApplyPolicy).
func (s *Sandbox) ApplyPolicy(ctx context.Context, p *networkingv1alpha1.CLBBindingPolicy) error {
	return ApplyPolicy(ctx, s.client, p)
}

// PolicyYAML renders p the way a user writes it for kubectl apply: apiVersion, kind,
// metadata.name and spec, nothing the API server added but the spec's defaults.
func PolicyYAML(p *networkingv1alpha1.CLBBindingPolicy) (string, error) {
	out := networkingv1alpha1.CLBBindingPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingv1alpha1.GroupVersion.String(), Kind: "CLBBindingPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name},
		Spec:       p.Spec,
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("rendering CLBBindingPolicy %s: %w", p.Name, err)
	}
	// An empty ObjectMeta marshals creationTimestamp: null, which no one writes by hand.
	return strings.ReplaceAll(string(b), "  creationTimestamp: null\n", ""), nil
}

// CreateBinding creates b once the manager's validating webhook admits it. The webhook reads
// policies and bindings from the manager's cache, which may not have seen a policy created a
// moment ago: until timeout, a refusal is retried as a server-side dry run (which persists
// nothing), and b is created for real once a dry run passes. After timeout the last refusal is
// returned: no policy allows b, or the webhook refuses it for another reason.
func (s *Sandbox) CreateBinding(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding, timeout time.Duration) error {
	var last error
	err := s.waitFor(ctx, timeout, fmt.Sprintf("the validating webhook to admit CLBBackendBinding %s/%s", b.Namespace, b.Name),
		func(ctx context.Context) (bool, string, error) {
			last = s.client.Create(ctx, b.DeepCopy(), client.DryRunAll)
			if last != nil {
				return false, last.Error(), nil //nolint:nilerr // a refusal is retried by the next poll
			}
			return true, "", nil
		})
	if err != nil {
		if last != nil {
			return fmt.Errorf("creating CLBBackendBinding %s/%s: %w", b.Namespace, b.Name, last)
		}
		return err
	}
	if err := s.client.Create(ctx, b); err != nil {
		return fmt.Errorf("creating CLBBackendBinding %s/%s: %w", b.Namespace, b.Name, err)
	}
	return nil
}

// bindingWebhook is the name of the validating webhook for CLBBackendBindings.
const bindingWebhook = "vclbbackendbinding.clbind.io"

// BypassAdmission runs fn while the API server admits CLBBackendBindings without the manager's
// validating webhook, as when a cluster admin deletes the webhook configuration or runs the
// manager without webhooks: what the manager's second check, before every cloud write, is for.
//
// The manager repairs a deleted or changed configuration within moments, so it is stopped first:
// BypassAdmission kills it (SIGKILL), deletes every validating webhook configuration that holds
// the binding webhook, waits until the API server admits a binding the webhook would refuse (a
// dry run of a second binding on the injection probe's listener), runs fn, then restarts the
// manager, which recreates the configuration, and returns once the API server sends bindings
// through the webhook again (the same dry run is refused). Pods created meanwhile get no
// readiness gate (the pod webhook's failurePolicy is Ignore) and gates turn True for no one:
// call it while the apps in the sandbox are settled. It needs the manager's webhooks (Webhooks).
func (s *Sandbox) BypassAdmission(ctx context.Context, fn func(ctx context.Context) error) error {
	if !s.Webhooks() || s.probeListener == "" {
		return fmt.Errorf("BypassAdmission needs the manager's webhooks (Options.Webhooks)")
	}
	if err := s.KillManager(); err != nil {
		return fmt.Errorf("killing the manager: %w", err)
	}
	var list admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := s.client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing the validating webhook configurations: %w", err)
	}
	deleted := 0
	for i := range list.Items {
		for _, w := range list.Items[i].Webhooks {
			if w.Name != bindingWebhook {
				continue
			}
			if err := client.IgnoreNotFound(s.client.Delete(ctx, &list.Items[i])); err != nil {
				return fmt.Errorf("deleting ValidatingWebhookConfiguration %s: %w", list.Items[i].Name, err)
			}
			s.logf("ValidatingWebhookConfiguration %s deleted (manager down): bindings bypass admission", list.Items[i].Name)
			deleted++
			break
		}
	}
	if deleted == 0 {
		return fmt.Errorf("no validating webhook configuration holds %s", bindingWebhook)
	}
	err := s.WaitFor(ctx, 30*time.Second, "the API server to admit bindings without the webhook", func(ctx context.Context) (bool, string, error) {
		err := s.client.Create(ctx, s.duplicateProbeBinding(), client.DryRunAll)
		if err != nil {
			return false, "a dry-run duplicate binding is still refused: " + err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	fnErr := fn(ctx)
	if err := s.RestartManager(ctx); err != nil {
		return fmt.Errorf("restarting the manager after bypassing admission: %w (fn: %w)", err, fnErr)
	}
	err = s.WaitFor(ctx, 60*time.Second, "the API server to send bindings through the webhook again", func(ctx context.Context) (bool, string, error) {
		err := s.client.Create(ctx, s.duplicateProbeBinding(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return true, "", nil
		}
		return false, fmt.Sprintf("a dry-run duplicate binding is not refused by the webhook yet (%v)", err), nil
	})
	if err != nil {
		return err
	}
	s.logf("validating webhook back in the path")
	return fnErr
}

// duplicateProbeBinding is a second binding on the injection probe's listener, which the
// validating webhook refuses: a listener is bound once.
func (s *Sandbox) duplicateProbeBinding() *networkingv1alpha1.CLBBackendBinding {
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ProbeNamespace, Name: probeName + "-duplicate"},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: s.lbID,
			Listener:       networkingv1alpha1.ListenerReference{ID: s.probeListener},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: probeName, Port: intstr.FromInt32(80)},
			ReadinessGate:  new(false),
		},
	}
}
