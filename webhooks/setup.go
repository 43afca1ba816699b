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

package webhooks

import (
	"errors"
	"fmt"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options configure the webhooks.
type Options struct {
	// EnforcePolicies refuses a binding (on create, and when spec.multiCluster changes) that no
	// CLBBindingPolicy allows. Off, the binding validator behaves as before policies existed.
	EnforcePolicies bool
	// Cloud reads load balancer tags and listeners for policies that match on them; required
	// with EnforcePolicies.
	Cloud PolicyCloud
	// Clock times the reuse of cloud reads; the real clock when nil.
	Clock clock.PassiveClock
}

// SetupWithManager registers the webhooks, their cache index and informers. Call it before the
// manager starts.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.EnforcePolicies && opts.Cloud == nil {
		return errors.New("webhooks: Options.Cloud must be set when EnforcePolicies is on")
	}
	if err := SetupCLBBackendBindingWebhookWithManager(mgr, opts); err != nil {
		return fmt.Errorf("setting up the CLBBackendBinding webhook: %w", err)
	}
	if err := SetupCLBHealthWebhookWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CLBHealth webhook: %w", err)
	}
	if err := SetupPodWebhookWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the pod webhook: %w", err)
	}
	return nil
}
