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
	"errors"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clbind/clb-binding-controller/internal/proc"
)

// managerPod is a pod like the installed Deployment's, with a credentials Secret mounted and
// values from every kind of source.
func managerPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "manager-abc", UID: "0123456789abcdef", Labels: map[string]string{"app": "m"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "manager",
			Containers: []corev1.Container{{
				Name: "manager", Image: "registry.example/manager:v1", Command: []string{"/manager"},
				Args: []string{
					"--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--webhook-port=9443",
					"--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs", "--credentials-dir=/etc/clb",
					"--region=$(CLB_REGION)", "--label=$(APP)", "--literal=$$(CLB_REGION)", "--unknown=$(NOPE)",
				},
				EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "config"}}}},
				Env: []corev1.EnvVar{
					{Name: "CLB_REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "config"}, Key: "region"}}},
					{Name: "SECRET_ID", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "secretId"}}},
					{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k", Optional: new(true)}}},
					{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
					{Name: "GREETING", Value: "hello $(CLB_REGION)"},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "certs", MountPath: "/tmp/k8s-webhook-server/serving-certs"},
					{Name: "creds", MountPath: "/etc/clb", ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
			},
		},
	}
}

// TestManagerPodProcess: the process of a manager container gets the pod's args and env with
// every reference resolved, its volumes and ServiceAccount as files under the pod's root, and
// flags that point the container's paths, ports and in-cluster configuration there.
func TestManagerPodProcess(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "config"}, Data: map[string]string{"region": "ap-guangzhou"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "creds"}, Data: map[string][]byte{"secretId": []byte("AKID"), "secretKey": []byte("KEY")}},
	)
	var bound *authenticationv1.BoundObjectReference
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		req := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		bound = req.Spec.BoundObjectRef
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{Token: "pod-token"}}, nil
	})
	r := &procRunner{cs: cs, images: map[string]string{"registry.example/manager:v1": "/bin/manager"}, args: []string{"--clb-endpoint=127.0.0.1:1"},
		dir: t.TempDir(), apiHost: "https://127.0.0.1:6443", apiCA: []byte("CA"), logf: t.Logf}
	pod := managerPod()
	p := &procPod{key: "system/manager-abc", namespace: pod.Namespace, name: pod.Name, dir: filepath.Join(r.dir, "pod")}
	if err := r.writeVolumes(t.Context(), pod, p.rootfs()); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(p.dir, "kubeconfig")
	if err := r.writeKubeconfig(kubeconfig, p.rootfs()+serviceAccountDir); err != nil {
		t.Fatal(err)
	}
	c := &procContainer{pod: p, runner: r, spec: pod.Spec.Containers[0], podSpec: pod, hostname: pod.Name, ports: map[int32]int{}}
	var err error
	if c.extraArgs, err = c.mapFlags(kubeconfig); err != nil {
		t.Fatal(err)
	}
	args, env, err := c.commandLine(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	// The pod's own arguments come first, expanded as the kubelet does.
	for i, want := range []string{
		"--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--webhook-port=9443",
		"--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs", "--credentials-dir=/etc/clb",
		"--region=ap-guangzhou", "--label=m", "--literal=$(CLB_REGION)", "--unknown=$(NOPE)",
	} {
		if args[i] != want {
			t.Errorf("argument %d: got %q, want %q", i, args[i], want)
		}
	}
	// Then the mapped flags, which win: paths under the pod's root, free loopback ports, the
	// in-cluster configuration, URL-mode webhooks, and the runner's own.
	last := func(name string) string { return lastFlag(args, name, "") }
	if got, want := last("--webhook-cert-dir"), p.hostPath("/tmp/k8s-webhook-server/serving-certs"); got != want {
		t.Errorf("--webhook-cert-dir %q, want %q", got, want)
	}
	if got := last("--credentials-dir"); got != p.hostPath("/etc/clb") {
		t.Errorf("--credentials-dir %q, want the mounted Secret's directory", got)
	}
	for port, flag := range map[int32]string{8443: "--metrics-bind-address", 8081: "--health-probe-bind-address"} {
		if c.ports[port] == 0 || last(flag) != "127.0.0.1:"+strconv.Itoa(c.ports[port]) {
			t.Errorf("%s %q: want the loopback port mapped for container port %d (%v)", flag, last(flag), port, c.ports)
		}
	}
	if c.ports[9443] == 0 || last("--webhook-port") != strconv.Itoa(c.ports[9443]) {
		t.Errorf("--webhook-port %q: want the port mapped for 9443 (%v)", last("--webhook-port"), c.ports)
	}
	for flag, want := range map[string]string{
		"--kubeconfig": kubeconfig, "--leader-election-namespace": "system", "--webhook-host": "127.0.0.1", "--clb-endpoint": "127.0.0.1:1",
	} {
		if got := last(flag); got != want {
			t.Errorf("%s %q, want %q", flag, got, want)
		}
	}

	for _, want := range []string{
		"CLB_REGION=ap-guangzhou", "SECRET_ID=AKID", "POD_NAMESPACE=system", "APP=m", "CM_region=ap-guangzhou",
		"GREETING=hello ap-guangzhou", "HOSTNAME=manager-abc", "KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=6443",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, env)
		}
	}
	if slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "MISSING=") }) {
		t.Errorf("a missing optional Secret set MISSING: %q", env)
	}

	// The files: the Secret volume, the ServiceAccount's token (bound to the pod), CA and
	// namespace, and a kubeconfig that reads them.
	for path, want := range map[string]string{
		"/etc/clb/secretId": "AKID", "/etc/clb/secretKey": "KEY",
		serviceAccountDir + "/token": "pod-token", serviceAccountDir + "/ca.crt": "CA", serviceAccountDir + "/namespace": "system",
	} {
		if b, err := os.ReadFile(p.hostPath(path)); err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", path, b, err, want)
		}
	}
	if bound == nil || bound.Kind != "Pod" || bound.Name != pod.Name || bound.UID != pod.UID {
		t.Errorf("the token is bound to %+v, want the pod", bound)
	}
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	auth := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo]
	if auth.TokenFile != p.hostPath(serviceAccountDir+"/token") || kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server != "https://127.0.0.1:6443" {
		t.Errorf("kubeconfig: token file %q, cluster %+v", auth.TokenFile, kc.Clusters)
	}
}

// TestManagerPodMissingConfig: a required ConfigMap key that is missing keeps the container from
// starting, as the kubelet's CreateContainerConfigError does.
func TestManagerPodMissingConfig(t *testing.T) {
	r := &procRunner{cs: fake.NewClientset(), images: map[string]string{}, dir: t.TempDir(), logf: t.Logf}
	pod := managerPod()
	p := &procPod{namespace: pod.Namespace, name: pod.Name, dir: r.dir}
	c := &procContainer{pod: p, runner: r, spec: pod.Spec.Containers[0], podSpec: pod}
	if _, _, err := c.commandLine(t.Context()); err == nil || !strings.Contains(err.Error(), "envFrom ConfigMap config") {
		t.Errorf("want the missing ConfigMap refused, got %v", err)
	}
}

// probeHelperEnv makes the test binary a container that serves /readyz while $TMPDIR/ready
// exists and /healthz while $TMPDIR/sick does not, on --health-probe-bind-address.
const probeHelperEnv = "SANDBOX_PROBE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(probeHelperEnv) == "1" {
		probeHelper()
		return
	}
	os.Exit(m.Run())
}

func probeHelper() {
	addr := lastFlag(os.Args[1:], "--health-probe-bind-address", ":8081")
	tmp := os.Getenv("TMPDIR")
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(tmp, name)); return err == nil }
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !exists("ready") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if exists("sick") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		os.Exit(2)
	}
}

// TestManagerPodProbes: a container is ready only while its readiness probe passes, and a
// failing liveness probe restarts it, which its status shows.
func TestManagerPodProbes(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &procRunner{cs: fake.NewClientset(), images: map[string]string{"helper:1": bin}, dir: t.TempDir(),
		apiHost: "https://127.0.0.1:6443", logf: t.Logf, notify: func(string) {}, backoff: 100 * time.Millisecond}
	probe := func(path string, failures int32) *corev1.Probe {
		return &corev1.Probe{PeriodSeconds: 1, FailureThreshold: failures, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("health")}}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "helper-0", UID: "0123456789abcdef"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(false), TerminationGracePeriodSeconds: new(int64(2)),
			Containers: []corev1.Container{{
				Name: "app", Image: "helper:1", Command: []string{"/helper"}, Args: []string{"--health-probe-bind-address=:8081"},
				Env:            []corev1.EnvVar{{Name: probeHelperEnv, Value: "1"}},
				Ports:          []corev1.ContainerPort{{Name: "health", ContainerPort: 8081}},
				ReadinessProbe: probe("/readyz", 1), LivenessProbe: probe("/healthz", 2),
			}},
		},
	}
	p, err := r.start(t.Context(), "system/helper-0", pod)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop(2 * time.Second)
	c := p.containers[0]
	tmp := p.hostPath("/tmp")
	eventually := func(what string, cond func(s corev1.ContainerStatus) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			s := c.status()
			if cond(s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; status %+v; log:\n%s", what, s, lastLines(c.logPath, 20))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually("the container to run", func(s corev1.ContainerStatus) bool { return s.State.Running != nil })
	// Its probe answers 500: a second of probes leaves it unready.
	eventually("a failed readiness probe", func(corev1.ContainerStatus) bool {
		code, err := proc.HTTPStatus(t.Context(), "http://127.0.0.1:"+strconv.Itoa(c.ports[8081])+"/readyz")
		return err == nil && code == http.StatusInternalServerError
	})
	if c.status().Ready || p.ready() {
		t.Fatal("the container is ready while its readiness probe fails")
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually("the container to turn ready", func(s corev1.ContainerStatus) bool { return s.Ready })
	if err := os.Remove(filepath.Join(tmp, "ready")); err != nil {
		t.Fatal(err)
	}
	eventually("the container to turn unready", func(s corev1.ContainerStatus) bool { return !s.Ready })

	if err := os.WriteFile(filepath.Join(tmp, "sick"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually("a restart after the liveness probe failed", func(s corev1.ContainerStatus) bool {
		return s.RestartCount == 1 && s.LastTerminationState.Terminated != nil
	})
	if err := os.Remove(filepath.Join(tmp, "sick")); err != nil {
		t.Fatal(err)
	}
	eventually("the restarted container to run", func(s corev1.ContainerStatus) bool { return s.State.Running != nil })
	if s := c.status(); s.RestartCount != 1 {
		t.Errorf("restart count %d, want 1", s.RestartCount)
	}
}

// TestManagerPodProjectedServiceAccount: the volume the ServiceAccount admission plugin adds
// (a token, the cluster's CA from kube-root-ca.crt and the namespace) is written where the
// container reads it.
func TestManagerPodProjectedServiceAccount(t *testing.T) {
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "system", Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "ROOT CA"}})
	var audiences []string
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		audiences = a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).Spec.Audiences
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{Token: "projected-token"}}, nil
	})
	r := &procRunner{cs: cs, images: map[string]string{"registry.example/manager:v1": "/bin/manager"}, dir: t.TempDir(), apiCA: []byte("CA"), logf: t.Logf}
	pod := managerPod()
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "kube-api-access-x1y2z", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(int64(3607))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		},
	}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "kube-api-access-x1y2z", MountPath: serviceAccountDir, ReadOnly: true})
	// The credentials Secret is not there: only the projected volume matters here.
	pod.Spec.Volumes[1].Secret.Optional = new(true)
	p := &procPod{namespace: pod.Namespace, name: pod.Name, dir: r.dir}
	if err := r.writeVolumes(t.Context(), pod, p.rootfs()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"token": "projected-token", "ca.crt": "ROOT CA", "namespace": "system"} {
		if b, err := os.ReadFile(p.hostPath(serviceAccountDir + "/" + path)); err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", path, b, err, want)
		}
	}
	if len(audiences) != 0 {
		t.Errorf("token audiences %v, want the API server's default", audiences)
	}
}
