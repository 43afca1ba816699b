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

package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// document is one object of the installer.
type document struct {
	raw  []byte
	head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
}

// manifests are the objects of an install.yaml.
type manifests []document

func parseManifests(data []byte) (manifests, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var m manifests
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		d := document{raw: raw}
		if err := yaml.Unmarshal(raw, &d.head); err != nil {
			return nil, err
		}
		if d.head.Kind != "" {
			m = append(m, d)
		}
	}
}

// ofKind returns the documents of a kind.
func (m manifests) ofKind(kind string) []document {
	var out []document
	for _, d := range m {
		if d.head.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// get decodes the object of that kind and name into obj, strictly: a field the type does not know
// is a mistake in the manifests.
func (m manifests) get(kind, name string, obj any) error {
	for _, d := range m.ofKind(kind) {
		if d.head.Metadata.Name == name {
			if err := yaml.UnmarshalStrict(d.raw, obj); err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("no %s %s in the installer", kind, name)
}

func (m manifests) deployment() (*appsv1.Deployment, error) {
	var dep appsv1.Deployment
	return &dep, m.get("Deployment", deploymentName, &dep)
}

// checkManifests checks what the installer promises before anything is applied: a highly
// available, locked-down manager, configured in one ConfigMap, with no credentials and no
// caBundle shipped.
func checkManifests(t *testing.T, m manifests, wantImage string) {
	t.Helper()
	dep, err := m.deployment()
	if err != nil {
		t.Fatal(err)
	}
	checkDeployment(t, dep, wantImage)
	checkConfig(t, m)
	checkPDB(t, m, dep)
	checkNetworkPolicies(t, m, dep)
	checkWebhookConfigurations(t, m)
	checkSecrets(t, m)
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service"} {
		if len(m.ofKind(kind)) == 0 {
			t.Errorf("the installer has no %s", kind)
		}
	}
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment, wantImage string) {
	t.Helper()
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas %v, want 2", dep.Spec.Replicas)
	}
	pod := &dep.Spec.Template.Spec
	if pod.ServiceAccountName != serviceAccountName {
		t.Errorf("Deployment serviceAccountName %q, want %q", pod.ServiceAccountName, serviceAccountName)
	}
	// The pod webhook's objectSelector keeps the manager's own pods out by this label.
	if got := dep.Spec.Template.Labels["app.kubernetes.io/name"]; got != "clb-binding-controller" {
		t.Errorf("pod template label app.kubernetes.io/name=%q, want clb-binding-controller", got)
	}
	checkContainers(t, pod)
	c := managerContainer(dep)
	if c == nil {
		t.Fatal("the Deployment has no container named manager")
	}
	if wantImage != "" && c.Image != wantImage {
		t.Errorf("manager image %q, want the Makefile's IMG %q", c.Image, wantImage)
	}
	checkManagerArgs(t, c)
	checkManagerEnv(t, c)
}

// checkContainers: every container meets the "restricted" Pod Security Standard (non-root, no
// privilege escalation, no capabilities, RuntimeDefault seccomp) with a read-only root filesystem,
// and has requests.
func checkContainers(t *testing.T, pod *corev1.PodSpec) {
	t.Helper()
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if !runsAsNonRoot(pod, &c) {
			t.Errorf("container %s may run as root: want runAsNonRoot true (container or pod) and no runAsUser 0", c.Name)
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: want readOnlyRootFilesystem true", c.Name)
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: want allowPrivilegeEscalation false", c.Name)
		}
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		if sc := c.SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: want capabilities drop [ALL] and nothing added, got %+v", c.Name, c.SecurityContext)
		}
		if got := seccompProfile(pod, &c); got != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s: seccompProfile %q, want RuntimeDefault (container or pod)", c.Name, got)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("container %s: want cpu and memory requests, got %v", c.Name, c.Resources.Requests)
		}
	}
}

// checkManagerArgs: leader election on, the required flags fed from the ConfigMap.
func checkManagerArgs(t *testing.T, c *corev1.Container) {
	t.Helper()
	args := slices.Concat(c.Command, c.Args)
	if !slices.Contains(args, "--leader-elect") && !slices.Contains(args, "--leader-elect=true") {
		t.Errorf("manager args %q: want --leader-elect", args)
	}
	if slices.Contains(args, "--leader-elect=false") {
		t.Errorf("manager args %q turn leader election off", args)
	}
	// The required flags come from the ConfigMap, through environment variables.
	for flag, env := range map[string]string{"--region": "CLB_REGION", "--cluster-id": "CLB_CLUSTER_ID"} {
		if !slices.Contains(args, flag+"=$("+env+")") {
			t.Errorf("manager args %q lack %s=$(%s)", args, flag, env)
		}
		if e := findEnv(c, env); e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Name != configMapName {
			t.Errorf("manager env %s: want a configMapKeyRef to %s, got %+v", env, configMapName, e)
		}
	}
}

// checkManagerEnv: credentials from an optional Secret, so a CVM-role install runs without one;
// the namespace for the certificate Secret.
func checkManagerEnv(t *testing.T, c *corev1.Container) {
	t.Helper()
	for env, key := range map[string]string{"TENCENTCLOUD_SECRET_ID": "secretId", "TENCENTCLOUD_SECRET_KEY": "secretKey"} {
		e := findEnv(c, env)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("manager env %s: want a secretKeyRef to %s, got %+v", env, credentialsSecretName, e)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != credentialsSecretName || ref.Key != key || ref.Optional == nil || !*ref.Optional {
			t.Errorf("manager env %s: want optional secretKeyRef %s/%s, got %+v", env, credentialsSecretName, key, ref)
		}
	}
	if e := findEnv(c, "POD_NAMESPACE"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
		t.Error("manager env POD_NAMESPACE: want the pod's namespace (the certificate Secret lives there)")
	}
}

// runsAsNonRoot is the container's effective runAsNonRoot, the container overriding the pod.
func runsAsNonRoot(pod *corev1.PodSpec, c *corev1.Container) bool {
	nonRoot, uid := false, int64(-1)
	if psc := pod.SecurityContext; psc != nil {
		if psc.RunAsNonRoot != nil {
			nonRoot = *psc.RunAsNonRoot
		}
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
	}
	return nonRoot && uid != 0
}

// seccompProfile is the container's effective seccomp profile type, the container overriding the
// pod; "" when neither sets one (the runtime's default is then Unconfined).
func seccompProfile(pod *corev1.PodSpec, c *corev1.Container) corev1.SeccompProfileType {
	if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		return sc.SeccompProfile.Type
	}
	if psc := pod.SecurityContext; psc != nil && psc.SeccompProfile != nil {
		return psc.SeccompProfile.Type
	}
	return ""
}

func managerContainer(dep *appsv1.Deployment) *corev1.Container {
	for i := range dep.Spec.Template.Spec.Containers {
		if c := &dep.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return c
		}
	}
	return nil
}

func findEnv(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func checkConfig(t *testing.T, m manifests) {
	t.Helper()
	var cm corev1.ConfigMap
	if err := m.get("ConfigMap", configMapName, &cm); err != nil {
		t.Error(err)
		return
	}
	for _, key := range []string{"region", "cluster-id", "vpc-id"} {
		if _, ok := cm.Data[key]; !ok {
			t.Errorf("ConfigMap %s lacks key %s", configMapName, key)
		}
	}
}

func checkPDB(t *testing.T, m manifests, dep *appsv1.Deployment) {
	t.Helper()
	docs := m.ofKind("PodDisruptionBudget")
	if len(docs) != 1 {
		t.Errorf("want one PodDisruptionBudget, got %d", len(docs))
		return
	}
	var pdb policyv1.PodDisruptionBudget
	if err := m.get("PodDisruptionBudget", docs[0].head.Metadata.Name, &pdb); err != nil {
		t.Error(err)
		return
	}
	if !selects(pdb.Spec.Selector, dep.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget %s does not select the manager's pods", pdb.Name)
	}
	if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", pdb.Name)
	}
	if v := pdb.Spec.MinAvailable; v != nil && (v.IntValue() < 1 || v.IntValue() >= int(*dep.Spec.Replicas)) {
		t.Errorf("PodDisruptionBudget minAvailable %s: want at least 1 and fewer than the replicas, so drains can proceed", v)
	}
}

func checkNetworkPolicies(t *testing.T, m manifests, dep *appsv1.Deployment) {
	t.Helper()
	docs := m.ofKind("NetworkPolicy")
	if len(docs) == 0 {
		t.Error("the installer has no NetworkPolicy")
		return
	}
	allowed := map[int]bool{}
	for _, d := range docs {
		var np networkingv1.NetworkPolicy
		if err := m.get("NetworkPolicy", d.head.Metadata.Name, &np); err != nil {
			t.Error(err)
			continue
		}
		if !selects(&np.Spec.PodSelector, dep.Spec.Template.Labels) {
			t.Errorf("NetworkPolicy %s does not select the manager's pods", np.Name)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			t.Errorf("NetworkPolicy %s does not restrict ingress", np.Name)
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s has an ingress rule for every port", np.Name)
			}
			for _, p := range rule.Ports {
				allowed[p.Port.IntValue()] = true
			}
		}
	}
	// Only the webhook server and the metrics endpoint are reachable.
	if len(allowed) != 2 || !allowed[9443] || !allowed[8443] {
		t.Errorf("NetworkPolicies allow ports %v, want exactly the webhook (9443) and metrics (8443) ports", allowed)
	}
}

func checkWebhookConfigurations(t *testing.T, m manifests) {
	t.Helper()
	var mutating admissionregistrationv1.MutatingWebhookConfiguration
	if err := m.get("MutatingWebhookConfiguration", mutatingName, &mutating); err != nil {
		t.Error(err)
	}
	var validating admissionregistrationv1.ValidatingWebhookConfiguration
	if err := m.get("ValidatingWebhookConfiguration", validatingName, &validating); err != nil {
		t.Error(err)
	}
	for _, w := range mutating.Webhooks {
		if len(w.ClientConfig.CABundle) > 0 {
			t.Errorf("mutating webhook %s ships a caBundle; the manager injects it", w.Name)
		}
	}
	for _, w := range validating.Webhooks {
		if len(w.ClientConfig.CABundle) > 0 {
			t.Errorf("validating webhook %s ships a caBundle; the manager injects it", w.Name)
		}
	}
	if len(mutating.Webhooks) == 0 || len(validating.Webhooks) == 0 {
		t.Error("want both webhook configurations with webhooks")
	}
}

// checkSecrets: the only Secret shipped is the empty certificate Secret; credentials never are.
func checkSecrets(t *testing.T, m manifests) {
	t.Helper()
	for _, d := range m.ofKind("Secret") {
		if d.head.Metadata.Name != certSecretName {
			t.Errorf("the installer ships Secret %s: only the empty %s belongs there (no credentials in Git)", d.head.Metadata.Name, certSecretName)
		}
	}
	var s corev1.Secret
	if err := m.get("Secret", certSecretName, &s); err != nil {
		t.Error(err)
		return
	}
	if len(s.Data) > 0 || len(s.StringData) > 0 {
		t.Errorf("Secret %s ships data; it must be empty for the manager to fill", certSecretName)
	}
	if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret %s has type %s; an empty Secret must be Opaque", certSecretName, s.Type)
	}
	if s.Namespace != namespace {
		t.Errorf("Secret %s in namespace %q, want %s", certSecretName, s.Namespace, namespace)
	}
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// makeDefault reads a `NAME ?= value` default of the Makefile.
func makeDefault(makefile []byte, name string) string {
	for line := range strings.SplitSeq(string(makefile), "\n") {
		if v, ok := strings.CutPrefix(line, name+" ?= "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// render joins the documents into one file, leaving out the kinds in skip and passing each
// through edit.
func (m manifests) render(edit func(document) ([]byte, error), skip ...string) ([]byte, error) {
	var out bytes.Buffer
	for _, d := range m {
		if slices.Contains(skip, d.head.Kind) {
			continue
		}
		raw, err := edit(d)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(bytes.TrimPrefix(raw, []byte("---\n")))
	}
	return out.Bytes(), nil
}

// configured sets region and cluster-id in the ConfigMap, as a user edits a downloaded
// install.yaml.
func configured(region, clusterID string) func(document) ([]byte, error) {
	return func(d document) ([]byte, error) {
		if d.head.Kind != "ConfigMap" || d.head.Metadata.Name != configMapName {
			return d.raw, nil
		}
		var cm corev1.ConfigMap
		if err := yaml.UnmarshalStrict(d.raw, &cm); err != nil {
			return nil, err
		}
		cm.Data["region"], cm.Data["cluster-id"] = region, clusterID
		return yaml.Marshal(&cm)
	}
}
