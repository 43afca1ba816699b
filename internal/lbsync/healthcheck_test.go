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

package lbsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

type nopNotifier struct{}

func (nopNotifier) Synced(types.NamespacedName, types.UID, lbsync.Status, lbsync.Changes) {}

// checkEnv is a running Syncer on clbsim, with the outcomes of health checks as they come.
type checkEnv struct {
	srv     *simtest.Server
	cloud   *clb.Client
	syncer  *lbsync.Syncer
	reports chan types.NamespacedName
}

func newCheckEnv(t *testing.T, opts clbsim.Options) *checkEnv {
	t.Helper()
	srv, err := simtest.Start(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := srv.ClientConfig(nil)
	cfg.Retry = clb.RetryConfig{MaxRetries: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	cloud, err := clb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	syncer, err := lbsync.New(cloud, nopNotifier{}, lbsync.Options{
		Window: 5 * time.Millisecond, MaxWindow: 20 * time.Millisecond, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		StartupRecheck: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &checkEnv{srv: srv, cloud: cloud, syncer: syncer, reports: make(chan types.NamespacedName, 100)}
	syncer.OnHealthCheck(func(key types.NamespacedName) { e.reports <- key })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = syncer.Start(ctx) }()
	return e
}

// outcome waits for the outcome of req.
func (e *checkEnv) outcome(t *testing.T, key types.NamespacedName, req lbsync.HealthCheckRequest) lbsync.HealthCheckOutcome {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if o, ok := e.syncer.HealthCheckResult(key); ok && o.For(req) && o.Final() {
			return o
		}
		select {
		case <-e.reports:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			o, _ := e.syncer.HealthCheckResult(key)
			t.Fatalf("no final outcome of %+v within 10s; last %+v", req, o)
		}
	}
}

func (e *checkEnv) calls(action string) map[string]int { return e.srv.Sim.Calls()[action] }

// TestHealthCheckWritesNeverOverlapBackendWrites: while large batches of backend writes keep the
// load balancer busy, the health checks of the same load balancer are written between them by
// its worker, never during one, so the CLB never answers ResourceInOperating.
func TestHealthCheckWritesNeverOverlapBackendWrites(t *testing.T) {
	e := newCheckEnv(t, clbsim.Options{MaxTargetsPerRule: 5000,
		Latency: clbsim.Latency{TaskFixed: 150 * time.Millisecond, BatchSync: true}})
	lbID := e.srv.Sim.AddLoadBalancer("one-writer")
	listenerID := e.srv.Sim.AddListener(lbID, "TCP", 80)
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	b := lbsync.Binding{Key: key, UID: "uid-1", LoadBalancerID: lbID, Listener: lbsync.ListenerRef{ID: listenerID},
		OwnerTag: targets.OwnerTag("cls-test", "uid-1"), Exclusive: true}

	var req lbsync.HealthCheckRequest
	for round := range 4 {
		// Each round adds 600 backends (two Batch calls) and asks for another check at once.
		for i := range 600 {
			n := round*600 + i
			b.Desired = append(b.Desired, targets.Target{
				Key: targets.Key{EniIP: fmt.Sprintf("10.1.%d.%d", n/250, n%250+1), Port: 8080}, Weight: 10, Tag: b.OwnerTag})
		}
		req = lbsync.HealthCheckRequest{ListenerID: listenerID, Generation: int64(round + 1), Check: clb.HealthCheck{
			Enabled: true, CheckType: clb.CheckHTTP, HTTPCheckDomain: "web.example.com", HTTPCheckPath: "/healthz",
			IntervalSeconds: int64(5 + round), TimeoutSeconds: 2}}
		e.syncer.Update(b)
		e.syncer.SetHealthCheck(key, lbID, req)
		if o := e.outcome(t, key, req); !o.Applied || !o.Wrote {
			t.Fatalf("round %d: outcome %+v, want a write that applied the check", round, o)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.srv.Sim.Targets(lbID)) != len(b.Desired) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d backends registered after 20s", len(e.srv.Sim.Targets(lbID)), len(b.Desired))
		}
		time.Sleep(20 * time.Millisecond)
	}

	busy := 0
	for action, results := range e.srv.Sim.Calls() {
		if n := results["FailedOperation.ResourceInOperating"]; n > 0 {
			t.Errorf("%s was answered ResourceInOperating %d times: two writes to the load balancer overlapped", action, n)
		}
		busy += results["FailedOperation.ResourceInOperating"]
	}
	if n := e.calls("ModifyListener")["OK"]; n != 4 {
		t.Errorf("ModifyListener succeeded %d times, want 4 (one per round)", n)
	}
	if n := e.calls("BatchRegisterTargets")["OK"]; n < 5 {
		t.Errorf("BatchRegisterTargets succeeded %d times; the backend writes were not large enough to overlap anything", n)
	}
	ls, err := e.cloud.DescribeListeners(t.Context(), lbID, listenerID)
	if err != nil {
		t.Fatal(err)
	}
	hc := ls[0].HealthCheck
	if hc == nil || hc.IntervalSeconds != 8 || hc.HTTPVersion != clb.DefaultHTTPVersion || hc.HTTPCode != clb.DefaultHTTPCode {
		t.Errorf("listener check = %+v, want the last round's, with HttpVersion %s and HttpCode %d sent for it",
			hc, clb.DefaultHTTPVersion, clb.DefaultHTTPCode)
	}
	t.Logf("%d backends in %d BatchRegisterTargets calls, 4 health-check writes between them, %d ResourceInOperating",
		len(b.Desired), e.calls("BatchRegisterTargets")["OK"], busy)
}

// TestHealthCheckOutcomes: what the worker makes of a request, and when it calls the cloud.
func TestHealthCheckOutcomes(t *testing.T) {
	e := newCheckEnv(t, clbsim.Options{})
	lbID := e.srv.Sim.AddLoadBalancer("outcomes")
	tcp := e.srv.Sim.AddListener(lbID, "TCP", 80)
	udp := e.srv.Sim.AddListener(lbID, "UDP", 53)
	web := e.srv.Sim.AddListener(lbID, "HTTP", 8080)
	loc := e.srv.Sim.AddRule(lbID, web, "web.example.com", "/")
	type want struct {
		applied, wrote bool
		reason         string
		message        []string // fragments of the message
	}
	cases := []struct {
		name  string
		req   lbsync.HealthCheckRequest
		fault *clbsim.Fault
		want  want
		// writes is the number of Modify calls the request costs.
		writes int
	}{
		{"a check the listener has already costs no call",
			lbsync.HealthCheckRequest{ListenerID: tcp, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP}},
			nil, want{applied: true}, 0},
		{"a TCP check on a UDP listener is refused without a call",
			lbsync.HealthCheckRequest{ListenerID: udp, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP}},
			nil, want{reason: networkingv1alpha1.HealthCheckInvalidReason,
				message: []string{"listener " + udp, "is UDP", "spec.healthCheck.type TCP", "use PING or CUSTOM", "nothing was written"}}, 0},
		{"an HTTP check on a TCP listener without a domain is refused without a call",
			lbsync.HealthCheckRequest{ListenerID: tcp, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckHTTP}},
			nil, want{reason: networkingv1alpha1.HealthCheckInvalidReason,
				message: []string{"is TCP", "spec.healthCheck.httpDomain is required"}}, 0},
		{"a CUSTOM check on a rule is refused without a call",
			lbsync.HealthCheckRequest{ListenerID: web, LocationID: loc, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckCUSTOM,
				ContextType: "TEXT", SendContext: "a", RecvContext: "b"}},
			nil, want{reason: networkingv1alpha1.HealthCheckInvalidReason,
				message: []string{"rule " + loc, "is HTTP", "spec.healthCheck.type CUSTOM", "use HTTP or GRPC"}}, 0},
		{"a GRPC check on a rule is written",
			lbsync.HealthCheckRequest{ListenerID: web, LocationID: loc, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckGRPC}},
			nil, want{applied: true, wrote: true}, 1},
		{"a CUSTOM check on a UDP listener is written",
			lbsync.HealthCheckRequest{ListenerID: udp, Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckCUSTOM,
				ContextType: "HEX", SendContext: "0A", RecvContext: "0B"}},
			nil, want{applied: true, wrote: true}, 1},
		{"a refusal by the cloud is reported once, not retried",
			lbsync.HealthCheckRequest{ListenerID: tcp, Check: clb.HealthCheck{Enabled: true, IntervalSeconds: 9}},
			&clbsim.Fault{Action: "ModifyListener", Code: "InvalidParameterValue", Rate: 1},
			want{wrote: true, reason: networkingv1alpha1.HealthCheckInvalidReason,
				message: []string{"the CLB refused spec.healthCheck", "listener " + tcp, "TCP listener", "InvalidParameterValue"}}, 1},
		{"a listener that does not exist is waited for",
			lbsync.HealthCheckRequest{ListenerID: "lbl-missing0", Check: clb.HealthCheck{Enabled: true}},
			nil, want{reason: networkingv1alpha1.HealthCheckApplyingReason, message: []string{"lbl-missing0"}}, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.Sim.ResetCalls()
			e.srv.Sim.ClearFaults()
			if tc.fault != nil {
				e.srv.Sim.InjectFault(*tc.fault)
			}
			key := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("check-%d", i)}
			tc.req.Generation = 1
			e.syncer.SetHealthCheck(key, lbID, tc.req)
			var o lbsync.HealthCheckOutcome
			if tc.want.reason == networkingv1alpha1.HealthCheckApplyingReason {
				deadline := time.Now().Add(5 * time.Second)
				for ok := false; !ok || !o.For(tc.req); o, ok = e.syncer.HealthCheckResult(key) {
					if time.Now().After(deadline) {
						t.Fatalf("no outcome within 5s")
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				o = e.outcome(t, key, tc.req)
			}
			if o.Applied != tc.want.applied || o.Wrote != tc.want.wrote || o.Reason != tc.want.reason {
				t.Fatalf("outcome %+v, want %+v", o, tc.want)
			}
			for _, m := range tc.want.message {
				if !strings.Contains(o.Message, m) {
					t.Errorf("message %q lacks %q", o.Message, m)
				}
			}
			// Handing the same request again, as every reconcile does, costs nothing more.
			e.syncer.SetHealthCheck(key, lbID, tc.req)
			e.syncer.Update(lbsync.Binding{Key: types.NamespacedName{Namespace: "ns", Name: "wake"}, LoadBalancerID: lbID,
				Listener: lbsync.ListenerRef{ID: tcp}, OwnerTag: "t", Exclusive: true, Desired: []targets.Target{{
					Key: targets.Key{EniIP: fmt.Sprintf("10.9.0.%d", i+1), Port: 80}, Weight: 10, Tag: "t"}}})
			time.Sleep(200 * time.Millisecond)
			writes := 0
			for _, action := range []string{"ModifyListener", "ModifyRule"} {
				for _, n := range e.calls(action) {
					writes += n
				}
			}
			if writes != tc.writes {
				t.Errorf("%d Modify calls, want %d", writes, tc.writes)
			}
			e.syncer.ClearHealthCheck(key)
		})
	}
}

// TestHealthCheckRetriedAfterAFailure: a write that fails for a reason that may pass is tried
// again on a backoff, without the CLBHealth changing, until it goes through.
func TestHealthCheckRetriedAfterAFailure(t *testing.T) {
	e := newCheckEnv(t, clbsim.Options{})
	lbID := e.srv.Sim.AddLoadBalancer("retry")
	tcp := e.srv.Sim.AddListener(lbID, "TCP", 80)
	// Two calls of 1+3 attempts each fail; the third call goes through.
	e.srv.Sim.InjectFault(clbsim.Fault{Action: "ModifyListener", Code: "InternalError", Count: 8})
	key := types.NamespacedName{Namespace: "ns", Name: "retry"}
	req := lbsync.HealthCheckRequest{ListenerID: tcp, Generation: 1, Check: clb.HealthCheck{Enabled: true, IntervalSeconds: 7}}
	e.syncer.SetHealthCheck(key, lbID, req)

	deadline := time.Now().Add(10 * time.Second)
	sawFailure := false
	for {
		o, ok := e.syncer.HealthCheckResult(key)
		if ok && o.Reason == networkingv1alpha1.HealthCheckCloudErrorReason {
			sawFailure = true
			if o.RetryAt.IsZero() || o.Final() || !strings.Contains(o.Message, "InternalError") {
				t.Fatalf("failed outcome %+v, want a retry time and the cloud's error", o)
			}
		}
		if ok && o.Applied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not applied within 10s: %+v", o)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawFailure {
		t.Errorf("the failures were never reported")
	}
	if got := e.calls("ModifyListener"); got["InternalError"] != 8 || got["OK"] != 1 {
		t.Errorf("ModifyListener answers %v, want 8 InternalError then 1 OK", got)
	}
}
