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

// Package olm tests the OLM bundle's install strategy end to end. It generates the bundle the
// way `make bundle` does (hack/bundle), for this version and for a next one whose CSV replaces
// it, and applies the ClusterServiceVersion with a stand-in for OLM (standin_test.go says which
// of OLM's steps it mirrors and what differs) to a local control plane: CRDs, ServiceAccount,
// Roles and ClusterRoles, the Deployment, OLM's webhook certificate mounted where OLM mounts it
// and the webhook configurations with OLM's CA. The Deployment runs on the sandbox's pod host
// (sandbox.StartPodHost: kube-controller-manager, kube-scheduler and the stand-in kubelet
// running the manager's image as the manager built here). Then: the manager, seeing it runs
// under OLM, leaves the certificate and the webhook configurations alone and serves OLM's
// certificate; the validating webhook refuses a binding no policy allows; a binding syncs; and
// after the upgrade to the next CSV the new pods take over without taking the binding's
// backends off the CLB, and register a new pod.
//
// It needs the control plane in bin/k8s (`make envtest-assets`).
package olm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	// namespace is the CSV's suggested namespace, where the OperatorGroup (AllNamespaces) is.
	namespace      = "clb-binding-controller-system"
	deploymentName = "clb-binding-controller-controller-manager"
	credentials    = "clb-binding-controller-credentials"
	leaseName      = "clb-binding-controller.clbind.io"
	webhookPort    = 9443
	appNS          = "shop"
	clusterID      = "olm-test"
	// The bundles: the current version and the next, which replaces it.
	firstVersion, nextVersion = "0.1.0", "0.2.0"
	imageRepo                 = "ghcr.io/clbind/clb-binding-controller"
)

func TestOLMInstallAndUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane (bin/k8s) and builds the manager")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.BinaryAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	managerBin := filepath.Join(dir, "manager")
	built := make(chan error, 1)
	go func() { built <- installcheck.GoBuild(ctx, root, managerBin, "./cmd/manager") }()

	// The bundles, as `make bundle` writes them; the next one's CSV replaces the first.
	bundleBin := filepath.Join(dir, "bundle")
	if err := installcheck.GoBuild(ctx, root, bundleBin, "./hack/bundle"); err != nil {
		t.Fatal(err)
	}
	first := generateBundle(ctx, t, root, bundleBin, filepath.Join(dir, "bundle-"+firstVersion), firstVersion, "")
	next := generateBundle(ctx, t, root, bundleBin, filepath.Join(dir, "bundle-"+nextVersion), nextVersion, first.csv.Name)
	if next.csv.Spec.Replaces != first.csv.Name {
		t.Fatalf("the next CSV replaces %q, want %q", next.csv.Spec.Replaces, first.csv.Name)
	}

	cp := installcheck.StartControlPlane(t, assets)
	cfg, c := cp.Config, cp.Client

	prepareNamespaces(ctx, t, c)
	olm := &olmStandIn{c: c, namespace: namespace, subscriptionEnv: []corev1.EnvVar{
		{Name: "CLB_REGION", Value: simtest.Region}, {Name: "CLB_CLUSTER_ID", Value: clusterID},
	}}

	sim := installcheck.StartCLB(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	pods := installcheck.StartPods(ctx, t, cfg, filepath.Join(dir, "cluster"),
		map[string]string{imageRepo + ":v" + firstVersion: managerBin, imageRepo + ":v" + nextVersion: managerBin},
		sim, namespace, deploymentName)

	// Install: the bundle's other manifests (CRDs first), then the CSV's install strategy.
	first.applyManifests(ctx, t, c)
	if err := olm.install(ctx, first.csv); err != nil {
		t.Fatalf("installing %s: %v", first.csv.Name, err)
	}
	leader := rollOut(ctx, t, c, pods, olm, imageRepo+":v"+firstVersion)
	t.Run("OLMCertificates", func(t *testing.T) { checkOLMCertificates(ctx, t, c, olm, leader) })

	// The webhook refuses a binding no policy allows, and a binding syncs.
	installcheck.RefusedWithoutPolicy(ctx, t, c, &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web"},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: "lb-1a2b3c4d", Listener: networkingv1alpha1.ListenerReference{ID: "lbl-1a2b3c4d"},
			ServiceRef: networkingv1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
		},
	})
	synced := installcheck.Sync(ctx, t, c, sim.Sim, appNS, "olm-test")
	before := sim.Sim.Targets(synced.LoadBalancer)
	t.Logf("installed %s and synced a binding in %v", first.csv.Name, time.Since(began).Round(time.Second))

	// Upgrade, as OLM does when the next CSV replaces this one: its manifests, its install
	// strategy over the installed one, the replaced CSV's roles removed.
	sim.Sim.ResetCalls()
	lapses := watchServing(ctx, c, sim.Sim, synced)
	upgradeBegan := time.Now()
	next.applyManifests(ctx, t, c)
	if err := olm.install(ctx, next.csv); err != nil {
		t.Fatalf("upgrading to %s: %v", next.csv.Name, err)
	}
	newLeader := rollOut(ctx, t, c, pods, olm, imageRepo+":v"+nextVersion)
	if newLeader.Name == leader.Name {
		t.Fatalf("the leader after the upgrade is the old pod %s", leader.Name)
	}
	t.Run("OLMCertificatesAfterUpgrade", func(t *testing.T) { checkOLMCertificates(ctx, t, c, olm, newLeader) })
	t.Run("BackendsKept", func(t *testing.T) { checkBackendsKept(ctx, t, c, sim.Sim, synced, before, lapses) })
	t.Run("PermissionsReplaced", func(t *testing.T) { checkPermissions(ctx, t, c, first.csv.Name, next.csv.Name) })
	t.Logf("upgraded to %s in %v; install, sync and upgrade took %v", next.csv.Name,
		time.Since(upgradeBegan).Round(time.Second), time.Since(began).Round(time.Second))
}

// watchServing polls, every 100ms until the returned function is called, whether the synced
// pod stays Ready (its readiness gate) and registered on the listener; the function stops it and
// returns the lapses seen, and how often the binding's own Ready condition was not True.
func watchServing(ctx context.Context, c client.Client, sim *clbsim.Sim, synced installcheck.Synced) func() (lapses []string, bindingNotReady int) {
	var lapses []string
	bindingNotReady := 0
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var pod corev1.Pod
			var b networkingv1alpha1.CLBBackendBinding
			if c.Get(ctx, client.ObjectKeyFromObject(synced.Pod), &pod) == nil && c.Get(ctx, client.ObjectKeyFromObject(synced.Binding), &b) == nil {
				ready := false
				for _, cond := range pod.Status.Conditions {
					ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
				}
				registered := slices.ContainsFunc(sim.Targets(synced.LoadBalancer), func(tg clbsim.Target) bool {
					return tg.ListenerID == synced.Listener && tg.EniIP == pod.Status.PodIP
				})
				if !ready || !registered {
					lapses = append(lapses, fmt.Sprintf("+%v: pod %s ready=%v registered=%v", time.Since(began).Round(100*time.Millisecond), pod.Name, ready, registered))
				}
				if !apimeta.IsStatusConditionTrue(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition) {
					bindingNotReady++
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() ([]string, int) {
		cancel()
		<-done
		return lapses, bindingNotReady
	}
}

// checkBackendsKept: across the upgrade the synced pod stayed Ready and registered, no
// deregistration reached clbsim, the binding is Ready again with the backends it had, and the
// new leader syncs: a new pod of the Service is registered.
func checkBackendsKept(ctx context.Context, t *testing.T, c client.Client, sim *clbsim.Sim, synced installcheck.Synced, before []clbsim.Target,
	stopWatch func() ([]string, int)) {
	// The new leader's first sync of the load balancer may leave the binding Progressing for a
	// moment; it must come back Ready without touching the backends.
	installcheck.WaitFor(ctx, t, 30*time.Second, "the binding to be Ready under the upgraded manager", func() (bool, string, error) {
		return synced.Serving(ctx, c, sim)
	})
	lapses, bindingNotReady := stopWatch()
	if len(lapses) > 0 {
		t.Errorf("during the upgrade the synced pod was not Ready or not registered %d times: %v", len(lapses), lapses)
	}
	t.Logf("during the upgrade the binding's Ready condition was not True in %d of the 100ms polls", bindingNotReady)
	// The new leader syncs: a second pod of the Service is registered too.
	pod := synced.Pod.DeepCopy()
	pod.ObjectMeta = metav1.ObjectMeta{Namespace: appNS, Name: "api-1", Labels: synced.Pod.Labels}
	pod.Status = corev1.PodStatus{}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	installcheck.WaitFor(ctx, t, 60*time.Second, "the upgraded manager to register a new pod", func() (bool, string, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, "", err
		}
		targets := sim.Targets(synced.LoadBalancer)
		for _, tg := range targets {
			if pod.Status.PodIP != "" && tg.EniIP == pod.Status.PodIP {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("pod %q, targets %+v", pod.Status.PodIP, targets), nil
	})
	after := sim.Targets(synced.LoadBalancer)
	for _, b := range before {
		found := false
		for _, a := range after {
			found = found || (a.ListenerID == b.ListenerID && a.EniIP == b.EniIP && a.Port == b.Port)
		}
		if !found {
			t.Errorf("backend %+v left the CLB across the upgrade; now %+v", b, after)
		}
	}
	calls := sim.Calls()
	for action, results := range calls {
		if strings.Contains(action, "Deregister") {
			t.Errorf("the upgrade deregistered backends: %s %v (all calls %v)", action, results, calls)
		}
	}
	if done, state, err := synced.Serving(ctx, c, sim); err != nil || !done {
		t.Errorf("the binding is not Ready after the upgrade (%v): %s", err, state)
	}
}

// prepareNamespaces does what the user does before subscribing: the operator's namespace (with
// its OperatorGroup, which the stand-in does not need) and the credentials Secret the Deployment
// reads (the Subscription's config.env carries the region and cluster id), and the application
// namespace, opted in to readiness gates.
func prepareNamespaces(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS, Labels: map[string]string{
			networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled,
		}}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: credentials},
			StringData: map[string]string{"secretId": simtest.SecretID, "secretKey": simtest.SecretKey},
		},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
}

// checkPermissions: the manager's Roles and ClusterRoles are the upgraded CSV's, the replaced
// one's are gone (the manager ran on the new ones: it synced a new pod).
func checkPermissions(ctx context.Context, t *testing.T, c client.Client, replaced, current string) {
	owners := map[string]int{}
	var roles rbacv1.RoleList
	if err := c.List(ctx, &roles, client.InNamespace(namespace), client.HasLabels{"olm.owner"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		owners["Role of "+r.Labels["olm.owner"]]++
	}
	var clusterRoles rbacv1.ClusterRoleList
	if err := c.List(ctx, &clusterRoles, client.HasLabels{"olm.owner"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range clusterRoles.Items {
		owners["ClusterRole of "+r.Labels["olm.owner"]]++
	}
	if owners["Role of "+replaced]+owners["ClusterRole of "+replaced] > 0 || owners["Role of "+current] == 0 || owners["ClusterRole of "+current] == 0 {
		t.Errorf("after the upgrade the roles are %v; want only %s's", owners, current)
	}
}

// bundle is one generated bundle: its CSV and its other manifests.
type bundle struct {
	csv   *operatorsv1alpha1.ClusterServiceVersion
	other []*unstructured.Unstructured
}

// generateBundle runs hack/bundle as `make bundle` does, with the image of that version.
func generateBundle(ctx context.Context, t *testing.T, root, bin, out, version, replaces string) bundle {
	t.Helper()
	args := []string{"-root", root, "-out", out, "-dockerfile", "", "-version", version, "-image", imageRepo + ":v" + version}
	if replaces != "" {
		args = append(args, "-replaces", replaces)
	}
	if b, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("hack/bundle %v: %v\n%s", args, err, b)
	}
	files, err := filepath.Glob(filepath.Join(out, "manifests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var b bundle
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".clusterserviceversion.yaml") {
			b.csv = &operatorsv1alpha1.ClusterServiceVersion{}
			if err := yaml.Unmarshal(data, b.csv); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if obj.GetKind() == "CustomResourceDefinition" {
			b.other = append([]*unstructured.Unstructured{obj}, b.other...)
		} else {
			b.other = append(b.other, obj)
		}
	}
	if b.csv == nil {
		t.Fatalf("%s: no ClusterServiceVersion", out)
	}
	return b
}

// applyManifests applies the bundle's manifests besides the CSV, as OLM does (namespaced ones in
// the install namespace), and waits for its CRDs to be Established.
func (b bundle) applyManifests(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	for _, obj := range b.other {
		obj = obj.DeepCopy()
		if obj.GetKind() != "CustomResourceDefinition" && obj.GetKind() != "ClusterRole" {
			obj.SetNamespace(namespace)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("olm"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		installcheck.WaitFor(ctx, t, 30*time.Second, "CRD "+obj.GetName()+" to be Established", func() (bool, string, error) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, types.NamespacedName{Name: obj.GetName()}, &crd); err != nil {
				return false, "", err
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, "", nil
				}
			}
			return false, fmt.Sprint(crd.Status.Conditions), nil
		})
	}
}

// rollOut waits until the Deployment runs image in every pod and one of them leads, then points
// the webhook configurations at the leader (see olmStandIn.webhooks) and returns it.
func rollOut(ctx context.Context, t *testing.T, c client.Client, pods *sandbox.PodHost, olm *olmStandIn, image string) *sandbox.RunningPod {
	t.Helper()
	began := time.Now()
	running, err := pods.WaitDeployment(ctx, namespace, deploymentName, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range running.Pods {
		var pod corev1.Pod
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: p.Name}, &pod); err != nil {
			t.Fatal(err)
		}
		if got := pod.Spec.Containers[0].Image; got != image {
			t.Fatalf("pod %s runs %s, want %s", p.Name, got, image)
		}
	}
	var leader *sandbox.RunningPod
	installcheck.WaitFor(ctx, t, 60*time.Second, "a pod of the Deployment to hold the leader Lease", func() (bool, string, error) {
		var lease coordinationv1.Lease
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: leaseName}, &lease); err != nil {
			return false, "lease: " + err.Error(), nil //nolint:nilerr // not there yet: poll again
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		pod, _, _ := strings.Cut(holder, "_")
		leader = running.Pod(pod)
		return leader != nil, fmt.Sprintf("holder %q is not a pod of %s", holder, image), nil
	})
	if err := olm.webhooks(ctx, leader.Port(webhookPort)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rolled out in %v, %s leads", image, time.Since(began).Round(100*time.Millisecond), leader.Name)
	return leader
}

// checkOLMCertificates: the manager serves OLM's certificate from where OLM mounts it (a
// handshake verifies against OLM's CA for the Service's name, and the leaf is the Secret's),
// and, seeing OLM, left the webhook configurations with OLM's CA and made no certificate Secret
// of its own.
func checkOLMCertificates(ctx context.Context, t *testing.T, c client.Client, olm *olmStandIn, leader *sandbox.RunningPod) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(olm.caPEM) {
		t.Fatal("the stand-in's CA does not parse")
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecretName(deploymentName)}, &secret); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{serviceName(deploymentName) + "." + namespace + ".svc", "localhost"} {
		dialer := &tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}}
		conn, err := dialer.DialContext(ctx, "tcp", leader.Addr(webhookPort))
		if err != nil {
			t.Fatalf("TLS to the webhook server of %s as %s, verified against OLM's CA: %v", leader.Name, host, err)
		}
		leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		_ = conn.Close()
		want, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			t.Fatal(err)
		}
		if string(leaf.Raw) != string(want.Certificate[0]) {
			t.Errorf("the webhook server of %s does not serve the certificate in Secret %s", leader.Name, secret.Name)
		}
	}
	// The manager saw OPERATOR_CONDITION_NAME and left certificates and configurations to OLM:
	// it says so at start, and made no certificate Secret of its own (its cert-controller fills
	// one before the webhook server starts, which the handshake above waited for).
	if log, err := os.ReadFile(leader.LogPath()); err != nil || !strings.Contains(string(log), "Running under OLM") {
		t.Errorf("the manager of %s did not say it runs under OLM; its log ends:\n%s", leader.Name, leader.Tail(20))
	}
	var own corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "clb-binding-controller-webhook-server-cert"}, &own); !apierrors.IsNotFound(err) {
		t.Errorf("the manager made its own certificate Secret under OLM (%v)", err)
	}
	for _, w := range olm.installed.Spec.WebhookDefinitions {
		var bundles [][]byte
		switch w.Type {
		case operatorsv1alpha1.ValidatingAdmissionWebhook:
			var cfg admissionregistrationv1.ValidatingWebhookConfiguration
			if err := c.Get(ctx, types.NamespacedName{Name: w.GenerateName}, &cfg); err != nil {
				t.Fatal(err)
			}
			for _, h := range cfg.Webhooks {
				bundles = append(bundles, h.ClientConfig.CABundle)
			}
		case operatorsv1alpha1.MutatingAdmissionWebhook:
			var cfg admissionregistrationv1.MutatingWebhookConfiguration
			if err := c.Get(ctx, types.NamespacedName{Name: w.GenerateName}, &cfg); err != nil {
				t.Fatal(err)
			}
			for _, h := range cfg.Webhooks {
				bundles = append(bundles, h.ClientConfig.CABundle)
			}
		}
		for _, b := range bundles {
			if string(b) != string(olm.caPEM) {
				t.Errorf("webhook %s: caBundle is not OLM's CA", w.GenerateName)
			}
		}
		if len(bundles) == 0 {
			t.Errorf("webhook configuration %s has no webhooks", w.GenerateName)
		}
	}
}
