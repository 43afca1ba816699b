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

// Package kubectlclbind runs the kubectl-clbind binary against a real API server (envtest) with
// the objects of the cases that leave a pod stuck, written as the controller would write them:
// a namespace not opted into gate injection, a pod created before its binding, a backend the CLB
// reports Dead, a binding Forbidden by policy, a binding in CloudError; and -w printing again
// when a CLBHealth changes.
package kubectlclbind
