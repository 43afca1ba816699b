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

// Package helm tests the Helm install route (charts/clb-binding-controller) with the Helm Go SDK
// (helm.sh/helm/v4): the chart renders what dist/install.yaml holds, object by object; it lints;
// and it installs, upgrades, rolls back and uninstalls on a local control plane, where the stand-in
// kubelet runs the installed Deployment's pods (internal/sandbox) against clbsim.
//
// It is a module of its own so the Helm SDK's dependencies stay out of the controller's go.mod;
// `make test-helm` (run by `make test`) runs it.
package helm
