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
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

const (
	// ComponentLabel and ComponentName identify this project's own pods: the manager Deployment
	// carries app.kubernetes.io/name=clb-binding-controller (config/manager/manager.yaml). Pods
	// with this label never get readiness gates: the pod webhook's objectSelector skips them, and
	// the injector checks again in case the configuration was edited.
	ComponentLabel = "app.kubernetes.io/name"
	// ComponentName is the value of ComponentLabel on this project's pods.
	ComponentName = "clb-binding-controller"
)

// SetupPodWebhookWithManager registers the pod readiness-gate injector. It reads bindings,
// Services and Namespaces through the manager's cache; the informers are registered here so that
// they start and sync with the manager, not on the first admission request.
func SetupPodWebhookWithManager(mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&corev1.Namespace{}, &corev1.Service{}, &networkingv1alpha1.CLBBackendBinding{}} {
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj); err != nil {
			return err
		}
	}
	return ctrl.NewWebhookManagedBy(mgr, &corev1.Pod{}).
		WithDefaulter(&PodReadinessGateInjector{Reader: mgr.GetClient()}).
		Complete()
}

// failurePolicy is Ignore: pod creation must never be blocked by this controller being down.
// Only namespaces labelled clbind.io/readiness-gate-inject=enabled reach the webhook, and never
// this project's own pods (see ComponentLabel).
// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.clbind.io,admissionReviewVersions=v1,timeoutSeconds=5,reinvocationPolicy=Never,patch=`{"namespaceSelector":{"matchLabels":{"clbind.io/readiness-gate-inject":"enabled"}},"objectSelector":{"matchExpressions":[{"key":"app.kubernetes.io/name","operator":"NotIn","values":["clb-binding-controller"]}]}}`

// +kubebuilder:rbac:groups=networking.clbind.io,resources=clbbackendbindings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;namespaces,verbs=get;list;watch

// PodReadinessGateInjector adds a readiness gate health.clbind.io/<binding> to pods that the
// Service of a binding with readinessGate on selects, in namespaces that opted in.
type PodReadinessGateInjector struct {
	// Reader is the manager's cache-backed client.
	Reader client.Reader
}

// Default injects the readiness gates into a pod being created. It never returns an error: an
// error would deny the pod, and this webhook must never block pod creation. On a read error the
// pod is admitted unchanged, and the binding's status.podsMissingGate shows it.
func (d *PodReadinessGateInjector) Default(ctx context.Context, pod *corev1.Pod) error {
	log := logf.FromContext(ctx)
	if pod.Labels[ComponentLabel] == ComponentName {
		return nil
	}
	namespace := pod.Namespace
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		namespace = req.Namespace
	}

	// The configuration's namespaceSelector already admits only opted-in namespaces; this second
	// check covers an edited configuration. A namespace the cache has not seen yet (just created)
	// is trusted to the selector.
	var ns corev1.Namespace
	switch err := d.Reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns); {
	case apierrors.IsNotFound(err):
	case err != nil:
		log.Error(err, "Reading the namespace; admitting the pod without readiness gates", "namespace", namespace)
		return nil
	case ns.Labels[networkingv1alpha1.InjectReadinessGateLabel] != networkingv1alpha1.InjectReadinessGateEnabled:
		return nil
	}

	var bindings networkingv1alpha1.CLBBackendBindingList
	if err := d.Reader.List(ctx, &bindings, client.InNamespace(namespace)); err != nil {
		log.Error(err, "Listing bindings; admitting the pod without readiness gates", "namespace", namespace)
		return nil
	}
	services := map[string]*corev1.Service{}
	for i := range bindings.Items {
		name := bindings.Items[i].Spec.ServiceRef.Name
		if _, seen := services[name]; seen {
			continue
		}
		var svc corev1.Service
		err := d.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &svc)
		switch {
		case apierrors.IsNotFound(err):
			services[name] = nil
		case err != nil:
			log.Error(err, "Reading a Service; admitting the pod without readiness gates", "service", name)
			return nil
		default:
			services[name] = &svc
		}
	}
	if added := InjectReadinessGates(pod, bindings.Items, services); len(added) > 0 {
		log.V(1).Info("Injected readiness gates", "pod", pod.Name, "generateName", pod.GenerateName, "gates", added)
	}
	return nil
}

// InjectReadinessGates adds to pod the readiness gate of every binding in bindings that wants
// one for it: readinessGate on (nil means on), targetType Pod, not being deleted, and its Service
// (services maps a Service name to the Service, or to nil when it does not exist) has a non-empty
// selector that matches the pod's labels. Gates already present are kept and never duplicated,
// so applying it twice changes nothing. It returns the condition types it added, in the order of
// the binding names.
func InjectReadinessGates(pod *corev1.Pod, bindings []networkingv1alpha1.CLBBackendBinding, services map[string]*corev1.Service) []string {
	podLabels := labels.Set(pod.Labels)
	var wanted []string
	for i := range bindings {
		b := &bindings[i]
		if !WantsReadinessGate(b) {
			continue
		}
		svc := services[b.Spec.ServiceRef.Name]
		if svc == nil || len(svc.Spec.Selector) == 0 {
			continue
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			continue
		}
		gate := networkingv1alpha1.ReadinessGateConditionType(b.Name)
		if len(validation.IsQualifiedName(gate)) != 0 {
			continue // an invalid condition type would make the API server refuse the pod
		}
		wanted = append(wanted, gate)
	}
	slices.Sort(wanted)
	wanted = slices.Compact(wanted)

	var added []string
	for _, gate := range wanted {
		if slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return string(g.ConditionType) == gate }) {
			continue
		}
		pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType(gate)})
		added = append(added, gate)
	}
	return added
}

// WantsReadinessGate reports whether a binding puts readiness gates on the pods it targets:
// targetType Pod (the default), readinessGate not false, and not being deleted.
func WantsReadinessGate(b *networkingv1alpha1.CLBBackendBinding) bool {
	if b.Spec.ReadinessGate != nil && !*b.Spec.ReadinessGate {
		return false
	}
	if b.Spec.TargetType != "" && b.Spec.TargetType != networkingv1alpha1.TargetTypePod {
		return false
	}
	return b.DeletionTimestamp.IsZero()
}
