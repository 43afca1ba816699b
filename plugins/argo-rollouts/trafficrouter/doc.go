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

// Package trafficrouter is an Argo Rollouts traffic-router plugin for CLB listeners bound by
// CLBBackendBindings. A Rollout's stable and canary Services each have a binding on the same CLB
// listener or rule; the plugin sets the bindings' spec.trafficShare to the canary weight Argo
// Rollouts asks for (canary w, stable 100−w) and reports the weight verified only when the
// controller says, through both bindings' status, that the weights on the CLB give those shares.
//
// The plugin reads and patches bindings as unstructured objects through the dynamic client, so
// it depends on the binding API's field names only, not on the controller's Go module.
package trafficrouter
