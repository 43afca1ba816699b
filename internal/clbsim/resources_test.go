package clbsim_test

import (
	"regexp"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

var (
	lbIDPattern       = regexp.MustCompile(`^lb-[a-z0-9]{8}$`)
	listenerIDPattern = regexp.MustCompile(`^lbl-[a-z0-9]{8}$`)
	locationIDPattern = regexp.MustCompile(`^loc-[a-z0-9]{8}$`)
)

// TestSetupThroughAPIOnly builds an LB, listeners and a rule with real API
// actions only, as the controller's tests will.
func TestSetupThroughAPIOnly(t *testing.T) {
	e := newEnv(t, clbsim.Options{VpcID: "vpc-abc"})
	create := clbapi.NewCreateLoadBalancerRequest()
	create.LoadBalancerType = new("INTERNAL")
	create.LoadBalancerName = new("api-lb")
	lbResp, err := e.client.CreateLoadBalancer(create)
	must(t, err)
	lbID := *lbResp.Response.LoadBalancerIds[0]
	if !lbIDPattern.MatchString(lbID) {
		t.Fatalf("LB ID %q does not look like lb-xxxxxxxx", lbID)
	}
	if s := e.taskStatus(t, *lbResp.Response.RequestId); s != 0 {
		t.Fatalf("CreateLoadBalancer task status %d, want 0", s)
	}

	describe := clbapi.NewDescribeLoadBalancersRequest()
	describe.LoadBalancerIds = []*string{&lbID, new("lb-00000000")}
	dResp, err := e.client.DescribeLoadBalancers(describe)
	must(t, err)
	if *dResp.Response.TotalCount != 1 || *dResp.Response.LoadBalancerSet[0].VpcId != "vpc-abc" ||
		*dResp.Response.LoadBalancerSet[0].Status != 1 || *dResp.Response.LoadBalancerSet[0].LoadBalancerName != "api-lb" {
		t.Fatalf("DescribeLoadBalancers = %s", dResp.ToJsonString())
	}

	cl := clbapi.NewCreateListenerRequest()
	cl.LoadBalancerId, cl.Protocol, cl.Ports = &lbID, new("TCP"), common.Int64Ptrs([]int64{80, 81})
	cl.HealthCheck = &clbapi.HealthCheck{IntervalTime: common.Int64Ptr(2), HealthNum: common.Int64Ptr(2)}
	clResp, err := e.client.CreateListener(cl)
	must(t, err)
	if len(clResp.Response.ListenerIds) != 2 || !listenerIDPattern.MatchString(*clResp.Response.ListenerIds[0]) {
		t.Fatalf("CreateListener = %s", clResp.ToJsonString())
	}

	http := clbapi.NewCreateListenerRequest()
	http.LoadBalancerId, http.Protocol, http.Ports = &lbID, new("HTTP"), common.Int64Ptrs([]int64{8080})
	httpResp, err := e.client.CreateListener(http)
	must(t, err)
	httpID := httpResp.Response.ListenerIds[0]
	cr := clbapi.NewCreateRuleRequest()
	cr.LoadBalancerId, cr.ListenerId = &lbID, httpID
	cr.Rules = []*clbapi.RuleInput{{Domain: new("a.example.com"), Url: new("/api")}}
	crResp, err := e.client.CreateRule(cr)
	must(t, err)
	if !locationIDPattern.MatchString(*crResp.Response.LocationIds[0]) {
		t.Fatalf("CreateRule = %s", crResp.ToJsonString())
	}

	dl := clbapi.NewDescribeListenersRequest()
	dl.LoadBalancerId = &lbID
	dlResp, err := e.client.DescribeListeners(dl)
	must(t, err)
	if *dlResp.Response.TotalCount != 3 {
		t.Fatalf("DescribeListeners = %s", dlResp.ToJsonString())
	}
	first := dlResp.Response.Listeners[0]
	if *first.Port != 80 || *first.HealthCheck.IntervalTime != 2 || *first.HealthCheck.HealthNum != 2 || *first.HealthCheck.UnHealthNum != 3 {
		t.Fatalf("listener 80 = %s", dlResp.ToJsonString())
	}
	last := dlResp.Response.Listeners[2]
	if len(last.Rules) != 1 || *last.Rules[0].Url != "/api" || *last.Rules[0].HealthCheck.CheckType != "HTTP" {
		t.Fatalf("HTTP listener = %s", dlResp.ToJsonString())
	}
}

func TestListenerAndRuleErrors(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"listener on unknown LB", func() error {
			req := clbapi.NewCreateListenerRequest()
			req.LoadBalancerId, req.Protocol, req.Ports = new("lb-zzzzzzzz"), new("TCP"), common.Int64Ptrs([]int64{1})
			_, err := e.client.CreateListener(req)
			return err
		}, "InvalidParameter.LBIdNotFound"},
		{"malformed LB ID", func() error {
			req := clbapi.NewCreateListenerRequest()
			req.LoadBalancerId, req.Protocol, req.Ports = new("lb-1"), new("TCP"), common.Int64Ptrs([]int64{1})
			_, err := e.client.CreateListener(req)
			return err
		}, "InvalidParameter.FormatError"},
		{"port conflict", func() error {
			req := clbapi.NewCreateListenerRequest()
			req.LoadBalancerId, req.Protocol, req.Ports = &lbID, new("HTTP"), common.Int64Ptrs([]int64{80})
			_, err := e.client.CreateListener(req)
			return err
		}, "InvalidParameter.PortCheckFailed"},
		{"bad protocol", func() error {
			req := clbapi.NewCreateListenerRequest()
			req.LoadBalancerId, req.Protocol, req.Ports = &lbID, new("SCTP"), common.Int64Ptrs([]int64{1})
			_, err := e.client.CreateListener(req)
			return err
		}, "InvalidParameter.ProtocolCheckFailed"},
		{"no ports", func() error {
			req := clbapi.NewCreateListenerRequest()
			req.LoadBalancerId, req.Protocol = &lbID, new("TCP")
			_, err := e.client.CreateListener(req)
			return err
		}, "MissingParameter"},
		{"health interval out of range", func() error {
			req := clbapi.NewModifyListenerRequest()
			req.LoadBalancerId, req.ListenerId = &lbID, &tcpID
			req.HealthCheck = &clbapi.HealthCheck{IntervalTime: common.Int64Ptr(1)}
			_, err := e.client.ModifyListener(req)
			return err
		}, "InvalidParameterValue.Range"},
		{"unknown listener", func() error {
			req := clbapi.NewDeleteListenerRequest()
			req.LoadBalancerId, req.ListenerId = &lbID, new("lbl-zzzzzzzz")
			_, err := e.client.DeleteListener(req)
			return err
		}, "InvalidParameter.ListenerIdNotFound"},
		{"describe unknown listener", func() error {
			req := clbapi.NewDescribeListenersRequest()
			req.LoadBalancerId, req.ListenerIds = &lbID, []*string{new("lbl-zzzzzzzz")}
			_, err := e.client.DescribeListeners(req)
			return err
		}, "InvalidParameter.ListenerIdNotFound"},
		{"describe 101 listeners", func() error {
			req := clbapi.NewDescribeListenersRequest()
			req.LoadBalancerId = &lbID
			for range 101 {
				req.ListenerIds = append(req.ListenerIds, &tcpID)
			}
			_, err := e.client.DescribeListeners(req)
			return err
		}, "InvalidParameterValue.Length"},
		{"rule on TCP listener", func() error {
			req := clbapi.NewCreateRuleRequest()
			req.LoadBalancerId, req.ListenerId = &lbID, &tcpID
			req.Rules = []*clbapi.RuleInput{{Domain: new("x"), Url: new("/")}}
			_, err := e.client.CreateRule(req)
			return err
		}, "InvalidParameter.ProtocolCheckFailed"},
		{"duplicate rule", func() error {
			req := clbapi.NewCreateRuleRequest()
			req.LoadBalancerId, req.ListenerId = &lbID, &httpID
			req.Rules = []*clbapi.RuleInput{{Domain: new("a.example.com"), Url: new("/")}}
			_, err := e.client.CreateRule(req)
			return err
		}, "InvalidParameterValue.Duplicate"},
		{"delete unknown rule", func() error {
			req := clbapi.NewDeleteRuleRequest()
			req.LoadBalancerId, req.ListenerId, req.LocationIds = &lbID, &httpID, []*string{new("loc-zzzzzzzz")}
			_, err := e.client.DeleteRule(req)
			return err
		}, "InvalidParameter.LocationNotFound"},
		{"modify rule health", func() error {
			req := clbapi.NewModifyRuleRequest()
			req.LoadBalancerId, req.ListenerId, req.LocationId = &lbID, &httpID, &locID
			req.HealthCheck = &clbapi.HealthCheck{HttpCheckPath: new("/healthz"), HealthSwitch: common.Int64Ptr(0)}
			_, err := e.client.ModifyRule(req)
			return err
		}, ""},
		{"delete LB with unknown ID", func() error {
			req := clbapi.NewDeleteLoadBalancerRequest()
			req.LoadBalancerIds = []*string{new("lb-zzzzzzzz")}
			_, err := e.client.DeleteLoadBalancer(req)
			return err
		}, "InvalidParameter.LBIdNotFound"},
		{"create LB without type", func() error {
			_, err := e.client.CreateLoadBalancer(clbapi.NewCreateLoadBalancerRequest())
			return err
		}, "MissingParameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.want) })
	}
}

// TestAsyncTasksLockTheLB checks Status 2 while a task runs, ResourceInOperating
// for other writes to the LB, the old state visible meanwhile, then Status 0.
func TestAsyncTasksLockTheLB(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{TaskFixed: 2 * time.Second, TaskPerTarget: time.Second}})
	lbID, listenerID := e.l4(t)
	otherLB, otherListener := e.l4(t)
	task := e.register(t, lbID, listenerID, eniTargets(3)...) // 2 s + 3 × 1 s
	if s := e.taskStatus(t, task); s != 2 {
		t.Fatalf("status %d, want 2 while running", s)
	}
	req := clbapi.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.Targets = &lbID, &listenerID, []*clbapi.Target{eni("10.9.9.9", 80)}
	_, err := e.client.RegisterTargets(req)
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	del := clbapi.NewDeleteListenerRequest()
	del.LoadBalancerId, del.ListenerId = &lbID, &listenerID
	_, err = e.client.DeleteListener(del)
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	if n := len(e.sim.Targets(lbID)); n != 0 {
		t.Fatalf("%d targets visible before the task ended", n)
	}
	e.register(t, otherLB, otherListener, eni("10.1.1.1", 80)) // another LB is not locked

	e.clock.Step(4 * time.Second)
	if s := e.taskStatus(t, task); s != 2 {
		t.Fatalf("status %d after 4 s of a 5 s task, want 2", s)
	}
	e.clock.Step(time.Second)
	if s := e.taskStatus(t, task); s != 0 {
		t.Fatalf("status %d after the task ended, want 0", s)
	}
	if n := len(e.sim.Targets(lbID)); n != 3 {
		t.Fatalf("%d targets after the task, want 3", n)
	}
	_, err = e.client.DeleteListener(del)
	must(t, err)
}

func TestTaskFailureInjection(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, listenerID := e.l4(t)
	e.sim.InjectFault(clbsim.Fault{Action: "RegisterTargets", TaskFail: true, Count: 1})
	task := e.register(t, lbID, listenerID, eni("10.0.0.1", 80))
	if s := e.taskStatus(t, task); s != 1 {
		t.Fatalf("status %d, want 1", s)
	}
	if len(e.sim.Targets(lbID)) != 0 {
		t.Fatal("a failed task applied its change")
	}
}

func TestDeleteLoadBalancer(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{TaskFixed: time.Second}})
	lbID, _ := e.l4(t)
	req := clbapi.NewDeleteLoadBalancerRequest()
	req.LoadBalancerIds = []*string{&lbID}
	resp, err := e.client.DeleteLoadBalancer(req)
	must(t, err)
	_, err = e.client.DeleteLoadBalancer(req)
	wantCode(t, err, "FailedOperation.ResourceInOperating")
	e.clock.Step(time.Second)
	if s := e.taskStatus(t, *resp.Response.RequestId); s != 0 {
		t.Fatalf("status %d", s)
	}
	_, err = e.client.DeleteLoadBalancer(req)
	wantCode(t, err, "InvalidParameter.LBIdNotFound")
}
