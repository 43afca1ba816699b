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
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clbind/clb-binding-controller/internal/sandbox/installcheck"
)

// renderInstaller writes what `make build-installer` writes (kustomize build config/default with
// the committed image, the Makefile's default IMG) to dir/install.yaml. The test renders it
// itself instead of running make: make build-installer also regenerates config/ with
// controller-gen, which must not race with the other packages' tests reading those files.
func renderInstaller(ctx context.Context, t *testing.T, root, dir string) string {
	t.Helper()
	kustomize := kustomizeBinary(ctx, t, root)
	out := filepath.Join(dir, "install.yaml")
	cmd := exec.CommandContext(ctx, kustomize, "build", filepath.Join(root, "config", "default"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s build config/default: %v\n%s", kustomize, err, stderr.String())
	}
	if err := os.WriteFile(out, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// kustomizeBinary is $KUSTOMIZE, else bin/kustomize, built like `make kustomize` does when
// missing (so a fresh clone needs nothing but Go).
func kustomizeBinary(ctx context.Context, t *testing.T, root string) string {
	t.Helper()
	if k := os.Getenv("KUSTOMIZE"); k != "" {
		return k
	}
	bin := filepath.Join(root, "bin", "kustomize")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := makeDefault(makefile, "KUSTOMIZE_VERSION")
	if version == "" {
		t.Fatal("Makefile: no KUSTOMIZE_VERSION default")
	}
	t.Logf("building kustomize %s into %s", version, bin)
	cmd := exec.CommandContext(ctx, "go", "install", "sigs.k8s.io/kustomize/kustomize/v5@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install kustomize %s: %v\n%s", version, err, out)
	}
	return bin
}

// goBuild builds ./cmd/manager into out.
func goBuild(ctx context.Context, root, out string) error {
	return installcheck.GoBuild(ctx, root, out, "./cmd/manager")
}

// kubectl runs the real kubectl against the test's control plane.
type kubectl struct {
	bin, kubeconfig string
}

// run runs kubectl with args and returns its standard output; a failure carries standard error.
func (k kubectl) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig=" + k.kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// must runs kubectl and fails the test on an error.
func (k kubectl) must(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls check every 200ms until it reports done, fails, or timeout passes
// (installcheck.WaitFor).
func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, what string, check func() (done bool, state string, err error)) {
	t.Helper()
	installcheck.WaitFor(ctx, t, timeout, what, check)
}
