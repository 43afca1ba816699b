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

// Package lbsync writes the desired backends of every binding to the CLB, one worker per load
// balancer. Bindings never call the cloud: the binding controller hands each binding's desired
// targets to the Syncer, which marks the load balancer dirty. The worker gathers changes from all
// bindings of that load balancer for a short window, reads the actual backends of the involved
// listeners (cached), diffs, and writes the whole difference with the Batch calls, registering
// before it deregisters. There is at most one write in flight per load balancer; load balancers
// sync in parallel. Results go back to the controller through a callback.
package lbsync
