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

package helm

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
	"github.com/clbind/clb-binding-controller/internal/sandbox/installcheck"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const (
	// credentialsSecret is not the chart's default name: the value must reach the Deployment.
	credentialsSecret = "clb-credentials"
	clusterID         = "helm-test"
	// leaseName is the manager's --leader-election-id default.
	leaseName = "clb-binding-controller.clbind.io"
)

// TestHelmInstall installs the chart with the Helm SDK as the README says, on a control plane whose
// Deployments run (kube-controller-manager, kube-scheduler and the stand-in kubelet, which runs
// the manager's image as the binary built here, with the pod's args, env, volumes and
// ServiceAccount token: the chart's RBAC): the manager serves the webhooks, holds the leader
// Lease and syncs a binding through clbsim; an upgrade to three replicas with binding policies
// off reaches the cluster (a namespace no policy names binds), a rollback takes it back to two
// with policies on (that binding is Forbidden, a new one refused), and the README's uninstall
// order leaves no backend on the CLB and none of the chart's cluster-scoped objects.
func TestHelmInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane (bin/k8s) and builds the manager")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(90 * time.Second)
	g.SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	root, dir := repoRoot(t), t.TempDir()
	managerBin := filepath.Join(dir, "manager")
	built := make(chan error, 1)
	go func() { built <- goBuildManager(ctx, root, managerBin) }()

	chrt, err := loader.Load(filepath.Join(root, "charts", releaseName))
	g.Expect(err).NotTo(HaveOccurred())
	h := startCluster(t, dir)

	// The emulated CLB API with a load balancer to bind; the stand-in kubelet's pod addresses
	// (198.18.0.0/15) are in its VPC, as with VPC-CNI.
	sim, err := simtest.Start(clbsim.Options{
		VpcID: simtest.VpcID, HealthInterval: time.Second,
		VPCCIDRs: map[string][]netip.Prefix{simtest.VpcID: append(clbsim.DefaultVPCCIDRs(), netip.MustParsePrefix("198.18.0.0/15"))},
	}, t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(sim.Close)
	lb := sim.Sim.AddLoadBalancer("helm-test")
	listener := sim.Sim.AddListener(lb, "TCP", 80)

	// README: the namespace and the credentials Secret first, then helm install.
	g.Expect(h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	g.Expect(h.c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: credentialsSecret},
		StringData: map[string]string{"secretId": simtest.SecretID, "secretKey": simtest.SecretKey},
	})).To(Succeed())
	g.Expect(<-built).To(Succeed())
	vals := map[string]any{
		"region": simtest.Region, "clusterId": clusterID, "vpcId": simtest.VpcID,
		"credentials": map[string]any{"secretName": credentialsSecret},
	}
	image := fmt.Sprintf("%s:%s", lookup(chrt.Values, "image", "repository"), lookup(chrt.Values, "image", "tag"))
	pods, err := sandbox.StartPodHost(ctx, sandbox.PodHostOptions{
		Config: h.cfg, Dir: filepath.Join(dir, "pods"),
		Images: map[string]string{image: managerBin},
		Args:   []string{"--clb-endpoint=" + sim.Endpoint, "--clb-scheme=HTTP"},
		Logf:   t.Logf,
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		if t.Failed() {
			if run, err := pods.PodsOf(context.Background(), namespace, deploymentName); err == nil {
				for _, p := range run {
					t.Logf("pod %s: manager log (end):\n%s", p.Name, p.Tail(60))
				}
			}
		}
		pods.Stop()
	})

	t.Log("helm install")
	inst := action.NewInstall(h.helm)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = releaseName, namespace, true
	inst.ServerSideApply = false // see keepWebhookURLs
	inst.WaitStrategy, inst.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	_, err = inst.RunWithContext(ctx, chrt, vals)
	g.Expect(err).NotTo(HaveOccurred(), "helm install")
	h.expectRunning(ctx, g, pods, 2)

	// The webhooks serve: the validating webhook refuses a binding no policy allows (the chart's
	// default), then admits it once a policy does; the leader registers the Service's pod.
	shop := h.app(ctx, g, "shop", lb, listener)
	g.Eventually(func() string {
		return fmt.Sprint(h.c.Create(ctx, shop.DeepCopy(), client.DryRunAll))
	}).Should(ContainSubstring("no CLBBindingPolicy allows namespace shop"), "the validating webhook refuses a binding no policy allows")
	g.Expect(h.c.Create(ctx, newPolicy("shop", lb))).To(Succeed())
	g.Eventually(func() error { return h.c.Create(ctx, shop.DeepCopy()) }).Should(Succeed(), "the binding is admitted once a policy allows it")
	g.Eventually(h.synced(ctx, sim, shop)).Should(Succeed(), "the binding registers the pod on the CLB and turns Ready")

	// Upgrade: three replicas, and binding policies off (the pods roll): a namespace no policy
	// names binds the second listener.
	t.Log("helm upgrade --set replicas=3 --set bindingPolicies.enforce=false")
	up := action.NewUpgrade(h.helm)
	up.Namespace, up.ServerSideApply = namespace, "false"
	up.WaitStrategy, up.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	up.PostRenderer = keepWebhookURLs{c: h.c}
	upVals := maps.Clone(vals)
	upVals["replicas"], upVals["bindingPolicies"] = 3, map[string]any{"enforce": false}
	_, err = up.RunWithContext(ctx, releaseName, chrt, upVals)
	g.Expect(err).NotTo(HaveOccurred(), "helm upgrade")
	h.expectRunning(ctx, g, pods, 3, "--enforce-binding-policies=false")
	solo := h.app(ctx, g, "solo", lb, sim.Sim.AddListener(lb, "TCP", 81))
	g.Eventually(func() error { return h.c.Create(ctx, solo.DeepCopy()) }).Should(Succeed(), "with policies off, a binding no policy allows is admitted")
	g.Eventually(h.synced(ctx, sim, solo)).Should(Succeed(), "with policies off, a binding no policy allows syncs")
	g.Eventually(h.synced(ctx, sim, shop)).Should(Succeed(), "the first binding stays synced through the upgrade")

	// Rollback: two replicas and policies on again. The binding no policy allows is Forbidden and
	// keeps its backend; a new one is refused; once an admin allows the namespace it syncs again.
	t.Log("helm rollback 1")
	rb := action.NewRollback(h.helm)
	rb.Version, rb.ServerSideApply = 1, "false"
	rb.WaitStrategy, rb.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	g.Expect(rb.Run(releaseName)).To(Succeed(), "helm rollback")
	h.expectRunning(ctx, g, pods, 2)
	g.Eventually(func(g Gomega) {
		var b networkingv1alpha1.CLBBackendBinding
		g.Expect(h.c.Get(ctx, client.ObjectKeyFromObject(solo), &b)).To(Succeed())
		ready := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(networkingv1alpha1.BindingForbiddenReason), "Ready: %+v", ready)
		g.Expect(sim.Sim.Targets(lb)).To(ContainElement(HaveField("ListenerID", solo.Spec.Listener.ID)), "a Forbidden binding keeps its backends")
	}).Should(Succeed(), "with policies on again, the binding no policy allows is Forbidden")
	another := solo.DeepCopy()
	another.Name, another.Spec.Listener.ID = "web-again", listener
	g.Eventually(func() string {
		return fmt.Sprint(h.c.Create(ctx, another, client.DryRunAll))
	}).Should(ContainSubstring("no CLBBindingPolicy allows namespace solo"), "the validating webhook serves, and enforces, after the rollback")
	g.Expect(h.c.Create(ctx, newPolicy("solo", lb))).To(Succeed())
	g.Eventually(h.synced(ctx, sim, solo)).Should(Succeed(), "allowed again, the binding syncs")
	g.Eventually(h.synced(ctx, sim, shop)).Should(Succeed(), "the first binding stays synced through the rollback")

	h.uninstall(ctx, g, pods, sim, lb)
	t.Logf("helm install, sync, upgrade, rollback and uninstall took %v", time.Since(began).Round(time.Second))
}

// cluster is the test's control plane, with an admin client and a Helm configuration for it.
type cluster struct {
	cfg  *rest.Config
	c    client.Client
	helm *action.Configuration
}

// startCluster starts a control plane with nothing installed (the chart brings the CRDs).
func startCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	assets, err := testenv.BinaryAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	cp := installcheck.StartControlPlane(t, assets)
	cfg, c := cp.Config, cp.Client
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfig, cp.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	// The SDK reaches the cluster as the helm CLI does, through a kubeconfig.
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig, getter.Namespace = new(kubeconfig), new(namespace)
	helm := action.NewConfiguration()
	if err := helm.Init(getter, namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	return &cluster{cfg: cfg, c: c, helm: helm}
}

// app creates namespace ns with a Service web selecting a pod web-0 (which the stand-in kubelet
// gives an address) and returns a binding of the Service to the listener, not created.
func (h *cluster) app(ctx context.Context, g *WithT, ns, lb, listener string) *networkingv1alpha1.CLBBackendBinding {
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
		},
	} {
		g.Expect(h.c.Create(ctx, obj)).To(Succeed())
	}
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lb,
			Listener:       networkingv1alpha1.ListenerReference{ID: listener},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
		},
	}
}

// synced: the binding's pod is a backend of its listener, and the binding is Ready.
func (h *cluster) synced(ctx context.Context, sim *simtest.Server, binding *networkingv1alpha1.CLBBackendBinding) func(Gomega) {
	return func(g Gomega) {
		var pod corev1.Pod
		g.Expect(h.c.Get(ctx, client.ObjectKey{Namespace: binding.Namespace, Name: "web-0"}, &pod)).To(Succeed())
		g.Expect(pod.Status.PodIP).NotTo(BeEmpty())
		g.Expect(sim.Sim.Targets(binding.Spec.LoadBalancerID)).To(ContainElement(And(
			HaveField("ListenerID", binding.Spec.Listener.ID), HaveField("EniIP", pod.Status.PodIP), HaveField("Port", int64(8080)))))
		var b networkingv1alpha1.CLBBackendBinding
		g.Expect(h.c.Get(ctx, client.ObjectKeyFromObject(binding), &b)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)).To(BeTrue(), "Ready: %+v", b.Status.Conditions)
	}
}

func newPolicy(ns, lb string) *networkingv1alpha1.CLBBindingPolicy {
	return &networkingv1alpha1.CLBBindingPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: networkingv1alpha1.CLBBindingPolicySpec{
			Namespaces:    networkingv1alpha1.NamespaceSelection{Names: []string{ns}},
			LoadBalancers: []networkingv1alpha1.LoadBalancerMatch{{ID: lb}},
		},
	}
}

// expectRunning: the Deployment asks for replicas and runs the manager with extraArgs (and
// without --enforce-binding-policies=false unless they name it), that many manager pods run and
// are ready, and one of them holds the leader Lease.
func (h *cluster) expectRunning(ctx context.Context, g *WithT, pods *sandbox.PodHost, replicas int32, extraArgs ...string) {
	var dep appsv1.Deployment
	g.Expect(h.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: deploymentName}, &dep)).To(Succeed())
	g.Expect(dep.Spec.Replicas).To(HaveValue(Equal(replicas)))
	args := dep.Spec.Template.Spec.Containers[0].Args
	g.Expect(slices.Contains(args, "--enforce-binding-policies=false")).To(Equal(slices.Contains(extraArgs, "--enforce-binding-policies=false")), "manager args %q", args)
	for _, a := range extraArgs {
		g.Expect(args).To(ContainElement(a))
	}
	running, err := pods.WaitDeployment(ctx, namespace, deploymentName, 2*time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(running.Pods).To(HaveLen(int(replicas)))
	g.Eventually(func(g Gomega) {
		var lease coordinationv1.Lease
		g.Expect(h.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: leaseName}, &lease)).To(Succeed())
		holder, _, _ := strings.Cut(ptr.Deref(lease.Spec.HolderIdentity, ""), "_")
		g.Expect(running.Pod(holder)).NotTo(BeNil(), "the Lease holder %q is one of the pods", holder)
	}).Should(Succeed())
}

// uninstall follows the README's order: bindings first, while the manager runs (their finalizers
// take the backends off the CLB); then the manager's Deployment; then helm uninstall.
func (h *cluster) uninstall(ctx context.Context, g *WithT, pods *sandbox.PodHost, sim *simtest.Server, lb string) {
	for _, ns := range []string{"shop", "solo"} {
		g.Expect(h.c.DeleteAllOf(ctx, &networkingv1alpha1.CLBBackendBinding{}, client.InNamespace(ns))).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		var list networkingv1alpha1.CLBBackendBindingList
		g.Expect(h.c.List(ctx, &list)).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}).Should(Succeed(), "the bindings are deleted")
	g.Expect(sim.Sim.Targets(lb)).To(BeEmpty(), "deleting the bindings left backends on the CLB")

	running, err := pods.PodsOf(ctx, namespace, deploymentName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.c.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: deploymentName}})).To(Succeed())
	for _, p := range running {
		g.Eventually(func() bool { stopped, _ := p.Stopped(); return stopped }).Should(BeTrue(), "pod %s stops", p.Name)
	}

	un := action.NewUninstall(h.helm)
	un.WaitStrategy, un.Timeout = kube.HookOnlyStrategy, time.Minute
	_, err = un.Run(releaseName)
	g.Expect(err).NotTo(HaveOccurred(), "helm uninstall")
	g.Eventually(func(g Gomega) {
		for _, obj := range []client.Object{
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "clb-binding-controller-mutating-webhook-configuration"}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "clb-binding-controller-validating-webhook-configuration"}},
			&apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clbbackendbindings.networking.clbind.io"}},
			&apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clbbindingpolicies.networking.clbind.io"}},
			&apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clbhealths.networking.clbind.io"}},
		} {
			err := h.c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s is left: %v", obj, obj.GetName(), err)
		}
		var roles rbacv1.ClusterRoleList
		g.Expect(h.c.List(ctx, &roles)).To(Succeed())
		g.Expect(slices.ContainsFunc(roles.Items, func(r rbacv1.ClusterRole) bool {
			return strings.HasPrefix(r.Name, "clb-binding-controller-")
		})).To(BeFalse(), "ClusterRoles of the chart are left")
	}).Should(Succeed(), "helm uninstall removes the chart's cluster-scoped objects")
}

// keepWebhookURLs is the sandbox's stand-in for the cluster network, as a post-renderer: the
// manager runs outside the cluster here and serves its webhooks on a loopback URL, which it
// writes into the webhook configurations in place of the Service the API server cannot reach
// without kube-proxy (internal/sandbox, managerpod.go). An upgrade that put the Service back
// next to that URL would be refused (a webhook names one or the other), so the upgraded
// configurations keep the URL the manager set; in a cluster the manager keeps the Service and
// the chart's rendering is applied as it is. Rolling back then applies the Service again with
// the three-way merge, which removes the URL the upgrade had applied (server-side apply cannot:
// the manager owns it too); the manager points the configuration at itself again.
type keepWebhookURLs struct{ c client.Client }

func (k keepWebhookURLs) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	docs := strings.Split(rendered.String(), "\n---")
	for i, doc := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		var live client.Object
		switch obj["kind"] {
		case "MutatingWebhookConfiguration":
			live = &admissionregistrationv1.MutatingWebhookConfiguration{}
		case "ValidatingWebhookConfiguration":
			live = &admissionregistrationv1.ValidatingWebhookConfiguration{}
		default:
			continue
		}
		name, _ := lookup(obj, "metadata", "name").(string)
		if err := k.c.Get(context.Background(), client.ObjectKey{Name: name}, live); err != nil {
			return nil, err
		}
		urls := map[string]string{}
		switch l := live.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for _, w := range l.Webhooks {
				urls[w.Name] = ptr.Deref(w.ClientConfig.URL, "")
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for _, w := range l.Webhooks {
				urls[w.Name] = ptr.Deref(w.ClientConfig.URL, "")
			}
		}
		webhooks, _ := obj["webhooks"].([]any)
		for _, w := range webhooks {
			w, _ := w.(map[string]any)
			if url := urls[fmt.Sprint(w["name"])]; url != "" {
				w["clientConfig"] = map[string]any{"url": url}
			}
		}
		out, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		docs[i] = "\n" + string(out)
	}
	return bytes.NewBufferString(strings.Join(docs, "\n---")), nil
}

// goBuildManager builds ./cmd/manager into out.
func goBuildManager(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/manager: %w\n%s", err, b)
	}
	return nil
}
