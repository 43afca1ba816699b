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

// Package targets holds the pure logic of a CLBBackendBinding: which CLB backends the binding
// wants (Desired, from the Service, its EndpointSlices, pods and nodes) and which writes turn the
// backends the load balancer has into those (Diff, with Count for the binding's status).
//
// Nothing here talks to Kubernetes or to the cloud, and nothing reads the clock: time comes in as
// Input.Now, and drain deadlines go out as Result.RequeueAt, so every function is a table test.
//
// Ownership. Every backend the binding registers carries OwnerTag(cluster, binding UID) in the
// CLB target's Tag field. Without multiCluster the binding owns its listener or rule outright:
// anything there that it does not want is removed, whatever its tag. With multiCluster the
// binding writes only backends carrying its own tag. A backend is identified by Key (listener,
// location, ENI IP or instance, port), never by IP alone, because pod IPs are reused.
//
// Key and Target are the module's one backend type: internal/clb reads and writes them as they
// are, internal/lbsync caches them, so no code converts between a cloud and a desired backend.
package targets
