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

// Package installcheck holds what the install tests (test/install: kubectl apply, test/olm: the
// OLM bundle, test/helm: the chart, test/argocd: Argo CD) share: an empty control plane, the
// installed manager run on the sandbox's pod host against clbsim, and
// the checks they share once it runs: the validating webhook refuses a binding no
// CLBBindingPolicy allows, and a binding on a load balancer clbsim has registers its Service's
// pod and turns it Ready.
package installcheck

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// WaitFor polls check every 200ms until it reports done, fails, or timeout passes; the failure
// names what was awaited and the last state check reported.
func WaitFor(ctx context.Context, t testing.TB, timeout time.Duration, what string, check func() (done bool, state string, err error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	state := ""
	for {
		done, s, err := check()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if done {
			return
		}
		state = s
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Policy allows namespace ns to bind load balancer lb.
func Policy(name, ns, lb string) *networkingv1alpha1.CLBBindingPolicy {
	return &networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:    networkingv1alpha1.NamespaceSelection{Names: []string{ns}},
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{ID: lb}},
		},
	}
}

// RefusedWithoutPolicy waits until the validating webhook refuses binding (a dry run) with a
// message naming its namespace and load balancer: enforcement is the installed default.
func RefusedWithoutPolicy(ctx context.Context, t testing.TB, c client.Client, binding *networkingv1alpha1.CLBBackendBinding) {
	t.Helper()
	WaitFor(ctx, t, 30*time.Second, "the validating webhook to refuse a binding no CLBBindingPolicy allows", func() (bool, string, error) {
		err := c.Create(ctx, binding.DeepCopy(), client.DryRunAll)
		if err == nil {
			return false, "admitted", nil
		}
		msg := err.Error()
		return strings.Contains(msg, "no CLBBindingPolicy allows namespace "+binding.Namespace) &&
			strings.Contains(msg, binding.Spec.LoadBalancerID), msg, nil
	})
}

// syncedName names the Service, the binding and the app label of Sync's pods ("api-0").
const syncedName = "api"

// Synced is what Sync created and saw registered.
type Synced struct {
	LoadBalancer, Listener string
	Binding                *networkingv1alpha1.CLBBackendBinding
	Pod                    *corev1.Pod
}

// Sync checks that a binding on a load balancer that exists syncs through the installed
// manager, under its ServiceAccount's RBAC and with its credentials: in namespace ns (which
// exists and opts in to readiness gates) it adds a load balancer with a TCP listener to sim, a
// CLBBindingPolicy allowing it, a Service "api" and its binding; once the binding is reconciled
// (its finalizer), a pod "api-0" gets its readiness gate at creation, the manager registers it on
// the listener, the binding turns Ready, and once clbsim's health check passes the pod's
// readiness gate does, so the pod turns Ready.
func Sync(ctx context.Context, t testing.TB, c client.Client, sim *clbsim.Sim, ns, lbName string) Synced {
	t.Helper()
	s := Synced{LoadBalancer: sim.AddLoadBalancer(lbName)}
	s.Listener = sim.AddListener(s.LoadBalancer, "TCP", 80)
	policy := Policy(ns+"-synced", ns, s.LoadBalancer)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: syncedName},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": syncedName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	s.Binding = &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: syncedName},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: s.LoadBalancer,
			Listener:       networkingv1alpha1.ListenerReference{ID: s.Listener},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: syncedName, Port: intstr.FromInt32(80)},
		},
	}
	for _, obj := range []client.Object{policy, svc, s.Binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	// The binding is in the injector's cache once it has a finalizer: the pod then gets its gate.
	WaitFor(ctx, t, 30*time.Second, "the binding to be reconciled", func() (bool, string, error) {
		var b networkingv1alpha1.CLBBackendBinding
		if err := c.Get(ctx, client.ObjectKeyFromObject(s.Binding), &b); err != nil {
			return false, "", err
		}
		return slices.Contains(b.Finalizers, networkingv1alpha1.DeregisterTargetsFinalizer), fmt.Sprint(b.Finalizers), nil
	})
	gate := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(syncedName))
	s.Pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: syncedName + "-0", Labels: map[string]string{"app": syncedName}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: syncedName, Image: "registry.example/api:1"}}},
	}
	if err := c.Create(ctx, s.Pod); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(s.Pod.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == gate }) {
		t.Fatalf("pod api-0 was created without gate %s: %v", gate, s.Pod.Spec.ReadinessGates)
	}
	// The stand-in kubelet runs it and gives it an address.
	WaitFor(ctx, t, 60*time.Second, "the binding to register the pod on the CLB, and the pod to turn Ready", func() (bool, string, error) {
		return s.Serving(ctx, c, sim)
	})
	return s
}

// Serving reports whether the pod is registered on the listener (its IP and port 8080), the
// binding Ready and the pod Ready, and a description of what it saw.
func (s Synced) Serving(ctx context.Context, c client.Client, sim *clbsim.Sim) (bool, string, error) {
	var pod corev1.Pod
	if err := c.Get(ctx, client.ObjectKeyFromObject(s.Pod), &pod); err != nil {
		return false, "", err
	}
	var b networkingv1alpha1.CLBBackendBinding
	if err := c.Get(ctx, client.ObjectKeyFromObject(s.Binding), &b); err != nil {
		return false, "", err
	}
	targets := sim.Targets(s.LoadBalancer)
	registered := pod.Status.PodIP != "" && slices.ContainsFunc(targets, func(tg clbsim.Target) bool {
		return tg.ListenerID == s.Listener && tg.EniIP == pod.Status.PodIP && tg.Port == 8080
	})
	bindingReady := meta.IsStatusConditionTrue(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
	podReady := false
	for _, c := range pod.Status.Conditions {
		podReady = podReady || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
	}
	return registered && bindingReady && podReady, fmt.Sprintf("pod %s ready=%v, targets %+v, binding conditions %+v",
		pod.Status.PodIP, podReady, targets, b.Status.Conditions), nil
}

// GoBuild builds the package pkg (for example ./cmd/manager) of the module at root into out.
func GoBuild(ctx context.Context, root, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// StartCLB starts the emulated CLB API the installed manager talks to. Pod addresses of the
// stand-in kubelet come from 198.18.0.0/15: the load balancer's VPC holds them, as with VPC-CNI.
func StartCLB(t testing.TB) *simtest.Server {
	t.Helper()
	sim, err := simtest.Start(clbsim.Options{
		VpcID: simtest.VpcID, HealthInterval: time.Second,
		VPCCIDRs: map[string][]netip.Prefix{simtest.VpcID: append(clbsim.DefaultVPCCIDRs(), netip.MustParsePrefix("198.18.0.0/15"))},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// StartPods starts what runs the installed Deployment's pods (sandbox.StartPodHost) against
// sim, each image in images run as the manager binary it maps to; only the CLB endpoint is
// added to the pod's own arguments. It stops with the test, logging the end of each manager
// pod's log when the test failed.
func StartPods(ctx context.Context, t testing.TB, cfg *rest.Config, dir string, images map[string]string, sim *simtest.Server,
	namespace, deployment string) *sandbox.PodHost {
	t.Helper()
	pods, err := sandbox.StartPodHost(ctx, sandbox.PodHostOptions{
		Config: cfg, Dir: dir, Images: images,
		Args: []string{"--clb-endpoint=" + sim.Endpoint, "--clb-scheme=HTTP"},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if running, err := pods.PodsOf(context.Background(), namespace, deployment); err == nil {
				for _, p := range running {
					t.Logf("pod %s: manager log %s (end):\n%s", p.Name, p.LogPath(), p.Tail(60))
				}
			}
		}
		pods.Stop()
	})
	return pods
}
