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

// Package explain is kubectl clbind's logic: it reads a namespace's bindings, their CLBHealth,
// Services, EndpointSlices, pods and nodes (Read, the only code here that talks to the API
// server), works out each binding's backends with internal/targets as the controller does
// (Views), tells the chain from a pod to its gates in sentences (Why), and renders both.
package explain
