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
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// krewPlugin is krew's Plugin (krew.googlecontainertools.github.com/v1alpha2) with the fields
// the manifest uses; parsing is strict, so a misspelt field fails.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestKrewManifest renders plugins/krew/clbind.yaml as krew-release-bot does on a release and
// checks it names, for each platform `make kubectl-clbind-dist` builds, the archive it writes
// and the binary inside it (checked in the archives too when dist/ holds them).
func TestKrewManifest(t *testing.T) {
	g := NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := os.ReadFile(filepath.Join(root, "plugins", "krew", "clbind.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	const tag = "v9.8.7"
	// The bot's addURIAndSha: the tag goes into the URI, and the uri and sha256 lines replace
	// the call.
	tmpl, err := template.New("krew").Funcs(template.FuncMap{"addURIAndSha": func(uri, tag string) string {
		uri = strings.ReplaceAll(uri, "{{ .TagName }}", tag)
		return fmt.Sprintf("uri: %s\n    sha256: %x", uri, sha256.Sum256([]byte(uri)))
	}}).Parse(string(raw))
	g.Expect(err).NotTo(HaveOccurred())
	var out strings.Builder
	g.Expect(tmpl.Execute(&out, map[string]string{"TagName": tag})).To(Succeed())
	var p krewPlugin
	g.Expect(yaml.UnmarshalStrict([]byte(out.String()), &p, yaml.DisallowUnknownFields)).To(Succeed(), out.String())
	g.Expect(p.APIVersion).To(Equal("krew.googlecontainertools.github.com/v1alpha2"))
	g.Expect(p.Kind).To(Equal("Plugin"))
	g.Expect(p.Metadata.Name).To(Equal("clbind"), "kubectl clbind is found as kubectl-clbind")
	g.Expect(p.Spec.Version).To(Equal(tag))
	g.Expect(p.Spec.ShortDescription).NotTo(BeEmpty())

	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	g.Expect(err).NotTo(HaveOccurred())
	m := regexp.MustCompile(`(?m)^kubectl-clbind-dist:[^\n]*\n(?:\t[^\n]*\n)*?\t[^\n]*for p in ([^;]+);`).FindSubmatch(makefile)
	g.Expect(m).NotTo(BeNil(), "the Makefile's kubectl-clbind-dist target and its platform list")
	built := strings.Fields(string(m[1]))

	listed := make([]string, 0, len(p.Spec.Platforms))
	for _, pl := range p.Spec.Platforms {
		osName, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		listed = append(listed, osName+"/"+arch)
		archive := fmt.Sprintf("kubectl-clbind_%s_%s.tar.gz", osName, arch)
		g.Expect(pl.URI).To(Equal("https://github.com/clbind/clb-binding-controller/releases/download/" + tag + "/" + archive))
		g.Expect(pl.Sha256).To(MatchRegexp(`^[0-9a-f]{64}$`))
		wantBin := "kubectl-clbind"
		if osName == "windows" {
			wantBin += ".exe"
		}
		g.Expect(pl.Bin).To(Equal(wantBin))
		if names, err := archiveNames(filepath.Join(root, "dist", archive)); err == nil {
			g.Expect(names).To(ContainElement(pl.Bin), "%s holds the binary the manifest names", archive)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	g.Expect(listed).To(ConsistOf(built), "the manifest's platforms are those make kubectl-clbind-dist builds")
}

func archiveNames(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, path.Clean(h.Name))
	}
}
