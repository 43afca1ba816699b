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

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/clbind/clb-binding-controller/plugins/argo-rollouts/trafficrouter"
)

var rolloutResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// TestRolloutWithTheArgoRolloutsController runs the real Argo Rollouts controller
// (ARGO_ROLLOUTS_CONTROLLER, which `make argo-rollouts` builds, with its CRDs next to it in crds/)
// against envtest, with the plugin installed through argo-rollouts-config, and updates a Rollout
// whose first step is setWeight 25: the controller must start the plugin, the plugin must set the
// bindings' shares to 75/25, and the Rollout must not leave the step until the bindings' status
// (written here the way the binding controller would) says the CLB has the new weights. There is
// no kubelet: ReplicaSets are marked available by the test.
func TestRolloutWithTheArgoRolloutsController(t *testing.T) {
	controller := os.Getenv("ARGO_ROLLOUTS_CONTROLLER")
	if controller == "" {
		t.Skip("set ARGO_ROLLOUTS_CONTROLLER to bin/argo-rollouts/rollouts-controller (make argo-rollouts)")
	}
	g := NewWithT(t)
	cp := startControlPlane(t, filepath.Join(filepath.Dir(controller), "crds"))
	work := t.TempDir()
	installPlugin(t, cp, buildPlugin(t, work))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The stable and canary Services, bound to one listener at 100/0, as the controller reports.
	for _, svc := range []string{"web-stable", "web-canary"} {
		_, err := cp.kube.CoreV1().Services("shop").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	createBinding(g, cp.bindings, "web-stable", 100)
	createBinding(g, cp.bindings, "web-canary", 0)
	report(g, cp.bindings, "web-stable", "Reached", "", 100, "100.0", 0)
	report(g, cp.bindings, "web-canary", "Reached", "", 0, "0.0", 0)

	go markReplicaSetsAvailable(ctx, cp.kube, "shop")
	startRolloutsController(t, ctx, controller, cp.kubeconfig, work)

	rollouts := cp.dyn.Resource(rolloutResource).Namespace("shop")
	_, err := rollouts.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Rollout",
		"metadata":   map[string]any{"name": "web"},
		"spec": map[string]any{
			"replicas": int64(4),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "image": "registry.example.com/web:v1"},
				}},
			},
			"strategy": map[string]any{"canary": map[string]any{
				"stableService": "web-stable",
				"canaryService": "web-canary",
				"trafficRouting": map[string]any{
					"plugins": map[string]any{trafficrouter.DefaultName: map[string]any{}},
				},
				"steps": []any{
					map[string]any{"setWeight": int64(25)},
					map[string]any{"pause": map[string]any{}},
				},
			}},
		},
	}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	status := func(g Gomega, fields ...string) any {
		ro, err := rollouts.Get(ctx, "web", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		v, _, _ := unstructured.NestedFieldCopy(ro.Object, append([]string{"status"}, fields...)...)
		return v
	}
	// Revision 1 goes straight to stable.
	g.Eventually(func(g Gomega) {
		g.Expect(status(g, "stableRS")).NotTo(BeNil())
		g.Expect(status(g, "stableRS")).To(Equal(status(g, "currentPodHash")))
		g.Expect(status(g, "phase")).To(Equal("Healthy"))
	}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

	// Revision 2: setWeight 25 reaches the bindings through the plugin.
	_, err = rollouts.Patch(ctx, "web", k8stypes.MergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/web:v2"}]}}}}`), metav1.PatchOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) []int64 {
		return []int64{shareOf(g, cp.bindings, "web-stable"), shareOf(g, cp.bindings, "web-canary")}
	}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Equal([]int64{75, 25}))

	// Until the bindings report the new weights, the step does not complete.
	g.Eventually(func(g Gomega) {
		g.Expect(status(g, "canary", "weights", "verified")).To(BeFalse())
	}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(status(g, "currentStepIndex")).To(BeNumerically("==", 0))
	}).WithTimeout(12 * time.Second).WithPolling(time.Second).Should(Succeed())

	// The binding controller puts the weights on the CLB and says so: the Rollout moves to the
	// pause. (Argo Rollouts v1.10.1 leaves status.canary.weights.verified false in the API once it
	// has verified the weight: it sets it on the status it compares against, so no patch carries it.)
	report(g, cp.bindings, "web-stable", "Reached", "", 75, "75.0", 0)
	report(g, cp.bindings, "web-canary", "Reached", "", 25, "25.0", 0)
	g.Eventually(func(g Gomega) {
		g.Expect(status(g, "currentStepIndex")).To(BeNumerically("==", 1))
		g.Expect(status(g, "pauseConditions")).NotTo(BeEmpty())
	}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
}

// startRolloutsController starts the Argo Rollouts controller in dir (it copies plugins into
// dir/plugin-bin), stops it at the end of the test, and prints its log if the test failed.
func startRolloutsController(t *testing.T, ctx context.Context, bin, kubeconfig, dir string) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfig, "--leader-elect=false",
		"--metricsPort", fmt.Sprint(freePort(t)), "--healthzPort", fmt.Sprint(freePort(t)))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POD_NAMESPACE=argo-rollouts")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Argo Rollouts controller: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Argo Rollouts controller log:\n%s", log.String())
		}
	})
}

// markReplicaSetsAvailable stands in for the ReplicaSet controller and the kubelet: every
// ReplicaSet of namespace ns gets status saying all its replicas are available.
func markReplicaSetsAvailable(ctx context.Context, kube kubernetes.Interface, ns string) {
	for ctx.Err() == nil {
		list, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				rs := &list.Items[i]
				n := *rs.Spec.Replicas
				s := rs.Status
				if s.Replicas == n && s.AvailableReplicas == n && s.ReadyReplicas == n && s.ObservedGeneration == rs.Generation {
					continue
				}
				rs.Status.Replicas, rs.Status.FullyLabeledReplicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, n, n, n
				rs.Status.ObservedGeneration = rs.Generation
				_, _ = kube.AppsV1().ReplicaSets(ns).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
