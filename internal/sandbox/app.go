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
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// App is a web Deployment behind a Service, bound to the sandbox's listener: what the demo and
// the e2e suite roll.
type App struct {
	Namespace, Name string
	Replicas        int32
	// MaxSurge is the Deployment's rolling update surge (default 1; maxUnavailable is always 0).
	MaxSurge int32
	// ContainerPort is where each pod listens (default 8080); the Service port is 80.
	ContainerPort int32
	// PreStop is the containers' preStop sleep (default 5s).
	PreStop time.Duration
	// DrainSeconds is the binding's drain (default 5).
	DrainSeconds int32
	// InjectGate adds the readiness gate to the pod template, as the webhook would. Without it,
	// and with the manager's webhooks on, Deploy waits until the webhook injects the gate before
	// it creates the Deployment.
	InjectGate bool
	// NoReadinessGate turns the binding's readinessGate off: pods turn Ready without waiting for
	// the CLB (what the gate prevents).
	NoReadinessGate bool
	// ListenerID is the listener to bind (default: the sandbox's, ListenerID). A binding owns its
	// listener, so apps deployed side by side each need their own (AddListener).
	ListenerID string
	// ListenerPort makes the binding name its listener by port and TCP instead of by ID, as a
	// binding that must survive the listener being re-created does. Look still reads ListenerID.
	ListenerPort int32
	// MultiCluster sets the binding's spec.multiCluster: it shares its listener with other
	// clusters and changes only the backends it registered.
	MultiCluster bool
}

func (a *App) defaults() {
	if a.Namespace == "" {
		a.Namespace = "demo"
	}
	if a.Name == "" {
		a.Name = "web"
	}
	if a.Replicas == 0 {
		a.Replicas = 4
	}
	if a.MaxSurge == 0 {
		a.MaxSurge = 1
	}
	if a.ContainerPort == 0 {
		a.ContainerPort = 8080
	}
	if a.PreStop == 0 {
		a.PreStop = 5 * time.Second
	}
	if a.DrainSeconds == 0 {
		a.DrainSeconds = 5
	}
}

func (a App) listenerRef(listenerID string) networkingv1alpha1.ListenerReference {
	if a.ListenerPort != 0 {
		return networkingv1alpha1.ListenerReference{Port: a.ListenerPort, Protocol: networkingv1alpha1.ProtocolTCP}
	}
	return networkingv1alpha1.ListenerReference{ID: listenerID}
}

// Labels and port names of the sandbox's apps and of the injection probe.
const (
	appLabel     = "app"
	httpPortName = "http"
)

func (a App) labels() map[string]string { return map[string]string{appLabel: a.Name} }

// WantsGate reports whether the app's pods carry a readiness gate.
func (a App) WantsGate() bool { return !a.NoReadinessGate }

// Gate is the readiness gate condition type of the app's binding.
func (a App) Gate() corev1.PodConditionType {
	return corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(a.Name))
}

// Objects are the namespace (opted in to gate injection), Service, binding and Deployment, in
// the order they must be created: the webhook injects a gate only into pods whose binding and
// Service it already knows.
func (a App) Objects(lbID, listenerID string) []client.Object {
	a.defaults()
	labels := a.labels()
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.example/clbind/echo-pod-name:v1",
				Ports: []corev1.ContainerPort{{Name: httpPortName, ContainerPort: a.ContainerPort, Protocol: corev1.ProtocolTCP}},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
					Sleep: &corev1.SleepAction{Seconds: int64(a.PreStop / time.Second)},
				}},
			}},
		},
	}
	if a.InjectGate && a.WantsGate() {
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: a.Gate()}}
	}
	return []client.Object{
		optedInNamespace(a.Namespace),
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: httpPortName, Port: 80, TargetPort: intstr.FromString(httpPortName), Protocol: corev1.ProtocolTCP}},
			},
		},
		&networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name},
			Spec: networkingv1alpha1.CLBBackendBindingSpec{
				LoadBalancerID: lbID,
				Listener:       a.listenerRef(listenerID),
				ServiceRef:     networkingv1alpha1.ServiceReference{Name: a.Name, Port: intstr.FromInt32(80)},
				Weight:         ptr.To[int32](10),
				Drain:          &networkingv1alpha1.DrainSpec{Seconds: a.DrainSeconds},
				ReadinessGate:  new(a.WantsGate()),
				MultiCluster:   a.MultiCluster,
			},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: new(a.Replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: pod,
				Strategy: appsv1.DeploymentStrategy{
					Type: appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{
						MaxSurge: new(intstr.FromInt32(a.MaxSurge)), MaxUnavailable: new(intstr.FromInt32(0)),
					},
				},
			},
		},
	}
}

// bindingAdmitTimeout bounds the wait for the validating webhook to admit an app's binding: its
// cache may not have seen the policy that allows it, created a moment before.
const bindingAdmitTimeout = 30 * time.Second

// Deploy creates the app's objects, bound to the sandbox's listener (or app.ListenerID). The
// manager enforces CLBBindingPolicies by default: a policy must allow the app's namespace to bind
// the sandbox's load balancer (AllowNamespaces) before Deploy, or the binding is refused. When
// the webhook is to inject the gate (webhooks on, gate wanted, not InjectGate), it creates the
// Deployment only once a dry-run pod of the app gets its gate: otherwise the first pods can be
// admitted before the webhook's cache has seen the new binding, and run without a gate.
func (s *Sandbox) Deploy(ctx context.Context, app App) error {
	app.defaults()
	for _, obj := range app.Objects(s.lbID, s.appListener(app)) {
		if _, isDeployment := obj.(*appsv1.Deployment); isDeployment && s.Webhooks() && app.WantsGate() && !app.InjectGate {
			if err := s.waitAppInjection(ctx, app); err != nil {
				return err
			}
		}
		if b, isBinding := obj.(*networkingv1alpha1.CLBBackendBinding); isBinding && s.Webhooks() {
			if err := s.CreateBinding(ctx, b, bindingAdmitTimeout); err != nil {
				return err
			}
			continue
		}
		if err := s.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

func (s *Sandbox) appListener(app App) string {
	if app.ListenerID != "" {
		return app.ListenerID
	}
	return s.listener
}

// Scale sets the app's replicas (app.Replicas is left alone: pass the new value on to Look's
// callers, for example WaitSettled(ctx, app with Replicas = replicas)).
func (s *Sandbox) Scale(ctx context.Context, app App, replicas int32) error {
	app.defaults()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	if err := s.client.Patch(ctx, dep, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("scaling deployment %s/%s to %d: %w", app.Namespace, app.Name, replicas, err)
	}
	return nil
}

// Restart starts a rolling update of the app, as `kubectl rollout restart` does.
func (s *Sandbox) Restart(ctx context.Context, app App) error {
	app.defaults()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339Nano))
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	if err := s.client.Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("restarting deployment %s/%s: %w", app.Namespace, app.Name, err)
	}
	return nil
}

// PodView is one pod as the live view shows it.
type PodView struct {
	Name, IP, Phase string
	// Ready and Gate are the pod's Ready and readiness gate conditions ("" when missing).
	Ready, Gate     corev1.ConditionStatus
	ContainersReady corev1.ConditionStatus
	Terminating     bool
	Revision        string
}

// BackendView is one CLB backend as the live view shows it.
type BackendView struct {
	IP     string
	Port   int64
	Weight int64
	Health string
	Pod    string
}

// View is the app's pods and the listener's backends at one moment.
type View struct {
	Pods     []PodView
	Backends []BackendView
	// Generation checks: the Deployment finished rolling out its current template.
	RolledOut bool
	// Binding is the binding's Ready condition reason, or "".
	Binding string
}

// Serving counts the backends the CLB sends traffic to: healthy (Alive) with weight > 0.
func (v View) Serving() int {
	n := 0
	for _, b := range v.Backends {
		if b.Health == "Alive" && b.Weight > 0 {
			n++
		}
	}
	return n
}

// Settled reports whether every pod is Ready and not terminating, the rollout is complete and
// the CLB has exactly the pods' addresses, all healthy with weight > 0.
func (v View) Settled(replicas int) bool {
	if !v.RolledOut || len(v.Pods) != replicas || len(v.Backends) != replicas {
		return false
	}
	ips := map[string]bool{}
	for _, p := range v.Pods {
		if p.Terminating || p.Ready != corev1.ConditionTrue {
			return false
		}
		ips[p.IP] = true
	}
	for _, b := range v.Backends {
		if !ips[b.IP] || b.Weight == 0 || b.Health != "Alive" {
			return false
		}
	}
	return true
}

// Look reads the app's pods, the Deployment and the listener's backends.
func (s *Sandbox) Look(ctx context.Context, app App) (View, error) {
	app.defaults()
	var v View
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels(app.labels())); err != nil {
		return v, fmt.Errorf("listing pods: %w", err)
	}
	byIP := map[string]string{}
	for _, p := range pods.Items {
		pv := PodView{Name: p.Name, IP: p.Status.PodIP, Phase: string(p.Status.Phase), Terminating: p.DeletionTimestamp != nil,
			Ready: conditionStatus(&p, corev1.PodReady), Gate: conditionStatus(&p, app.Gate()),
			ContainersReady: conditionStatus(&p, corev1.ContainersReady), Revision: p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]}
		v.Pods = append(v.Pods, pv)
		if pv.IP != "" {
			byIP[pv.IP] = p.Name
		}
	}
	slices.SortFunc(v.Pods, func(a, b PodView) int { return strings.Compare(a.Name, b.Name) })
	var dep appsv1.Deployment
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, &dep); err == nil {
		st := dep.Status
		want := ptr.Deref(dep.Spec.Replicas, 1)
		v.RolledOut = st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want &&
			st.AvailableReplicas == want && st.Replicas == want
	}
	var b networkingv1alpha1.CLBBackendBinding
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, &b); err == nil {
		for _, c := range b.Status.Conditions {
			if c.Type == networkingv1alpha1.BindingReadyCondition {
				v.Binding = c.Reason
			}
		}
	}
	// Health comes from clbsim itself, not through the API: the view must not meet the faults
	// a spec injects, nor add to the calls it counts.
	listener := s.appListener(app)
	for _, t := range s.cloud.Sim.TargetsHealth(s.lbID) {
		if t.ListenerID != listener {
			continue
		}
		v.Backends = append(v.Backends, BackendView{IP: t.EniIP, Port: t.Port, Weight: t.Weight, Health: t.Health, Pod: byIP[t.EniIP]})
	}
	return v, nil
}

// WaitSettled waits until View.Settled holds for the app.
func (s *Sandbox) WaitSettled(ctx context.Context, app App, timeout time.Duration) error {
	app.defaults()
	return s.WaitFor(ctx, timeout, fmt.Sprintf("%s/%s to settle (%d pods Ready, rolled out, all on the CLB and healthy)",
		app.Namespace, app.Name, app.Replicas), func(ctx context.Context) (bool, string, error) {
		if err := s.managerErr(); err != nil {
			return false, "", err
		}
		v, err := s.Look(ctx, app)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // a failed read is retried by the next poll
		}
		return v.Settled(int(app.Replicas)), v.Summary(), nil
	})
}

func (s *Sandbox) managerErr() error {
	if s.manager == nil {
		return nil
	}
	return s.manager.ErrExited()
}

// Summary is a one-line description of a view.
func (v View) Summary() string {
	ready, gated, terminating := 0, 0, 0
	for _, p := range v.Pods {
		if p.Ready == corev1.ConditionTrue {
			ready++
		}
		if p.Gate == corev1.ConditionTrue {
			gated++
		}
		if p.Terminating {
			terminating++
		}
	}
	return fmt.Sprintf("pods %d (ready %d, gate True %d, terminating %d), rolled out %v, backends %d (serving %d), binding %q",
		len(v.Pods), ready, gated, terminating, v.RolledOut, len(v.Backends), v.Serving(), v.Binding)
}
