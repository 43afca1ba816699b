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
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const testImage = "ghcr.io/clbind/clb-binding-controller:v0.0.0-test"

// freshBinary builds the binary the image gets: the manager, as `make image-tar` builds it, or
// with -short a tiny stand-in, since linking the manager takes a while on a busy machine.
func freshBinary(t *testing.T) (path string, isManager bool) {
	t.Helper()
	pkg := "./cmd/manager"
	if testing.Short() {
		pkg = "./hack/imagetar/testdata/stub"
	}
	path = filepath.Join(t.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", path, pkg)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return path, !testing.Short()
}

func TestImageArchive(t *testing.T) {
	bin, isManager := freshBinary(t)
	if f, err := elf.Open(bin); err != nil {
		t.Fatal(err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked; the image has no libc", bin)
			}
		}
		_ = f.Close()
	}
	caCerts := caBundle
	if _, err := os.Stat(caCerts); err != nil {
		caCerts = "" // a host without a CA bundle builds an image without one
	}
	out := filepath.Join(t.TempDir(), "manager-image.tar")
	o := options{binary: bin, out: out, image: testImage, version: "0.0.0-test", arch: runtime.GOARCH, caCerts: caCerts, created: time.Unix(0, 0).UTC()}
	if err := build(o); err != nil {
		t.Fatal(err)
	}

	// As an OCI layout: the index names the image, for ctr import and skopeo.
	dir := t.TempDir()
	untar(t, out, dir)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v0.0.0-test" ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != testImage {
		t.Fatalf("index.json: want one manifest named %s, got %+v", testImage, im.Manifests)
	}
	img, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, bin, isManager)

	// As a Docker archive (manifest.json), for docker load and crane.
	docker, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("reading the archive's manifest.json: %v", err)
	}
	ociDigest, _ := img.ConfigName()
	dockerDigest, err := docker.ConfigName()
	if err != nil || dockerDigest != ociDigest {
		t.Errorf("manifest.json config %s (%v), want the OCI image's %s", dockerDigest, err, ociDigest)
	}

	// The same inputs give the same bytes.
	again := filepath.Join(t.TempDir(), "again.tar")
	o.out = again
	if err := build(o); err != nil {
		t.Fatal(err)
	}
	if sum(t, out) != sum(t, again) {
		t.Error("two builds from the same binary differ")
	}
}

func checkImage(t *testing.T, img v1.Image, bin string, isManager bool) {
	t.Helper()
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/manager" {
		t.Errorf("entrypoint %q, want [/manager]", got)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.Config.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source":  sourceURL,
		"org.opencontainers.image.version": "0.0.0-test",
		"org.opencontainers.image.title":   title,
	} {
		if got := cfg.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}

	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != "manager" {
			continue
		}
		found = true
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 != 0o111 || h.Uid != 0 {
			t.Errorf("/manager: type %c mode %o uid %d; want a root-owned regular file executable by all", h.Typeflag, h.Mode, h.Uid)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Error("/manager in the image differs from the binary")
		}
		runExtracted(t, got, isManager)
	}
	if !found {
		t.Error("the layer has no /manager")
	}
}

// runExtracted runs the binary as it came out of the image, where the host can.
func runExtracted(t *testing.T, data []byte, isManager bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	path := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	arg, want := "", "clb-binding-controller image stub"
	if isManager {
		arg, want = "--help", "-region"
	}
	cmd := exec.Command(path)
	if arg != "" {
		cmd.Args = append(cmd.Args, arg)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("running /manager %s: %v, output lacks %q:\n%.500s", arg, err, want, out)
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the directory", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
