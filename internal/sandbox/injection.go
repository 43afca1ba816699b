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
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// The injection probe: a namespace opted in to gate injection, a Service and a binding on a
// listener of its own (bindings own their listener), which never has endpoints, and the
// CLBBindingPolicy that allows the namespace to bind that listener (ProbeNamespace). Start creates it
// when the manager runs its webhooks and leaves it in place, so that a restarted manager is proven
// the same way.
const (
	// ProbeNamespace holds the injection probe's Service and binding; the CLBBindingPolicy that
	// allows it has the same name.
	ProbeNamespace = "clbind-sandbox-probe"
	// probeName names the probe's Service, binding and its pods' app label.
	probeName = "probe"
	// probeListenerPort is the port of the probe binding's listener.
	probeListenerPort = 65001
	// injectionTimeout bounds the wait for the webhook to inject a gate into a dry-run pod.
	injectionTimeout = 60 * time.Second
)

// Why a probe: the manager being ready and the webhook configuration carrying its CA do not mean
// the next pod gets its gate. The API server picks new webhook configurations up from its own
// informer, the webhook reads bindings and Services from the manager's cache, and the pod
// webhook's failurePolicy is Ignore, so any of these lagging lets a pod through without a gate,
// silently. A server-side dry-run creation goes through the real admission chain and persists
// nothing: once its answer carries the gate, injection works end to end.

// proveInjection creates the probe (once) and waits until a dry-run pod of it gets its gate.
func (s *Sandbox) proveInjection(ctx context.Context) error {
	if s.probeListener == "" {
		s.probeListener = s.cloud.Sim.AddListener(s.lbID, "TCP", probeListenerPort)
	}
	// The manager enforces binding policies by default: the probe's namespace may bind the probe
	// listener, and nothing else.
	probePolicy := AllowPolicy(ProbeNamespace, []string{s.lbID}, ProbeNamespace)
	probePolicy.Spec.Listeners = []networkingv1alpha1.ListenerMatch{{ID: s.probeListener}}
	objs := []client.Object{
		probePolicy,
		optedInNamespace(ProbeNamespace),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ProbeNamespace, Name: probeName},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{appLabel: probeName},
				Ports:    []corev1.ServicePort{{Name: httpPortName, Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			},
		},
		&networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ProbeNamespace, Name: probeName},
			Spec: networkingv1alpha1.CLBBackendBindingSpec{
				LoadBalancerID: s.lbID,
				Listener:       networkingv1alpha1.ListenerReference{ID: s.probeListener},
				ServiceRef:     networkingv1alpha1.ServiceReference{Name: probeName, Port: intstr.FromInt32(80)},
				ReadinessGate:  new(true),
			},
		},
	}
	t := time.Now()
	gate := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(probeName))
	// The binding goes through the manager's validating webhook, which may refuse it for a moment
	// while the API server catches up with the new configuration: creations are retried too.
	err := s.waitFor(ctx, injectionTimeout, "the pod webhook to inject readiness gates (dry-run pod in "+ProbeNamespace+")",
		func(ctx context.Context) (bool, string, error) {
			if err := s.managerErr(); err != nil {
				return false, "", err
			}
			for _, obj := range objs {
				if err := s.client.Create(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsAlreadyExists(err) {
					return false, fmt.Sprintf("creating %T %s: %v", obj, obj.GetName(), err), nil
				}
			}
			return s.dryRunGate(ctx, ProbeNamespace, map[string]string{appLabel: probeName}, gate)
		})
	if err != nil {
		return err
	}
	s.logf("  readiness gate injection proven with a dry-run pod in %s (%v)", ProbeNamespace, s.since(t))
	return nil
}

// dryRunGate creates a pod with labels in namespace as a server-side dry run and reports
// whether the API server's answer carries gate.
func (s *Sandbox) dryRunGate(ctx context.Context, namespace string, labels map[string]string, gate corev1.PodConditionType) (bool, string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "injection-probe", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.example/clbind/probe:v1"}}},
	}
	if err := s.client.Create(ctx, pod, client.DryRunAll); err != nil {
		return false, fmt.Sprintf("dry-run pod: %v", err), nil
	}
	if slices.ContainsFunc(pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == gate }) {
		return true, "", nil
	}
	return false, fmt.Sprintf("dry-run pod in %s got readiness gates %v, want %s", namespace, pod.Spec.ReadinessGates, gate), nil
}

// waitAppInjection waits until a pod of the app would get the app's gate from the webhook.
func (s *Sandbox) waitAppInjection(ctx context.Context, app App) error {
	return s.WaitFor(ctx, injectionTimeout, fmt.Sprintf("the pod webhook to inject %s into pods of %s/%s", app.Gate(), app.Namespace, app.Name),
		func(ctx context.Context) (bool, string, error) {
			if err := s.managerErr(); err != nil {
				return false, "", err
			}
			return s.dryRunGate(ctx, app.Namespace, app.labels(), app.Gate())
		})
}

// WaitGateInjection waits until a pod with labels in namespace would get the readiness gate of
// the binding named binding from the webhook (a server-side dry run through the real admission
// chain), for pods that are not an App's: their labels differ from the binding's name.
func (s *Sandbox) WaitGateInjection(ctx context.Context, namespace string, labels map[string]string, binding string) error {
	gate := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(binding))
	return s.WaitFor(ctx, injectionTimeout, fmt.Sprintf("the pod webhook to inject %s into pods labelled %v in %s", gate, labels, namespace),
		func(ctx context.Context) (bool, string, error) {
			if err := s.managerErr(); err != nil {
				return false, "", err
			}
			return s.dryRunGate(ctx, namespace, labels, gate)
		})
}

// OptedInNamespace is a namespace opted in to readiness gate injection, as Deploy creates it.
func OptedInNamespace(name string) *corev1.Namespace { return optedInNamespace(name) }

func optedInNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled,
	}}}
}

// Listener is a TCP listener of the sandbox's load balancer, with its data plane.
type Listener struct {
	ID string
	// DataPlane is the local address forwarding to its healthy backends ("" without a data plane).
	DataPlane string
}

// AddListener adds a TCP listener on port to the sandbox's load balancer and serves its data
// plane. A binding owns its listener (unless multiCluster), so apps that run side by side each
// need one.
func (s *Sandbox) AddListener(port int64) (Listener, error) {
	l := Listener{ID: s.cloud.Sim.AddListener(s.lbID, "TCP", port)}
	if s.netns == nil {
		return l, nil
	}
	var err error
	if l.DataPlane, err = s.cloud.Sim.ServeListener(s.lbID, l.ID); err != nil {
		return l, fmt.Errorf("serving the data plane of listener %s: %w", l.ID, err)
	}
	s.logf("listener %s on port %d, data plane %s", l.ID, port, l.DataPlane)
	return l, nil
}
