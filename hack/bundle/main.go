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

// Command bundle writes the OLM bundle (bundle/manifests, bundle/metadata) and bundle.Dockerfile
// from the kustomize sources under config/, without operator-sdk: the ClusterServiceVersion
// folds in the manager Deployment, the RBAC bound to its ServiceAccount and both admission
// webhooks; the CRDs, the metrics Service and the unbound ClusterRoles become files of their own.
//
//	go run ./hack/bundle -version 0.1.0 -image ghcr.io/clbind/clb-binding-controller:v0.1.0
//
// The output only depends on the flags and the files under config/, so `make bundle` twice
// gives the same bytes, and hack/bundle's test checks that the committed bundle is current.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// options are the inputs of one generation besides the files under config/.
type options struct {
	root           string // repository root, holding config/
	image          string // manager image
	version        string // semver of the bundle, without the leading v
	pkg            string // OLM package name, also the prefix of the CSV name
	channels       string // comma-separated channels
	defaultChannel string
	minKubeVersion string
	replaces       string // CSV this one replaces, if any
}

// bundle is everything one generation writes.
type bundle struct {
	// files maps paths relative to the bundle directory (manifests/…, metadata/…) to contents.
	files map[string][]byte
	// dockerfile is bundle.Dockerfile, whose paths are relative to the repository root.
	dockerfile []byte
}

// Defaults of the flags that the Makefile does not pass.
const (
	defaultPackage        = "clb-binding-controller"
	defaultMinKubeVersion = "1.30.0"
)

func main() {
	var o options
	var out, dockerfile string
	flag.StringVar(&o.root, "root", ".", "Repository root (holds config/).")
	flag.StringVar(&out, "out", "bundle", "Directory to write manifests/ and metadata/ into; both are replaced.")
	flag.StringVar(&dockerfile, "dockerfile", "bundle.Dockerfile", "Path of the bundle Dockerfile to write; empty skips it.")
	flag.StringVar(&o.image, "image", "", "Manager image, for example ghcr.io/clbind/clb-binding-controller:v0.1.0.")
	flag.StringVar(&o.version, "version", "", "Bundle version (semver, no leading v), for example 0.1.0.")
	flag.StringVar(&o.pkg, "package", defaultPackage, "OLM package name.")
	flag.StringVar(&o.channels, "channels", "candidate", "Comma-separated channels of the bundle.")
	flag.StringVar(&o.defaultChannel, "default-channel", "candidate", "Default channel of the package; empty leaves it out.")
	flag.StringVar(&o.minKubeVersion, "min-kube-version", defaultMinKubeVersion, "Oldest Kubernetes version the bundle installs on.")
	flag.StringVar(&o.replaces, "replaces", "", "Name of the CSV this one replaces (upgrade edge), for example clb-binding-controller.v0.0.9.")
	flag.Parse()

	b, err := generate(o)
	if err == nil {
		err = b.write(out, dockerfile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

// write replaces out/manifests and out/metadata with the bundle's files, and writes the
// Dockerfile unless its path is empty.
func (b bundle) write(out, dockerfile string) error {
	for _, dir := range []string{"manifests", "metadata"} {
		if err := os.RemoveAll(filepath.Join(out, dir)); err != nil {
			return err
		}
	}
	for _, name := range b.paths() {
		path := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b.files[name], 0o644); err != nil {
			return err
		}
	}
	if dockerfile == "" {
		return nil
	}
	return os.WriteFile(dockerfile, b.dockerfile, 0o644)
}

// paths lists the bundle's files in a stable order.
func (b bundle) paths() []string {
	names := make([]string, 0, len(b.files))
	for name := range b.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// annotations are the bundle's metadata, shared by metadata/annotations.yaml and the labels of
// bundle.Dockerfile.
func (o options) annotations() [][2]string {
	a := [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", o.pkg},
		{"operators.operatorframework.io.bundle.channels.v1", o.channels},
	}
	if o.defaultChannel != "" {
		a = append(a, [2]string{"operators.operatorframework.io.bundle.channel.default.v1", o.defaultChannel})
	}
	return append(a,
		[2]string{"operators.operatorframework.io.metrics.builder", "clb-binding-controller/hack/bundle"},
		[2]string{"operators.operatorframework.io.metrics.mediatype.v1", "metrics+v1"},
		[2]string{"operators.operatorframework.io.metrics.project_layout", "go.kubebuilder.io/v4"},
	)
}

// annotationsYAML renders metadata/annotations.yaml in the order of annotations().
func (o options) annotationsYAML() []byte {
	var buf bytes.Buffer
	buf.WriteString("# Generated by hack/bundle (make bundle). DO NOT EDIT.\nannotations:\n")
	for _, kv := range o.annotations() {
		fmt.Fprintf(&buf, "  %s: %s\n", kv[0], quoteIfNeeded(kv[1]))
	}
	return buf.Bytes()
}

// dockerfileContent renders bundle.Dockerfile: the bundle image is the two directories plus the
// same metadata as labels (annotations.yaml wins if they ever disagree).
func (o options) dockerfileContent() []byte {
	var buf bytes.Buffer
	buf.WriteString("# Generated by hack/bundle (make bundle). DO NOT EDIT.\n")
	buf.WriteString("# Build the bundle image from the repository root: docker build -f bundle.Dockerfile -t <bundle image> .\n")
	buf.WriteString("FROM scratch\n\n")
	for _, kv := range o.annotations() {
		fmt.Fprintf(&buf, "LABEL %s=%s\n", kv[0], kv[1])
	}
	buf.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	return buf.Bytes()
}

// quoteIfNeeded quotes YAML scalars that would not read back as the same string.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}
