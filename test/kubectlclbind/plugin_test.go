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

package kubectlclbind

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/explain"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const lb = "lb-1a2b3c4d"

// cluster is the envtest API server, a client, the built plugin and a kubeconfig for it.
type cluster struct {
	t          *testing.T
	c          client.Client
	bin        string
	kubeconfig string
}

func TestKubectlClbind(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the control plane in bin/k8s")
	}
	g := NewWithT(t)
	env, err := testenv.New()
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: explain.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())

	dir := t.TempDir()
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	bin := filepath.Join(dir, "kubectl-clbind")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-clbind")
	build.Dir = root
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	// A user with read access only would do; system:masters keeps the test about the output.
	user, err := env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	g.Expect(err).NotTo(HaveOccurred())
	kubeconfig := filepath.Join(dir, "kubeconfig")
	g.Expect(os.WriteFile(kubeconfig, kc, 0o600)).To(Succeed())
	k := &cluster{t: t, c: c, bin: bin, kubeconfig: kubeconfig}

	k.namespace("plain", false)
	k.namespace("shop", true)

	// plain: not opted in, so web-1 has no gate although its binding wants one.
	k.service("plain", "web")
	k.pod("plain", "web-1", "web", "10.0.0.1")
	k.binding("plain", "web", "web", ready(metav1.ConditionTrue, "Synced", "1 backends registered"))
	k.slice("plain", "web", "web-1", "10.0.0.1")
	k.health("plain", "web", backend("10.0.0.1", "Alive"))

	// shop: old-1 was created before binding web; dead-1 carries the gate and the CLB reports it
	// Dead; api is Forbidden; pay is in CloudError.
	k.service("shop", "web")
	k.pod("shop", "old-1", "web", "10.0.1.1")
	k.binding("shop", "web", "web", ready(metav1.ConditionTrue, "Synced", "2 backends registered"))
	k.pod("shop", "dead-1", "web", "10.0.1.2", gate("web", corev1.ConditionFalse, "Unhealthy", "the CLB health check fails for this pod"))
	k.slice("shop", "web", "old-1", "10.0.1.1", "dead-1", "10.0.1.2")
	k.health("shop", "web", backend("10.0.1.1", "Alive"), backend("10.0.1.2", "Dead"))

	k.service("shop", "api")
	k.binding("shop", "api", "api", ready(metav1.ConditionFalse, "Forbidden", "no CLBBindingPolicy allows namespace shop to bind "+lb))
	k.pod("shop", "api-1", "api", "10.0.2.1", gate("api", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered"))
	k.slice("shop", "api", "api-1", "10.0.2.1")
	k.health("shop", "api")

	k.service("shop", "pay")
	k.binding("shop", "pay", "pay", ready(metav1.ConditionFalse, "CloudError", "BatchRegisterTargets: InternalError (request 4f2a): try again later"))
	k.pod("shop", "pay-1", "pay", "10.0.3.1", gate("pay", corev1.ConditionFalse, "RegistrationPending", "waiting for the pod to be registered"))
	k.slice("shop", "pay", "pay-1", "10.0.3.1")
	k.health("shop", "pay")

	t.Run("why: namespace not opted in", func(t *testing.T) {
		out := k.run(t, "why", "pod/web-1", "-n", "plain")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("namespace plain is not opted in (it lacks the label clbind.io/readiness-gate-inject=enabled)"))
		g.Expect(out).To(ContainSubstring("The CLB reports it healthy (Alive) since"))
		g.Expect(out).To(ContainSubstring("Next: kubectl label namespace plain clbind.io/readiness-gate-inject=enabled, then kubectl -n plain delete pod web-1"))
	})
	t.Run("why: pod created before its binding", func(t *testing.T) {
		out := k.run(t, "why", "pod/old-1", "-n", "shop")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("does not carry the readiness gate health.clbind.io/web"))
		g.Expect(out).To(MatchRegexp(`the pod was created (\(\S+\) before the binding|in the same second as the binding) \(\S+\)`))
		g.Expect(out).To(ContainSubstring("Next: kubectl -n shop delete pod old-1"))
	})
	t.Run("why: backend Dead", func(t *testing.T) {
		out := k.run(t, "why", "pod/dead-1", "-n", "shop")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("Pod shop/dead-1 (IP 10.0.1.2) is not Ready: readiness gate health.clbind.io/web is False."))
		g.Expect(out).To(MatchRegexp(`Backend 10\.0\.1\.2:8080 \(weight 10\) is registered on listener lbl-web00000 of ` + lb + ` since \S+ \(3m\d+s ago\)\.`))
		g.Expect(out).To(ContainSubstring("The CLB's health check fails for it (Dead) since"))
		g.Expect(out).To(ContainSubstring("The gate is False (Unhealthy)"))
		g.Expect(out).To(ContainSubstring("Next: make the pod answer the CLB's health check on 10.0.1.2:8080"))
	})
	t.Run("why: binding Forbidden", func(t *testing.T) {
		out := k.run(t, "why", "pod/api-1", "-n", "shop")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("The binding is not Ready (Forbidden"))
		g.Expect(out).To(ContainSubstring("is wanted on listener lbl-api00000 of " + lb + " but not registered yet"))
		g.Expect(out).To(ContainSubstring("Next: ask a cluster administrator for a CLBBindingPolicy that allows namespace shop to bind " + lb))
	})
	t.Run("why: binding in CloudError", func(t *testing.T) {
		out := k.run(t, "why", "pod/pay-1", "-n", "shop")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("The binding is not Ready (CloudError"))
		g.Expect(out).To(ContainSubstring("BatchRegisterTargets: InternalError (request 4f2a)"))
		g.Expect(out).To(ContainSubstring("Next: the CLB API keeps failing for this binding"))
	})
	t.Run("why: unknown pod fails", func(t *testing.T) {
		cmd := exec.Command(k.bin, "--kubeconfig", k.kubeconfig, "why", "pod/nope", "-n", "shop")
		out, err := cmd.CombinedOutput()
		g := NewWithT(t)
		g.Expect(err).To(HaveOccurred())
		g.Expect(string(out)).To(ContainSubstring("error: pod shop/nope not found"))
	})
	t.Run("get: every binding's backends", func(t *testing.T) {
		out := k.run(t, "get", "-n", "shop")
		g := NewWithT(t)
		g.Expect(out).To(ContainSubstring("CLBBackendBinding shop/api: listener lbl-api00000 of " + lb + ", Service api:80, Pod targets"))
		g.Expect(out).To(ContainSubstring("Ready=False Forbidden"))
		g.Expect(out).To(ContainSubstring("Ready=False CloudError"))
		g.Expect(out).To(MatchRegexp(`(?m)^dead-1\s+-\s+10\.0\.1\.2:8080\s+10\s+Dead\s+\S+\s+False\s+-$`))
		g.Expect(out).To(MatchRegexp(`(?m)^old-1\s+-\s+10\.0\.1\.1:8080\s+10\s+Alive\s+\S+\s+missing\s+-$`))
		g.Expect(out).To(MatchRegexp(`(?m)^api-1\s+-\s+10\.0\.2\.1:8080\s+10\s+NotRegistered\s+-\s+False\s+-$`))
		g.Expect(out).To(ContainSubstring("note: 1 pod lacks the readiness gate health.clbind.io/web"))
	})
	t.Run("get: one binding, wide and json", func(t *testing.T) {
		g := NewWithT(t)
		wide := k.run(t, "get", "web", "-n", "shop", "-o", "wide")
		g.Expect(wide).To(ContainSubstring("GATE REASON"))
		g.Expect(wide).To(MatchRegexp(`(?m)^dead-1\s.*\sUnhealthy\s`))
		g.Expect(wide).NotTo(ContainSubstring("shop/api"))
		var views []explain.BindingView
		g.Expect(json.Unmarshal([]byte(k.run(t, "get", "web", "-n", "shop", "-o", "json")), &views)).To(Succeed())
		g.Expect(views).To(HaveLen(1))
		g.Expect(views[0].Backends).To(HaveLen(2))
		g.Expect(views[0].Backends[0].Pod).To(Equal("dead-1"))
		g.Expect(views[0].Backends[0].Health).To(Equal("Dead"))
		g.Expect(views[0].Backends[0].HealthSince).NotTo(BeZero())
	})
	t.Run("a user who may only read the namespace", func(t *testing.T) {
		g := NewWithT(t)
		viewer := k.viewer(env, dir, "shop")
		cmd := exec.Command(k.bin, "--kubeconfig", viewer, "why", "pod/dead-1", "-n", "shop")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		g.Expect(err).NotTo(HaveOccurred(), stderr.String())
		g.Expect(string(out)).To(ContainSubstring("Next: make the pod answer the CLB's health check on 10.0.1.2:8080"))
		g.Expect(stderr.String()).To(ContainSubstring("warning: cannot read namespace shop (forbidden): whether it is opted into gate injection is unknown"))
		g.Expect(stderr.String()).To(ContainSubstring("warning: cannot list nodes (forbidden): the NODE column is empty"))
		cmd = exec.Command(k.bin, "--kubeconfig", viewer, "get", "-n", "plain")
		out, err = cmd.CombinedOutput()
		g.Expect(err).To(HaveOccurred(), "another namespace is refused")
		g.Expect(string(out)).To(ContainSubstring("forbidden"))
	})
	t.Run("get -w prints again when the CLB's health changes", func(t *testing.T) {
		g := NewWithT(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, k.bin, "--kubeconfig", k.kubeconfig, "get", "web", "-n", "shop", "-w")
		stdout, err := cmd.StdoutPipe()
		g.Expect(err).NotTo(HaveOccurred())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		g.Expect(cmd.Start()).To(Succeed())
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitFor := func(re string) {
			t.Helper()
			g.Eventually(func() bool {
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							return false
						}
						if ok, _ := regexpMatch(re, l); ok {
							return true
						}
					default:
						return false
					}
				}
			}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(BeTrue(), "a line matching %s; stderr: %s", re, stderr.String())
		}
		waitFor(`^dead-1\s.*\sDead\s`)
		k.health("shop", "web", backend("10.0.1.1", "Alive"), backend("10.0.1.2", "Alive"))
		waitFor(`^dead-1\s.*\sAlive\s`)
		g.Expect(cmd.Process.Signal(os.Interrupt)).To(Succeed())
		g.Expect(cmd.Wait()).To(Succeed(), "exits 0 on an interrupt; stderr: %s", stderr.String())
	})
}

func (k *cluster) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl-clbind %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("kubectl clbind %s\n%s", strings.Join(args, " "), out)
	return string(out)
}

func (k *cluster) must(err error) {
	k.t.Helper()
	if err != nil {
		k.t.Fatal(err)
	}
}

func (k *cluster) namespace(name string, optedIn bool) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if optedIn {
		ns.Labels = map[string]string{networkingv1alpha1.InjectReadinessGateLabel: networkingv1alpha1.InjectReadinessGateEnabled}
	}
	k.must(k.c.Create(context.Background(), ns))
}

func (k *cluster) service(ns, name string) {
	k.must(k.c.Create(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}))
}

type podOpt func(*corev1.Pod)

func gate(binding string, status corev1.ConditionStatus, reason, message string) podOpt {
	return func(p *corev1.Pod) {
		ct := corev1.PodConditionType(networkingv1alpha1.ReadinessGateConditionType(binding))
		p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: ct})
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: ct, Status: status, Reason: reason, Message: message,
			LastTransitionTime: metav1.Now()})
	}
}

// pod creates a running pod whose containers are ready; it is Ready unless a gate is not True.
func (k *cluster) pod(ns, name, app, ip string, opts ...podOpt) {
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	for _, o := range opts {
		o(p)
	}
	status := p.Status
	k.must(k.c.Create(ctx, p))
	ready := corev1.ConditionTrue
	for _, c := range status.Conditions {
		if c.Status != corev1.ConditionTrue {
			ready = corev1.ConditionFalse
		}
	}
	p.Status = status
	p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = append(p.Status.Conditions,
		corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		corev1.PodCondition{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()})
	k.must(k.c.Status().Update(ctx, p))
}

func ready(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: networkingv1alpha1.BindingReadyCondition, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now()}
}

// binding creates a binding and writes its status as the controller would.
func (k *cluster) binding(ns, name, service string, cond metav1.Condition) {
	ctx := context.Background()
	listener := "lbl-" + (name + "00000000")[:8]
	b := &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{LoadBalancerID: lb, Listener: networkingv1alpha1.ListenerReference{ID: listener},
			ServiceRef: networkingv1alpha1.ServiceReference{Name: service, Port: intstr.FromInt32(80)}}}
	k.must(k.c.Create(ctx, b))
	b.Status.ListenerID = listener
	b.Status.Conditions = []metav1.Condition{cond}
	k.must(k.c.Status().Update(ctx, b))
}

// slice publishes the Service's EndpointSlice: pairs of pod name and IP, on port 8080.
func (k *cluster) slice(ns, service string, podIPs ...string) {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: service + "-abc",
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}}}
	for i := 0; i+1 < len(podIPs); i += 2 {
		var pod corev1.Pod
		k.must(k.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: podIPs[i]}, &pod))
		ready := false
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{podIPs[i+1]},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID},
			Conditions: discoveryv1.EndpointConditions{Ready: new(ready), Serving: new(true), Terminating: new(false)}})
	}
	k.must(k.c.Create(context.Background(), s))
}

func backend(ip, state string) networkingv1alpha1.BackendHealth {
	since := metav1.NewTime(time.Now().Add(-3 * time.Minute).Truncate(time.Second))
	return networkingv1alpha1.BackendHealth{IP: ip, Port: 8080, State: state, Since: since, RegisteredSince: new(metav1.NewTime(since.Add(-5 * time.Second)))}
}

// health creates or updates the binding's CLBHealth with the given backends in its status, as
// the controller's health poll writes it.
func (k *cluster) health(ns, name string, backends ...networkingv1alpha1.BackendHealth) {
	ctx := context.Background()
	h := &networkingv1alpha1.CLBHealth{}
	err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, h)
	if err != nil {
		h = &networkingv1alpha1.CLBHealth{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		k.must(k.c.Create(ctx, h))
	}
	healthy := 0
	for _, b := range backends {
		if b.State == "Alive" {
			healthy++
		}
	}
	h.Status.Backends = backends
	h.Status.Registered, h.Status.Healthy, h.Status.Unhealthy = int32(len(backends)), int32(healthy), int32(len(backends)-healthy)
	probe := metav1.Now()
	h.Status.LastProbeTime = &probe
	k.must(k.c.Status().Update(ctx, h))
}

func regexpMatch(re, s string) (bool, error) { return regexp.MatchString(re, s) }

// viewer writes a kubeconfig of a user who may only read, in the namespace, what kubectl clbind
// reads (the Role the README lists), and returns its path.
func (k *cluster) viewer(env *envtest.Environment, dir, ns string) string {
	ctx := context.Background()
	user, err := env.AddUser(envtest.User{Name: "viewer"}, nil)
	k.must(err)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clbind-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
		{APIGroups: []string{networkingv1alpha1.GroupVersion.Group}, Resources: []string{"clbbackendbindings", "clbhealths"}, Verbs: []string{"get", "list", "watch"}},
	}}
	k.must(k.c.Create(ctx, role))
	k.must(k.c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clbind-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}}}))
	// The authorizer learns of the RoleBinding through its informer: wait until it allows.
	vc, err := client.New(user.Config(), client.Options{Scheme: explain.Scheme()})
	k.must(err)
	NewWithT(k.t).Eventually(func() error {
		return vc.List(ctx, &networkingv1alpha1.CLBHealthList{}, client.InNamespace(ns))
	}).WithTimeout(10 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	kc, err := user.KubeConfig()
	k.must(err)
	path := filepath.Join(dir, "viewer.kubeconfig")
	k.must(os.WriteFile(path, kc, 0o600))
	return path
}
