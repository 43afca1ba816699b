package clbsim_test

import (
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func TestScriptedHealthTransitions(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, slow := e.l4(t)
	fast := e.sim.AddListener(lbID, "TCP", 81)
	mod := clbapi.NewModifyListenerRequest()
	mod.LoadBalancerId, mod.ListenerId = &lbID, &fast
	mod.HealthCheck = &clbapi.HealthCheck{IntervalTime: common.Int64Ptr(2), HealthNum: common.Int64Ptr(2), TimeOut: common.Int64Ptr(1)}
	_, err := e.client.ModifyListener(mod)
	wantCode(t, err, "InvalidParameterValue.Range") // TimeOut must be ≥ 2
	mod.HealthCheck.TimeOut = nil
	_, err = e.client.ModifyListener(mod)
	must(t, err)

	e.register(t, lbID, slow, eni("10.0.0.1", 80))
	e.register(t, lbID, fast, eni("10.0.0.2", 80))
	steps := []struct {
		advance    time.Duration
		slow, fast string
	}{
		{0, "Unknown", "Unknown"},
		{3 * time.Second, "Unknown", "Unknown"},
		{time.Second, "Unknown", "Alive"},      // 2 × 2 s
		{10 * time.Second, "Unknown", "Alive"}, // 14 s
		{time.Second, "Alive", "Alive"},        // 3 × 5 s
	}
	for _, st := range steps {
		e.clock.Step(st.advance)
		h := e.health(t, lbID)
		if h["10.0.0.1:80"] != st.slow || h["10.0.0.2:80"] != st.fast {
			t.Fatalf("after +%s: health = %v, want slow %s fast %s", st.advance, h, st.slow, st.fast)
		}
	}
}

func TestHealthOverrides(t *testing.T) {
	e := newEnv(t, clbsim.Options{HealthInterval: time.Second})
	lbID, l1 := e.l4(t)
	l2 := e.sim.AddListener(lbID, "TCP", 81)
	e.register(t, lbID, l1, eni("10.0.0.1", 80), eni("10.0.0.2", 80))
	e.register(t, lbID, l2, eni("10.0.0.3", 80))
	e.clock.Step(3 * time.Second)

	check := func(want map[string]string) {
		t.Helper()
		got := e.health(t, lbID)
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("health = %v, want %v", got, want)
			}
		}
	}
	check(map[string]string{"10.0.0.1:80": "Alive", "10.0.0.2:80": "Alive", "10.0.0.3:80": "Alive"})
	e.sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID}, "Dead")
	check(map[string]string{"10.0.0.1:80": "Dead", "10.0.0.2:80": "Dead", "10.0.0.3:80": "Dead"})
	e.sim.SetHealth(clbsim.HealthSelector{ListenerID: l2}, "Unknown")
	check(map[string]string{"10.0.0.1:80": "Dead", "10.0.0.3:80": "Unknown"})
	e.sim.SetHealth(clbsim.HealthSelector{IP: "10.0.0.1", Port: 80}, "")
	check(map[string]string{"10.0.0.1:80": "Alive", "10.0.0.2:80": "Dead"})
	e.sim.SetHealth(clbsim.HealthSelector{IP: "10.0.0.2"}, "Flapping")
	check(map[string]string{"10.0.0.2:80": "Alive"})
	e.clock.Step(time.Second)
	check(map[string]string{"10.0.0.2:80": "Dead"})
	e.clock.Step(time.Second)
	check(map[string]string{"10.0.0.2:80": "Alive"})
	e.sim.SetHealth(clbsim.HealthSelector{}, "")
	check(map[string]string{"10.0.0.1:80": "Alive", "10.0.0.2:80": "Alive", "10.0.0.3:80": "Alive"})

	off := clbapi.NewModifyListenerRequest()
	off.LoadBalancerId, off.ListenerId = &lbID, &l2
	off.HealthCheck = &clbapi.HealthCheck{HealthSwitch: common.Int64Ptr(0)}
	_, err := e.client.ModifyListener(off)
	must(t, err)
	check(map[string]string{"10.0.0.3:80": "Close", "10.0.0.1:80": "Alive"})
}

func TestRuleHealthShape(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID := e.sim.AddLoadBalancer("l7")
	httpID := e.sim.AddListener(lbID, "HTTP", 80)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	req := clbapi.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.LocationId, req.Targets = &lbID, &httpID, &locID, eniTargets(2)
	_, err := e.client.RegisterTargets(req)
	must(t, err)
	e.clock.Step(15 * time.Second)
	dh := clbapi.NewDescribeTargetHealthRequest()
	dh.LoadBalancerIds = []*string{&lbID}
	resp, err := e.client.DescribeTargetHealth(dh)
	must(t, err)
	rules := resp.Response.LoadBalancers[0].Listeners[0].Rules
	if len(rules) != 1 || *rules[0].LocationId != locID || *rules[0].Domain != "a.example.com" || len(rules[0].Targets) != 2 ||
		!*rules[0].Targets[0].HealthStatus || *rules[0].Targets[0].HealthStatusDetail != "Alive" {
		t.Fatalf("DescribeTargetHealth = %s", resp.ToJsonString())
	}
}
