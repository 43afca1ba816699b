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
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// A pod's gate latency is timed only from a registration the manager saw happen.
func TestAwaitedRegistration(t *testing.T) {
	cond := func(status corev1.ConditionStatus, reason string) *corev1.PodCondition {
		return &corev1.PodCondition{Status: status, Reason: reason}
	}
	tests := []struct {
		name    string
		current *corev1.PodCondition
		want    bool
	}{
		{"no gate condition written yet", nil, true},
		{"waiting for registration", cond(corev1.ConditionFalse, networkingv1alpha1.GateRegistrationPendingReason), true},
		{"waiting for its binding to appear", cond(corev1.ConditionFalse, networkingv1alpha1.GateBindingMissingReason), true},
		{"already registered before this manager looked", cond(corev1.ConditionFalse, networkingv1alpha1.GateHealthCheckPendingReason), false},
		{"registered and failing its check", cond(corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason), false},
		{"True and turning False with FollowHealth", cond(corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(awaitedRegistration(tt.current)).To(Equal(tt.want))
		})
	}
}
