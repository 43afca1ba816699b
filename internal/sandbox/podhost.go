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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Running an installed Deployment of the manager.
//
// An install test applies the product as a user does (kubectl apply, helm install) to a control
// plane that runs only etcd and kube-apiserver (envtest). StartPodHost adds what turns its
// Deployment into running pods, with the sandbox's own parts: kube-controller-manager and
// kube-scheduler (Deployment → ReplicaSet → scheduled pods) and the stand-in kubelet on fake
// Nodes, which runs a container whose image is in Images as that local binary (managerpod.go
// says how the container's view of the world is mapped onto a process) and reports the pod's
// status: Running, ContainersReady and Ready only while the readiness probe passes, restarts
// and CrashLoopBackOff, the exit code after deletion. Other pods get an address and nothing
// listens on it.
//
//	host, err := sandbox.StartPodHost(ctx, sandbox.PodHostOptions{
//		Config: cfg, Dir: dir,
//		Images: map[string]string{"ghcr.io/clbind/clb-binding-controller:v0.1.0": "bin/manager"},
//		Args:   []string{"--clb-endpoint=" + sim.Endpoint, "--clb-scheme=HTTP"},
//	})
//	defer host.Stop()
//	running, err := host.WaitDeployment(ctx, "clb-binding-controller-system", "clb-binding-controller-controller-manager", 2*time.Minute)
//
// or, in one call, StartDeployment.

// PodHostOptions configure StartPodHost.
type PodHostOptions struct {
	// Config reaches the API server as a cluster admin (system:masters); required.
	Config *rest.Config
	// Images maps a container image to the local binary run in its place; required.
	Images map[string]string
	// Args are appended to the arguments of every container run from Images: what differs
	// outside a cloud, for example the manager's --clb-endpoint and --clb-scheme=HTTP.
	Args []string
	// Dir holds the logs of kube-controller-manager and kube-scheduler, and a directory per pod
	// (its volumes, kubeconfig and container logs). Empty: a temporary directory Stop removes.
	Dir string
	// Nodes is the number of fake nodes (default 2).
	Nodes int
	// Logf receives progress lines and the containers' exits (default: discarded).
	Logf func(format string, args ...any)
}

// PodHost runs the pods of a control plane it did not start. Stop it with Stop.
type PodHost struct {
	s       *Sandbox
	tempDir string
}

// StartPodHost starts kube-controller-manager, kube-scheduler and the stand-in kubelet with
// opts.Nodes Ready nodes against the API server of opts.Config, and returns once pods can be
// scheduled. It starts nothing else: the API server and etcd stay the caller's.
func StartPodHost(ctx context.Context, opts PodHostOptions) (*PodHost, error) {
	if opts.Config == nil || len(opts.Images) == 0 {
		return nil, errors.New("a pod host needs an admin Config and Images")
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 2
	}
	h := &PodHost{}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "clbind-pods-"); err != nil {
			return nil, err
		}
		h.tempDir = dir
	}
	images := map[string]string{}
	for image, bin := range opts.Images {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("the binary for image %s: %w", image, err)
		}
		images[image] = abs
	}
	s := &Sandbox{opts: Options{Nodes: opts.Nodes, Logf: opts.Logf}, dir: dir, start: time.Now(), cfg: rest.CopyConfig(opts.Config)}
	s.opts.defaults()
	h.s = s
	var err error
	if s.kubeconfig, err = writeAdminKubeconfig(s.cfg, filepath.Join(dir, "admin.kubeconfig")); err != nil {
		return nil, err
	}
	if s.client, err = client.New(s.cfg, client.Options{Scheme: Scheme}); err != nil {
		return nil, fmt.Errorf("creating the client: %w", err)
	}
	if s.clientset, err = kubernetes.NewForConfig(s.cfg); err != nil {
		return nil, fmt.Errorf("creating the clientset: %w", err)
	}
	s.network = &noNetwork{}
	s.procs = &procRunner{
		cs: s.clientset, images: images, args: slices.Clone(opts.Args), dir: filepath.Join(dir, "pods"),
		apiHost: s.cfg.Host, apiCA: s.cfg.CAData, logf: s.logf,
		notify: func(key string) {
			if k := s.kubelet; k != nil && k.queue != nil {
				k.queue.Add(key)
			}
		},
	}
	for _, st := range []struct {
		name string
		fn   func() error
	}{
		{"kube-controller-manager and kube-scheduler", func() error { return s.startControllers(ctx) }},
		{fmt.Sprintf("%d nodes and the stand-in kubelet", opts.Nodes), func() error { return s.startKubelet(ctx) }},
	} {
		if err := s.step(st.name, st.fn); err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

// writeAdminKubeconfig writes cfg (client certificate or token) as a kubeconfig for the
// control-plane components.
func writeAdminKubeconfig(cfg *rest.Config, path string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
		ClientCertificate: cfg.CertFile, ClientKey: cfg.KeyFile,
	}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	return path, nil
}

// Stop stops the pods' processes (SIGTERM, then SIGKILL), the stand-in kubelet,
// kube-scheduler and kube-controller-manager. It is safe to call twice.
func (h *PodHost) Stop() {
	h.s.Stop()
	if h.tempDir != "" {
		_ = os.RemoveAll(h.tempDir)
	}
}

// Pod is the latest run of the pod namespace/name by the stand-in kubelet, or nil when it ran
// none of its containers as a process.
func (h *PodHost) Pod(namespace, name string) *RunningPod {
	r := h.s.procs
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.byName[namespace+"/"+name]; p != nil {
		return &RunningPod{Namespace: namespace, Name: name, p: p}
	}
	return nil
}

// PodsOf are the runs of the pods a Deployment's selector matches, whether they still exist or
// not, in name order.
func (h *PodHost) PodsOf(ctx context.Context, namespace, deployment string) ([]*RunningPod, error) {
	var dep appsv1.Deployment
	if err := h.s.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: deployment}, &dep); err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, err
	}
	r := h.s.procs
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*RunningPod
	for _, p := range r.byName {
		if p.namespace == namespace && len(p.containers) > 0 && sel.Matches(labels.Set(p.containers[0].podSpec.Labels)) {
			out = append(out, &RunningPod{Namespace: namespace, Name: p.name, p: p})
		}
	}
	slices.SortFunc(out, func(a, b *RunningPod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// WaitDeployment waits until the Deployment's rollout is complete (every replica updated,
// ready and available, no old pod left, as `kubectl rollout status` does) and returns its pods.
// On timeout the error says how far the rollout got and why its pods are not ready.
func (h *PodHost) WaitDeployment(ctx context.Context, namespace, name string, timeout time.Duration) (*Running, error) {
	var pods []corev1.Pod
	err := h.s.waitFor(ctx, timeout, "deployment "+namespace+"/"+name+" to roll out", func(ctx context.Context) (bool, string, error) {
		var dep appsv1.Deployment
		if err := h.s.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &dep); err != nil {
			return false, err.Error(), nil //nolint:nilerr // not there yet: poll again
		}
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		st := dep.Status
		state := fmt.Sprintf("%d/%d updated, %d ready, %d available, %d in all", st.UpdatedReplicas, want, st.ReadyReplicas, st.AvailableReplicas, st.Replicas)
		if st.ObservedGeneration < dep.Generation || st.UpdatedReplicas != want || st.ReadyReplicas != want ||
			st.AvailableReplicas != want || st.Replicas != want {
			return false, state + h.podStates(ctx, &dep), nil
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			return false, "", err
		}
		var list corev1.PodList
		if err := h.s.client.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		pods = slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
		return len(pods) == int(want), state, nil
	})
	if err != nil {
		return nil, err
	}
	run := &Running{Host: h}
	for _, p := range pods {
		rp := h.Pod(p.Namespace, p.Name)
		if rp == nil {
			return nil, fmt.Errorf("pod %s/%s is ready but no container of it runs as a process: is its image in Images?", p.Namespace, p.Name)
		}
		run.Pods = append(run.Pods, rp)
	}
	slices.SortFunc(run.Pods, func(a, b *RunningPod) int { return strings.Compare(a.Name, b.Name) })
	return run, nil
}

// podStates describes the Deployment's pods for a timeout message: phase, conditions and each
// container's state, with the end of a crashed container's log.
func (h *PodHost) podStates(ctx context.Context, dep *appsv1.Deployment) string {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return ""
	}
	var list corev1.PodList
	if err := h.s.client.List(ctx, &list, client.InNamespace(dep.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return ""
	}
	var sb strings.Builder
	for _, p := range list.Items {
		fmt.Fprintf(&sb, "; pod %s %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&sb, ", %s ready=%v restarts=%d %s", c.Name, c.Ready, c.RestartCount, stateOf(c.State))
		}
		if rp := h.Pod(p.Namespace, p.Name); rp != nil {
			if tail := lastLines(rp.LogPath(), 5); tail != "" {
				fmt.Fprintf(&sb, "\n  log %s ends:\n%s", rp.LogPath(), tail)
			}
		}
	}
	return sb.String()
}

// Running is a Deployment rolled out on a PodHost.
type Running struct {
	// Host runs its pods.
	Host *PodHost
	// Pods are its pods once rolled out, in name order.
	Pods []*RunningPod
}

// StartDeployment starts a PodHost (opts) and waits up to timeout for the Deployment
// namespace/name to roll out on it. Stop the host with Running.Host.Stop.
func StartDeployment(ctx context.Context, opts PodHostOptions, namespace, name string, timeout time.Duration) (*Running, error) {
	h, err := StartPodHost(ctx, opts)
	if err != nil {
		return nil, err
	}
	run, err := h.WaitDeployment(ctx, namespace, name, timeout)
	if err != nil {
		h.Stop()
		return nil, err
	}
	return run, nil
}

// Pod is the running pod of that name, or nil.
func (r *Running) Pod(name string) *RunningPod {
	for _, p := range r.Pods {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// RunningPod is a pod whose containers the stand-in kubelet runs as processes.
type RunningPod struct {
	Namespace, Name string
	p               *procPod
}

// Addr is the loopback host:port where the pod serves what its container serves on
// containerPort (the manager: 8081 probes, 8443 metrics, 9443 webhooks), or "" when no container
// of the pod listens there.
func (rp *RunningPod) Addr(containerPort int32) string {
	for _, c := range rp.p.containers {
		if port, ok := c.ports[containerPort]; ok {
			return "127.0.0.1:" + strconv.Itoa(port)
		}
	}
	return ""
}

// Port is the loopback port of Addr (0 when none).
func (rp *RunningPod) Port(containerPort int32) int {
	for _, c := range rp.p.containers {
		if port, ok := c.ports[containerPort]; ok {
			return port
		}
	}
	return 0
}

// LogPath is the log of the latest process of the pod's first mapped container (what `kubectl
// logs` shows).
func (rp *RunningPod) LogPath() string {
	if len(rp.p.containers) == 0 {
		return ""
	}
	c := rp.p.containers[0]
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logPath
}

// Tail is the end of LogPath, n lines.
func (rp *RunningPod) Tail(n int) string { return lastLines(rp.LogPath(), n) }

// Dir is the pod's directory: rootfs/ (its volumes), its kubeconfig and its containers' logs.
func (rp *RunningPod) Dir() string { return rp.p.dir }

// Stopped reports whether every mapped container of the pod has stopped for good (the pod was
// deleted, or its restart policy let it end), and their last exit codes by container name.
func (rp *RunningPod) Stopped() (bool, map[string]int32) {
	for _, c := range rp.p.containers {
		c.mu.Lock()
		exited := c.exited
		c.mu.Unlock()
		if !exited {
			return false, nil
		}
	}
	return true, rp.p.exitCodes()
}
