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

// Package monitoring tests what config/prometheus ships: the PrometheusRule's groups parse with
// Prometheus's own rule parser (rulefmt, templates included), every PromQL expression of the
// rules and of the Grafana dashboard's panels parses with Prometheus's PromQL parser, the
// component renders with kustomize alone and inside config/default, and every metric (and
// every label value matched exactly) that they name is exported by a running manager: the
// manager binary, run against a local control plane (envtest) and clbsim, with a binding whose
// pods pass their readiness gates, a binding on a load balancer that does not exist and a
// backend removed behind the controller's back, scraped over HTTPS with a ServiceAccount token
// bound to the shipped metrics-reader ClusterRole, as the ServiceMonitor scrapes it.
//
// It is a module of its own because github.com/prometheus/prometheus would otherwise enter the
// controller's dependency graph; `make test-monitoring` runs it.
package monitoring
