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

package trafficrouter

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// testBinding builds a CLBBackendBinding as the API server returns it: service is
// spec.serviceRef.name, port the TCP listener's port on lb-aaaaaaaa, share spec.trafficShare
// (negative for unset), at generation 2.
func testBinding(name, service string, port int64, share int64) *unstructured.Unstructured {
	spec := map[string]any{
		"loadBalancerId": "lb-aaaaaaaa",
		"listener":       map[string]any{"port": port, "protocol": "TCP"},
		"serviceRef":     map[string]any{"name": service, "port": int64(80)},
	}
	if share >= 0 {
		spec["trafficShare"] = share
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.clbind.io/v1alpha1",
		"kind":       "CLBBackendBinding",
		"metadata":   map[string]any{"name": name, "namespace": "shop", "generation": int64(2)},
		"spec":       spec,
	}}
	return u
}

// longAgo is the lastTransitionTime of the conditions withStatus writes, more than stuckAfter
// before testNow.
const longAgo = "2000-01-01T00:00:00Z"

var testNow = time.Date(2000, 1, 1, 0, 5, 0, 0, time.UTC)

// withStatus sets the status the controller reports: Ready and TrafficShare conditions (empty
// status or reason leaves the condition out) for generation gen, changed at longAgo, and
// status.trafficShare.applied (negative for unset).
func withStatus(u *unstructured.Unstructured, ready metav1.ConditionStatus, shareReason string, gen, applied int64) *unstructured.Unstructured {
	var conds []any
	cond := func(t, status, reason, msg string) map[string]any {
		return map[string]any{"type": t, "status": status, "reason": reason, "message": msg,
			"observedGeneration": gen, "lastTransitionTime": longAgo}
	}
	if ready != "" {
		conds = append(conds, cond(readyCondition, string(ready), "Synced", "backends match"))
	}
	if shareReason != "" {
		status := "False"
		if shareReason == reachedReason {
			status = "True"
		}
		conds = append(conds, cond(trafficShareCondition, status, shareReason, "because "+shareReason))
	}
	status := map[string]any{"conditions": conds}
	if applied >= 0 {
		status["trafficShare"] = map[string]any{"applied": applied, "achieved": "10.0"}
	}
	u.Object["status"] = status
	return u
}

func TestVerifyShare(t *testing.T) {
	tests := []struct {
		name    string
		binding *unstructured.Unstructured
		want    int32
		reached bool
		stuck   string
		waiting string
	}{{
		name:    "no spec.trafficShare",
		binding: testBinding("canary", "web-canary", 80, -1),
		want:    10,
		waiting: "has no spec.trafficShare yet (want 10)",
	}, {
		name:    "spec.trafficShare differs",
		binding: withStatus(testBinding("canary", "web-canary", 80, 50), metav1.ConditionTrue, reachedReason, 2, 50),
		want:    10,
		waiting: "has spec.trafficShare 50, want 10",
	}, {
		name:    "no status yet",
		binding: testBinding("canary", "web-canary", 80, 10),
		want:    10,
		waiting: "not reported condition TrafficShare for generation 2",
	}, {
		name:    "TrafficShare Reached for the previous generation",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 1, 0),
		want:    10,
		waiting: "not reported condition TrafficShare for generation 2",
	}, {
		name:    "Unreachable for the previous generation is not an error",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, unreachableReason, 1, 0),
		want:    10,
		waiting: "not reported condition TrafficShare for generation 2",
	}, {
		name:    "shares do not add up yet",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, doNotAddUpReason, 2, 0),
		want:    10,
		waiting: "TrafficShare is SharesDoNotAddUp: because SharesDoNotAddUp",
	}, {
		name:    "Unreachable",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, unreachableReason, 2, 10),
		want:    10,
		stuck:   "CLBBackendBinding shop/canary cannot get a traffic share of 10%: TrafficShare Unreachable: because Unreachable",
	}, {
		name: "Unreachable for a moment only",
		binding: func() *unstructured.Unstructured {
			u := withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, unreachableReason, 2, 10)
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			conds[1].(map[string]any)["lastTransitionTime"] = testNow.Add(-stuckAfter + time.Second).Format(time.RFC3339)
			if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
				panic(err)
			}
			return u
		}(),
		want:    10,
		waiting: "cannot get a traffic share of 10%: TrafficShare Unreachable: because Unreachable",
	}, {
		name:    "NotShared",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, notSharedReason, 2, 10),
		want:    10,
		stuck:   "TrafficShare NotShared: because NotShared",
	}, {
		name:    "Reached but not Ready",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionFalse, reachedReason, 2, 10),
		want:    10,
		waiting: "is not Ready (Synced): backends match",
	}, {
		name:    "Reached without Ready",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), "", reachedReason, 2, 10),
		want:    10,
		waiting: "not reported condition Ready for generation 2",
	}, {
		name:    "weights on the CLB not reported",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 2, -1),
		want:    10,
		waiting: "the weights on the CLB are for share none, want 10",
	}, {
		name:    "weights on the CLB for the previous share",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 2, 0),
		want:    10,
		waiting: "the weights on the CLB are for share 0, want 10",
	}, {
		name:    "reached",
		binding: withStatus(testBinding("canary", "web-canary", 80, 10), metav1.ConditionTrue, reachedReason, 2, 10),
		want:    10,
		reached: true,
	}, {
		name:    "share 0 reached",
		binding: withStatus(testBinding("canary", "web-canary", 80, 0), metav1.ConditionTrue, reachedReason, 2, 0),
		want:    0,
		reached: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b, err := bindingFrom(tt.binding)
			g.Expect(err).NotTo(HaveOccurred())
			v := verifyShare(b, tt.want, testNow)
			g.Expect(v.reached).To(Equal(tt.reached))
			if tt.stuck == "" {
				g.Expect(v.stuck).To(BeEmpty())
			} else {
				g.Expect(v.stuck).To(ContainSubstring(tt.stuck))
			}
			if tt.waiting == "" {
				g.Expect(v.waiting).To(BeEmpty())
			} else {
				g.Expect(v.waiting).To(ContainSubstring(tt.waiting))
			}
		})
	}
}

func TestBindingFromRejectsAWrongType(t *testing.T) {
	g := NewWithT(t)
	u := testBinding("canary", "web-canary", 80, -1)
	u.Object["spec"].(map[string]any)["trafficShare"] = "ten"
	_, err := bindingFrom(u)
	g.Expect(err).To(MatchError(ContainSubstring("not an integer")))
}

func TestListenerKey(t *testing.T) {
	g := NewWithT(t)
	byPort := testBinding("a", "s", 80, -1)
	g.Expect(listenerKey(byPort)).To(Equal("lb-aaaaaaaa listener TCP:80"))

	// Once resolved, the listener ID wins, so a binding by port pairs with one by ID.
	byPort.Object["status"] = map[string]any{"listenerId": "lbl-11111111"}
	byID := testBinding("b", "s", 0, -1)
	byID.Object["spec"].(map[string]any)["listener"] = map[string]any{"id": "lbl-11111111"}
	g.Expect(listenerKey(byPort)).To(Equal(listenerKey(byID)))

	rule := testBinding("c", "s", 443, -1)
	rule.Object["spec"].(map[string]any)["rule"] = map[string]any{"domain": "shop.example.com", "url": "/"}
	g.Expect(listenerKey(rule)).To(Equal("lb-aaaaaaaa listener TCP:443 rule shop.example.com/"))
}
