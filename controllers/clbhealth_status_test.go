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
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

func TestGateCondition(t *testing.T) {
	alive := clb.TargetHealth{Healthy: true, Detail: clb.HealthAlive}
	dead := clb.TargetHealth{Detail: clb.HealthDead}
	unknown := clb.TargetHealth{Detail: clb.HealthUnknown}
	trueCond := &corev1.PodCondition{Status: corev1.ConditionTrue, Reason: networkingv1alpha1.GateHealthyReason, Message: "was healthy"}
	tests := []struct {
		name       string
		in         gateInput
		wantStatus corev1.ConditionStatus
		wantReason string
	}{
		{"not registered", gateInput{}, corev1.ConditionFalse, networkingv1alpha1.GateRegistrationPendingReason},
		{"registered, not judged", gateInput{registered: true, health: unknown}, corev1.ConditionFalse, networkingv1alpha1.GateHealthCheckPendingReason},
		{"registered and alive", gateInput{registered: true, health: alive}, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason},
		{"health check off", gateInput{registered: true, health: clb.TargetHealth{Detail: clb.HealthClose}}, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason},
		{"dead", gateInput{registered: true, health: dead}, corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason},
		{"dead past the timeout fails open", gateInput{registered: true, health: dead, waitedTooLong: true}, corev1.ConditionTrue, networkingv1alpha1.GateHealthCheckTimeoutReason},
		{"OnceHealthy latches True", gateInput{registered: true, health: dead, current: trueCond, policy: networkingv1alpha1.ReadinessPolicyOnceHealthy},
			corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason},
		{"OnceHealthy latches True after deregistration", gateInput{current: trueCond}, corev1.ConditionTrue, networkingv1alpha1.GateHealthyReason},
		{"FollowHealth follows a dead backend", gateInput{registered: true, health: dead, current: trueCond, policy: networkingv1alpha1.ReadinessPolicyFollowHealth},
			corev1.ConditionFalse, networkingv1alpha1.GateUnhealthyReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			status, reason, msg := gateCondition(tt.in)
			g.Expect(status).To(Equal(tt.wantStatus))
			g.Expect(reason).To(Equal(tt.wantReason))
			g.Expect(msg).NotTo(BeEmpty())
		})
	}
}

func TestSetPodCondition(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gate := corev1.PodConditionType("health.clbind.io/web")
	conds, changed := setPodCondition(nil, corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "A"}, t0)
	g.Expect(changed).To(BeTrue())
	g.Expect(conds).To(HaveLen(1))
	_, changed = setPodCondition(conds, corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "A"}, t0.Add(time.Second))
	g.Expect(changed).To(BeFalse(), "an unchanged condition must not be written")
	conds, changed = setPodCondition(conds, corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "B"}, t0.Add(time.Second))
	g.Expect(changed).To(BeTrue())
	g.Expect(conds[0].LastTransitionTime.Time).To(Equal(t0), "a reason change is not a transition")
	conds, _ = setPodCondition(conds, corev1.PodCondition{Type: gate, Status: corev1.ConditionTrue, Reason: "C"}, t0.Add(2*time.Second))
	g.Expect(conds[0].LastTransitionTime.Time).To(Equal(t0.Add(2 * time.Second)))
}

func TestSetHealthStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	target := func(ip, detail string) clb.TargetHealth {
		return clb.TargetHealth{Key: targets.Key{ListenerID: "lbl-1", EniIP: ip, Port: 80}, Healthy: detail == clb.HealthAlive, Detail: detail}
	}
	tests := []struct {
		name          string
		obs           healthObservation
		wantSummary   string
		wantReason    string
		wantReady     bool
		wantUnhealthy []string
	}{
		{"never probed", healthObservation{now: now}, "0/0", networkingv1alpha1.HealthPendingReason, false, nil},
		{"no backends", healthObservation{now: now, readAt: now}, "0/0", networkingv1alpha1.HealthNoTargetsReason, false, nil},
		{"all healthy", healthObservation{now: now, readAt: now, targets: []clb.TargetHealth{target("10.0.0.1", clb.HealthAlive), target("10.0.0.2", clb.HealthClose)}},
			"2/2", networkingv1alpha1.HealthAllHealthyReason, true, nil},
		{"one dead, one unknown", healthObservation{now: now, readAt: now, podOf: map[string]string{"10.0.0.2": "web-2"},
			targets:  []clb.TargetHealth{target("10.0.0.1", clb.HealthAlive), target("10.0.0.2", clb.HealthDead), target("10.0.0.3", clb.HealthUnknown)},
			previous: []networkingv1alpha1.UnhealthyTarget{{IP: "10.0.0.3", Port: 80, State: clb.HealthUnknown, Since: earlier}}},
			"1/3", networkingv1alpha1.HealthUnhealthyReason, false, []string{"10.0.0.3", "10.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := &networkingv1alpha1.CLBHealth{}
			setHealthStatus(h, tt.obs)
			g.Expect(h.Status.Summary).To(Equal(tt.wantSummary))
			ready := meta.FindStatusCondition(h.Status.Conditions, networkingv1alpha1.HealthReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(tt.wantReason))
			wantStatus := metav1.ConditionFalse
			if tt.wantReady {
				wantStatus = metav1.ConditionTrue
			}
			g.Expect(ready.Status).To(Equal(wantStatus))
			ips := make([]string, 0, len(h.Status.UnhealthyTargets))
			for _, u := range h.Status.UnhealthyTargets {
				ips = append(ips, u.IP)
			}
			if tt.wantUnhealthy == nil {
				g.Expect(ips).To(BeEmpty())
			} else {
				g.Expect(ips).To(Equal(tt.wantUnhealthy), "unhealthy targets, oldest first")
			}
		})
	}
	t.Run("keeps since for a backend still in the same state, names its pod", func(t *testing.T) {
		g := NewWithT(t)
		h := &networkingv1alpha1.CLBHealth{}
		setHealthStatus(h, healthObservation{now: now, readAt: now, podOf: map[string]string{"10.0.0.3": "web-3"},
			targets:  []clb.TargetHealth{target("10.0.0.3", clb.HealthUnknown)},
			previous: []networkingv1alpha1.UnhealthyTarget{{IP: "10.0.0.3", Port: 80, State: clb.HealthUnknown, Since: earlier}}})
		g.Expect(h.Status.UnhealthyTargets).To(HaveLen(1))
		g.Expect(h.Status.UnhealthyTargets[0].Since).To(Equal(earlier))
		g.Expect(h.Status.UnhealthyTargets[0].Pod).To(Equal("web-3"))
	})
	t.Run("caps the list", func(t *testing.T) {
		g := NewWithT(t)
		many := make([]clb.TargetHealth, 0, 80)
		for i := range 80 {
			many = append(many, clb.TargetHealth{Key: targets.Key{ListenerID: "lbl-1", EniIP: "10.0.1.1", Port: int64(1000 + i)}, Detail: clb.HealthDead})
		}
		h := &networkingv1alpha1.CLBHealth{}
		setHealthStatus(h, healthObservation{now: now, readAt: now, targets: many})
		g.Expect(h.Status.UnhealthyTargets).To(HaveLen(maxUnhealthyListed))
		g.Expect(h.Status.Unhealthy).To(BeEquivalentTo(80))
	})
}

func TestHealthCheckCondition(t *testing.T) {
	h := &networkingv1alpha1.CLBHealth{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 3}}
	b := &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:   networkingv1alpha1.CLBBackendBindingSpec{LoadBalancerID: "lb-1"},
		Status: networkingv1alpha1.CLBBackendBindingStatus{ListenerID: "lbl-1"}}
	unresolved := b.DeepCopy()
	unresolved.Status.ListenerID = ""
	tests := []struct {
		name         string
		b            *networkingv1alpha1.CLBBackendBinding
		out          *lbsync.HealthCheckOutcome
		wantStatus   metav1.ConditionStatus
		wantReason   string
		wantMessage  string
		wantObserved bool
	}{
		{"listener not resolved yet", unresolved, nil, metav1.ConditionFalse, networkingv1alpha1.HealthCheckApplyingReason,
			"waiting for CLBBackendBinding web to find its listener on lb-1", false},
		{"no outcome yet", b, nil, metav1.ConditionFalse, networkingv1alpha1.HealthCheckApplyingReason,
			"waiting for the controller to write spec.healthCheck to listener lbl-1 of lb-1", false},
		{"applied", b, &lbsync.HealthCheckOutcome{Applied: true}, metav1.ConditionTrue, networkingv1alpha1.HealthCheckAppliedReason,
			"listener lbl-1 of lb-1 has the settings of spec.healthCheck", true},
		{"refused", b, &lbsync.HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckInvalidReason, Message: "listener lbl-1 of lb-1 is UDP, and …"},
			metav1.ConditionFalse, networkingv1alpha1.HealthCheckInvalidReason, "listener lbl-1 of lb-1 is UDP, and …", true},
		{"failed, tried again", b, &lbsync.HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckCloudErrorReason, Message: "writing failed",
			RetryAt: time.Unix(100, 0)}, metav1.ConditionFalse, networkingv1alpha1.HealthCheckCloudErrorReason,
			"writing failed; the controller tries again", false},
		{"waiting for the listener", b, &lbsync.HealthCheckOutcome{Reason: networkingv1alpha1.HealthCheckApplyingReason, Message: "waiting for listener"},
			metav1.ConditionFalse, networkingv1alpha1.HealthCheckApplyingReason, "waiting for listener", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			c, observed := healthCheckCondition(h, tt.b, tt.out)
			g.Expect(c).To(Equal(metav1.Condition{Type: networkingv1alpha1.HealthCheckAppliedCondition, Status: tt.wantStatus,
				ObservedGeneration: 3, Reason: tt.wantReason, Message: tt.wantMessage}))
			g.Expect(observed).To(Equal(tt.wantObserved))
		})
	}
}

func TestSetHealthStatusBackends(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	target := func(ip string, port int64, detail string) clb.TargetHealth {
		return clb.TargetHealth{Key: targets.Key{ListenerID: "lbl-1", EniIP: ip, Port: port}, Healthy: detail == clb.HealthAlive, Detail: detail}
	}
	t.Run("every backend with its state, since kept while the state holds", func(t *testing.T) {
		g := NewWithT(t)
		h := &networkingv1alpha1.CLBHealth{}
		longAgo := metav1.NewTime(now.Add(-time.Hour))
		h.Status.Backends = []networkingv1alpha1.BackendHealth{
			{IP: "10.0.0.1", Port: 80, State: clb.HealthAlive, Since: earlier, RegisteredSince: &longAgo},
			{IP: "10.0.0.2", Port: 80, State: clb.HealthAlive, Since: earlier, RegisteredSince: &longAgo}, // now Dead: a new since
			{IP: "10.0.0.9", Port: 80, State: clb.HealthAlive, Since: earlier, RegisteredSince: &longAgo}, // gone
		}
		setHealthStatus(h, healthObservation{now: now, readAt: now, targets: []clb.TargetHealth{
			target("10.0.0.3", 80, "Pending"), target("10.0.0.2", 80, clb.HealthDead), target("10.0.0.1", 80, clb.HealthAlive),
		}})
		g.Expect(h.Status.Backends).To(Equal([]networkingv1alpha1.BackendHealth{
			{IP: "10.0.0.1", Port: 80, State: clb.HealthAlive, Since: earlier, RegisteredSince: &longAgo},
			{IP: "10.0.0.2", Port: 80, State: clb.HealthDead, Since: metav1.NewTime(now), RegisteredSince: &longAgo},
			{IP: "10.0.0.3", Port: 80, State: clb.HealthUnknown, Since: metav1.NewTime(now), RegisteredSince: new(metav1.NewTime(now))},
		}))
	})
	t.Run("past the cap, the backends not healthy are kept", func(t *testing.T) {
		g := NewWithT(t)
		many := make([]clb.TargetHealth, 0, networkingv1alpha1.MaxBackendsListed+10)
		for i := range networkingv1alpha1.MaxBackendsListed {
			many = append(many, target("10.0.0.1", int64(1000+i), clb.HealthAlive))
		}
		for i := range 10 {
			many = append(many, target("10.0.9.9", int64(i+1), clb.HealthDead))
		}
		h := &networkingv1alpha1.CLBHealth{}
		setHealthStatus(h, healthObservation{now: now, readAt: now, targets: many})
		g.Expect(h.Status.Backends).To(HaveLen(networkingv1alpha1.MaxBackendsListed))
		g.Expect(h.Status.Registered).To(BeEquivalentTo(networkingv1alpha1.MaxBackendsListed + 10))
		dead := 0
		for _, b := range h.Status.Backends {
			if b.State == clb.HealthDead {
				dead++
			}
		}
		g.Expect(dead).To(Equal(10), "every Dead backend is listed")
		g.Expect(h.Status.Backends[len(h.Status.Backends)-1].IP).To(Equal("10.0.9.9"), "sorted by address")
	})
	t.Run("no backends, no list", func(t *testing.T) {
		g := NewWithT(t)
		h := &networkingv1alpha1.CLBHealth{Status: networkingv1alpha1.CLBHealthStatus{Backends: []networkingv1alpha1.BackendHealth{{IP: "10.0.0.1"}}}}
		setHealthStatus(h, healthObservation{now: now, readAt: now})
		g.Expect(h.Status.Backends).To(BeNil())
	})
}

// BenchmarkSetHealthStatus10k is the cost of status.backends at 10,000 backends: ten bindings of
// 1,000 backends (the listed maximum), one status computation each, and the JSON size of their
// statuses. Run: go test ./controllers/ -run '^$' -bench SetHealthStatus10k -benchmem.
func BenchmarkSetHealthStatus10k(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const bindings, perBinding = 10, networkingv1alpha1.MaxBackendsListed
	views := make([][]clb.TargetHealth, bindings)
	for i := range views {
		for j := range perBinding {
			detail := clb.HealthAlive
			if j%50 == 0 {
				detail = clb.HealthDead
			}
			views[i] = append(views[i], clb.TargetHealth{Key: targets.Key{ListenerID: "lbl-1a2b3c4d",
				EniIP: fmt.Sprintf("10.%d.%d.%d", i, j/250, j%250), Port: 8080}, Detail: detail})
		}
	}
	hs := make([]*networkingv1alpha1.CLBHealth, bindings)
	for i := range hs {
		hs[i] = &networkingv1alpha1.CLBHealth{}
		setHealthStatus(hs[i], healthObservation{now: now, readAt: now, targets: views[i]})
	}
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		for i, h := range hs {
			setHealthStatus(h, healthObservation{now: now.Add(time.Duration(n) * time.Second), readAt: now, targets: views[i]})
		}
	}
	b.StopTimer()
	size, listed := 0, 0
	for _, h := range hs {
		raw, err := json.Marshal(h.Status)
		if err != nil {
			b.Fatal(err)
		}
		size += len(raw)
		listed += len(h.Status.Backends)
	}
	if listed != bindings*perBinding {
		b.Fatalf("listed %d backends, want %d", listed, bindings*perBinding)
	}
	b.ReportMetric(float64(size), "status-bytes/10k-backends")
	b.ReportMetric(float64(size)/float64(listed), "bytes/backend")
}

// TestKeepProbeTime: a status that changed only in lastProbeTime is not written again; any other
// change carries the new probe time.
func TestKeepProbeTime(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(30 * time.Second))
	status := func(probe *metav1.Time, healthy int32) networkingv1alpha1.CLBHealthStatus {
		return networkingv1alpha1.CLBHealthStatus{Healthy: healthy, Registered: 2, LastProbeTime: probe}
	}
	tests := []struct {
		name             string
		stored, computed networkingv1alpha1.CLBHealthStatus
		want             *metav1.Time
	}{
		{"same view read again", status(&then, 2), status(&now, 2), &then},
		{"a backend changed", status(&then, 2), status(&now, 1), &now},
		{"never probed before", status(nil, 2), status(&now, 2), &now},
		{"not probed now", status(&then, 2), status(nil, 2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := &networkingv1alpha1.CLBHealth{Status: tt.stored}
			computed := &networkingv1alpha1.CLBHealth{Status: tt.computed}
			keepProbeTime(stored, computed)
			if !equality.Semantic.DeepEqual(computed.Status.LastProbeTime, tt.want) {
				t.Errorf("lastProbeTime %v, want %v", computed.Status.LastProbeTime, tt.want)
			}
		})
	}
}

// TestHealthReadyConditionWhilePollsFail: the message says since when polls fail, with the
// error's code, the same for every failed poll of one outage (one write, not one per poll).
func TestHealthReadyConditionWhilePollsFail(t *testing.T) {
	readAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	since := readAt.Add(30 * time.Second)
	h := &networkingv1alpha1.CLBHealth{Status: networkingv1alpha1.CLBHealthStatus{Registered: 2, Healthy: 2}}
	messages := map[string]bool{}
	for i, err := range []error{
		&clb.UnavailableError{Code: "InternalError", Err: errors.New("request id 1")},
		&clb.UnavailableError{Code: "InternalError", Err: errors.New("request id 2")},
	} {
		c := healthReadyCondition(h, healthObservation{readAt: readAt, readErr: err, failingSince: since, lbID: "lb-1",
			now: since.Add(time.Duration(i) * time.Minute)})
		if c.Status != metav1.ConditionTrue {
			t.Errorf("poll %d: Ready %s, want True: the last view stands", i, c.Status)
		}
		messages[c.Message] = true
	}
	want := "all 2 backends are healthy; health polls of lb-1 fail since 2026-01-01T00:00:30Z (InternalError): this is the view read at 2026-01-01T00:00:00Z"
	if len(messages) != 1 || !messages[want] {
		t.Errorf("messages %v, want only %q", slices.Collect(maps.Keys(messages)), want)
	}
}
