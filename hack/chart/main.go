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

// Command chart writes the Helm chart charts/clb-binding-controller from the kustomize sources
// that dist/install.yaml is built from: it runs `kustomize build config/default` and turns each
// object into a template, replacing only the configurable fields with template expressions, so
// the chart and install.yaml cannot drift:
//
//	go run ./hack/chart -kustomize bin/kustomize
//
// Values (their defaults are what config/default holds): region, clusterId and vpcId (the
// ConfigMap clb-binding-controller-config), credentials.secretName (the Secret the Deployment
// reads the CLB credentials from), image.repository and image.tag, replicas, resources (of the
// manager container) and bindingPolicies.enforce (false adds --enforce-binding-policies=false).
//
// Besides those, the chart differs from install.yaml in two ways only: the objects live in the
// release's namespace (the Namespace object is left out: `helm install --namespace ...
// --create-namespace`), and app.kubernetes.io/managed-by is Helm. With replicas 1 the
// PodDisruptionBudget (minAvailable 1) is left out, or no node could be drained.
//
// Monitoring: it also builds config/default with the kustomize component config/prometheus
// enabled (its commented `components:` lines uncommented, in a copy of config/), and each object
// that build adds (the ServiceMonitor, the PrometheusRule, the Grafana dashboard ConfigMap)
// becomes a template behind its value, off by default (the Prometheus Operator's CRDs may be
// absent): monitoring.serviceMonitor.enabled, monitoring.prometheusRule.enabled,
// monitoring.dashboards.enabled; monitoring.labels are added to the ServiceMonitor and the
// PrometheusRule (for an operator that selects them by label). A component that changed an object
// of config/default could not be gated by a value, so it fails generation. Template delimiters in
// the objects (the alerts' {{ $labels.x }}, the dashboard's {{label}}) are escaped.
//
// The output depends only on config/ and the kustomize binary, so hack/chart's test can check
// that the committed chart is current; test/helm renders it with the Helm SDK and compares it
// with install.yaml object by object, and with the monitoring values on, with the build that
// includes the component.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// The names config/default gives (namespace and namePrefix clb-binding-controller-).
const (
	chartName      = "clb-binding-controller"
	namespace      = "clb-binding-controller-system"
	deploymentName = "clb-binding-controller-controller-manager"
	configMapName  = "clb-binding-controller-config"
	containerName  = "manager"
	managedByLabel = "app.kubernetes.io/managed-by"
)

func main() {
	root := flag.String("root", ".", "repository root, holding config/")
	kustomize := flag.String("kustomize", envOr("KUSTOMIZE", "bin/kustomize"), "kustomize binary (the Makefile's KUSTOMIZE_VERSION)")
	out := flag.String("out", "", "chart directory to write (default charts/clb-binding-controller under -root)")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*root, "charts", chartName)
	}
	if err := run(*root, *kustomize, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run builds config/default, without and with the monitoring component, and writes the chart into
// out, replacing what was there.
func run(root, kustomize, out string) error {
	built, err := kustomizeBuild(kustomize, filepath.Join(root, "config", "default"))
	if err != nil {
		return err
	}
	monitored, err := buildWithMonitoring(root, kustomize)
	if err != nil {
		return err
	}
	files, err := generate(built, monitored)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil { //nolint:gosec // a chart is public
			return err
		}
	}
	return nil
}

func kustomizeBuild(kustomize, dir string) ([]byte, error) {
	cmd := exec.Command(kustomize, "build", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s build %s: %w\n%s", kustomize, dir, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// The lines of config/default/kustomization.yaml that README.md says to uncomment for monitoring.
const (
	componentsOff = "\n#components:\n#- ../prometheus\n"
	componentsOn  = "\ncomponents:\n- ../prometheus\n"
)

// buildWithMonitoring builds config/default as README.md says to include monitoring: in a copy of
// config/ (so its relative paths resolve) with the component's lines uncommented.
func buildWithMonitoring(root, kustomize string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "chart-config-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	dir := filepath.Join(tmp, "config")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "config"))); err != nil {
		return nil, err
	}
	kpath := filepath.Join(dir, "default", "kustomization.yaml")
	k, err := os.ReadFile(kpath)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(k, []byte(componentsOff)) {
		return nil, fmt.Errorf("config/default/kustomization.yaml has no commented lines %q to include config/prometheus", componentsOff)
	}
	k = bytes.Replace(k, []byte(componentsOff), []byte(componentsOn), 1)
	if err := os.WriteFile(kpath, k, 0o600); err != nil {
		return nil, err
	}
	return kustomizeBuild(kustomize, filepath.Join(dir, "default"))
}

// monitoringGate is the value that renders an object of the monitoring component, by kind, and
// whether monitoring.labels go on it; ok is false for an object the chart has no value for.
func monitoringGate(obj map[string]any) (value string, labels, ok bool) {
	switch str(obj, "kind") {
	case "ServiceMonitor":
		return "monitoring.serviceMonitor.enabled", true, true
	case "PrometheusRule":
		return "monitoring.prometheusRule.enabled", true, true
	case "ConfigMap":
		if str(obj, "metadata", "labels", "grafana_dashboard") != "" {
			return "monitoring.dashboards.enabled", false, true
		}
	}
	return "", false, false
}

func objectKey(obj map[string]any) string {
	return str(obj, "kind") + "/" + str(obj, "metadata", "name")
}

// monitoringObjects are the objects that monitored (config/default with the component) has and
// built (config/default) has not. Every object of built must be in monitored unchanged.
func monitoringObjects(built, monitored []map[string]any) ([]map[string]any, error) {
	plain := map[string]map[string]any{}
	for _, obj := range built {
		plain[objectKey(obj)] = obj
	}
	var added []map[string]any
	seen := map[string]bool{}
	for _, obj := range monitored {
		key := objectKey(obj)
		seen[key] = true
		p, ok := plain[key]
		if !ok {
			added = append(added, obj)
			continue
		}
		if !reflect.DeepEqual(p, obj) {
			return nil, fmt.Errorf("config/prometheus changes %s of config/default; the chart can only add objects behind a value", key)
		}
	}
	for key := range plain {
		if !seen[key] {
			return nil, fmt.Errorf("config/prometheus removes %s of config/default", key)
		}
	}
	if len(added) == 0 {
		return nil, errors.New("config/default with config/prometheus adds no object")
	}
	return added, nil
}

// generate turns the output of kustomize build of config/default (built), and of config/default
// with the monitoring component (monitored), into the chart's files, by path.
func generate(built, monitored []byte) (map[string][]byte, error) {
	objs, err := splitObjects(built)
	if err != nil {
		return nil, err
	}
	monObjs, err := splitObjects(monitored)
	if err != nil {
		return nil, err
	}
	added, err := monitoringObjects(objs, monObjs)
	if err != nil {
		return nil, err
	}
	for _, obj := range added {
		if _, _, ok := monitoringGate(obj); !ok {
			return nil, fmt.Errorf("config/prometheus adds %s, which the chart has no value for (hack/chart monitoringGate)", objectKey(obj))
		}
	}
	v := values{}
	files := map[string][]byte{}
	if err := addMonitoring(files, added); err != nil {
		return nil, err
	}
	for _, obj := range objs {
		kind, name := str(obj, "kind"), str(obj, "metadata", "name")
		if kind == "Namespace" {
			continue // the release's namespace
		}
		t := &template{}
		t.walk(obj)
		switch {
		case kind == "ConfigMap" && name == configMapName:
			err = templateConfig(t, obj, &v)
		case kind == "Deployment" && name == deploymentName:
			err = templateDeployment(t, obj, &v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		text, err := t.render(obj)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		if kind == "PodDisruptionBudget" {
			text = "{{- if gt (int .Values.replicas) 1 }}\n" + text + "{{- end }}\n"
		}
		file := "templates/" + strings.ToLower(kind) + "-" + strings.TrimPrefix(name, chartName+"-") + ".yaml"
		if _, dup := files[file]; dup {
			return nil, fmt.Errorf("two objects make %s", file)
		}
		files[file] = []byte(generatedHeader + text)
	}
	if v.image == "" || v.resources == nil || v.credentialsSecret == "" {
		return nil, errors.New("config/default has no manager Deployment with an image, resources and a credentials Secret")
	}
	if v.region == "" {
		return nil, errors.New("config/default has no ConfigMap " + configMapName + " with a region")
	}
	valuesYAML, err := v.yaml()
	if err != nil {
		return nil, err
	}
	_, tag := splitImage(v.image)
	files["Chart.yaml"] = fmt.Appendf(nil, chartYAML, chartName, strings.TrimPrefix(tag, "v"), tag)
	files["values.yaml"] = valuesYAML
	files["values.schema.json"] = []byte(valuesSchema)
	files["templates/NOTES.txt"] = []byte(notes)
	return files, nil
}

const generatedHeader = "# Generated by hack/chart from config/default (make chart); do not edit.\n"

const monitoringHeader = "# Generated by hack/chart from config/default with the component config/prometheus (make chart); do not edit.\n"

// addMonitoring writes the monitoring component's objects, each behind its value.
func addMonitoring(files map[string][]byte, objs []map[string]any) error {
	for _, obj := range objs {
		kind, name := str(obj, "kind"), str(obj, "metadata", "name")
		value, withLabels, _ := monitoringGate(obj)
		t := &template{}
		t.walk(obj)
		if withLabels {
			meta, _ := obj["metadata"].(map[string]any)
			labels, _ := meta["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
				meta["labels"] = labels
			}
			key := t.line("{{- with .Values.monitoring.labels }}{{ toYaml . | nindent %[1]d }}{{- end }}")
			labels[key] = key
		}
		text, err := t.render(obj)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
		file := "templates/" + strings.ToLower(kind) + "-" + strings.TrimPrefix(name, chartName+"-") + ".yaml"
		if _, dup := files[file]; dup {
			return fmt.Errorf("two objects make %s", file)
		}
		files[file] = []byte(monitoringHeader + "{{- if .Values." + value + " }}\n" + text + "{{- end }}\n")
	}
	return nil
}

// splitObjects parses a multi-document YAML stream into objects.
func splitObjects(data []byte) ([]map[string]any, error) {
	var objs []map[string]any
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		if len(obj) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// values are the chart's defaults, read from the built objects.
type values struct {
	region, clusterID, vpcID string
	credentialsSecret        string
	image                    string
	replicas                 int64
	resources                any
}

func templateConfig(t *template, cm map[string]any, v *values) error {
	data, ok := cm["data"].(map[string]any)
	if !ok {
		return errors.New("no data")
	}
	for key, field := range map[string]*string{"region": &v.region, "cluster-id": &v.clusterID, "vpc-id": &v.vpcID} {
		s, ok := data[key].(string)
		if !ok {
			return fmt.Errorf("no key %s", key)
		}
		*field = s
	}
	data["region"] = t.inline("{{ .Values.region | quote }}")
	data["cluster-id"] = t.inline("{{ .Values.clusterId | quote }}")
	data["vpc-id"] = t.inline("{{ .Values.vpcId | quote }}")
	return nil
}

func templateDeployment(t *template, dep map[string]any, v *values) error {
	spec, _ := dep["spec"].(map[string]any)
	replicas, ok := spec["replicas"].(float64)
	if !ok {
		return errors.New("no replicas")
	}
	v.replicas = int64(replicas)
	spec["replicas"] = t.inline("{{ .Values.replicas }}")
	podSpec, _ := lookup(dep, "spec", "template", "spec").(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	for _, c := range containers {
		c, _ := c.(map[string]any)
		if c["name"] != containerName {
			continue
		}
		v.image, _ = c["image"].(string)
		c["image"] = t.inline(`{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}`)
		v.resources = c["resources"]
		c["resources"] = t.block("resources:", "{{- toYaml .Values.resources | nindent %[1]d }}")
		args, _ := c["args"].([]any)
		c["args"] = append(args, t.block("-",
			"{{- if not .Values.bindingPolicies.enforce }}\n%[2]s- --enforce-binding-policies=false\n{{- end }}"))
		env, _ := c["env"].([]any)
		for _, e := range env {
			ref, ok := lookup(e, "valueFrom", "secretKeyRef").(map[string]any)
			if !ok || !strings.HasPrefix(str(e, "name"), "TENCENTCLOUD_SECRET_") {
				continue
			}
			if v.credentialsSecret, _ = ref["name"].(string); v.credentialsSecret == "" {
				return errors.New("a credentials secretKeyRef without a name")
			}
			ref["name"] = t.inline("{{ .Values.credentials.secretName | quote }}")
		}
	}
	return nil
}

// template holds the expressions that replace fields of one object; a field is first set to a
// placeholder, which render swaps for the expression once the object is YAML.
type template struct {
	subs []sub
}

type sub struct {
	placeholder, expr string
	// block: the expression replaces the whole line, with %d the indent of what follows the
	// key (for nindent) and %[2]s the line's own indent.
	block bool
	key   string
	// line: the expression replaces the whole line "placeholder: placeholder" (a map entry the
	// expression writes, if any), with %[1]d the line's indent and %[2]s the indent itself.
	line bool
}

func (t *template) next() string { return fmt.Sprintf("CHART_PLACEHOLDER_%d", len(t.subs)) }

// inline replaces a scalar.
func (t *template) inline(expr string) string {
	p := t.next()
	t.subs = append(t.subs, sub{placeholder: p, expr: expr})
	return p
}

// block replaces the line "key placeholder" (a map key with its value, or "-" a list item).
func (t *template) block(key, expr string) string {
	p := t.next()
	t.subs = append(t.subs, sub{placeholder: p, expr: expr, block: true, key: key})
	return p
}

// line adds a map entry whose key and value are the returned placeholder; its line becomes expr.
func (t *template) line(expr string) string {
	p := t.next()
	t.subs = append(t.subs, sub{placeholder: p, expr: expr, line: true})
	return p
}

// walk puts the release's namespace in place of config/default's, and Helm as the manager label.
func (t *template) walk(node any) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if s, ok := v.(string); ok {
				switch {
				case s == namespace:
					n[k] = t.inline("{{ .Release.Namespace }}")
				case k == managedByLabel && s == "kustomize":
					n[k] = t.inline("{{ .Release.Service }}")
				}
				continue
			}
			t.walk(v)
		}
	case []any:
		for i, v := range n {
			if s, ok := v.(string); ok && s == namespace {
				n[i] = t.inline("{{ .Release.Namespace }}")
				continue
			}
			t.walk(v)
		}
	}
}

// render writes the object as YAML with its placeholders swapped for their expressions.
func (t *template) render(obj map[string]any) (string, error) {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	// Template delimiters in the object (an alert's {{ $labels.namespace }}) are text: Helm
	// renders {{ "{{" }} as {{. The placeholders have none.
	lines := strings.Split(escapeDelims.Replace(string(data)), "\n")
	for _, s := range t.subs {
		found := false
		for i, line := range lines {
			if !strings.HasSuffix(line, " "+s.placeholder) {
				continue
			}
			found = true
			if s.line {
				indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
				if strings.TrimSpace(line) != s.placeholder+": "+s.placeholder {
					return "", fmt.Errorf("placeholder %s in line %q", s.placeholder, line)
				}
				lines[i] = indent + fmt.Sprintf(s.expr, len(indent), indent)
				continue
			}
			if !s.block {
				lines[i] = strings.TrimSuffix(line, s.placeholder) + s.expr
				continue
			}
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			if strings.TrimSpace(strings.TrimSuffix(line, s.placeholder)) != s.key {
				return "", fmt.Errorf("placeholder for %q in line %q", s.key, line)
			}
			if s.key == "-" {
				lines[i] = fmt.Sprintf(s.expr, 0, indent)
			} else {
				lines[i] = indent + s.key + "\n" + fmt.Sprintf(s.expr, len(indent)+2, indent)
			}
		}
		if !found {
			return "", fmt.Errorf("placeholder %s (%s) not in the YAML", s.placeholder, s.expr)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// escapeDelims: outside an action, }} is text already.
var escapeDelims = strings.NewReplacer("{{", `{{ "{{" }}`)

func lookup(node any, path ...string) any {
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[p]
	}
	return node
}

func str(node any, path ...string) string {
	s, _ := lookup(node, path...).(string)
	return s
}

// splitImage splits repository:tag (a registry's port is part of the repository).
func splitImage(image string) (repo, tag string) {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image, "latest"
	}
	return image[:i], image[i+1:]
}

// yaml writes values.yaml: the defaults, commented.
func (v values) yaml() ([]byte, error) {
	res, err := yaml.Marshal(v.resources)
	if err != nil {
		return nil, err
	}
	var resIndented []string
	for l := range strings.SplitSeq(strings.TrimRight(string(res), "\n"), "\n") {
		resIndented = append(resIndented, "  "+l)
	}
	repo, tag := splitImage(v.image)
	q := func(s string) string {
		b, _ := yaml.Marshal(s)
		return strings.TrimSpace(string(b))
	}
	return fmt.Appendf(nil, valuesYAML, q(v.region), q(v.clusterID), q(v.vpcID), q(v.credentialsSecret),
		q(repo), q(tag), v.replicas, strings.Join(resIndented, "\n")), nil
}

const chartYAML = `# Generated by hack/chart from config/default (make chart); do not edit.
apiVersion: v2
name: %s
description: Puts Tencent Cloud CLB load balancers directly in front of pods (CLBBackendBinding, readiness gates, binding policies).
type: application
version: %s
appVersion: %q
home: https://github.com/clbind/clb-binding-controller
sources:
- https://github.com/clbind/clb-binding-controller
`

const valuesYAML = `# Generated by hack/chart from config/default (make chart); do not edit. The defaults are
# config/default's, so the chart renders what dist/install.yaml holds.

# Tencent Cloud region of the load balancers, for example ap-guangzhou. The placeholder is refused
# by the manager on purpose: set it.
region: %s
# Stable name of this cluster, for example cls-1a2b3c4d (1-40 lowercase alphanumerics or '-'). It
# goes into the tag of every backend the manager registers: never change it while bindings exist.
clusterId: %s
# Optional VPC of the cluster, for example vpc-1a2b3c4d: bindings to load balancers in another VPC
# are then refused. Empty: no check.
vpcId: %s

credentials:
  # The Secret (keys secretId and secretKey) the manager reads its CLB credentials from, in the
  # release's namespace. Optional: without it the manager uses the CVM role of its node. Create it
  # yourself, never in Git.
  secretName: %s

image:
  repository: %s
  tag: %s

# Manager replicas: one leads (it alone writes to the CLB), all serve the webhooks. With more than
# one, a PodDisruptionBudget keeps one through node drains.
replicas: %d

# Of the manager container. The informers hold the cluster's pods, Services and EndpointSlices:
# raise the memory for large clusters.
resources:
%s

bindingPolicies:
  # Admit bindings, and write them to the CLB, only while a CLBBindingPolicy allows them. false
  # (--enforce-binding-policies=false) suits a single-tenant cluster only.
  enforce: true

# Monitoring with the Prometheus Operator and Grafana: the objects of the kustomize component
# config/prometheus (README.md, Monitoring). Off by default: the ServiceMonitor and the
# PrometheusRule need the operator's monitoring.coreos.com CRDs. Prometheus then needs a
# ClusterRoleBinding to clb-binding-controller-metrics-reader and its namespace labelled
# metrics=enabled (the NetworkPolicy allow-metrics-traffic).
monitoring:
  serviceMonitor:
    # A ServiceMonitor that scrapes the metrics Service over HTTPS with Prometheus's token.
    enabled: false
  prometheusRule:
    # A PrometheusRule with the alerts.
    enabled: false
  dashboards:
    # The Grafana dashboard as a ConfigMap labelled grafana_dashboard: "1", in the release's
    # namespace, for Grafana's dashboard sidecar (which must watch this namespace).
    enabled: false
  # Labels added to the ServiceMonitor and the PrometheusRule, for an operator that selects them
  # by label, for example release: kube-prometheus-stack.
  labels: {}
`

const valuesSchema = `{
  "$schema": "https://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "required": ["region", "clusterId", "vpcId", "credentials", "image", "replicas", "resources", "bindingPolicies", "monitoring"],
  "properties": {
    "region": {"type": "string", "minLength": 1},
    "clusterId": {"type": "string", "minLength": 1},
    "vpcId": {"type": "string"},
    "credentials": {
      "type": "object",
      "additionalProperties": false,
      "required": ["secretName"],
      "properties": {"secretName": {"type": "string", "minLength": 1}}
    },
    "image": {
      "type": "object",
      "additionalProperties": false,
      "required": ["repository", "tag"],
      "properties": {
        "repository": {"type": "string", "minLength": 1},
        "tag": {"type": "string", "minLength": 1}
      }
    },
    "replicas": {"type": "integer", "minimum": 1},
    "resources": {"type": "object"},
    "bindingPolicies": {
      "type": "object",
      "additionalProperties": false,
      "required": ["enforce"],
      "properties": {"enforce": {"type": "boolean"}}
    },
    "monitoring": {
      "type": "object",
      "additionalProperties": false,
      "required": ["serviceMonitor", "prometheusRule", "dashboards", "labels"],
      "properties": {
        "serviceMonitor": {"$ref": "#/definitions/enabled"},
        "prometheusRule": {"$ref": "#/definitions/enabled"},
        "dashboards": {"$ref": "#/definitions/enabled"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    }
  },
  "definitions": {
    "enabled": {
      "type": "object",
      "additionalProperties": false,
      "required": ["enabled"],
      "properties": {"enabled": {"type": "boolean"}}
    }
  }
}
`

const notes = `clb-binding-controller is installed in namespace {{ .Release.Namespace }}.
{{- if or (hasPrefix "REPLACE_WITH_" .Values.region) (hasPrefix "REPLACE_WITH_" .Values.clusterId) }}

WARNING: region and clusterId are placeholders, which the manager refuses: its pods crash-loop
until you run helm upgrade with --set region=<region> --set clusterId=<cluster id>.
{{- end }}

Credentials: the manager reads the Secret {{ .Values.credentials.secretName }} (keys secretId, secretKey)
of this namespace, or uses the CVM role of its node without it. A Secret created after the
install takes effect on:
  kubectl -n {{ .Release.Namespace }} rollout restart deployment clb-binding-controller-controller-manager
{{- if .Values.bindingPolicies.enforce }}

Binding policies are enforced: a cluster admin creates a CLBBindingPolicy before the first
CLBBackendBinding of a namespace (README, First binding).
{{- end }}

{{- if or .Values.monitoring.serviceMonitor.enabled .Values.monitoring.prometheusRule.enabled }}

Monitoring: let Prometheus scrape the metrics Service (README, Monitoring):
  kubectl label namespace <prometheus namespace> metrics=enabled
  kubectl create clusterrolebinding prometheus-clb-metrics --clusterrole=clb-binding-controller-metrics-reader \
    --serviceaccount=<prometheus namespace>:<prometheus service account>
{{- end }}

Uninstall in this order, or backends stay on the CLB:
  kubectl delete clbbackendbindings --all -A
  kubectl -n {{ .Release.Namespace }} delete deployment clb-binding-controller-controller-manager
  helm uninstall -n {{ .Release.Namespace }} {{ .Release.Name }}
`
