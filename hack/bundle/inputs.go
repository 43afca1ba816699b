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
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// document is one YAML document of a manifest file.
type document struct {
	file string
	raw  []byte
	head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
}

func (d document) decode(into any) error {
	if err := yaml.UnmarshalStrict(d.raw, into); err != nil {
		return fmt.Errorf("%s: %s %s: %w", d.file, d.head.Kind, d.head.Metadata.Name, err)
	}
	return nil
}

// readDocuments splits a manifest file into its non-empty YAML documents.
func readDocuments(path string) ([]document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		d := document{file: path, raw: raw}
		if err := yaml.Unmarshal(raw, &d.head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if d.head.Kind != "" {
			docs = append(docs, d)
		}
	}
}

// kustomization is the part of a kustomization.yaml the generator reads.
type kustomization struct {
	Namespace  string   `json:"namespace"`
	NamePrefix string   `json:"namePrefix"`
	Resources  []string `json:"resources"`
}

func readKustomization(dir string) (kustomization, error) {
	var k kustomization
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return k, err
	}
	// Only a few fields matter here; the rest (patches, images, …) is kustomize's business.
	if err := yaml.Unmarshal(data, &k); err != nil {
		return k, fmt.Errorf("%s: %w", dir, err)
	}
	return k, nil
}

// kustomizeResources reads the documents of the files a kustomization lists (not recursing into
// directories: the directories this generator reads list plain files).
func kustomizeResources(dir string) ([]document, error) {
	k, err := readKustomization(dir)
	if err != nil {
		return nil, err
	}
	var docs []document
	for _, res := range k.Resources {
		path := filepath.Join(dir, res)
		if fi, err := os.Stat(path); err != nil {
			return nil, err
		} else if fi.IsDir() {
			return nil, fmt.Errorf("%s lists directory %s; the bundle generator reads files only", dir, res)
		}
		d, err := readDocuments(path)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// inputs is everything the bundle is made from.
type inputs struct {
	// prefix and namespace are config/default's namePrefix and namespace.
	prefix, namespace string
	deployment        appsv1.Deployment
	crds              []crdFile
	rbac              []document // config/rbac resources
	webhooks          []document // config/webhook/manifests.yaml
	webhookService    corev1.Service
	metricsService    *corev1.Service // config/default/metrics_service.yaml, if any
	samples           []document
}

// crdFile is a CRD as controller-gen wrote it, and parsed.
type crdFile struct {
	name string
	raw  []byte
	crd  apiextensionsv1.CustomResourceDefinition
}

func readInputs(root string) (*inputs, error) {
	in := &inputs{}
	def, err := readKustomization(filepath.Join(root, "config", "default"))
	if err != nil {
		return nil, err
	}
	in.prefix, in.namespace = def.NamePrefix, def.Namespace

	if in.deployment, err = readDeployment(filepath.Join(root, "config", "manager", "manager.yaml")); err != nil {
		return nil, err
	}
	if in.crds, err = readCRDs(filepath.Join(root, "config", "crd", "bases")); err != nil {
		return nil, err
	}
	if in.rbac, err = kustomizeResources(filepath.Join(root, "config", "rbac")); err != nil {
		return nil, err
	}
	if in.webhooks, err = readDocuments(filepath.Join(root, "config", "webhook", "manifests.yaml")); err != nil {
		return nil, err
	}
	svc, err := readDocuments(filepath.Join(root, "config", "webhook", "service.yaml"))
	if err != nil {
		return nil, err
	}
	if len(svc) != 1 || svc[0].head.Kind != "Service" {
		return nil, errors.New("config/webhook/service.yaml: want exactly one Service")
	}
	if err := svc[0].decode(&in.webhookService); err != nil {
		return nil, err
	}
	metrics := filepath.Join(root, "config", "default", "metrics_service.yaml")
	if _, err := os.Stat(metrics); err == nil {
		docs, err := readDocuments(metrics)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if d.head.Kind == "Service" {
				in.metricsService = &corev1.Service{}
				if err := d.decode(in.metricsService); err != nil {
					return nil, err
				}
			}
		}
	}
	if in.samples, err = kustomizeResources(filepath.Join(root, "config", "samples")); err != nil {
		return nil, err
	}
	return in, nil
}

func readDeployment(path string) (appsv1.Deployment, error) {
	var dep appsv1.Deployment
	docs, err := readDocuments(path)
	if err != nil {
		return dep, err
	}
	for _, d := range docs {
		if d.head.Kind == "Deployment" {
			return dep, d.decode(&dep)
		}
	}
	return dep, fmt.Errorf("%s: no Deployment", path)
}

func readCRDs(dir string) ([]crdFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	crds := make([]crdFile, 0, len(paths))
	for _, path := range paths {
		docs, err := readDocuments(path)
		if err != nil {
			return nil, err
		}
		if len(docs) != 1 || docs[0].head.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s: want exactly one CustomResourceDefinition", path)
		}
		c := crdFile{name: filepath.Base(path), raw: bytes.TrimPrefix(docs[0].raw, []byte("---\n"))}
		if err := docs[0].decode(&c.crd); err != nil {
			return nil, err
		}
		crds = append(crds, c)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s: no CRDs", dir)
	}
	return crds, nil
}

// roleRules returns the rules of the Role or ClusterRole with that kind and name.
func roleRules(docs []document, kind, name string) ([]rbacv1.PolicyRule, error) {
	for _, d := range docs {
		if d.head.Kind != kind || d.head.Metadata.Name != name {
			continue
		}
		var role rbacv1.ClusterRole // Role and ClusterRole share metadata and rules
		if kind == "Role" {
			var r rbacv1.Role
			if err := d.decode(&r); err != nil {
				return nil, err
			}
			return r.Rules, nil
		}
		if err := d.decode(&role); err != nil {
			return nil, err
		}
		return role.Rules, nil
	}
	return nil, fmt.Errorf("config/rbac: no %s %s", kind, name)
}
