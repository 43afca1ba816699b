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

package installcheck

import (
	"os"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// ControlPlane is an empty control plane an install test installs into, and an admin's access
// to it.
type ControlPlane struct {
	Config *rest.Config
	// Kubeconfig is the admin's kubeconfig, for tools run as processes (kubectl, Argo CD, Helm).
	Kubeconfig []byte
	// Client knows the core types, CRDs and ours.
	Client client.Client
}

var setLogger sync.Once

// StartControlPlane starts envtest's kube-apiserver and etcd from assets with nothing installed,
// and stops them when the test ends.
func StartControlPlane(t testing.TB, assets string) *ControlPlane {
	t.Helper()
	// The client logs the API server's warnings (a deprecated field, an unknown one) through
	// controller-runtime's logger, which otherwise prints a stack trace saying it was never set.
	setLogger.Do(func() { ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr))) })
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, networkingv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &ControlPlane{Config: cfg, Kubeconfig: env.KubeConfig, Client: c}
}
