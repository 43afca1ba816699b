package clbsim_test

import (
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func TestRegisterTargetsErrors(t *testing.T) {
	e := newEnv(t, clbsim.Options{MaxTargetsPerRule: 25})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	e.register(t, lbID, tcpID, eniTargets(20)...)
	cases := []struct {
		name                   string
		lb, listener, location *string
		domain, url            *string
		targets                []*clbapi.Target
		want                   string
	}{
		{"21 targets", &lbID, &tcpID, nil, nil, nil, eniTargets(21), "InvalidParameterValue.Length"},
		{"no targets", &lbID, &tcpID, nil, nil, nil, nil, "MissingParameter"},
		{"unknown LB", new("lb-zzzzzzzz"), &tcpID, nil, nil, nil, eniTargets(1), "InvalidParameter.LBIdNotFound"},
		{"no LB", nil, &tcpID, nil, nil, nil, eniTargets(1), "MissingParameter"},
		{"unknown listener", &lbID, new("lbl-zzzzzzzz"), nil, nil, nil, eniTargets(1), "InvalidParameter.ListenerIdNotFound"},
		{"L7 without rule", &lbID, &httpID, nil, nil, nil, eniTargets(1), "MissingParameter"},
		{"L7 unknown location", &lbID, &httpID, new("loc-zzzzzzzz"), nil, nil, eniTargets(1), "InvalidParameter.LocationNotFound"},
		{"L7 unknown domain", &lbID, &httpID, nil, new("b.example.com"), new("/"), eniTargets(1), "InvalidParameter.LocationNotFound"},
		{"L7 by domain and url", &lbID, &httpID, nil, new("a.example.com"), new("/"), eniTargets(1), ""},
		{"duplicate", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{eni("10.8.0.1", 80), eni("10.8.0.1", 80)}, "InvalidParameterValue.Duplicate"},
		{"bad IP", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{eni("10.0.0.300", 80)}, "InvalidParameter.FormatError"},
		{"IP and instance", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{{EniIp: new("10.0.0.1"), InstanceId: new("ins-abcdefgh"), Port: common.Int64Ptr(80)}}, "InvalidParameter.FormatError"},
		{"no port", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{{EniIp: new("10.0.0.1")}}, "MissingParameter"},
		{"weight 101", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{{EniIp: new("10.0.0.1"), Port: common.Int64Ptr(80), Weight: common.Int64Ptr(101)}}, "InvalidParameterValue.Range"},
		{"quota of the listener", &lbID, &tcpID, nil, nil, nil, []*clbapi.Target{eni("10.7.0.1", 1), eni("10.7.0.2", 1), eni("10.7.0.3", 1), eni("10.7.0.4", 1), eni("10.7.0.5", 1), eni("10.7.0.6", 1)}, "LimitExceeded"},
		{"re-register is idempotent", &lbID, &tcpID, nil, nil, nil, eniTargets(3), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := clbapi.NewRegisterTargetsRequest()
			req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url, req.Targets = tc.lb, tc.listener, tc.location, tc.domain, tc.url, tc.targets
			_, err := e.client.RegisterTargets(req)
			wantCode(t, err, tc.want)
		})
	}
	if n := len(e.sim.Targets(lbID)); n != 21 {
		t.Fatalf("%d targets, want 21", n)
	}
}

func TestRegisterDescribeModifyDeregister(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, listenerID := e.l4(t)
	tagged := &clbapi.Target{EniIp: new("10.0.0.1"), Port: common.Int64Ptr(8080), Weight: common.Int64Ptr(50), Tag: new("pod-a")}
	e.register(t, lbID, listenerID, tagged, eni("10.0.0.2", 8080))

	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	dt.Filters = []*clbapi.Filter{{Name: new("tag"), Values: common.StringPtrs([]string{"pod-a"})}}
	resp, err := e.client.DescribeTargets(dt)
	must(t, err)
	got := resp.Response.Listeners[0].Targets
	if len(got) != 1 || *got[0].Tag != "pod-a" || *got[0].Weight != 50 || *got[0].PrivateIpAddresses[0] != "10.0.0.1" || *got[0].Type != "ENI" {
		t.Fatalf("DescribeTargets = %s", resp.ToJsonString())
	}

	mw := clbapi.NewModifyTargetWeightRequest()
	mw.LoadBalancerId, mw.ListenerId, mw.Weight = &lbID, &listenerID, common.Int64Ptr(0)
	mw.Targets = []*clbapi.Target{eni("10.0.0.2", 8080)}
	_, err = e.client.ModifyTargetWeight(mw)
	must(t, err)
	mw.Targets = []*clbapi.Target{eni("10.0.0.3", 8080)}
	_, err = e.client.ModifyTargetWeight(mw)
	wantCode(t, err, "InvalidParameter")

	want := []clbsim.Target{
		{ListenerID: listenerID, Type: "ENI", EniIP: "10.0.0.1", Tag: "pod-a", Port: 8080, Weight: 50},
		{ListenerID: listenerID, Type: "ENI", EniIP: "10.0.0.2", Port: 8080, Weight: 0},
	}
	if got := e.sim.Targets(lbID); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Targets = %+v, want %+v", got, want)
	}

	// A target that is not bound fails the whole request.
	dr := clbapi.NewDeregisterTargetsRequest()
	dr.LoadBalancerId, dr.ListenerId, dr.Targets = &lbID, &listenerID, []*clbapi.Target{eni("10.0.0.1", 8080), eni("10.0.0.99", 8080)}
	_, err = e.client.DeregisterTargets(dr)
	wantCode(t, err, "InvalidParameter")
	if n := len(e.sim.Targets(lbID)); n != 2 {
		t.Fatalf("a refused deregister applied: %d targets", n)
	}
	dr.Targets = dr.Targets[:1]
	_, err = e.client.DeregisterTargets(dr)
	must(t, err)
	dr.Targets = eniTargets(21)
	_, err = e.client.DeregisterTargets(dr)
	wantCode(t, err, "InvalidParameterValue.Length")
	if got := e.sim.Targets(lbID); len(got) != 1 || got[0].EniIP != "10.0.0.2" {
		t.Fatalf("Targets after deregister = %+v", got)
	}
}

func batchOf(listenerID string, n int) []*clbapi.BatchTarget {
	out := make([]*clbapi.BatchTarget, n)
	for i := range out {
		out[i] = batchEni(listenerID, ipN(i), 8080)
	}
	return out
}

func TestBatchRegisterLimitsAndPartialFailure(t *testing.T) {
	e := newEnv(t, clbsim.Options{MaxTargetsPerRule: 2000})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")

	batch := func(targets []*clbapi.BatchTarget) (*clbapi.BatchRegisterTargetsResponse, error) {
		req := clbapi.NewBatchRegisterTargetsRequest()
		req.LoadBalancerId, req.Targets = &lbID, targets
		return e.client.BatchRegisterTargets(req)
	}
	_, err := batch(batchOf(tcpID, 501))
	wantCode(t, err, "InvalidParameterValue.Length")
	resp, err := batch(batchOf(tcpID, 500))
	must(t, err)
	if len(resp.Response.FailListenerIdSet) != 0 || len(e.sim.Targets(lbID)) != 500 {
		t.Fatalf("500-target batch: %s, %d targets", resp.ToJsonString(), len(e.sim.Targets(lbID)))
	}
	if s := e.taskStatus(t, *resp.Response.RequestId); s != 0 {
		t.Fatalf("task status of a batch = %d, want 0", s)
	}

	_, err = batch([]*clbapi.BatchTarget{batchEni("lbl-zzzzzzzz", "10.1.0.1", 1)})
	wantCode(t, err, "InvalidParameter.ListenerIdNotFound")
	_, err = batch([]*clbapi.BatchTarget{batchEni(tcpID, "10.1.0.1", 1), batchEni(tcpID, "10.1.0.1", 1)})
	wantCode(t, err, "InvalidParameterValue.Duplicate")

	// An L7 target without LocationId fails only its listener.
	withRule := batchEni(httpID, "10.2.0.1", 80)
	withRule.LocationId = &locID
	resp, err = batch([]*clbapi.BatchTarget{batchEni(httpID, "10.2.0.2", 80), batchEni(tcpID, "10.2.0.3", 80)})
	must(t, err)
	if len(resp.Response.FailListenerIdSet) != 1 || *resp.Response.FailListenerIdSet[0] != httpID {
		t.Fatalf("FailListenerIdSet = %s", resp.ToJsonString())
	}

	// Injected partial failure: the failed listener's targets are skipped.
	otherID := e.sim.AddListener(lbID, "TCP", 81)
	e.sim.InjectFault(clbsim.Fault{FailListenerIDs: []string{otherID}, Count: 1})
	resp, err = batch([]*clbapi.BatchTarget{withRule, batchEni(otherID, "10.3.0.1", 80)})
	must(t, err)
	if len(resp.Response.FailListenerIdSet) != 1 || *resp.Response.FailListenerIdSet[0] != otherID || resp.Response.Message == nil {
		t.Fatalf("FailListenerIdSet = %s", resp.ToJsonString())
	}
	targets := e.sim.Targets(lbID)
	for _, tg := range targets {
		if tg.ListenerID == otherID {
			t.Fatalf("target of a failed listener was registered: %+v", tg)
		}
	}
	if n := len(targets); n != 502 {
		t.Fatalf("%d targets, want 502", n)
	}

	dereg := clbapi.NewBatchDeregisterTargetsRequest()
	dereg.LoadBalancerId, dereg.Targets = &lbID, batchOf(tcpID, 500)
	e.sim.InjectFault(clbsim.Fault{FailListenerIDs: []string{httpID}, Count: 1})
	withRule2 := *withRule
	dereg.Targets = append(dereg.Targets[:499], &withRule2)
	dresp, err := e.client.BatchDeregisterTargets(dereg)
	must(t, err)
	if len(dresp.Response.FailListenerIdSet) != 1 || *dresp.Response.FailListenerIdSet[0] != httpID {
		t.Fatalf("BatchDeregisterTargets = %s", dresp.ToJsonString())
	}
	dereg.Targets = batchOf(tcpID, 501)
	_, err = e.client.BatchDeregisterTargets(dereg)
	wantCode(t, err, "InvalidParameterValue.Length")
	if n := len(e.sim.Targets(lbID)); n != 3 {
		t.Fatalf("%d targets after deregistering 499, want 3", n)
	}
}

func TestBatchRegisterQuota(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	req := clbapi.NewBatchRegisterTargetsRequest()
	req.LoadBalancerId, req.Targets = &lbID, batchOf(tcpID, 201)
	_, err := e.client.BatchRegisterTargets(req)
	wantCode(t, err, "LimitExceeded") // default quota 200
	req.Targets = batchOf(tcpID, 200)
	_, err = e.client.BatchRegisterTargets(req)
	must(t, err)
}

func TestBatchSyncHoldsTheLB(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{BatchSync: true, TaskFixed: time.Second}})
	lbID, tcpID := e.l4(t)
	req := clbapi.NewBatchRegisterTargetsRequest()
	req.LoadBalancerId, req.Targets = &lbID, batchOf(tcpID, 3)
	done := make(chan *clbapi.BatchRegisterTargetsResponse, 1)
	go func() {
		resp, err := e.client.BatchRegisterTargets(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	eventually(t, "the batch to hold the LB", e.clock.HasWaiters)
	reg := clbapi.NewRegisterTargetsRequest()
	reg.LoadBalancerId, reg.ListenerId, reg.Targets = &lbID, &tcpID, eniTargets(1)
	_, err := e.client.RegisterTargets(reg)
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	e.clock.Step(time.Second)
	resp := <-done
	if len(e.sim.Targets(lbID)) != 3 || e.taskStatus(t, *resp.Response.RequestId) != 0 {
		t.Fatal("batch did not complete synchronously")
	}
}

func TestBatchModifyTargetWeight(t *testing.T) {
	e := newEnv(t, clbsim.Options{MaxTargetsPerRule: 1000})
	lbID, tcpID := e.l4(t)
	breq := clbapi.NewBatchRegisterTargetsRequest()
	breq.LoadBalancerId, breq.Targets = &lbID, batchOf(tcpID, 500)
	_, err := e.client.BatchRegisterTargets(breq)
	must(t, err)

	rules := func(nRules, perRule int) []*clbapi.RsWeightRule {
		out := make([]*clbapi.RsWeightRule, nRules)
		for i := range out {
			out[i] = &clbapi.RsWeightRule{ListenerId: &tcpID, Weight: common.Int64Ptr(5)}
			for j := range perRule {
				out[i].Targets = append(out[i].Targets, eni(ipN(i*perRule+j), 8080))
			}
		}
		return out
	}
	cases := []struct {
		name string
		list []*clbapi.RsWeightRule
		want string
	}{
		{"101 rules", rules(101, 1), "InvalidParameterValue.Length"},
		{"51 per rule", rules(1, 51), "InvalidParameterValue.Length"},
		{"501 in total", append(rules(10, 50), &clbapi.RsWeightRule{ListenerId: &tcpID, Targets: []*clbapi.Target{eni("10.200.0.1", 8080)}}), "InvalidParameterValue.Length"},
		{"unbound target", []*clbapi.RsWeightRule{{ListenerId: &tcpID, Targets: []*clbapi.Target{eni("10.200.0.1", 8080)}}}, "InvalidParameter"},
		{"unknown listener", []*clbapi.RsWeightRule{{ListenerId: new("lbl-zzzzzzzz"), Targets: eniTargets(1)}}, "InvalidParameter.ListenerIdNotFound"},
		{"500 in 10 rules", rules(10, 50), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := clbapi.NewBatchModifyTargetWeightRequest()
			req.LoadBalancerId, req.ModifyList = &lbID, tc.list
			_, err := e.client.BatchModifyTargetWeight(req)
			wantCode(t, err, tc.want)
		})
	}
	for _, tg := range e.sim.Targets(lbID) {
		if tg.Weight != 5 {
			t.Fatalf("target %+v kept its weight", tg)
		}
	}
}

func TestDescribeLimits(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	for range 21 {
		dt.ListenerIds = append(dt.ListenerIds, &tcpID)
	}
	_, err := e.client.DescribeTargets(dt)
	wantCode(t, err, "InvalidParameterValue.Length")
	dt.ListenerIds = dt.ListenerIds[:20]
	_, err = e.client.DescribeTargets(dt)
	must(t, err)
	dt.LoadBalancerId = new("lb-zzzzzzzz")
	_, err = e.client.DescribeTargets(dt)
	wantCode(t, err, "InvalidParameter.LBIdNotFound")

	dh := clbapi.NewDescribeTargetHealthRequest()
	for range 31 {
		dh.LoadBalancerIds = append(dh.LoadBalancerIds, &lbID)
	}
	_, err = e.client.DescribeTargetHealth(dh)
	wantCode(t, err, "InvalidParameterValue.Length")
	dh.LoadBalancerIds = dh.LoadBalancerIds[:30]
	_, err = e.client.DescribeTargetHealth(dh)
	must(t, err)
	dh.LoadBalancerIds = []*string{new("lb-zzzzzzzz")}
	_, err = e.client.DescribeTargetHealth(dh)
	wantCode(t, err, "InvalidParameter.LBIdNotFound")
}
