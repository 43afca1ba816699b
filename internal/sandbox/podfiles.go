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
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// What the stand-in kubelet resolves and writes for a container it runs as a process
// (managerpod.go): its environment and arguments, its volumes and ServiceAccount token, and the
// kubeconfig standing in for the in-cluster configuration.

// varRef is a $(VAR) reference in a command or argument.
var varRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// commandLine resolves the container's arguments and environment, as the kubelet does when it
// starts the container: envFrom first, then env in order ($(VAR) of earlier ones expanded), then
// $(VAR) in command and args; the process gets the mapped flags after its own.
func (c *procContainer) commandLine(ctx context.Context) (args, env []string, err error) {
	pod := c.podSpec
	values := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = v
	}
	// What the kubelet and the image set: the API server's address and the hostname.
	host, port := apiHostPort(c.runner.apiHost)
	set("KUBERNETES_SERVICE_HOST", host)
	set("KUBERNETES_SERVICE_PORT", port)
	set("HOSTNAME", c.hostname)
	set("PATH", "/usr/local/bin:/usr/bin:/bin")
	// Home and scratch files stay inside the pod's directory (the image's HOME; /tmp is the
	// pod's own).
	set("HOME", c.pod.hostPath("/home/nonroot"))
	set("TMPDIR", c.pod.hostPath("/tmp"))
	for _, d := range []string{values["HOME"], values["TMPDIR"]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	for _, from := range c.spec.EnvFrom {
		data, err := c.runner.envSource(ctx, pod.Namespace, from)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	expand := func(s string) string {
		return varRef.ReplaceAllStringFunc(s, func(m string) string {
			if m == "$$" {
				return "$"
			}
			if v, ok := values[m[2:len(m)-1]]; ok {
				return v
			}
			return m // the kubelet leaves unknown references as they are
		})
	}
	for _, e := range c.spec.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value))
			continue
		}
		v, ok, err := c.runner.envValue(ctx, pod, &c.spec, e)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	for _, k := range order {
		env = append(env, k+"="+values[k])
	}
	own := c.spec.Args
	if len(c.spec.Command) > 1 {
		own = slices.Concat(c.spec.Command[1:], c.spec.Args)
	}
	for _, a := range own {
		args = append(args, expand(a))
	}
	return append(args, c.extraArgs...), env, nil
}

func apiHostPort(host string) (string, string) {
	host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
	h, p, err := net.SplitHostPort(strings.TrimSuffix(host, "/"))
	if err != nil {
		return host, "443"
	}
	return h, p
}

// envSource reads a whole ConfigMap or Secret for envFrom (an optional one may be missing).
func (r *procRunner) envSource(ctx context.Context, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(from.ConfigMapRef.Optional, false) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom ConfigMap %s: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := r.cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			if ptr.Deref(from.SecretRef.Optional, false) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom Secret %s: %w", from.SecretRef.Name, err)
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

// envValue resolves one valueFrom; ok is false for a missing optional key.
func (r *procRunner) envValue(ctx context.Context, pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar) (string, bool, error) {
	switch from := e.ValueFrom; {
	case from.FieldRef != nil:
		v, err := fieldValue(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceValue(c, from.ResourceFieldRef)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := r.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, true, nil
			}
			err = fmt.Errorf("no key %s", ref.Key)
		}
		if ptr.Deref(ref.Optional, false) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configMap %s key %s: %w", ref.Name, ref.Key, err)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := r.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), true, nil
			}
			err = fmt.Errorf("no key %s", ref.Key)
		}
		if ptr.Deref(ref.Optional, false) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %s key %s: %w", ref.Name, ref.Key, err)
	}
	return "", false, errors.New("a source the stand-in kubelet does not resolve")
}

// fieldValue is a downward API field of the pod.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if key, ok := strings.CutPrefix(path, prefix+"['"); ok {
			return m[strings.TrimSuffix(key, "']")], nil
		}
	}
	return "", fmt.Errorf("fieldRef %s is not emulated", path)
}

// resourceValue is a resourceFieldRef of the container (limits and requests of cpu and memory).
func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("resourceFieldRef %s is not emulated", ref.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		if name == "cpu" {
			return strconv.FormatInt((q.MilliValue()+999)/1000, 10), nil
		}
		return strconv.FormatInt(q.Value(), 10), nil
	}
	return strconv.FormatInt((q.MilliValue()+divisor.MilliValue()-1)/divisor.MilliValue(), 10), nil
}

// writeVolumes writes the pod's volumes at their mount paths under rootfs, and the
// ServiceAccount's files when the pod mounts none (no ServiceAccount admission).
func (r *procRunner) writeVolumes(ctx context.Context, pod *corev1.Pod, rootfs string) error {
	files := map[string]map[string][]byte{} // volume → file → content
	for _, v := range pod.Spec.Volumes {
		data, err := r.volumeFiles(ctx, pod, v)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		files[v.Name] = data
	}
	saMounted := false
	for _, c := range pod.Spec.Containers {
		if r.images[c.Image] == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			data, ok := files[m.Name]
			if !ok {
				return fmt.Errorf("container %s mounts volume %s, which the pod does not have", c.Name, m.Name)
			}
			dir := filepath.Join(rootfs, filepath.Clean("/"+m.MountPath))
			if m.MountPath == serviceAccountDir {
				saMounted = true
			}
			if err := writeFiles(dir, m.SubPath, data); err != nil {
				return err
			}
		}
	}
	if saMounted || !ptr.Deref(pod.Spec.AutomountServiceAccountToken, true) {
		return nil
	}
	data, err := r.serviceAccountFiles(ctx, pod, 3607)
	if err != nil {
		return err
	}
	return writeFiles(filepath.Join(rootfs, serviceAccountDir), "", data)
}

// writeFiles writes a volume's files into dir (only the one at subPath when set).
func writeFiles(dir, subPath string, data map[string][]byte) error {
	if subPath != "" {
		content, ok := data[subPath]
		if !ok {
			return os.MkdirAll(dir, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dir, content, 0o600)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range data {
		path := filepath.Join(dir, filepath.Clean("/"+name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// volumeFiles are the files of a volume (none for an emptyDir).
func (r *procRunner) volumeFiles(ctx context.Context, pod *corev1.Pod, v corev1.Volume) (map[string][]byte, error) {
	switch {
	case v.EmptyDir != nil:
		return map[string][]byte{}, nil
	case v.Secret != nil:
		return r.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, ptr.Deref(v.Secret.Optional, false))
	case v.ConfigMap != nil:
		return r.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, ptr.Deref(v.ConfigMap.Optional, false))
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items)
	case v.Projected != nil:
		out := map[string][]byte{}
		for _, src := range v.Projected.Sources {
			var data map[string][]byte
			var err error
			switch {
			case src.ServiceAccountToken != nil:
				var sa map[string][]byte
				if sa, err = r.serviceAccountFiles(ctx, pod, ptr.Deref(src.ServiceAccountToken.ExpirationSeconds, 3607), src.ServiceAccountToken.Audience); err == nil {
					data = map[string][]byte{src.ServiceAccountToken.Path: sa["token"]}
				}
			case src.Secret != nil:
				data, err = r.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, ptr.Deref(src.Secret.Optional, false))
			case src.ConfigMap != nil:
				data, err = r.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, ptr.Deref(src.ConfigMap.Optional, false))
			case src.DownwardAPI != nil:
				data, err = downwardFiles(pod, src.DownwardAPI.Items)
			default:
				err = errors.New("a projected source the stand-in kubelet does not write")
			}
			if err != nil {
				return nil, err
			}
			maps.Copy(out, data)
		}
		return out, nil
	}
	return nil, errors.New("a volume type the stand-in kubelet does not write (it writes emptyDir, secret, configMap, downwardAPI and projected)")
}

func (r *procRunner) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional bool) (map[string][]byte, error) {
	s, err := r.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return pick(s.Data, items, optional)
}

func (r *procRunner) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional bool) (map[string][]byte, error) {
	cm, err := r.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("configMap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	maps.Copy(data, cm.BinaryData)
	return pick(data, items, optional)
}

// pick applies a volume's items (key → path) to its data.
func pick(data map[string][]byte, items []corev1.KeyToPath, optional bool) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("no key %s", it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downward API file %s: only fieldRef is written", it.Path)
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// serviceAccountFiles are token, ca.crt and namespace of the pod's ServiceAccount; the token is
// bound to the pod, as the kubelet's.
func (r *procRunner) serviceAccountFiles(ctx context.Context, pod *corev1.Pod, seconds int64, audience ...string) (map[string][]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if len(audience) > 0 && audience[0] != "" {
		req.Spec.Audiences = audience
	}
	tr, err := r.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token of ServiceAccount %s: %w", sa, err)
	}
	return map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": r.apiCA, "namespace": []byte(pod.Namespace)}, nil
}

// writeKubeconfig writes the in-cluster configuration as a kubeconfig: the API server, with the
// token and CA of the mounted ServiceAccount directory.
func (r *procRunner) writeKubeconfig(path, saDir string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: r.apiHost, CertificateAuthority: filepath.Join(saDir, "ca.crt")}
	kc.AuthInfos["service-account"] = &clientcmdapi.AuthInfo{TokenFile: filepath.Join(saDir, "token")}
	kc.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: "service-account"}
	kc.CurrentContext = "in-cluster"
	return clientcmd.WriteToFile(*kc, path)
}
