package clbsim_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

const (
	testSecretID  = "AKIDtest"
	testSecretKey = "test-secret-key"
	testRegion    = "ap-guangzhou"
)

// env is one Sim behind an httptest server, with an SDK client and a fake clock.
type env struct {
	sim    *clbsim.Sim
	srv    *httptest.Server
	client *clbapi.Client
	clock  *testingclock.FakeClock
}

// newEnv starts a Sim. The fake clock starts at the real time because the SDK
// signs with the real time and the Sim refuses more than 5 minutes of skew.
func newEnv(t *testing.T, opts clbsim.Options) *env {
	t.Helper()
	fc := testingclock.NewFakeClock(time.Now())
	if opts.Clock == nil {
		opts.Clock = fc
	}
	opts.SecretID, opts.SecretKey, opts.Region = testSecretID, testSecretKey, testRegion
	if opts.DefaultQPS == 0 {
		opts.DefaultQPS = -1 // most tests fire faster than 20 QPS
	}
	sim := clbsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.Close() // first: it releases handlers waiting on the clock
		srv.Close()
	})
	return &env{sim: sim, srv: srv, client: newClient(t, srv, testSecretKey), clock: fc}
}

func newClient(t *testing.T, srv *httptest.Server, secretKey string) *clbapi.Client {
	t.Helper()
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.ReqTimeout = 10
	c, err := clbapi.NewClient(common.NewCredential(testSecretID, secretKey), testRegion, cpf)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// code returns the API error code of err, "" for nil, or the error text.
func code(err error) string {
	if err == nil {
		return ""
	}
	if sdkErr, ok := errors.AsType[*sdkerrors.TencentCloudSDKError](err); ok {
		return sdkErr.GetCode()
	}
	return err.Error()
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// l4 creates an LB with one TCP listener through the quick setup.
func (e *env) l4(t *testing.T) (lbID, listenerID string) {
	t.Helper()
	lbID = e.sim.AddLoadBalancer("test")
	listenerID = e.sim.AddListener(lbID, "TCP", 80)
	if listenerID == "" {
		t.Fatal("AddListener failed")
	}
	return lbID, listenerID
}

func eni(ip string, port int64) *clbapi.Target {
	return &clbapi.Target{EniIp: new(ip), Port: new(port)}
}

func batchEni(listenerID, ip string, port int64) *clbapi.BatchTarget {
	return &clbapi.BatchTarget{ListenerId: new(listenerID), EniIp: new(ip), Port: new(port)}
}

// eniTargets returns n distinct 10.x targets.
func eniTargets(n int) []*clbapi.Target {
	out := make([]*clbapi.Target, n)
	for i := range out {
		out[i] = eni(ipN(i), 8080)
	}
	return out
}

func ipN(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256)
}

func (e *env) register(t *testing.T, lbID, listenerID string, targets ...*clbapi.Target) string {
	t.Helper()
	req := clbapi.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.Targets = &lbID, &listenerID, targets
	resp, err := e.client.RegisterTargets(req)
	must(t, err)
	return *resp.Response.RequestId
}

func (e *env) taskStatus(t *testing.T, taskID string) int64 {
	t.Helper()
	req := clbapi.NewDescribeTaskStatusRequest()
	req.TaskId = &taskID
	resp, err := e.client.DescribeTaskStatus(req)
	must(t, err)
	return *resp.Response.Status
}

// health returns HealthStatusDetail by "ip:port" for one LB.
func (e *env) health(t *testing.T, lbID string) map[string]string {
	t.Helper()
	req := clbapi.NewDescribeTargetHealthRequest()
	req.LoadBalancerIds = []*string{&lbID}
	resp, err := e.client.DescribeTargetHealth(req)
	must(t, err)
	out := map[string]string{}
	for _, lb := range resp.Response.LoadBalancers {
		for _, l := range lb.Listeners {
			for _, r := range l.Rules {
				for _, th := range r.Targets {
					out[fmt.Sprintf("%s:%d", *th.IP, *th.Port)] = *th.HealthStatusDetail
					if *th.HealthStatus != (*th.HealthStatusDetail == "Alive") {
						t.Fatalf("HealthStatus %v disagrees with detail %s", *th.HealthStatus, *th.HealthStatusDetail)
					}
				}
			}
		}
	}
	return out
}

// eventually polls cond for up to 5 s of real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
