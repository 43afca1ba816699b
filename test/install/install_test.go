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

// Package install tests the `kubectl apply` install route end to end: it renders
// dist/install.yaml the way `make build-installer` does (or takes $INSTALL_YAML, for example a
// release artifact), checks what it promises, applies it with a real kubectl
// (`kubectl apply --server-side -f install.yaml`) to a local control plane, configures it as the
// README says (the ConfigMap, the credentials Secret, `kubectl rollout restart`), and runs the
// installed Deployment: kube-controller-manager and kube-scheduler turn it into pods and the
// sandbox's stand-in kubelet runs them, the manager's image as the manager built here, with the
// pod's own command, args, env (ConfigMap and Secret references resolved), volumes and bound
// ServiceAccount token, so the shipped RBAC is what it runs with, and its probes deciding when
// the pod is Ready (sandbox.StartPodHost; internal/sandbox/managerpod.go says what is mapped for a
// process outside a container, through the manager's own flags only: ports, paths, the in-cluster
// configuration, URL-mode webhooks). The only flags added are the emulated CLB endpoint's.
// Then: the CRDs are Established, only cluster admins may write CLBBindingPolicies (the shipped
// roles, and the built-in ones namespace users hold), the unconfigured pods crash-loop saying
// which flags are wrong, the configured ones roll out and one of them holds the leader Lease
// under its pod name, the webhook and metrics servers speak TLS 1.2 and 1.3 only, the validating webhook refuses a binding no policy allows and a duplicate
// binding, a pod in an opted-in namespace gets its readiness gate, a binding reaches the CLB with
// the Secret's credentials, a binding on a load balancer clbsim has registers its pod and turns
// it Ready, and the documented uninstall order leaves nothing behind, the manager's pods exiting
// 0 on SIGTERM.
//
// It needs the control plane in bin/k8s (`make envtest-assets`); kustomize is built into bin/
// when missing.
package install

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/proc"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
	"github.com/clbind/clb-binding-controller/internal/sandbox/installcheck"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// Names config/default gives the objects (namespace and namePrefix clb-binding-controller-).
const (
	namespace             = "clb-binding-controller-system"
	deploymentName        = "clb-binding-controller-controller-manager"
	serviceAccountName    = "clb-binding-controller-controller-manager"
	configMapName         = "clb-binding-controller-config"
	credentialsSecretName = "clb-binding-controller-credentials"
	certSecretName        = "clb-binding-controller-webhook-server-cert"
	mutatingName          = "clb-binding-controller-mutating-webhook-configuration"
	validatingName        = "clb-binding-controller-validating-webhook-configuration"
	// leaseName is the manager's --leader-election-id default.
	leaseName = "clb-binding-controller.clbind.io"

	clusterID = "install-test"
	appNS     = "shop"
	// testLoadBalancer and testListener are what the test's binding binds; clbsim has no such
	// load balancer.
	testLoadBalancer = "lb-1a2b3c4d"
	testListener     = "lbl-1a2b3c4d"
)

var crdNames = []string{
	"clbbackendbindings.networking.clbind.io", "clbhealths.networking.clbind.io", "clbbindingpolicies.networking.clbind.io",
}

func TestKubectlApplyInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane (bin/k8s) and builds the manager")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	it := &installTest{dir: t.TempDir()}
	var err error
	if it.root, err = testenv.RepoRoot(); err != nil {
		t.Fatal(err)
	}
	if it.assets, err = testenv.BinaryAssetsDir(); err != nil {
		t.Fatal(err)
	}

	// The manager builds while the installer renders and the control plane starts.
	it.managerBin = filepath.Join(it.dir, "manager")
	built := make(chan error, 1)
	go func() { built <- goBuild(ctx, it.root, it.managerBin) }()

	wantImage := it.loadInstaller(ctx, t)
	if !t.Run("Manifests", func(t *testing.T) { checkManifests(t, it.m, wantImage) }) {
		t.FailNow()
	}
	it.startControlPlane(t)

	// Install, as the README says.
	it.k.must(ctx, t, "apply", "--server-side", "-f", it.installYAML)
	wait := make([]string, 0, 3+len(crdNames))
	wait = append(wait, "wait", "--for=condition=Established", "--timeout=60s")
	for _, name := range crdNames {
		wait = append(wait, "crd/"+name)
	}
	it.k.must(ctx, t, wait...)
	var certSecret corev1.Secret
	if err := it.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecretName}, &certSecret); err != nil {
		t.Fatalf("the certificate Secret was not installed: %v", err)
	}
	if len(certSecret.Data) != 0 {
		t.Fatalf("the installed certificate Secret is not empty: %v", keys(certSecret.Data))
	}
	t.Run("PolicyRBAC", func(t *testing.T) { checkPolicyRBAC(ctx, t, it) })

	// The emulated CLB API, with a load balancer the manager syncs a binding to, and its
	// credentials in the Secret the Deployment reads (README).
	it.sim = installcheck.StartCLB(t)
	it.k.must(ctx, t, "-n", namespace, "create", "secret", "generic", credentialsSecretName,
		"--from-literal=secretId="+simtest.SecretID, "--from-literal=secretKey="+simtest.SecretKey)
	it.managerAccess(ctx, t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	it.startPods(ctx, t)

	t.Run("UnconfiguredRefused", func(t *testing.T) { it.unconfiguredRefused(ctx, t) })

	// Configure as the README says (the values in the file's ConfigMap), apply again, restart the
	// Deployment for the new values, and wait for its rollout.
	configuredYAML := it.writeInstaller(t, "install-configured.yaml", configured(simtest.Region, clusterID))
	it.k.must(ctx, t, "apply", "--server-side", "-f", configuredYAML)
	it.rollOut(ctx, t)

	t.Run("SelfManagedCertificates", func(t *testing.T) { checkCertificates(ctx, t, it.c, it.leader.Port(webhookContainerPort)) })
	t.Run("TLSVersions", func(t *testing.T) {
		checkTLSVersions(ctx, t, it.c, it.leader.Port(webhookContainerPort), it.leader.Port(metricsContainerPort))
	})
	t.Run("Reapply", func(t *testing.T) {
		// An upgrade applies the file again: no conflicts, and the certificates stay. The webhook
		// configurations are left out here only because the manager, running outside the
		// cluster, switched them from the Service to a URL, which the file's Service would
		// contradict.
		upgrade := it.writeInstaller(t, "install-upgrade.yaml", configured(simtest.Region, clusterID),
			"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
		it.k.must(ctx, t, "apply", "--server-side", "-f", upgrade)
		checkCertificates(ctx, t, it.c, it.leader.Port(webhookContainerPort))
	})
	t.Run("Webhooks", func(t *testing.T) { checkWebhooks(ctx, t, it.c) })
	t.Run("Sync", func(t *testing.T) { it.checkSync(ctx, t) })
	t.Run("Uninstall", func(t *testing.T) { it.uninstall(ctx, t) })
	t.Logf("install, configure, run, webhooks and uninstall took %v", time.Since(began).Round(time.Second))
}

// The container ports of the manager's pod (config/manager): probes, metrics and webhooks.
const (
	probeContainerPort   = 8081
	metricsContainerPort = 8443
	webhookContainerPort = 9443
)

// installTest is the state the steps of TestKubectlApplyInstall share.
type installTest struct {
	root, assets, dir string
	installYAML       string
	m                 manifests
	managerBin        string

	cfg *rest.Config
	c   client.Client
	k   kubectl // as the cluster admin
	// managerKubeconfig authenticates as the installed ServiceAccount.
	managerKubeconfig string

	sim *simtest.Server
	// pods runs the installed Deployment: kube-controller-manager, kube-scheduler and the
	// stand-in kubelet, which runs the manager's image as the binary built here.
	pods *sandbox.PodHost
	// syncLB is the load balancer in clbsim the Sync step binds.
	syncLB string
	// running is the rolled-out Deployment, and leader its pod holding the leader Lease.
	running *sandbox.Running
	leader  *sandbox.RunningPod
}

// loadInstaller renders the installer (or takes $INSTALL_YAML) and parses it; it returns the
// image the manager should have, or "" when that is not known.
func (it *installTest) loadInstaller(ctx context.Context, t *testing.T) (wantImage string) {
	t.Helper()
	it.installYAML = os.Getenv("INSTALL_YAML")
	if it.installYAML == "" {
		it.installYAML = renderInstaller(ctx, t, it.root, it.dir)
		makefile, err := os.ReadFile(filepath.Join(it.root, "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		wantImage = makeDefault(makefile, "IMG")
	}
	data, err := os.ReadFile(it.installYAML)
	if err != nil {
		t.Fatal(err)
	}
	if it.m, err = parseManifests(data); err != nil {
		t.Fatalf("%s: %v", it.installYAML, err)
	}
	return wantImage
}

// writeInstaller writes the installer, edited, into the test's directory.
func (it *installTest) writeInstaller(t *testing.T, name string, edit func(document) ([]byte, error), skip ...string) string {
	t.Helper()
	data, err := it.m.render(edit, skip...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(it.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startControlPlane starts a control plane with nothing installed (the installer brings the
// CRDs), and an admin kubectl and client for it.
func (it *installTest) startControlPlane(t *testing.T) {
	t.Helper()
	kubectlBin := os.Getenv("KUBECTL")
	if kubectlBin == "" {
		kubectlBin = filepath.Join(it.assets, "kubectl")
	}
	if _, err := os.Stat(kubectlBin); err != nil {
		t.Fatalf("kubectl: %v; run 'make envtest-assets' to build it", err)
	}
	cp := installcheck.StartControlPlane(t, it.assets)
	it.cfg, it.c = cp.Config, cp.Client
	adminKubeconfig := filepath.Join(it.dir, "admin.kubeconfig")
	if err := os.WriteFile(adminKubeconfig, cp.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	it.k = kubectl{bin: kubectlBin, kubeconfig: adminKubeconfig}
}

// managerAccess checks that the installed ServiceAccount, whose token the manager's pods get,
// is held to the shipped RBAC.
func (it *installTest) managerAccess(ctx context.Context, t *testing.T) {
	t.Helper()
	it.managerKubeconfig = serviceAccountKubeconfig(ctx, t, it.k, it.cfg, filepath.Join(it.dir, "manager.kubeconfig"))
	asManager := kubectl{bin: it.k.bin, kubeconfig: it.managerKubeconfig}
	if out, err := asManager.run(ctx, "auth", "can-i", "create", "deployments", "-A"); err == nil || strings.TrimSpace(out) != "no" {
		t.Fatalf("the ServiceAccount may create Deployments (%q, %v): RBAC is not enforced, the test proves nothing about it", out, err)
	}
}

// startPods starts what runs the installed Deployment's pods. The manager's image runs as the
// binary built here, with the pod's own command, args, env, volumes and ServiceAccount token;
// only the CLB endpoint is added (clbsim, not clb.tencentcloudapi.com).
func (it *installTest) startPods(ctx context.Context, t *testing.T) {
	t.Helper()
	dep, err := it.m.deployment()
	if err != nil {
		t.Fatal(err)
	}
	image := managerContainer(dep).Image
	it.pods = installcheck.StartPods(ctx, t, it.cfg, filepath.Join(it.dir, "cluster"), map[string]string{image: it.managerBin},
		it.sim, namespace, deploymentName)
}

// unconfiguredRefused: the shipped placeholders stop the manager, rather than run it with a wrong
// region or cluster id: its pods crash-loop, and their log says which flags are wrong.
func (it *installTest) unconfiguredRefused(ctx context.Context, t *testing.T) {
	var cm corev1.ConfigMap
	if err := it.m.get("ConfigMap", configMapName, &cm); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cm.Data["region"], "REPLACE_WITH_") {
		t.Skipf("the installer is configured (region %q)", cm.Data["region"])
	}
	waitFor(ctx, t, 60*time.Second, "the unconfigured manager's pods to crash", func() (bool, string, error) {
		var pods corev1.PodList
		if err := it.c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"control-plane": "controller-manager"}); err != nil {
			return false, "", err
		}
		crashed := 0
		var states []string
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				states = append(states, fmt.Sprintf("%s: ready=%v %+v last %+v", p.Name, cs.Ready, cs.State, cs.LastTerminationState))
				term := cs.LastTerminationState.Terminated
				if cs.State.Terminated != nil {
					term = cs.State.Terminated
				}
				if term == nil || term.ExitCode == 0 || cs.Ready {
					continue
				}
				run := it.pods.Pod(p.Namespace, p.Name)
				if out := run.Tail(80); !strings.Contains(out, "--region") || !strings.Contains(out, "--cluster-id") {
					return false, "", fmt.Errorf("want pod %s to refuse the placeholder region and cluster id; its log:\n%s", p.Name, out)
				}
				crashed++
			}
		}
		return len(pods.Items) > 0 && crashed == len(pods.Items), strings.Join(states, "; "), nil
	})
	var dep appsv1.Deployment
	if err := it.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: deploymentName}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Status.ReadyReplicas != 0 {
		t.Errorf("the unconfigured Deployment reports %d ready replicas", dep.Status.ReadyReplicas)
	}
}

// rollOut restarts the Deployment for the configured values, as the README says, waits for
// `kubectl rollout status`, then until one of its pods holds the leader Lease.
func (it *installTest) rollOut(ctx context.Context, t *testing.T) {
	t.Helper()
	began := time.Now()
	it.k.must(ctx, t, "-n", namespace, "rollout", "restart", "deployment", deploymentName)
	it.k.must(ctx, t, "-n", namespace, "rollout", "status", "deployment", deploymentName, "--timeout=120s")
	t.Logf("the configured Deployment rolled out in %v", time.Since(began).Round(100*time.Millisecond))
	var err error
	if it.running, err = it.pods.WaitDeployment(ctx, namespace, deploymentName, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Ready means the pod's readiness probe passed: check it ourselves on each pod. Each runs
	// with a token of the installed ServiceAccount, bound to it, where a container finds it.
	for _, p := range it.running.Pods {
		token, err := os.ReadFile(filepath.Join(p.Dir(), "rootfs/var/run/secrets/kubernetes.io/serviceaccount/token"))
		if err != nil || len(token) == 0 {
			t.Errorf("pod %s has no ServiceAccount token: %v", p.Name, err)
		}
		if code, err := proc.HTTPStatus(ctx, "http://"+p.Addr(probeContainerPort)+"/readyz"); err != nil || code != http.StatusOK {
			t.Fatalf("pod %s is Ready but its /readyz answers %d (%v)", p.Name, code, err)
		}
	}
	// The Lease is held by a pod: its identity is the pod's hostname, its name.
	waitFor(ctx, t, 60*time.Second, "a pod of the Deployment to hold the leader Lease", func() (bool, string, error) {
		var lease coordinationv1.Lease
		if err := it.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: leaseName}, &lease); err != nil {
			return false, "lease: " + err.Error(), nil //nolint:nilerr // not there yet: poll again
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		pod, _, _ := strings.Cut(holder, "_")
		it.leader = it.running.Pod(pod)
		return it.leader != nil, fmt.Sprintf("holder %q is not one of the pods %v", holder, podNames(it.running)), nil
	})
	// Only the leader repairs the webhook configurations: they follow it to its port (URL mode).
	prefix := fmt.Sprintf("https://localhost:%d/", it.leader.Port(webhookContainerPort))
	waitFor(ctx, t, 30*time.Second, "the webhook configurations to point at the leader "+it.leader.Name, func() (bool, string, error) {
		var mutating admissionregistrationv1.MutatingWebhookConfiguration
		if err := it.c.Get(ctx, types.NamespacedName{Name: mutatingName}, &mutating); err != nil {
			return false, "", err
		}
		var validating admissionregistrationv1.ValidatingWebhookConfiguration
		if err := it.c.Get(ctx, types.NamespacedName{Name: validatingName}, &validating); err != nil {
			return false, "", err
		}
		configs := make([]admissionregistrationv1.WebhookClientConfig, 0, len(mutating.Webhooks)+len(validating.Webhooks))
		for _, w := range mutating.Webhooks {
			configs = append(configs, w.ClientConfig)
		}
		for _, w := range validating.Webhooks {
			configs = append(configs, w.ClientConfig)
		}
		for _, cc := range configs {
			if cc.URL == nil || !strings.HasPrefix(*cc.URL, prefix) {
				return false, fmt.Sprintf("a webhook points at %v", ptr.Deref(cc.URL, "its Service")), nil
			}
		}
		return len(configs) > 0, "no webhooks", nil
	})
}

func podNames(r *sandbox.Running) []string {
	names := make([]string, 0, len(r.Pods))
	for _, p := range r.Pods {
		names = append(names, p.Name)
	}
	return names
}

// uninstall follows the README's order: bindings first, while the manager runs (their finalizers
// take the backends off the CLB); then the manager's Deployment, whose pods stop cleanly on
// SIGTERM; then everything else.
func (it *installTest) uninstall(ctx context.Context, t *testing.T) {
	it.k.must(ctx, t, "delete", "clbbackendbindings", "--all", "-A", "--timeout=60s")
	if left := it.sim.Sim.Targets(it.syncLB); len(left) > 0 {
		t.Errorf("deleting the bindings left backends on the CLB: %+v", left)
	}
	it.k.must(ctx, t, "-n", namespace, "delete", "deployment", deploymentName, "--timeout=60s")
	for _, p := range it.running.Pods {
		waitFor(ctx, t, 30*time.Second, "pod "+p.Name+" to stop", func() (bool, string, error) {
			stopped, codes := p.Stopped()
			if stopped {
				for name, code := range codes {
					if code != 0 {
						t.Errorf("pod %s: container %s exited with %d on SIGTERM; its log ends:\n%s", p.Name, name, code, p.Tail(40))
					}
				}
			}
			return stopped, "still running", nil
		})
	}
	// --wait=false: no namespace controller runs here, so the namespace stays Terminating.
	it.k.must(ctx, t, "delete", "-f", it.installYAML, "--ignore-not-found", "--wait=false")
	waitFor(ctx, t, 60*time.Second, "the installed cluster-scoped objects to be gone", func() (bool, string, error) {
		var left []string
		objs := make([]client.Object, 0, 2+len(crdNames))
		objs = append(objs,
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}},
		)
		for _, name := range crdNames {
			objs = append(objs, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
		for _, obj := range objs {
			if err := it.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("%T %s", obj, obj.GetName()))
			}
		}
		var roles rbacv1.ClusterRoleList
		if err := it.c.List(ctx, &roles); err != nil {
			return false, "", err
		}
		for _, r := range roles.Items {
			if strings.HasPrefix(r.Name, "clb-binding-controller-") {
				left = append(left, "ClusterRole "+r.Name)
			}
		}
		return len(left) == 0, fmt.Sprintf("left: %v", left), nil
	})
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the installed ServiceAccount.
func serviceAccountKubeconfig(ctx context.Context, t *testing.T, k kubectl, cfg *rest.Config, path string) string {
	t.Helper()
	token := strings.TrimSpace(k.must(ctx, t, "-n", namespace, "create", "token", serviceAccountName, "--duration=1h"))
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["manager"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["manager"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "manager", Namespace: namespace}
	kc.CurrentContext = "manager"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCertificates: the manager filled the shipped Secret and pointed both webhook
// configurations, with its CA, at itself.
func checkCertificates(ctx context.Context, t *testing.T, c client.Client, port int) {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecretName}, &s); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if len(s.Data[key]) == 0 {
			t.Errorf("Secret %s: %s is empty; have %v", certSecretName, key, keys(s.Data))
		}
	}
	prefix := fmt.Sprintf("https://localhost:%d/", port)
	check := func(kind, name string, cc admissionregistrationv1.WebhookClientConfig) {
		if len(cc.CABundle) == 0 || !bytesEqual(cc.CABundle, s.Data["ca.crt"]) {
			t.Errorf("%s %s: caBundle is not the CA in the Secret", kind, name)
		}
		if cc.URL == nil || !strings.HasPrefix(*cc.URL, prefix) {
			t.Errorf("%s %s: url %v, want %s...", kind, name, cc.URL, prefix)
		}
	}
	var mutating admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: mutatingName}, &mutating); err != nil {
		t.Fatal(err)
	}
	for _, w := range mutating.Webhooks {
		check("mutating webhook", w.Name, w.ClientConfig)
	}
	var validating admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: validatingName}, &validating); err != nil {
		t.Fatal(err)
	}
	for _, w := range validating.Webhooks {
		check("validating webhook", w.Name, w.ClientConfig)
	}
}

// checkWebhooks: the installed manager enforces policies (a binding is refused until a
// CLBBindingPolicy allows it, as the README's first steps say), a duplicate binding is refused, a
// pod in an opted-in namespace gets its gate, and the binding reaches the CLB API with the
// credentials from the Secret.
func checkWebhooks(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS, Labels: map[string]string{
		networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled,
	}}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	newBinding := func(name string) *networkingv1alpha1.CLBBackendBinding {
		return &networkingv1alpha1.CLBBackendBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: name},
			Spec: networkingv1alpha1.CLBBackendBindingSpec{
				LoadBalancerID: testLoadBalancer,
				Listener:       networkingv1alpha1.ListenerReference{ID: testListener},
				ServiceRef:     networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
			},
		}
	}
	for _, obj := range []client.Object{ns, svc} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	// Enforcement is the installed default: with no policy for the namespace, the binding is
	// refused with a message naming the namespace and the load balancer.
	installcheck.RefusedWithoutPolicy(ctx, t, c, newBinding("web"))
	// The policy the README's first steps create; the webhook sees it through the manager's cache.
	if err := c.Create(ctx, newPolicy(appNS, appNS)); err != nil {
		t.Fatalf("creating the CLBBindingPolicy for %s: %v", appNS, err)
	}
	waitFor(ctx, t, 30*time.Second, "the binding to be admitted once a CLBBindingPolicy allows it", func() (bool, string, error) {
		err := c.Create(ctx, newBinding("web"))
		return err == nil, fmt.Sprint(err), nil
	})

	// The validator reads bindings from the manager's cache: wait until it has seen "web".
	waitFor(ctx, t, 30*time.Second, "the validating webhook to refuse a second binding on the same listener", func() (bool, string, error) {
		err := c.Create(ctx, newBinding("web-again"), client.DryRunAll)
		if err == nil {
			return false, "admitted", nil
		}
		return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "already bound"), err.Error(), nil
	})

	// The injector also reads from the cache; dry runs leave nothing behind until it answers.
	gate := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType("web"))
	newPod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web-0", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
		}
	}
	hasGate := func(p *corev1.Pod) bool {
		return slices.ContainsFunc(p.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool { return g.ConditionType == gate })
	}
	waitFor(ctx, t, 30*time.Second, "the pod webhook to inject the readiness gate", func() (bool, string, error) {
		p := newPod()
		if err := c.Create(ctx, p, client.DryRunAll); err != nil {
			return false, "", err
		}
		return hasGate(p), fmt.Sprintf("readinessGates %v", p.Spec.ReadinessGates), nil
	})
	p := newPod()
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if !hasGate(p) {
		t.Errorf("pod %s/%s was created without gate %s: %v", p.Namespace, p.Name, gate, p.Spec.ReadinessGates)
	}

	// No load balancer exists in clbsim: LoadBalancerNotFound means an authenticated call got
	// through (a bad credential would read CloudError).
	waitFor(ctx, t, 30*time.Second, "the binding to report what the CLB API said", func() (bool, string, error) {
		var b networkingv1alpha1.CLBBackendBinding
		if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "web"}, &b); err != nil {
			return false, "", err
		}
		cond := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
		if cond == nil {
			return false, "no Ready condition", nil
		}
		state := cond.Reason + ": " + cond.Message
		if cond.Reason == networkingv1alpha1.BindingCloudErrorReason {
			return false, "", fmt.Errorf("the CLB API refused the manager: %s", state)
		}
		return cond.Reason == networkingv1alpha1.BindingLoadBalancerNotFoundReason && slices.Contains(b.Finalizers, networkingv1alpha1.DeregisterTargetsFinalizer), state, nil
	})
}

// checkSync: a binding on a load balancer that exists syncs through the manager's pods, under
// the ServiceAccount's RBAC and with the Secret's credentials (installcheck.Sync).
func (it *installTest) checkSync(ctx context.Context, t *testing.T) {
	it.syncLB = installcheck.Sync(ctx, t, it.c, it.sim.Sim, appNS, "install-test").LoadBalancer
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
