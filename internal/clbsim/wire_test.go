package clbsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func TestSignatureFailureWithWrongKey(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	bad := newClient(t, e.srv, "wrong-key")
	_, err := bad.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
	wantCode(t, err, "AuthFailure.SignatureFailure")
	_, err = e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
	must(t, err)
}

// rawCall posts body with the given headers and returns Response.Error.Code ("" when none).
func rawCall(t *testing.T, e *env, action string, body string, signedAt time.Time, mutate func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", "2018-03-17")
	req.Header.Set("X-TC-Region", testRegion)
	req.Host = strings.TrimPrefix(e.srv.URL, "http://")
	clbsim.SignRequest(req, []byte(body), testSecretID, testSecretKey, signedAt)
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	must(t, err)
	var env struct {
		Response struct {
			Error     *struct{ Code, Message string }
			RequestID string `json:"RequestId"`
		}
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	if env.Response.RequestID == "" {
		t.Fatalf("response has no RequestId: %s", raw)
	}
	if env.Response.Error == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, env.Response.Error.Code
}

func TestWireErrors(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	now := time.Now()
	cases := []struct {
		name, action, body string
		signedAt           time.Time
		mutate             func(*http.Request)
		want               string
	}{
		{"ok", "DescribeLoadBalancers", `{}`, now, nil, ""},
		{"expired timestamp", "DescribeLoadBalancers", `{}`, now.Add(-6 * time.Minute), nil, "AuthFailure.SignatureExpire"},
		{"future timestamp", "DescribeLoadBalancers", `{}`, now.Add(6 * time.Minute), nil, "AuthFailure.SignatureExpire"},
		{"tampered body", "DescribeLoadBalancers", `{}`, now, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"Limit":5}`))
			r.ContentLength = 11
		}, "AuthFailure.SignatureFailure"},
		{"no authorization", "DescribeLoadBalancers", `{}`, now, func(r *http.Request) { r.Header.Del("Authorization") }, "AuthFailure.InvalidAuthorization"},
		{"unknown action", "DescribeNothing", `{}`, now, nil, "InvalidAction"},
		{"wrong version", "DescribeLoadBalancers", `{}`, now, func(r *http.Request) { r.Header.Set("X-TC-Version", "2017-01-01") }, "NoSuchVersion"},
		{"other region", "DescribeLoadBalancers", `{}`, now, func(r *http.Request) { r.Header.Set("X-TC-Region", "ap-beijing") }, "UnsupportedRegion"},
		{"malformed json", "DescribeLoadBalancers", `{"Limit":`, now, nil, "InvalidParameter.FormatError"},
		{"wrong type", "DescribeLoadBalancers", `{"Limit":"five"}`, now, nil, "InvalidParameter.FormatError"},
		{"trailing data", "DescribeLoadBalancers", `{}{}`, now, nil, "InvalidParameter.FormatError"},
		{"unknown field", "DescribeLoadBalancers", `{"Bogus":1}`, now, nil, "UnknownParameter"},
		{"missing parameter", "DescribeTaskStatus", `{}`, now, nil, "MissingParameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, got := rawCall(t, e, tc.action, tc.body, tc.signedAt, tc.mutate)
			if status != http.StatusOK {
				t.Fatalf("HTTP status %d, want 200 for every answer", status)
			}
			if got != tc.want {
				t.Fatalf("code = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, clbsim.Options{DefaultQPS: 1})
	_, err := e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
	must(t, err)
	_, err = e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
	wantCode(t, err, "RequestLimitExceeded")
	// Other actions have their own bucket.
	health := clbapi.NewDescribeTargetHealthRequest()
	health.LoadBalancerIds = []*string{new(e.sim.AddLoadBalancer("x"))}
	_, err = e.client.DescribeTargetHealth(health)
	must(t, err)
	e.clock.Step(time.Second)
	_, err = e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
	must(t, err)
	e.sim.SetQPS("DescribeLoadBalancers", -1)
	for range 5 {
		_, err = e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
		must(t, err)
	}
	if got := e.sim.Calls()["DescribeLoadBalancers"]["RequestLimitExceeded"]; got != 1 {
		t.Fatalf("Calls() counted %d RequestLimitExceeded, want 1", got)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID := e.sim.AddLoadBalancer("f")
	describe := func() error {
		req := clbapi.NewDescribeLoadBalancersRequest()
		req.LoadBalancerIds = []*string{&lbID}
		_, err := e.client.DescribeLoadBalancers(req)
		return err
	}
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeLoadBalancers", Code: "InternalError", Count: 2})
	wantCode(t, describe(), "InternalError")
	wantCode(t, describe(), "InternalError")
	must(t, describe())

	e.sim.InjectFault(clbsim.Fault{Code: "FailedOperation.ResourceInOperating", Rate: 1})
	wantCode(t, describe(), "FailedOperation.ResourceInOperating")
	e.sim.ClearFaults()
	must(t, describe())

	e.sim.InjectFault(clbsim.Fault{Drop: true, Count: 1})
	if err := describe(); code(err) != "ClientError.NetworkError" {
		t.Fatalf("dropped connection gave %v, want ClientError.NetworkError", err)
	}
	must(t, describe())

	e.sim.InjectFault(clbsim.Fault{Delay: time.Minute, Count: 1})
	done := make(chan error, 1)
	go func() { done <- describe() }()
	eventually(t, "the delayed call to wait on the clock", e.clock.HasWaiters)
	select {
	case err := <-done:
		t.Fatalf("delayed call answered before the clock moved (err: %v)", err)
	default:
	}
	e.clock.Step(time.Minute)
	must(t, <-done)

	calls := e.sim.Calls()["DescribeLoadBalancers"]
	if calls["InternalError"] != 2 || calls["Dropped"] != 1 || calls["OK"] != 4 {
		t.Fatalf("Calls() = %v", calls)
	}
	e.sim.ResetCalls()
	if len(e.sim.Calls()) != 0 {
		t.Fatal("ResetCalls left counters")
	}
}

func TestPerCallLatency(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{PerCall: time.Second}})
	done := make(chan error, 1)
	go func() {
		_, err := e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
		done <- err
	}()
	eventually(t, "the call to wait on the clock", e.clock.HasWaiters)
	e.clock.Step(time.Second)
	must(t, <-done)
}

func TestRequestIDsAreUnique(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	seen := map[string]bool{}
	for range 20 {
		resp, err := e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
		must(t, err)
		id := *resp.Response.RequestId
		if seen[id] {
			t.Fatalf("RequestId %s repeated", id)
		}
		seen[id] = true
	}
}

func TestFaultOnEverySecondWrite(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	e.sim.InjectFault(clbsim.Fault{Writes: true, Every: 2, Code: "FailedOperation.ResourceInOperating"})
	got := make([]string, 0, 4)
	for i := range 4 {
		// A load balancer per write: a write keeps its load balancer busy until its task ends.
		lbID, listenerID := e.l4(t)
		if _, err := e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest()); err != nil {
			t.Fatalf("a read failed under a writes-only fault: %v", err)
		}
		req := clbapi.NewRegisterTargetsRequest()
		req.LoadBalancerId, req.ListenerId, req.Targets = &lbID, &listenerID, []*clbapi.Target{eni(ipN(i+1), 80)}
		_, err := e.client.RegisterTargets(req)
		got = append(got, code(err))
	}
	want := []string{"", "FailedOperation.ResourceInOperating", "", "FailedOperation.ResourceInOperating"}
	if !slices.Equal(got, want) {
		t.Fatalf("codes of four writes = %q, want %q", got, want)
	}
}
