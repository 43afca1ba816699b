package clbsim_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// acceptedOf sends n DescribeLoadBalancers calls at one instant of the fake
// clock and returns how many were accepted; every other one must have been
// refused with RequestLimitExceeded.
func acceptedOf(t *testing.T, e *env, n int) int {
	t.Helper()
	accepted := 0
	for range n {
		_, err := e.client.DescribeLoadBalancers(clbapi.NewDescribeLoadBalancersRequest())
		switch code(err) {
		case "":
			accepted++
		case "RequestLimitExceeded":
		default:
			t.Fatalf("DescribeLoadBalancers failed with %v, want success or RequestLimitExceeded", err)
		}
	}
	return accepted
}

func TestForeignShareOfTheRateLimit(t *testing.T) {
	const action = "DescribeLoadBalancers"
	for _, tc := range []struct {
		name  string
		opts  clbsim.Options
		setup func(*clbsim.Sim)
		// wantBurst calls of 30 pass at once; wantNextSecond pass one second later.
		wantBurst, wantNextSecond int
	}{
		{name: "no foreign share", opts: clbsim.Options{DefaultQPS: 20}, wantBurst: 20, wantNextSecond: 20},
		{name: "half the budget through Options", opts: clbsim.Options{DefaultQPS: 20, ForeignQPS: 10}, wantBurst: 10, wantNextSecond: 10},
		{
			name: "every action", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS("", 5) },
			wantBurst: 15, wantNextSecond: 15,
		},
		{
			name: "an action's own share overrides every action's", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS("", 15); s.SetForeignQPS(action, 5) },
			wantBurst: 15, wantNextSecond: 15,
		},
		{
			name: "another action's share does not apply", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS("DescribeTargets", 15) },
			wantBurst: 20, wantNextSecond: 20,
		},
		{
			name: "the share comes off the action's own limit", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetQPS(action, 10); s.SetForeignQPS("", 4) },
			wantBurst: 6, wantNextSecond: 6,
		},
		{
			// 7.5 QPS left: a burst of 8, then 7.5 tokens a second.
			name: "a fractional rate left", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS(action, 12.5) },
			wantBurst: 8, wantNextSecond: 7,
		},
		{
			name: "the whole budget spent by others", opts: clbsim.Options{DefaultQPS: 20},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS("", 25) },
			wantBurst: 0, wantNextSecond: 0,
		},
		{
			name: "an unlimited action stays unlimited", opts: clbsim.Options{DefaultQPS: -1, ForeignQPS: 10},
			wantBurst: 30, wantNextSecond: 30,
		},
		{
			name: "a share set back to zero is gone", opts: clbsim.Options{DefaultQPS: 20, ForeignQPS: 10},
			setup:     func(s *clbsim.Sim) { s.SetForeignQPS("", 0) },
			wantBurst: 20, wantNextSecond: 20,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			if tc.setup != nil {
				tc.setup(e.sim)
			}
			if got := acceptedOf(t, e, 30); got != tc.wantBurst {
				t.Errorf("%d of 30 calls at once accepted, want %d", got, tc.wantBurst)
			}
			e.clock.Step(time.Second)
			if got := acceptedOf(t, e, 30); got != tc.wantNextSecond {
				t.Errorf("%d of 30 calls a second later accepted, want %d", got, tc.wantNextSecond)
			}
			refused := e.sim.Calls()[action]["RequestLimitExceeded"]
			if want := 60 - tc.wantBurst - tc.wantNextSecond; refused != want {
				t.Errorf("clbsim counted %d RequestLimitExceeded, want %d", refused, want)
			}
		})
	}
}

func TestAdminSetsForeignShare(t *testing.T) {
	e := newEnv(t, clbsim.Options{DefaultQPS: 20})
	admin := httptest.NewServer(e.sim.AdminHandler())
	t.Cleanup(admin.Close)

	if status, out := adminDo(t, admin, http.MethodPut, "/foreignqps", `{"Action":"","QPS":15}`); status != http.StatusOK {
		t.Fatalf("PUT /foreignqps: %d %s", status, out)
	}
	if got := acceptedOf(t, e, 10); got != 5 {
		t.Fatalf("%d of 10 calls accepted with 15 of 20 QPS spent by others, want 5", got)
	}
}
