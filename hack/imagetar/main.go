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

// Command imagetar packs the static manager binary into a container image archive without a
// Docker engine or a base image pull: one layer holding /manager, the CA bundle and the
// passwd/group entries of the nonroot user (what the distroless static base of the Dockerfile
// provides), entrypoint /manager, user 65532:65532, and OCI labels.
//
//	CGO_ENABLED=0 GOOS=linux go build -o dist/manager ./cmd/manager
//	go run ./hack/imagetar -binary dist/manager -out dist/manager-image.tar -image <IMG> -version 0.1.0
//
// The archive is an OCI image layout in a tar (podman load, skopeo copy oci-archive:…, ctr
// import, docker load since 25) that also carries a Docker manifest.json, so older docker load
// and crane/go-containerregistry's tarball reader read it too. Timestamps are fixed
// (SOURCE_DATE_EPOCH, or the Unix epoch), so the same inputs give the same bytes.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// nonroot is distroless's nonroot user and group.
	nonroot    = 65532
	entrypoint = "/manager"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
	sourceURL  = "https://github.com/clbind/clb-binding-controller"
	title      = "clb-binding-controller"
)

// options are the inputs of one image.
type options struct {
	binary  string    // static manager binary
	out     string    // archive to write
	image   string    // reference recorded in the archive, for example ghcr.io/clbind/clb-binding-controller:v0.1.0
	version string    // org.opencontainers.image.version
	arch    string    // GOARCH of the binary
	caCerts string    // CA bundle to copy to caBundle; empty leaves it out
	created time.Time // creation time of the image and mtime of its files
}

func main() {
	o := options{created: time.Unix(0, 0).UTC()}
	flag.StringVar(&o.binary, "binary", "dist/manager", "Static (CGO_ENABLED=0) linux manager binary.")
	flag.StringVar(&o.out, "out", "dist/manager-image.tar", "Image archive to write.")
	flag.StringVar(&o.image, "image", "", "Image reference recorded in the archive, for example ghcr.io/clbind/clb-binding-controller:v0.1.0.")
	flag.StringVar(&o.version, "version", "", "Version for the org.opencontainers.image.version label.")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH the binary was built for.")
	flag.StringVar(&o.caCerts, "ca-certs", caBundle, "CA bundle to put at "+caBundle+" (the manager calls the CLB API over HTTPS); empty leaves it out.")
	flag.Parse()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagetar: SOURCE_DATE_EPOCH:", err)
			os.Exit(1)
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "imagetar:", err)
		os.Exit(1)
	}
}

// build writes the image archive.
func build(o options) error {
	if o.image == "" || o.version == "" {
		return errors.New("-image and -version are required")
	}
	ref, err := name.ParseReference(o.image)
	if err != nil {
		return fmt.Errorf("-image: %w", err)
	}
	img, err := image(o)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "imagetar-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.WriteImage(img); err != nil {
		return err
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return err
	}
	desc.ArtifactType = "" // an image, not an artifact
	desc.Platform = &v1.Platform{OS: "linux", Architecture: o.arch}
	desc.Annotations = map[string]string{
		"org.opencontainers.image.ref.name": ref.Identifier(), // the tag, as OCI's ref.name wants
		"io.containerd.image.name":          ref.Name(),       // what ctr import and docker load name it
	}
	if err := p.AppendDescriptor(*desc); err != nil {
		return err
	}
	if err := writeDockerManifest(dir, img, ref); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	return tarDir(dir, o.out, o.created)
}

// image assembles the single-layer image.
func image(o options) (v1.Image, error) {
	layerTar, err := rootfs(o)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: o.arch,
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{entrypoint},
			User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
			WorkingDir: "/",
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=" + caBundle,
			},
			Labels: map[string]string{
				"org.opencontainers.image.source":   sourceURL,
				"org.opencontainers.image.version":  o.version,
				"org.opencontainers.image.title":    title,
				"org.opencontainers.image.licenses": "Apache-2.0",
			},
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "hack/imagetar: " + entrypoint + " and the nonroot user's files"},
	})
}

// rootfs is the layer: the binary at /manager plus the few files distroless static would give it.
func rootfs(o options) ([]byte, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s is not an ELF binary; build it with GOOS=linux", o.binary)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(entry string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: entry + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: o.created})
	}
	file := func(entry string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: entry, Mode: mode, Size: int64(len(data)), ModTime: o.created}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", nonroot)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, nonroot) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return file(entrypoint[1:], 0o755, bin) },
	}
	if o.caCerts != "" {
		certs, err := os.ReadFile(o.caCerts)
		if err != nil {
			return nil, fmt.Errorf("-ca-certs: %w", err)
		}
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755, 0) },
			func() error { return dir("etc/ssl/certs", 0o755, 0) },
			func() error { return file(caBundle[1:], 0o644, certs) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeDockerManifest adds the manifest.json of `docker save`, pointing into the OCI blobs, so
// tools that only know the Docker archive format can load the same tar.
func writeDockerManifest(dir string, img v1.Image, ref name.Reference) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	blob := func(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: blob(m.Config.Digest)}
	if tag, ok := ref.(name.Tag); ok {
		entry.RepoTags = []string{tag.Name()}
	}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, blob(l.Digest))
	}
	data, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
}

// tarDir writes the files under dir into a tar at out, in a fixed order with fixed metadata.
func tarDir(dir, out string, mtime time.Time) (err error) {
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n + "/", Mode: 0o755, ModTime: mtime}); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: fi.Size(), ModTime: mtime}); err != nil {
			return err
		}
		if err := copyFile(tw, filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(w, f)
	return err
}
