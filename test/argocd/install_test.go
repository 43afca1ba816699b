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

package argocd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/proc"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
	"github.com/clbind/clb-binding-controller/internal/sandbox/installcheck"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// TestArgoCDInstall installs clb-binding-controller with the real Argo CD: the application
// controller and repo server of Argo CD v3.2.11 (built from the Go module proxy by `make argocd`
// into bin/argocd; the test runs when $ARGOCD_BIN names that directory, as `make test-argocd`
// does), Argo CD's CRDs, and argocd-cm carrying our health checks
// (config/argocd/argocd-cm-patch.yaml), against the sandbox's control plane, with Redis in
// process (miniredis, as `argocd --core` does) and every listener on loopback.
//
// The Application is config/argocd/application.yaml (ServerSideApply, CreateNamespace, automated
// sync, our ignoreDifferences), pointed at a local Git repository holding a copy of config/
// (region and cluster id set in config/default/manager_config.env, as application.yaml says)
// and an overlay clusters/sandbox that is config/default; the repo server clones it (file://)
// and runs kustomize (bin/kustomize). Then:
//   - the Application turns Synced and Healthy, and the manager runs from the Deployment Argo CD
//     applied, on the sandbox's pod host (sandbox.StartPodHost), with the ServiceAccount and RBAC
//     Argo CD applied: it serves the webhooks, holds the leader Lease and syncs a binding through
//     clbsim;
//   - after the manager injected the webhook caBundle and filled the certificate Secret, a hard
//     refresh still finds the Application Synced (our ignoreDifferences), and a later sync keeps
//     the caBundle and the certificate (RespectIgnoreDifferences);
//   - a second commit adds a binding to a listener the load balancer does not have: the
//     Application turns Degraded and the binding's resource health carries our message (the
//     Ready condition's "ListenerNotFound: ..."), next to a binding that registers its backend;
//   - deleting the Application (resources-finalizer) deletes the bindings first (sync wave 1,
//     reverse order), while the manager runs, then the install but the CRDs (Argo CD never
//     deletes CRDs): no backend is left on the CLB.
//
// One difference from a cluster comes from running the manager as a process: its webhook
// configurations point at it by URL (--webhook-host, internal/sandbox/managerpod.go) instead of
// the Service, which the test's Application ignores in addition to ours (sandboxIgnore).
func TestArgoCDInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane (bin/k8s), Argo CD (make argocd) and builds the manager")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.BinaryAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	// Argo CD takes minutes to build the first time: `make test-argocd` builds it and sets this.
	argoBin := os.Getenv("ARGOCD_BIN")
	if argoBin == "" {
		t.Skip("ARGOCD_BIN is not set: run make test-argocd, which builds Argo CD into bin/argocd")
	}
	if _, err := os.Stat(filepath.Join(argoBin, "argocd")); err != nil {
		t.Fatalf("ARGOCD_BIN=%s: Argo CD is not built there (make argocd): %v", argoBin, err)
	}
	kustomizeBin := os.Getenv("KUSTOMIZE")
	if kustomizeBin == "" {
		kustomizeBin = filepath.Join(root, "bin", "kustomize")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("the repo server needs git: %v", err)
	}
	dir := t.TempDir()
	managerBin := filepath.Join(dir, "manager")
	built := make(chan error, 1)
	go func() { built <- installcheck.GoBuild(ctx, root, managerBin, "./cmd/manager") }()

	cp := installcheck.StartControlPlane(t, assets)
	cfg, c := cp.Config, cp.Client

	repo := newGitRepo(ctx, t, root, filepath.Join(dir, "git"))
	argo := startArgoCD(ctx, t, c, cfg, root, argoBin, kustomizeBin, filepath.Join(dir, "argocd"))

	// What the user does besides Git: the credentials Secret (never in Git) and an application
	// namespace opted in to readiness gates.
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: credentialsSecret},
			StringData: map[string]string{"secretId": simtest.SecretID, "secretKey": simtest.SecretKey},
		},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS, Labels: map[string]string{
			networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled,
		}}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	sim := installcheck.StartCLB(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	pods := installcheck.StartPods(ctx, t, cfg, filepath.Join(dir, "cluster"), map[string]string{managerImage: managerBin},
		sim, namespace, deploymentName)

	app := argo.createApplication(ctx, t, root, repo.url)
	synced := argo.waitApp(ctx, t, app, 3*time.Minute, "Synced and Healthy", func(s appStatus) bool {
		return s.Sync == "Synced" && s.Health == "Healthy" && s.Revision == repo.head(ctx, t)
	})
	t.Logf("the Application is Synced and Healthy at %s after %v (%d resources)", synced.Revision[:8],
		time.Since(began).Round(time.Second), len(synced.Resources))

	leader := checkManager(ctx, t, c, pods)
	installcheck.RefusedWithoutPolicy(ctx, t, c, &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "refused"},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: "lb-1a2b3c4d", Listener: networkingv1alpha1.ListenerReference{ID: "lbl-1a2b3c4d"},
			ServiceRef: networkingv1alpha1.ServiceReference{Name: "api", Port: intstr.FromInt32(80)},
		},
	})
	api := installcheck.Sync(ctx, t, c, sim.Sim, appNS, "argocd-test")
	t.Logf("the manager (leader %s) serves the webhooks and synced a binding after %v", leader, time.Since(began).Round(time.Second))

	t.Run("SyncedAfterInjection", func(t *testing.T) { argo.checkSyncedAfterInjection(ctx, t, c, app) })

	// A second commit: a binding to a listener the load balancer does not have, and one that works
	// (another listener of the same load balancer, the same Service), both in sync wave 1.
	second := sim.Sim.AddListener(api.LoadBalancer, "TCP", 8080)
	repo.commit(ctx, t, "bindings in shop", bindingsYAML(api.LoadBalancer, second, missingListener))
	argo.refresh(ctx, t, app, "normal")
	t.Run("Degraded", func(t *testing.T) { argo.checkDegraded(ctx, t, c, sim.Sim, app, api, second, repo.head(ctx, t)) })
	t.Run("InjectionKeptBySync", func(t *testing.T) { checkInjectionKept(ctx, t, c) })
	t.Run("DeleteApplication", func(t *testing.T) { argo.checkDelete(ctx, t, c, sim.Sim, app, api) })
	t.Logf("Argo CD install, sync, Degraded binding and deletion took %v", time.Since(began).Round(time.Second))
}

// Names config/default gives the objects, and what the test adds.
const (
	namespace         = "clb-binding-controller-system"
	deploymentName    = "clb-binding-controller-controller-manager"
	credentialsSecret = "clb-binding-controller-credentials"
	certSecret        = "clb-binding-controller-webhook-server-cert"
	mutatingName      = "clb-binding-controller-mutating-webhook-configuration"
	validatingName    = "clb-binding-controller-validating-webhook-configuration"
	leaseName         = "clb-binding-controller.clbind.io"
	// managerImage is config/manager's image, which the pod host runs as the manager built here.
	managerImage = "ghcr.io/clbind/clb-binding-controller:v0.1.0"
	webhookPort  = 9443
	appNS        = "shop"
	clusterID    = "argocd-test"
	// argoNS is where Argo CD and the Application are.
	argoNS = "argocd"
	// overlay is the Application's path in the Git repository: config/default, plus the bindings
	// of the second commit.
	overlay = "clusters/sandbox"
	// missingListener is a well-formed listener id the load balancer does not have.
	missingListener = "lbl-0000dead"
)

var crdNames = []string{
	"clbbackendbindings.networking.clbind.io", "clbhealths.networking.clbind.io", "clbbindingpolicies.networking.clbind.io",
}

// gitRepo is a local Git repository the repo server clones over file://.
type gitRepo struct {
	dir, url string
}

// newGitRepo commits a copy of the repository's config/ (region and cluster id set) and the
// overlay clusters/sandbox (config/default) on branch main.
func newGitRepo(ctx context.Context, t *testing.T, root, dir string) *gitRepo {
	t.Helper()
	if err := os.CopyFS(filepath.Join(dir, "config"), os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	envPath := filepath.Join(dir, "config", "default", "manager_config.env")
	data, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	configured := strings.NewReplacer("region=REPLACE_WITH_REGION", "region="+simtest.Region,
		"cluster-id=REPLACE_WITH_CLUSTER_ID", "cluster-id="+clusterID).Replace(string(data))
	if configured == string(data) {
		t.Fatalf("%s: no placeholders to replace", envPath)
	}
	if err := os.WriteFile(envPath, []byte(configured), 0o644); err != nil { //nolint:gosec // a test fixture
		t.Fatal(err)
	}
	r := &gitRepo{dir: dir, url: "file://" + dir}
	r.writeOverlay(t, nil)
	r.git(ctx, t, "init", "-q", "-b", "main")
	r.git(ctx, t, "add", ".")
	r.git(ctx, t, "commit", "-q", "-m", "clb-binding-controller: config/default, configured")
	return r
}

// writeOverlay writes clusters/sandbox/kustomization.yaml: config/default and extra files.
func (r *gitRepo) writeOverlay(t *testing.T, extra map[string]string) {
	t.Helper()
	d := filepath.Join(r.dir, overlay)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../config/default\n"
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		k += "- " + name + "\n"
		if err := os.WriteFile(filepath.Join(d, name), []byte(extra[name]), 0o644); err != nil { //nolint:gosec // a test fixture
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d, "kustomization.yaml"), []byte(k), 0o644); err != nil { //nolint:gosec // a test fixture
		t.Fatal(err)
	}
}

// commit adds files to the overlay and commits.
func (r *gitRepo) commit(ctx context.Context, t *testing.T, message string, files map[string]string) {
	t.Helper()
	r.writeOverlay(t, files)
	r.git(ctx, t, "add", ".")
	r.git(ctx, t, "commit", "-q", "-m", message)
}

func (r *gitRepo) head(ctx context.Context, t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(r.git(ctx, t, "rev-parse", "HEAD"))
}

func (r *gitRepo) git(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// bindingsYAML is the second commit: a Service "web" and two bindings of it in sync wave 1 (so
// Argo CD deletes them before the manager): "web" on listener good, "broken" on listener
// missing, which the load balancer does not have.
func bindingsYAML(lb, good, missing string) map[string]string {
	binding := func(name, listener string) string {
		return fmt.Sprintf(`---
apiVersion: networking.clbind.io/v1alpha1
kind: CLBBackendBinding
metadata:
  name: %s
  namespace: %s
  annotations:
    argocd.argoproj.io/sync-wave: "1"
spec:
  loadBalancerId: %s
  listener:
    id: %s
  serviceRef:
    name: api
    port: 80
`, name, appNS, lb, listener)
	}
	return map[string]string{"shop-bindings.yaml": binding("web", good) + binding("broken", missing)}
}

// argoCD is the running Argo CD.
type argoCD struct {
	c   client.Client
	dir string
}

// startArgoCD installs Argo CD's CRDs, argocd-cm (our health checks), argocd-secret and the
// default AppProject, and starts Redis (miniredis), the repo server and the application
// controller on loopback.
func startArgoCD(ctx context.Context, t *testing.T, c client.Client, cfg *rest.Config, root, bin, kustomize, dir string) *argoCD {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	crds, err := filepath.Glob(filepath.Join(bin, "crds", "*-crd.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no Argo CD CRDs in %s/crds (make argocd): %v", bin, err)
	}
	for _, f := range crds {
		obj := readObject(t, f)
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s: %v", f, err)
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
	// argocd-cm: the documented patch (our health checks), as `kubectl patch --type merge` would
	// merge it into an install's argocd-cm.
	cm := readObject(t, filepath.Join(root, "config", "argocd", "argocd-cm-patch.yaml"))
	if data, _, _ := unstructured.NestedStringMap(cm.Object, "data"); len(data) == 0 {
		t.Fatal("config/argocd/argocd-cm-patch.yaml has no data")
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	project := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "default", "namespace": argoNS},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: argoNS}},
		cm,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: argoNS, Name: "argocd-secret", Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"}},
			StringData: map[string]string{"server.secretkey": hex.EncodeToString(key)},
		},
		project,
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	redis := miniredis.NewMiniRedis()
	if err := redis.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redis.Close)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, cfg, kubeconfig)

	repoPort, repoMetrics, ctrlMetrics := freePort(t), freePort(t), freePort(t)
	home := filepath.Join(dir, "home")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The repo server runs git and kustomize from PATH: bin/kustomize first.
	path := filepath.Dir(kustomize) + string(os.PathListSeparator) + os.Getenv("PATH")
	if filepath.Base(kustomize) != "kustomize" {
		t.Fatalf("KUSTOMIZE=%s: the repo server runs `kustomize` from PATH", kustomize)
	}
	common := []string{"PATH=" + path, "HOME=" + home, "TMPDIR=" + tmp, "ARGOCD_GPG_ENABLED=false", "GIT_CONFIG_GLOBAL=/dev/null"}
	start := func(name string, env []string, args ...string) *proc.Process {
		p, err := proc.Start(proc.Options{
			Name: name, Bin: filepath.Join(bin, name), Args: args, LogPath: filepath.Join(dir, name+".log"),
			Env: append(slices.Clone(common), env...), InheritEnv: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log (end):\n%s", name, p.Tail(40))
			}
			_ = p.Stop(5 * time.Second)
		})
		return p
	}
	redisAddr := redis.Addr()
	repoServer := start("argocd-repo-server", nil, "--address=127.0.0.1", "--port="+strconv.Itoa(repoPort),
		"--metrics-address=127.0.0.1", "--metrics-port="+strconv.Itoa(repoMetrics), "--disable-tls",
		"--redis="+redisAddr, "--loglevel=info", "--logformat=text")
	// The destination https://kubernetes.default.svc is the cluster Argo CD runs in, which it
	// reaches with the in-cluster configuration; outside a pod, ARGOCD_FAKE_IN_CLUSTER (what
	// Argo CD's own local development runs with) makes that $KUBECONFIG.
	controller := start("argocd-application-controller", []string{"ARGOCD_FAKE_IN_CLUSTER=true", "KUBECONFIG=" + kubeconfig},
		"--kubeconfig="+kubeconfig, "--namespace="+argoNS,
		"--repo-server=127.0.0.1:"+strconv.Itoa(repoPort), "--repo-server-plaintext", "--redis="+redisAddr,
		"--metrics-port="+strconv.Itoa(ctrlMetrics), "--persist-resource-health", "--self-heal-timeout-seconds=5",
		"--loglevel=info", "--logformat=text")
	installcheck.WaitFor(ctx, t, 30*time.Second, "Argo CD's repo server and application controller to serve metrics", func() (bool, string, error) {
		for _, p := range []*proc.Process{repoServer, controller} {
			if err := p.ErrExited(); err != nil {
				return false, "", fmt.Errorf("%s exited: %w\n%s", p.Name(), err, p.Tail(30))
			}
		}
		for _, port := range []int{repoMetrics, ctrlMetrics} {
			if code, err := proc.HTTPStatus(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err != nil || code != 200 {
				return false, fmt.Sprintf("port %d: %d %v", port, code, err), nil
			}
		}
		return true, "", nil
	})
	return &argoCD{c: c, dir: dir}
}

// sandboxIgnore is the one difference the sandbox needs in the Application: the manager, a
// process and not a pod, points the webhook configurations at itself by URL instead of at the
// Service (managerpod.go). It does not cover caBundle: our ignoreDifferences does.
var sandboxIgnore = []any{
	map[string]any{"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
		"jqPathExpressions": []any{".webhooks[]?.clientConfig.service", ".webhooks[]?.clientConfig.url"}},
	map[string]any{"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
		"jqPathExpressions": []any{".webhooks[]?.clientConfig.service", ".webhooks[]?.clientConfig.url"}},
}

// createApplication creates config/argocd/application.yaml with the local repository's URL, the
// overlay's path, and sandboxIgnore added to its ignoreDifferences.
func (a *argoCD) createApplication(ctx context.Context, t *testing.T, root, repoURL string) *unstructured.Unstructured {
	t.Helper()
	app := readObject(t, filepath.Join(root, "config", "argocd", "application.yaml"))
	if app.GetNamespace() != argoNS || !slices.Contains(app.GetFinalizers(), "resources-finalizer.argocd.argoproj.io") {
		t.Fatalf("application.yaml: namespace %q, finalizers %v", app.GetNamespace(), app.GetFinalizers())
	}
	opts, _, _ := unstructured.NestedStringSlice(app.Object, "spec", "syncPolicy", "syncOptions")
	for _, want := range []string{"ServerSideApply=true", "CreateNamespace=true", "RespectIgnoreDifferences=true"} {
		if !slices.Contains(opts, want) {
			t.Fatalf("application.yaml: syncOptions %v lack %s", opts, want)
		}
	}
	if path, _, _ := unstructured.NestedString(app.Object, "spec", "source", "path"); path != "config/default" {
		t.Fatalf("application.yaml: path %q, want config/default", path)
	}
	must(t, unstructured.SetNestedField(app.Object, repoURL, "spec", "source", "repoURL"))
	must(t, unstructured.SetNestedField(app.Object, overlay, "spec", "source", "path"))
	ignore, _, _ := unstructured.NestedSlice(app.Object, "spec", "ignoreDifferences")
	if len(ignore) == 0 {
		t.Fatal("application.yaml has no ignoreDifferences")
	}
	must(t, unstructured.SetNestedSlice(app.Object, append(ignore, sandboxIgnore...), "spec", "ignoreDifferences"))
	if err := a.c.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	return app
}

// appStatus is what the test reads of an Application's status.
type appStatus struct {
	Sync, Health, HealthMessage, Revision, Phase, OperationMessage string
	Resources                                                      []resourceStatus
	Conditions                                                     []string
}

type resourceStatus struct {
	Group, Kind, Namespace, Name, Status, Health, HealthMessage string
}

func (s appStatus) String() string {
	var out []string
	for _, r := range s.Resources {
		if r.Status != "Synced" || (r.Health != "" && r.Health != "Healthy") {
			out = append(out, fmt.Sprintf("%s/%s %s/%s: %s %s %q", r.Group, r.Kind, r.Namespace, r.Name, r.Status, r.Health, r.HealthMessage))
		}
	}
	return fmt.Sprintf("sync %s health %s %q revision %.8s operation %s %q conditions %v; resources not Synced or not Healthy: %v",
		s.Sync, s.Health, s.HealthMessage, s.Revision, s.Phase, s.OperationMessage, s.Conditions, out)
}

func (s appStatus) resource(kind, ns, name string) (resourceStatus, bool) {
	for _, r := range s.Resources {
		if r.Kind == kind && r.Namespace == ns && r.Name == name {
			return r, true
		}
	}
	return resourceStatus{}, false
}

func (a *argoCD) status(ctx context.Context, app *unstructured.Unstructured) (appStatus, *unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(app.GroupVersionKind())
	if err := a.c.Get(ctx, client.ObjectKeyFromObject(app), live); err != nil {
		return appStatus{}, nil, err
	}
	str := func(fields ...string) string {
		v, _, _ := unstructured.NestedString(live.Object, fields...)
		return v
	}
	s := appStatus{
		Sync: str("status", "sync", "status"), Revision: str("status", "sync", "revision"),
		Health: str("status", "health", "status"), HealthMessage: str("status", "health", "message"),
		Phase: str("status", "operationState", "phase"), OperationMessage: str("status", "operationState", "message"),
	}
	resources, _, _ := unstructured.NestedSlice(live.Object, "status", "resources")
	for _, r := range resources {
		m, _ := r.(map[string]any)
		get := func(fields ...string) string {
			v, _, _ := unstructured.NestedString(m, fields...)
			return v
		}
		s.Resources = append(s.Resources, resourceStatus{
			Group: get("group"), Kind: get("kind"), Namespace: get("namespace"), Name: get("name"),
			Status: get("status"), Health: get("health", "status"), HealthMessage: get("health", "message"),
		})
	}
	conditions, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	for _, cond := range conditions {
		m, _ := cond.(map[string]any)
		s.Conditions = append(s.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	return s, live, nil
}

// waitApp waits until the Application's status satisfies done.
func (a *argoCD) waitApp(ctx context.Context, t *testing.T, app *unstructured.Unstructured, timeout time.Duration, what string,
	done func(appStatus) bool) appStatus {
	t.Helper()
	var last appStatus
	installcheck.WaitFor(ctx, t, timeout, "the Application to be "+what, func() (bool, string, error) {
		s, _, err := a.status(ctx, app)
		if err != nil {
			return false, "", err
		}
		last = s
		return done(s), s.String(), nil
	})
	return last
}

// refresh asks the application controller to compare again (what the UI's Refresh and a Git
// webhook do) and waits until it did: it removes the annotation once the refresh is done.
func (a *argoCD) refresh(ctx context.Context, t *testing.T, app *unstructured.Unstructured, kind string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":%q}}}`, kind)
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(app.GroupVersionKind())
	obj.SetNamespace(app.GetNamespace())
	obj.SetName(app.GetName())
	if err := a.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	installcheck.WaitFor(ctx, t, 60*time.Second, "the "+kind+" refresh to be done", func() (bool, string, error) {
		_, live, err := a.status(ctx, app)
		if err != nil {
			return false, "", err
		}
		_, pending := live.GetAnnotations()["argocd.argoproj.io/refresh"]
		return !pending, "annotation still there", nil
	})
}

// checkManager waits for the Deployment Argo CD applied to roll out on the pod host, a pod of it
// to hold the leader Lease and the webhook configurations to point at that pod; it returns the
// leader's name.
func checkManager(ctx context.Context, t *testing.T, c client.Client, pods *sandbox.PodHost) string {
	t.Helper()
	running, err := pods.WaitDeployment(ctx, namespace, deploymentName, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var leader *sandbox.RunningPod
	installcheck.WaitFor(ctx, t, 60*time.Second, "a pod of the Deployment to hold the leader Lease", func() (bool, string, error) {
		var lease coordinationv1.Lease
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: leaseName}, &lease); err != nil {
			return false, "lease: " + err.Error(), nil //nolint:nilerr // not there yet: poll again
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		name, _, _ := strings.Cut(holder, "_")
		leader = running.Pod(name)
		return leader != nil, fmt.Sprintf("holder %q is not a pod of the Deployment", holder), nil
	})
	prefix := fmt.Sprintf("https://localhost:%d/", leader.Port(webhookPort))
	installcheck.WaitFor(ctx, t, 30*time.Second, "the webhook configurations to point at the leader with a caBundle", func() (bool, string, error) {
		configs, err := webhookConfigs(ctx, c)
		if err != nil {
			return false, "", err
		}
		for _, cc := range configs {
			if cc.URL == nil || !strings.HasPrefix(*cc.URL, prefix) || len(cc.CABundle) == 0 {
				return false, fmt.Sprintf("a webhook points at %v with %d bytes of caBundle", ptr.Deref(cc.URL, "its Service"), len(cc.CABundle)), nil
			}
		}
		return len(configs) > 0, "no webhooks", nil
	})
	return leader.Name
}

func webhookConfigs(ctx context.Context, c client.Client) ([]admissionregistrationv1.WebhookClientConfig, error) {
	var mutating admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: mutatingName}, &mutating); err != nil {
		return nil, err
	}
	var validating admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: validatingName}, &validating); err != nil {
		return nil, err
	}
	configs := make([]admissionregistrationv1.WebhookClientConfig, 0, len(mutating.Webhooks)+len(validating.Webhooks))
	for _, w := range mutating.Webhooks {
		configs = append(configs, w.ClientConfig)
	}
	for _, w := range validating.Webhooks {
		configs = append(configs, w.ClientConfig)
	}
	return configs, nil
}

// checkInjected fails unless the manager's injection is live: every webhook has a caBundle and
// the certificate Secret holds a certificate, so there is drift for ignoreDifferences to ignore.
func checkInjected(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	configs, err := webhookConfigs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range configs {
		if len(cc.CABundle) == 0 {
			t.Errorf("a webhook (%v) has no caBundle", ptr.Deref(cc.URL, "its Service"))
		}
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecret}, &secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.Data["tls.crt"]) == 0 || len(secret.Data["tls.key"]) == 0 {
		t.Errorf("the certificate Secret holds %d keys, no certificate", len(secret.Data))
	}
}

// checkSyncedAfterInjection: with the caBundle injected and the certificate Secret filled (the
// shipped manifests have neither), a hard refresh finds the Application still Synced, the two
// webhook configurations and the Secret among its Synced resources.
func (a *argoCD) checkSyncedAfterInjection(ctx context.Context, t *testing.T, c client.Client, app *unstructured.Unstructured) {
	checkInjected(ctx, t, c)
	a.refresh(ctx, t, app, "hard")
	s, _, err := a.status(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sync != "Synced" || s.Health != "Healthy" {
		t.Fatalf("after the caBundle injection and the certificate: %s", s)
	}
	for _, r := range []struct{ kind, ns, name string }{
		{"MutatingWebhookConfiguration", "", mutatingName}, {"ValidatingWebhookConfiguration", "", validatingName}, {"Secret", namespace, certSecret},
	} {
		res, ok := s.resource(r.kind, r.ns, r.name)
		if !ok || res.Status != "Synced" {
			t.Errorf("%s %s: %+v (found %v), want Synced", r.kind, r.name, res, ok)
		}
	}
	checkInjected(ctx, t, c)
}

// checkDegraded: after the second commit the Application syncs it, the binding to the missing
// listener is Degraded with the Ready condition's "reason: message" (our health check), and so is
// the Application; the other binding is Healthy and registered its backend.
func (a *argoCD) checkDegraded(ctx context.Context, t *testing.T, c client.Client, sim *clbsim.Sim, app *unstructured.Unstructured,
	api installcheck.Synced, good, revision string) {
	s := a.waitApp(ctx, t, app, 2*time.Minute, "synced to the second commit, binding broken Degraded and web Healthy", func(s appStatus) bool {
		broken, ok1 := s.resource("CLBBackendBinding", appNS, "broken")
		web, ok2 := s.resource("CLBBackendBinding", appNS, "web")
		return s.Revision == revision && s.Sync == "Synced" && ok1 && ok2 && broken.Health == "Degraded" && web.Health == "Healthy"
	})
	var broken networkingv1alpha1.CLBBackendBinding
	if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "broken"}, &broken); err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(broken.Status.Conditions, networkingv1alpha1.BindingReadyCondition)
	if ready == nil || ready.Reason != "ListenerNotFound" {
		t.Fatalf("binding broken: Ready condition %+v, want reason ListenerNotFound", ready)
	}
	want := ready.Reason + ": " + ready.Message
	res, _ := s.resource("CLBBackendBinding", appNS, "broken")
	if res.HealthMessage != want {
		t.Errorf("binding broken: Argo CD's health message %q, want the Ready condition's %q", res.HealthMessage, want)
	}
	if !strings.Contains(res.HealthMessage, missingListener) {
		t.Errorf("binding broken: the health message %q does not name the listener %s", res.HealthMessage, missingListener)
	}
	if s.Health != "Degraded" {
		t.Errorf("the Application's health is %q, want Degraded (a binding is): %s", s.Health, s)
	}
	t.Logf("Argo CD: binding broken %s %q; the Application %s", res.Health, res.HealthMessage, s.Health)
	installcheck.WaitFor(ctx, t, 30*time.Second, "binding web to register api-0 on the second listener", func() (bool, string, error) {
		var pod corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(api.Pod), &pod); err != nil {
			return false, "", err
		}
		targets := sim.Targets(api.LoadBalancer)
		return slices.ContainsFunc(targets, func(tg clbsim.Target) bool { return tg.ListenerID == good && tg.EniIP == pod.Status.PodIP }),
			fmt.Sprintf("targets %+v", targets), nil
	})
}

// checkInjectionKept: the second commit's sync applied the whole overlay again, with
// RespectIgnoreDifferences: the manager's caBundle and certificate are still there and the
// webhooks still serve (the sync's binding went through them).
func checkInjectionKept(ctx context.Context, t *testing.T, c client.Client) {
	checkInjected(ctx, t, c)
}

// checkDelete deletes, as application.yaml says, the binding Argo CD does not manage first, then
// the Application: Argo CD deletes its bindings (sync wave 1) while the manager runs, which
// deregisters their backends, then the install but the CRDs, which Argo CD never deletes. No
// backend is left on the CLB.
func (a *argoCD) checkDelete(ctx context.Context, t *testing.T, c client.Client, sim *clbsim.Sim, app *unstructured.Unstructured, api installcheck.Synced) {
	if err := c.Delete(ctx, api.Binding); err != nil {
		t.Fatal(err)
	}
	installcheck.WaitFor(ctx, t, 60*time.Second, "binding api to be deleted", func() (bool, string, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(api.Binding), &networkingv1alpha1.CLBBackendBinding{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), client.IgnoreNotFound(err)
	})
	if targets := sim.Targets(api.LoadBalancer); len(targets) != 1 {
		t.Fatalf("with only binding web left, the CLB has targets %+v, want web's one", targets)
	}
	began := time.Now()
	if err := a.c.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	// The webhook configurations (sync wave -1) go only once the manager's Deployment (wave 0) is
	// gone: a running manager would create them again.
	var early []string
	installcheck.WaitFor(ctx, t, 3*time.Minute, "the Application and what it installed to be deleted", func() (bool, string, error) {
		err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: deploymentName}, &appsv1.Deployment{})
		if err == nil {
			for _, cfg := range []client.Object{
				&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}},
				&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}},
			} {
				if err := c.Get(ctx, client.ObjectKeyFromObject(cfg), cfg); apierrors.IsNotFound(err) || cfg.GetDeletionTimestamp() != nil {
					early = append(early, fmt.Sprintf("%T %s", cfg, cfg.GetName()))
				}
			}
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(app.GroupVersionKind())
		if err := a.c.Get(ctx, client.ObjectKeyFromObject(app), live); !apierrors.IsNotFound(err) {
			s, _, _ := a.status(ctx, app)
			return false, fmt.Sprintf("Application still there (%v): %s", err, s), client.IgnoreNotFound(err)
		}
		return true, "", nil
	})
	t.Logf("Argo CD deleted the Application and its resources in %v", time.Since(began).Round(time.Second))
	if len(early) > 0 {
		t.Errorf("deleted while the manager's Deployment still existed: %v", slices.Compact(slices.Sorted(slices.Values(early))))
	}
	if targets := sim.Targets(api.LoadBalancer); len(targets) != 0 {
		t.Errorf("after deleting the Application the CLB still has targets %+v", targets)
	}
	// Argo CD never deletes CRDs with an Application (controller.shouldBeDeleted): ours stay, with
	// the objects left in them (here the test's policy), for the user to delete.
	for _, name := range crdNames {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &crd); err != nil || crd.DeletionTimestamp != nil {
			t.Errorf("CRD %s after deleting the Application: %v, deletionTimestamp %v; Argo CD keeps CRDs", name, err, crd.DeletionTimestamp)
		}
	}
	// The rest of what it installed is gone, or going: the namespace controller empties the
	// namespace.
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: deploymentName}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: certSecret}},
	} {
		installcheck.WaitFor(ctx, t, 60*time.Second, fmt.Sprintf("%T %s to be deleted", obj, obj.GetName()), func() (bool, string, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			if apierrors.IsNotFound(err) {
				return true, "", nil
			}
			return false, fmt.Sprintf("deletionTimestamp %v, finalizers %v", obj.GetDeletionTimestamp(), obj.GetFinalizers()), err
		})
	}
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

func writeKubeconfig(t *testing.T, cfg *rest.Config, path string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: argoNS}
	kc.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

// freePort is a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
