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

package certs

import (
	"context"
	"fmt"
	"reflect"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	webhookmanifests "github.com/clbind/clb-binding-controller/config/webhook"
)

// webhookConfigKey is the one work item of the repair controller: every event leads to a check
// of all three objects.
var webhookConfigKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "webhook-configuration"}}

// webhookConfigResync is the watchdog period: a full check even when no event arrived.
const webhookConfigResync = 10 * time.Minute

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;list;watch;create;update

// WebhookConfigReconciler restores the webhook configurations and the certificate Secret. It
// checks them at start, on every change or deletion, and every ten minutes:
//   - a deleted MutatingWebhookConfiguration or ValidatingWebhookConfiguration is created again
//     from the definition the binary ships (config/webhook/manifests.yaml), pointed at Target;
//   - one whose webhooks were changed (rules, clientConfig, selectors, policies, or a caBundle
//     other than the Secret's CA) gets the shipped webhooks back;
//   - a deleted certificate Secret is created again, empty; cert-controller's rotator sees it,
//     generates a new CA and serving certificate, and injects the new CA.
//
// It runs on the leader only, so two versions of the manager never fight during an upgrade.
// Labels, annotations and other metadata of existing configurations are left alone. While the
// manager's namespace is being deleted (an uninstall), it repairs nothing: what an uninstall
// deletes stays deleted, rather than a webhook configuration left behind pointing at a manager
// that no longer runs.
type WebhookConfigReconciler struct {
	Client client.Client
	// Target says where the configurations point; its CABundle is ignored (the Secret's CA is used).
	Target webhookmanifests.Target
	// SecretKey is the certificate Secret.
	SecretKey types.NamespacedName
}

// Reconcile checks the Secret and both configurations, and repairs what is missing or changed.
func (r *WebhookConfigReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	if uninstalling, err := r.namespaceDeleted(ctx); err != nil || uninstalling {
		if uninstalling {
			log.Info("Repairing nothing: the manager's namespace is being deleted", "namespace", r.SecretKey.Namespace)
		}
		return ctrl.Result{}, err
	}
	var secret corev1.Secret
	var caBundle []byte
	err := r.Client.Get(ctx, r.SecretKey, &secret)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := EnsureSecret(ctx, r.Client, r.SecretKey); err != nil {
			return ctrl.Result{}, err
		}
		log.Info("Recreated the webhook certificate Secret; the rotator fills it with a new CA and certificate", "secret", r.SecretKey)
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading the webhook certificate Secret: %w", err)
	default:
		caBundle = secret.Data[CACertKey]
	}

	target := r.Target
	target.CABundle = caBundle
	mwc, vwc, err := webhookmanifests.Render(target)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureMutating(ctx, mwc, len(caBundle) > 0); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureValidating(ctx, vwc, len(caBundle) > 0); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: webhookConfigResync}, nil
}

// namespaceDeleted reports whether the manager's namespace (the certificate Secret's) is being
// deleted, or is gone.
func (r *WebhookConfigReconciler) namespaceDeleted(ctx context.Context) (bool, error) {
	var ns corev1.Namespace
	err := r.Client.Get(ctx, types.NamespacedName{Name: r.SecretKey.Namespace}, &ns)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the manager's namespace %s: %w", r.SecretKey.Namespace, err)
	}
	return !ns.DeletionTimestamp.IsZero(), nil
}

func (r *WebhookConfigReconciler) ensureMutating(ctx context.Context, desired *admissionregistrationv1.MutatingWebhookConfiguration, haveCA bool) error {
	var actual admissionregistrationv1.MutatingWebhookConfiguration
	return r.ensure(ctx, desired, &actual, func() bool {
		return syncWebhooks(desired.Webhooks, &actual.Webhooks, haveCA, func(w *admissionregistrationv1.MutatingWebhook) (string, *[]byte) {
			return w.Name, &w.ClientConfig.CABundle
		})
	})
}

func (r *WebhookConfigReconciler) ensureValidating(ctx context.Context, desired *admissionregistrationv1.ValidatingWebhookConfiguration, haveCA bool) error {
	var actual admissionregistrationv1.ValidatingWebhookConfiguration
	return r.ensure(ctx, desired, &actual, func() bool {
		return syncWebhooks(desired.Webhooks, &actual.Webhooks, haveCA, func(w *admissionregistrationv1.ValidatingWebhook) (string, *[]byte) {
			return w.Name, &w.ClientConfig.CABundle
		})
	})
}

// syncWebhooks makes actual equal to desired and reports whether it changed anything. Until the
// rotator has a CA (haveCA false), the live caBundle of each webhook is kept rather than erased.
func syncWebhooks[W any](desired []W, actual *[]W, haveCA bool, fields func(*W) (name string, caBundle *[]byte)) bool {
	if !haveCA {
		for i := range desired {
			name, ca := fields(&desired[i])
			for j := range *actual {
				if liveName, liveCA := fields(&(*actual)[j]); liveName == name {
					*ca = *liveCA
				}
			}
		}
	}
	if equality.Semantic.DeepEqual(desired, *actual) {
		return false
	}
	*actual = desired
	return true
}

// ensure creates desired when missing, or reads it into actual and, when repair reports a
// change it made to actual, updates it.
func (r *WebhookConfigReconciler) ensure(ctx context.Context, desired, actual client.Object, repair func() bool) error {
	log := logf.FromContext(ctx)
	kind := reflect.TypeOf(desired).Elem().Name()
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), actual)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, desired); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("recreating %s %s: %w", kind, desired.GetName(), err)
		}
		log.Info("Recreated a deleted webhook configuration", "kind", kind, "name", desired.GetName())
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", kind, desired.GetName(), err)
	}
	if !actual.GetDeletionTimestamp().IsZero() {
		return fmt.Errorf("%s %s is being deleted; recreating it once it is gone", kind, desired.GetName())
	}
	if !repair() {
		return nil
	}
	if err := r.Client.Update(ctx, actual); err != nil {
		return fmt.Errorf("repairing %s %s: %w", kind, desired.GetName(), err)
	}
	log.Info("Repaired a changed webhook configuration", "kind", kind, "name", desired.GetName())
	return nil
}

// SetupWithManager watches the two configurations and the Secret (the manager's cache must be
// restricted to that Secret, see SecretCacheConfig) and queues a check at start.
func (r *WebhookConfigReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toKey := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{webhookConfigKey}
	})
	named := func(namespace, name string) predicate.Predicate {
		return predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == namespace && o.GetName() == name
		})
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookconfig").
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toKey, builder.WithPredicates(named("", r.Target.MutatingName))).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toKey, builder.WithPredicates(named("", r.Target.ValidatingName))).
		Watches(&corev1.Secret{}, toKey, builder.WithPredicates(named(r.SecretKey.Namespace, r.SecretKey.Name))).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			q.Add(webhookConfigKey)
			return nil
		})).
		Complete(r)
}
