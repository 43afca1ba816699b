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

package controllers

import (
	"errors"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// TestInputProblemsAreClassifiedOnce: each kind of input problem gives its Ready reason, and only
// a known desired set (none missing, or the Service gone) reaches the load balancer's worker.
func TestInputProblemsAreClassifiedOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		kind     inputKind
		knownSet bool
		reason   string
	}{
		{"none", nil, inputOK, true, networkingv1alpha1.BindingProgressingReason},
		{"Service gone", &serviceGoneError{namespace: "shop", name: "web"}, inputServiceGone, true, networkingv1alpha1.BindingServiceNotFoundReason},
		{"wrapped Service gone", fmt.Errorf("reading: %w", &serviceGoneError{namespace: "shop", name: "web"}), inputServiceGone, true,
			networkingv1alpha1.BindingServiceNotFoundReason},
		{"bad port", &invalidInputError{err: errors.New("service web has no port 81")}, inputInvalid, false, networkingv1alpha1.BindingInvalidSpecReason},
		{"cache read failed", errors.New("listing EndpointSlices: timeout"), inputUnreadable, false, networkingv1alpha1.BindingProgressingReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := classifyInput(tc.err)
			if p.kind != tc.kind || p.knownSet() != tc.knownSet {
				t.Fatalf("kind %v, knownSet %v; want %v, %v", p.kind, p.knownSet(), tc.kind, tc.knownSet)
			}
			b := &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
			c := readyCondition(b, bindingObservation{input: p})
			if c.Reason != tc.reason {
				t.Fatalf("Ready reason %q, want %q", c.Reason, tc.reason)
			}
			if tc.err != nil && c.Message != tc.err.Error() && tc.kind != inputOK {
				t.Fatalf("Ready message %q, want the error %q", c.Message, tc.err.Error())
			}
		})
	}
}
