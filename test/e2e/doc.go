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

// Package e2e is the end-to-end suite: the whole product in the sandbox (internal/sandbox: a real
// control plane, a stand-in kubelet whose pods serve HTTP in a network namespace, clbsim with real
// health checks and a data plane, the manager binary with its webhooks), driven through rolling
// updates under load, scaling, binding deletion, a killed manager, and binding policies (one
// team's attempts at another's listener). The manager enforces CLBBindingPolicies, as by default:
// each spec's namespace gets the policy a cluster admin would create (allowNamespace).
//
// Its tests carry the build tag e2e, so `go test ./...` (make test) does not run them. Run them
// with `make test-e2e`, or:
//
//	make envtest-assets && go build -o bin/manager ./cmd/manager
//	E2E_MANAGER=$PWD/bin/manager KUBEBUILDER_ASSETS=$PWD/bin/k8s go test -tags e2e ./test/e2e/ -timeout 20m -v
//
// Each spec prints one line starting with E2E-RESULT with what it measured.
package e2e
