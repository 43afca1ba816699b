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

// Package traffic splits the new connections of a shared CLB listener or rule between the
// bindings on it. Two or more bindings (a stable and a canary Service, say) each ask for a share
// in percent; the CLB balances new connections by backend weight (weighted round robin, an
// integer 0 to 100 per backend), so a binding's share is the sum of its backends' weights over
// the sum of all weights on the listener or rule. Compute turns the wanted shares into a weight
// for every backend and says which shares cannot be met, and why.
//
// Like internal/targets, nothing here talks to Kubernetes or to the cloud: Compute is a pure
// function of its input, cheap enough to run on every sync of a shared listener.
package traffic
