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
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var (
	//go:embed icon.svg
	icon []byte
	//go:embed description.md
	description string
)

const (
	managerContainer = "manager"
	// certDir is where controller-runtime looks for tls.crt and tls.key, and where OLM mounts the
	// serving certificate it generates for the webhookdefinitions.
	certDir = "/tmp/k8s-webhook-server/serving-certs"
	// regionEnv and clusterIDEnv feed the required --region and --cluster-id flags: a CSV's
	// Deployment args cannot be changed by users, but Subscription spec.config.env can set these.
	regionEnv    = "CLB_REGION"
	clusterIDEnv = "CLB_CLUSTER_ID"
)

// generate builds the bundle from the files under o.root/config.
func generate(o options) (bundle, error) {
	if err := o.validate(); err != nil {
		return bundle{}, err
	}
	in, err := readInputs(o.root)
	if err != nil {
		return bundle{}, err
	}
	b := bundle{files: map[string][]byte{}, dockerfile: o.dockerfileContent()}
	b.files["metadata/annotations.yaml"] = o.annotationsYAML()
	for _, c := range in.crds {
		b.files["manifests/"+c.name] = c.raw
	}

	csv, extra, err := buildCSV(o, in)
	if err != nil {
		return bundle{}, err
	}
	data, err := marshal(csv, pruneCSV)
	if err != nil {
		return bundle{}, err
	}
	b.files["manifests/"+o.pkg+".clusterserviceversion.yaml"] = data
	for name, obj := range extra {
		if b.files["manifests/"+name], err = marshal(obj, nil); err != nil {
			return bundle{}, err
		}
	}
	return b, nil
}

func (o options) validate() error {
	var errs []error
	if o.image == "" {
		errs = append(errs, errors.New("-image is required"))
	}
	if _, err := semver.Parse(o.version); err != nil {
		errs = append(errs, fmt.Errorf("-version %q: %w", o.version, err))
	}
	if _, err := semver.Parse(o.minKubeVersion); err != nil {
		errs = append(errs, fmt.Errorf("-min-kube-version %q: %w", o.minKubeVersion, err))
	}
	if o.pkg == "" || o.channels == "" {
		errs = append(errs, errors.New("-package and -channels must not be empty"))
	}
	if o.defaultChannel != "" && !slices.Contains(strings.Split(o.channels, ","), o.defaultChannel) {
		errs = append(errs, fmt.Errorf("-default-channel %q is not one of -channels %q", o.defaultChannel, o.channels))
	}
	return errors.Join(errs...)
}

// buildCSV returns the ClusterServiceVersion and the other objects of bundle/manifests, by file
// name.
func buildCSV(o options, in *inputs) (*operatorsv1alpha1.ClusterServiceVersion, map[string]any, error) {
	depName := in.prefix + in.deployment.Name
	sa := in.deployment.Spec.Template.Spec.ServiceAccountName
	if sa == "" {
		return nil, nil, errors.New("config/manager: the Deployment names no serviceAccountName")
	}

	perms, err := permissions(in, sa)
	if err != nil {
		return nil, nil, err
	}
	hooks, err := webhookDefinitions(in, depName)
	if err != nil {
		return nil, nil, err
	}
	owned, err := ownedCRDs(in.crds)
	if err != nil {
		return nil, nil, err
	}
	examples, err := almExamples(in.samples)
	if err != nil {
		return nil, nil, err
	}

	deploymentSpec := managerDeployment(in, o.image)
	csv := &operatorsv1alpha1.ClusterServiceVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: operatorsv1alpha1.SchemeGroupVersion.String(), Kind: operatorsv1alpha1.ClusterServiceVersionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name: o.pkg + ".v" + o.version,
			Annotations: map[string]string{
				"alm-examples":   examples,
				"capabilities":   "Basic Install",
				"categories":     "Networking",
				"containerImage": o.image,
				"description":    "Binds Tencent Cloud CLB listeners straight to pod IPs, with drain and CLB-health readiness gates.",
				"operatorframework.io/suggested-namespace":      in.namespace,
				"operators.operatorframework.io/builder":        "clb-binding-controller/hack/bundle",
				"operators.operatorframework.io/project_layout": "go.kubebuilder.io/v4",
				"repository": "https://github.com/clbind/clb-binding-controller",
				"support":    "clbind",
			},
		},
		Spec: operatorsv1alpha1.ClusterServiceVersionSpec{
			DisplayName: "CLB Binding Controller",
			Description: description,
			Version:     version.OperatorVersion{Version: semver.MustParse(o.version)},
			Replaces:    o.replaces,
			Maturity:    "alpha",
			Keywords:    []string{"clb", "tencent cloud", "load balancer", "readiness gate", "networking", "direct to pod"},
			Maintainers: []operatorsv1alpha1.Maintainer{{Name: "clb-binding-controller maintainers", Email: "maintainers@clbind.io"}},
			Provider:    operatorsv1alpha1.AppLink{Name: "clbind", URL: "https://github.com/clbind"},
			Links: []operatorsv1alpha1.AppLink{
				{Name: "Source Code", URL: "https://github.com/clbind/clb-binding-controller"},
				{Name: "Documentation", URL: "https://github.com/clbind/clb-binding-controller#readme"},
			},
			Icon:           []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}},
			MinKubeVersion: o.minKubeVersion,
			// The controller watches every namespace, and its pod webhook and CLB ownership are
			// cluster-wide: one instance per cluster.
			InstallModes: []operatorsv1alpha1.InstallMode{
				{Type: operatorsv1alpha1.InstallModeTypeOwnNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeSingleNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeMultiNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeAllNamespaces, Supported: true},
			},
			InstallStrategy: operatorsv1alpha1.NamedInstallStrategy{
				StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
				StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
					DeploymentSpecs: []operatorsv1alpha1.StrategyDeploymentSpec{{
						Name:  depName,
						Label: withoutManagedBy(in.deployment.Labels),
						Spec:  deploymentSpec,
					}},
					Permissions:        perms.namespaced,
					ClusterPermissions: perms.cluster,
				},
			},
			CustomResourceDefinitions: operatorsv1alpha1.CustomResourceDefinitions{Owned: owned},
			WebhookDefinitions:        hooks,
			RelatedImages:             []operatorsv1alpha1.RelatedImage{{Name: managerContainer, Image: o.image}},
		},
	}
	return csv, extraObjects(in, perms.unboundClusterRoles), nil
}

// managerDeployment is config/manager's Deployment as OLM should run it: the image from IMG, the
// webhook and metrics ports config/default patches in, the required flags fed from environment
// variables a Subscription can set, and no certificate volume (OLM mounts its own at certDir).
func managerDeployment(in *inputs, image string) appsv1.DeploymentSpec {
	spec := *in.deployment.Spec.DeepCopy()
	pod := &spec.Template.Spec
	pod.ServiceAccountName = in.prefix + pod.ServiceAccountName
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Name != managerContainer {
			continue
		}
		c.Image = image
		webhookPort := in.webhookService.Spec.Ports[0].TargetPort.IntValue()
		addArg(c, "--webhook-port", fmt.Sprint(webhookPort))
		addArg(c, "--webhook-cert-dir", certDir)
		addPort(c, corev1.ContainerPort{Name: "webhook-server", ContainerPort: int32(webhookPort), Protocol: corev1.ProtocolTCP})
		if in.metricsService != nil {
			port := in.metricsService.Spec.Ports[0].TargetPort.IntValue()
			addArg(c, "--metrics-bind-address", fmt.Sprintf(":%d", port))
			addPort(c, corev1.ContainerPort{Name: "https", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP})
		}
		if addArg(c, "--region", "$("+regionEnv+")") {
			addEnv(c, corev1.EnvVar{Name: regionEnv})
		}
		if addArg(c, "--cluster-id", "$("+clusterIDEnv+")") {
			addEnv(c, corev1.EnvVar{Name: clusterIDEnv})
		}
		addEnv(c, corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}})
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == certDir })
		if len(c.VolumeMounts) == 0 {
			c.VolumeMounts = nil
		}
	}
	pod.Volumes = slices.DeleteFunc(pod.Volumes, func(v corev1.Volume) bool {
		for _, c := range pod.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					return false
				}
			}
		}
		return true // mounted nowhere (any more)
	})
	if len(pod.Volumes) == 0 {
		pod.Volumes = nil
	}
	return spec
}

// addArg appends --flag=value unless the container already passes the flag; it reports whether it
// appended.
func addArg(c *corev1.Container, flag, value string) bool {
	for _, a := range slices.Concat(c.Command, c.Args) {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return false
		}
	}
	c.Args = append(c.Args, flag+"="+value)
	return true
}

func addPort(c *corev1.Container, p corev1.ContainerPort) {
	if !slices.ContainsFunc(c.Ports, func(q corev1.ContainerPort) bool { return q.ContainerPort == p.ContainerPort }) {
		c.Ports = append(c.Ports, p)
	}
}

func addEnv(c *corev1.Container, e corev1.EnvVar) {
	if !slices.ContainsFunc(c.Env, func(f corev1.EnvVar) bool { return f.Name == e.Name }) {
		c.Env = append(c.Env, e)
	}
}

func withoutManagedBy(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	delete(out, "app.kubernetes.io/managed-by")
	return out
}

// bundlePermissions are config/rbac's roles sorted by how OLM must receive them.
type bundlePermissions struct {
	cluster, namespaced []operatorsv1alpha1.StrategyDeploymentPermissions
	// unboundClusterRoles are ClusterRoles no binding gives the manager (metrics-reader, the
	// admin/editor/viewer helpers): they ship as files of their own.
	unboundClusterRoles []document
}

// permissions folds every role that config/rbac binds to the manager's ServiceAccount into the
// CSV: ClusterRoleBindings into clusterPermissions, RoleBindings (leader election, the webhook
// Secret) into permissions, which OLM grants in the operator's namespace.
func permissions(in *inputs, sa string) (bundlePermissions, error) {
	var p bundlePermissions
	var cluster, namespaced []rbacv1.PolicyRule
	bound := map[string]bool{}
	for _, d := range in.rbac {
		var subjects []rbacv1.Subject
		var ref rbacv1.RoleRef
		switch d.head.Kind {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := d.decode(&b); err != nil {
				return p, err
			}
			subjects, ref = b.Subjects, b.RoleRef
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := d.decode(&b); err != nil {
				return p, err
			}
			subjects, ref = b.Subjects, b.RoleRef
		default:
			continue
		}
		if !slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool { return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa }) {
			continue
		}
		rules, err := roleRules(in.rbac, ref.Kind, ref.Name)
		if err != nil {
			return p, err
		}
		bound[ref.Kind+"/"+ref.Name] = true
		if d.head.Kind == "ClusterRoleBinding" {
			cluster = append(cluster, rules...)
		} else {
			namespaced = append(namespaced, rules...)
		}
	}
	if len(cluster) == 0 {
		return p, fmt.Errorf("config/rbac binds no ClusterRole to ServiceAccount %s", sa)
	}
	account := in.prefix + sa
	p.cluster = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: account, Rules: cluster}}
	if len(namespaced) > 0 {
		p.namespaced = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: account, Rules: namespaced}}
	}
	for _, d := range in.rbac {
		if d.head.Kind == "ClusterRole" && !bound["ClusterRole/"+d.head.Metadata.Name] {
			p.unboundClusterRoles = append(p.unboundClusterRoles, d)
		}
	}
	return p, nil
}

// webhookDefinitions turns config/webhook/manifests.yaml into webhookdefinitions. OLM creates
// the Service (<deploymentName>-service), the serving certificate, and one webhook configuration
// per definition named <generateName>-<random>. namespaceSelector cannot be set in a CSV (OLM
// derives it from the OperatorGroup): the pod webhook checks the
// clbind.io/readiness-gate-inject label itself, so it stays correct, only called more often.
func webhookDefinitions(in *inputs, depName string) ([]operatorsv1alpha1.WebhookDescription, error) {
	if len(in.webhookService.Spec.Ports) != 1 {
		return nil, errors.New("config/webhook/service.yaml: want exactly one port")
	}
	target := in.webhookService.Spec.Ports[0].TargetPort
	if target.Type != intstr.Int {
		return nil, errors.New("config/webhook/service.yaml: want a numeric targetPort")
	}
	port := int32(target.IntValue())
	var defs []operatorsv1alpha1.WebhookDescription
	add := func(typ operatorsv1alpha1.WebhookAdmissionType, name string, cc admissionregistrationv1.WebhookClientConfig,
		rules []admissionregistrationv1.RuleWithOperations, fp *admissionregistrationv1.FailurePolicyType,
		mp *admissionregistrationv1.MatchPolicyType, objSel *metav1.LabelSelector, se *admissionregistrationv1.SideEffectClass,
		timeout *int32, arv []string) (*operatorsv1alpha1.WebhookDescription, error) {
		if cc.Service == nil || cc.Service.Path == nil {
			return nil, fmt.Errorf("webhook %s: want a Service clientConfig with a path", name)
		}
		defs = append(defs, operatorsv1alpha1.WebhookDescription{
			GenerateName: name, Type: typ, DeploymentName: depName,
			ContainerPort: port, TargetPort: &target, WebhookPath: cc.Service.Path,
			Rules: rules, FailurePolicy: fp, MatchPolicy: mp, ObjectSelector: objSel,
			SideEffects: se, TimeoutSeconds: timeout, AdmissionReviewVersions: arv,
		})
		return &defs[len(defs)-1], nil
	}
	for _, d := range in.webhooks {
		switch d.head.Kind {
		case "MutatingWebhookConfiguration":
			var cfg admissionregistrationv1.MutatingWebhookConfiguration
			if err := d.decode(&cfg); err != nil {
				return nil, err
			}
			for _, w := range cfg.Webhooks {
				def, err := add(operatorsv1alpha1.MutatingAdmissionWebhook, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy,
					w.MatchPolicy, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions)
				if err != nil {
					return nil, err
				}
				def.ReinvocationPolicy = w.ReinvocationPolicy
			}
		case "ValidatingWebhookConfiguration":
			var cfg admissionregistrationv1.ValidatingWebhookConfiguration
			if err := d.decode(&cfg); err != nil {
				return nil, err
			}
			for _, w := range cfg.Webhooks {
				if _, err := add(operatorsv1alpha1.ValidatingAdmissionWebhook, w.Name, w.ClientConfig, w.Rules, w.FailurePolicy,
					w.MatchPolicy, w.ObjectSelector, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(defs) == 0 {
		return nil, errors.New("config/webhook/manifests.yaml: no webhooks")
	}
	slices.SortStableFunc(defs, func(a, b operatorsv1alpha1.WebhookDescription) int {
		return strings.Compare(a.GenerateName, b.GenerateName)
	})
	return defs, nil
}

// almExamples is config/samples as the JSON list OLM shows as examples, without namespaces (the
// console creates them where the user is).
func almExamples(samples []document) (string, error) {
	list := make([]map[string]any, 0, len(samples))
	for _, d := range samples {
		var obj map[string]any
		if err := yaml.Unmarshal(d.raw, &obj); err != nil {
			return "", fmt.Errorf("%s: %w", d.file, err)
		}
		if md, ok := obj["metadata"].(map[string]any); ok {
			delete(md, "namespace")
		}
		list = append(list, obj)
	}
	data, err := json.MarshalIndent(list, "", "  ")
	return string(data), err
}

// extraObjects are the bundle files besides the CSV and the CRDs: the metrics Service and the
// unbound ClusterRoles, named as operator-sdk names them.
func extraObjects(in *inputs, clusterRoles []document) map[string]any {
	out := map[string]any{}
	add := func(apiVersion, kind, name string, obj map[string]any) {
		gv := strings.ReplaceAll(apiVersion, "/", "_")
		out[fmt.Sprintf("%s_%s_%s.yaml", name, gv, strings.ToLower(kind))] = obj
	}
	for _, d := range clusterRoles {
		var obj map[string]any
		if err := yaml.Unmarshal(d.raw, &obj); err != nil {
			continue // decoded strictly before; cannot happen
		}
		name := in.prefix + d.head.Metadata.Name
		rename(obj, name)
		add(d.head.APIVersion, d.head.Kind, name, obj)
	}
	if in.metricsService != nil {
		svc := in.metricsService.DeepCopy()
		svc.Name, svc.Namespace = in.prefix+svc.Name, ""
		svc.Labels = withoutManagedBy(svc.Labels)
		var obj map[string]any
		if data, err := json.Marshal(svc); err == nil && json.Unmarshal(data, &obj) == nil {
			delete(obj, "status")
			add("v1", "Service", svc.Name, obj)
		}
	}
	return out
}

// rename sets metadata.name, drops metadata.namespace and the kustomize managed-by label.
func rename(obj map[string]any, name string) {
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	md["name"] = name
	delete(md, "namespace")
	if labels, ok := md["labels"].(map[string]any); ok {
		delete(labels, "app.kubernetes.io/managed-by")
	}
}

// marshal writes an object as YAML without the null and status noise of Go zero values, after
// an optional prune of type-specific noise.
func marshal(obj any, prune func(map[string]any)) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if prune != nil {
		prune(m)
	}
	out, err := yaml.Marshal(dropNulls(m))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pruneCSV drops the CSV fields whose Go zero values serialize as noise: an empty
// apiservicedefinitions and cleanup.enabled=false.
func pruneCSV(m map[string]any) {
	spec, _ := m["spec"].(map[string]any)
	if api, ok := spec["apiservicedefinitions"].(map[string]any); ok && len(api) == 0 {
		delete(spec, "apiservicedefinitions")
	}
	if cleanup, ok := spec["cleanup"].(map[string]any); ok && cleanup["enabled"] == false {
		delete(spec, "cleanup")
	}
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(e)
		}
	case []any:
		for i := range t {
			t[i] = dropNulls(t[i])
		}
	}
	return v
}
