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
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/clbind/clb-binding-controller/internal/proc"
)

// Argo Rollouts in the sandbox.
//
// StartArgoRollouts runs the real Argo Rollouts controller (`make argo-rollouts` builds it, with
// its CRDs, into bin/argo-rollouts) against the sandbox's API server, with the CLB traffic-router
// plugin (`make argo-rollouts-plugin`, plugins/argo-rollouts) installed through the
// argo-rollouts-config ConfigMap as docs/argo-rollouts.md installs it. Nothing else is needed for
// its pods: Argo Rollouts creates ReplicaSets, and the sandbox's kube-controller-manager creates
// their pods, which the stand-in kubelet runs, whoever owns the ReplicaSet.

// Names of Argo Rollouts' objects in the sandbox.
const (
	// ArgoRolloutsNamespace is the controller's namespace (POD_NAMESPACE): it reads its
	// ConfigMap there.
	ArgoRolloutsNamespace = "argo-rollouts"
	// ArgoRolloutsConfigMap is the ConfigMap that lists the controller's plugins.
	ArgoRolloutsConfigMap = "argo-rollouts-config"
	// ArgoRolloutsPlugin is the name Rollouts use for the CLB plugin
	// (spec.strategy.canary.trafficRouting.plugins), its default -name.
	ArgoRolloutsPlugin = "clbind/clb"
)

// File names in the directory StartArgoRollouts is given (bin/argo-rollouts).
const (
	argoRolloutsController = "rollouts-controller"
	argoRolloutsCRDs       = "crds"
	argoRolloutsPluginBin  = "clb-argo-rollouts-plugin"
)

// RolloutResource is Argo Rollouts' Rollout.
var RolloutResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// ArgoRollouts is the Argo Rollouts controller running against the sandbox. Stop it with Stop.
type ArgoRollouts struct {
	proc    *proc.Process
	healthz string
}

// StartArgoRollouts installs Argo Rollouts' CRDs from dir/crds, writes the argo-rollouts-config
// ConfigMap with the plugin dir/clb-argo-rollouts-plugin (reaching the API server with the
// sandbox's kubeconfig), starts dir/rollouts-controller in a working directory of its own under
// the sandbox directory (it copies its plugins into plugin-bin there), logging to
// argo-rollouts.log, and returns once its health endpoint answers. dir is bin/argo-rollouts,
// which `make argo-rollouts argo-rollouts-plugin` fills.
func (s *Sandbox) StartArgoRollouts(ctx context.Context, dir string) (*ArgoRollouts, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin, plugin := filepath.Join(dir, argoRolloutsController), filepath.Join(dir, argoRolloutsPluginBin)
	for _, f := range []string{bin, plugin, filepath.Join(dir, argoRolloutsCRDs)} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("argo rollouts (make argo-rollouts argo-rollouts-plugin): %w", err)
		}
	}
	t := time.Now()
	if _, err := envtest.InstallCRDs(s.cfg, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(dir, argoRolloutsCRDs)}, ErrorIfPathMissing: true,
	}); err != nil {
		return nil, fmt.Errorf("installing Argo Rollouts' CRDs: %w", err)
	}
	if err := s.configureArgoRollouts(ctx, plugin); err != nil {
		return nil, err
	}
	work := filepath.Join(s.dir, "argo-rollouts")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("creating the Argo Rollouts working directory: %w", err)
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	healthzPort, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig=" + s.kubeconfig, "--leader-elect=false",
		"--metricsPort=" + strconv.Itoa(metricsPort), "--healthzPort=" + strconv.Itoa(healthzPort)}
	p, err := proc.Start(proc.Options{Name: "argo-rollouts", Bin: bin, Args: args, Dir: work,
		LogPath: filepath.Join(s.dir, "argo-rollouts.log"), Env: []string{"POD_NAMESPACE=" + ArgoRolloutsNamespace}, InheritEnv: true})
	if err != nil {
		return nil, err
	}
	ar := &ArgoRollouts{proc: p, healthz: "http://127.0.0.1:" + strconv.Itoa(healthzPort) + "/healthz"}
	err = s.WaitFor(ctx, 60*time.Second, "the Argo Rollouts controller to answer "+ar.healthz, func(ctx context.Context) (bool, string, error) {
		if err := p.ErrExited(); err != nil {
			return false, "", err
		}
		code, err := proc.HTTPStatus(ctx, ar.healthz)
		return err == nil && code == http.StatusOK, fmt.Sprintf("healthz: %d %v", code, err), nil
	})
	if err != nil {
		_ = ar.Stop()
		return nil, err
	}
	s.logf("Argo Rollouts controller (pid %d) running in %v with plugin %s (%s), log %s",
		p.Pid(), s.since(t), ArgoRolloutsPlugin, plugin, p.LogPath())
	return ar, nil
}

// configureArgoRollouts creates the controller's namespace and writes its ConfigMap with the
// plugin.
func (s *Sandbox) configureArgoRollouts(ctx context.Context, plugin string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ArgoRolloutsNamespace}}
	if err := client.IgnoreAlreadyExists(s.client.Create(ctx, ns)); err != nil {
		return fmt.Errorf("creating namespace %s: %w", ArgoRolloutsNamespace, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ArgoRolloutsNamespace, Name: ArgoRolloutsConfigMap},
		Data: map[string]string{"trafficRouterPlugins": fmt.Sprintf("- name: %q\n  location: %q\n  args: [\"-kubeconfig\", %q]\n",
			ArgoRolloutsPlugin, "file://"+plugin, s.kubeconfig)},
	}
	err := s.client.Create(ctx, cm)
	if apierrors.IsAlreadyExists(err) {
		err = s.client.Update(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("writing ConfigMap %s/%s: %w", ArgoRolloutsNamespace, ArgoRolloutsConfigMap, err)
	}
	return nil
}

// Running reports an error if the controller has exited.
func (ar *ArgoRollouts) Running() error { return ar.proc.ErrExited() }

// LogPath is the controller's log.
func (ar *ArgoRollouts) LogPath() string { return ar.proc.LogPath() }

// Stop stops the controller with SIGTERM (it stops its plugins on the way out), then kills
// whatever is left in its process group: a plugin it started and did not stop.
func (ar *ArgoRollouts) Stop() error {
	err := ar.proc.Stop(15 * time.Second)
	if kerr := syscall.Kill(-ar.proc.Pid(), syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		err = errors.Join(err, fmt.Errorf("killing what is left of the Argo Rollouts controller's process group: %w", kerr))
	}
	return err
}
