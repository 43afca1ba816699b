package clbsim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// message returns the API error message of err.
func message(t *testing.T, err error) string {
	t.Helper()
	sdkErr, ok := errors.AsType[*sdkerrors.TencentCloudSDKError](err)
	if !ok {
		t.Fatalf("not an API error: %v", err)
	}
	return sdkErr.GetMessage()
}

func wantMessageHas(t *testing.T, err error, parts ...string) {
	t.Helper()
	msg := message(t, err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Fatalf("message %q lacks %q", msg, p)
		}
	}
}

func (e *env) batchRegister(lbID string, targets ...*clbapi.BatchTarget) (*clbapi.BatchRegisterTargetsResponse, error) {
	req := clbapi.NewBatchRegisterTargetsRequest()
	req.LoadBalancerId, req.Targets = &lbID, targets
	return e.client.BatchRegisterTargets(req)
}

func (e *env) batchDeregister(lbID string, targets ...*clbapi.BatchTarget) (*clbapi.BatchDeregisterTargetsResponse, error) {
	req := clbapi.NewBatchDeregisterTargetsRequest()
	req.LoadBalancerId, req.Targets = &lbID, targets
	return e.client.BatchDeregisterTargets(req)
}

func (e *env) modifyTags(lbID string, rules ...*clbapi.RsTagRule) (*clbapi.BatchModifyTargetTagResponse, error) {
	req := clbapi.NewBatchModifyTargetTagRequest()
	req.LoadBalancerId, req.ModifyList = &lbID, rules
	return e.client.BatchModifyTargetTag(req)
}

func TestDeregisterUnboundFailsWholeRequest(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	bound := batchEni(tcpID, "10.0.0.1", 80)
	onRule := batchEni(httpID, "10.0.0.2", 80)
	onRule.LocationId = &locID
	_, err := e.batchRegister(lbID, bound, onRule)
	must(t, err)

	unboundIP := batchEni(tcpID, "10.0.0.9", 80)
	unboundRule := batchEni(httpID, "10.0.0.1", 80)
	unboundRule.LocationId = &locID
	unboundIns := &clbapi.BatchTarget{ListenerId: &tcpID, InstanceId: new("ins-abcdefgh"), Port: common.Int64Ptr(80)}
	_, err = e.batchDeregister(lbID, bound, unboundIP, unboundRule, unboundIns)
	wantCode(t, err, "InvalidParameter")
	wantMessageHas(t, err, "10.0.0.9:80 is not bound to listener "+tcpID, "10.0.0.1:80 is not bound to rule "+locID+" of listener "+httpID,
		"ins-abcdefgh:80 is not bound to listener "+tcpID)
	if n := len(e.sim.Targets(lbID)); n != 2 {
		t.Fatalf("a refused BatchDeregisterTargets applied: %d targets left, want 2", n)
	}

	dr := clbapi.NewDeregisterTargetsRequest()
	dr.LoadBalancerId, dr.ListenerId, dr.Targets = &lbID, &tcpID, []*clbapi.Target{eni("10.0.0.1", 80), eni("10.0.0.9", 80)}
	_, err = e.client.DeregisterTargets(dr)
	wantCode(t, err, "InvalidParameter")
	wantMessageHas(t, err, "10.0.0.9:80 is not bound to listener "+tcpID)
	if n := len(e.sim.Targets(lbID)); n != 2 {
		t.Fatalf("a refused DeregisterTargets applied: %d targets left, want 2", n)
	}

	// Deregistering twice: the second call finds nothing bound.
	_, err = e.batchDeregister(lbID, bound, onRule)
	must(t, err)
	_, err = e.batchDeregister(lbID, bound)
	wantCode(t, err, "InvalidParameter")
}

func TestBusyAfterSynchronousBatch(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{BusyFixed: time.Second, BusyPerTarget: 10 * time.Millisecond}})
	lbID, tcpID := e.l4(t)
	otherLB, otherListener := e.l4(t)
	resp, err := e.batchRegister(lbID, batchOf(tcpID, 3)...)
	must(t, err)
	taskID := *resp.Response.RequestId
	// The change is applied before the answer; the LB stays busy for 1 s + 3×10 ms.
	if n := len(e.sim.Targets(lbID)); n != 3 {
		t.Fatalf("%d targets right after the batch, want 3", n)
	}
	if !e.sim.Busy(lbID) || e.taskStatus(t, taskID) != 2 {
		t.Fatal("the LB is not busy after the batch")
	}
	state, err := e.sim.DumpState()
	must(t, err)
	if !strings.Contains(string(state), `"BusyTask": "`+taskID+`"`) {
		t.Fatalf("the state dump does not show the busy task:\n%s", state)
	}
	writes := map[string]func() error{
		"RegisterTargets": func() error {
			req := clbapi.NewRegisterTargetsRequest()
			req.LoadBalancerId, req.ListenerId, req.Targets = &lbID, &tcpID, []*clbapi.Target{eni("10.9.0.1", 80)}
			_, err := e.client.RegisterTargets(req)
			return err
		},
		"BatchDeregisterTargets": func() error { _, err := e.batchDeregister(lbID, batchOf(tcpID, 1)...); return err },
		"DeleteListener": func() error {
			req := clbapi.NewDeleteListenerRequest()
			req.LoadBalancerId, req.ListenerId = &lbID, &tcpID
			_, err := e.client.DeleteListener(req)
			return err
		},
	}
	for name, write := range writes {
		if got := code(write()); got != "FailedOperation.ResourceInOperating" {
			t.Fatalf("%s on a busy LB: %q, want FailedOperation.ResourceInOperating", name, got)
		}
	}
	// Reads and other load balancers are not held.
	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	_, err = e.client.DescribeTargets(dt)
	must(t, err)
	_, err = e.batchRegister(otherLB, batchOf(otherListener, 1)...)
	must(t, err)

	e.clock.Step(time.Second)
	if !e.sim.Busy(lbID) || e.taskStatus(t, taskID) != 2 {
		t.Fatal("the LB was freed before BusyFixed + 3×BusyPerTarget")
	}
	e.clock.Step(30 * time.Millisecond)
	if e.sim.Busy(lbID) || e.taskStatus(t, taskID) != 0 {
		t.Fatal("the LB is still busy after its busy time")
	}

	// BatchDeregisterTargets and BatchModifyTargetTag leave the LB busy too.
	dresp, err := e.batchDeregister(lbID, batchOf(tcpID, 1)...)
	must(t, err)
	wantCode(t, writes["RegisterTargets"](), "FailedOperation.ResourceInOperating")
	if e.taskStatus(t, *dresp.Response.RequestId) != 2 {
		t.Fatal("BatchDeregisterTargets' task is not running during its busy time")
	}
	e.clock.Step(time.Second + 10*time.Millisecond)
	tresp, err := e.modifyTags(lbID, &clbapi.RsTagRule{ListenerId: &tcpID, Tag: new("x"), Targets: []*clbapi.Target{eni(ipN(1), 8080)}})
	must(t, err)
	wantCode(t, writes["RegisterTargets"](), "FailedOperation.ResourceInOperating")
	e.clock.Step(time.Second + 10*time.Millisecond)
	must(t, writes["RegisterTargets"]())
	if e.taskStatus(t, *tresp.Response.RequestId) != 0 {
		t.Fatal("BatchModifyTargetTag's task did not end")
	}
}

func TestBusyAfterBatchSync(t *testing.T) {
	e := newEnv(t, clbsim.Options{Latency: clbsim.Latency{BatchSync: true, TaskFixed: time.Second, BusyFixed: time.Second}})
	lbID, tcpID := e.l4(t)
	done := make(chan *clbapi.BatchRegisterTargetsResponse, 1)
	go func() {
		resp, err := e.batchRegister(lbID, batchOf(tcpID, 3)...)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	eventually(t, "the batch to hold the LB", e.clock.HasWaiters)
	e.clock.Step(time.Second)
	resp := <-done
	if len(e.sim.Targets(lbID)) != 3 || !e.sim.Busy(lbID) || e.taskStatus(t, *resp.Response.RequestId) != 2 {
		t.Fatal("the LB is not busy after a BatchSync batch")
	}
	e.clock.Step(time.Second)
	if e.sim.Busy(lbID) || e.taskStatus(t, *resp.Response.RequestId) != 0 {
		t.Fatal("the LB is still busy after its busy time")
	}
}

func TestDefaultBusy(t *testing.T) {
	l := clbsim.DefaultBusy()
	if l.BusyFixed+500*l.BusyPerTarget != 600*time.Millisecond || l != (clbsim.Latency{BusyFixed: clbsim.DefaultBusyFixed, BusyPerTarget: clbsim.DefaultBusyPerTarget}) {
		t.Fatalf("DefaultBusy = %+v, want 0.6 s for 500 targets and nothing else", l)
	}
}

// eniIPToken is how a client finds the refused addresses in the message.
var eniIPToken = regexp.MustCompile(`EniIp (\S+) `)

func refusedIPs(t *testing.T, err error) []string {
	t.Helper()
	matches := eniIPToken.FindAllStringSubmatch(message(t, err), -1)
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

func TestUnreachableEniIpRefused(t *testing.T) {
	e := newEnv(t, clbsim.Options{VpcID: "vpc-abc", VPCCIDRs: map[string][]netip.Prefix{"vpc-abc": {netip.MustParsePrefix("10.0.0.0/16")}}})
	lbID, tcpID := e.l4(t)
	targets := []*clbapi.BatchTarget{
		batchEni(tcpID, "10.0.0.5", 80), batchEni(tcpID, "172.20.0.5", 80), batchEni(tcpID, "172.20.0.6", 80),
		batchEni(tcpID, "172.20.0.6", 81), batchEni(tcpID, "10.1.0.1", 80),
		{ListenerId: &tcpID, InstanceId: new("ins-abcdefgh"), Port: common.Int64Ptr(80)}, // not checked
	}
	_, err := e.batchRegister(lbID, targets...)
	wantCode(t, err, "InvalidParameterValue")
	if got := refusedIPs(t, err); !slices.Equal(got, []string{"10.1.0.1", "172.20.0.5", "172.20.0.6"}) {
		t.Fatalf("refused %v in %q", got, message(t, err))
	}
	wantMessageHas(t, err, "EniIp 172.20.0.5 is not in VPC vpc-abc (10.0.0.0/16) of load balancer "+lbID+
		", and the load balancer has no cross-VPC binding (SnatPro) with a route to it")
	reg := clbapi.NewRegisterTargetsRequest()
	reg.LoadBalancerId, reg.ListenerId, reg.Targets = &lbID, &tcpID, []*clbapi.Target{eni("10.0.0.5", 80), eni("172.20.0.5", 80)}
	_, err = e.client.RegisterTargets(reg)
	wantCode(t, err, "InvalidParameterValue")
	if got := refusedIPs(t, err); !slices.Equal(got, []string{"172.20.0.5"}) {
		t.Fatalf("refused %v", got)
	}
	if n := len(e.sim.Targets(lbID)); n != 0 {
		t.Fatalf("a refused register applied %d targets", n)
	}

	// A route without SnatPro is not enough; with it, routed addresses bind.
	routed := []netip.Prefix{netip.MustParsePrefix("172.20.0.0/16")}
	must(t, e.sim.SetCrossVPC(lbID, false, routed))
	_, err = e.client.RegisterTargets(reg)
	wantCode(t, err, "InvalidParameterValue")
	must(t, e.sim.SetCrossVPC(lbID, true, routed))
	_, err = e.batchRegister(lbID, targets...)
	wantCode(t, err, "InvalidParameterValue")
	wantMessageHas(t, err, "EniIp 10.1.0.1 is not in VPC vpc-abc", "(routed: 172.20.0.0/16)")
	_, err = e.batchRegister(lbID, slices.Delete(slices.Clone(targets), 4, 5)...)
	must(t, err)
	if err := e.sim.SetCrossVPC("lb-zzzzzzzz", true, nil); err == nil {
		t.Fatal("SetCrossVPC accepted an unknown load balancer")
	}

	dl := clbapi.NewDescribeLoadBalancersRequest()
	dl.LoadBalancerIds = []*string{&lbID}
	resp, err := e.client.DescribeLoadBalancers(dl)
	must(t, err)
	if lb := resp.Response.LoadBalancerSet[0]; lb.SnatPro == nil || !*lb.SnatPro {
		t.Fatalf("DescribeLoadBalancers = %s, want SnatPro true", resp.ToJsonString())
	}

	// A VPC without configured CIDRs has the RFC 1918 ranges.
	plain := e.sim.AddLoadBalancerInVPC("plain", "vpc-plain")
	plainL := e.sim.AddListener(plain, "TCP", 80)
	_, err = e.batchRegister(plain, batchEni(plainL, "10.200.0.1", 80), batchEni(plainL, "172.31.0.1", 80), batchEni(plainL, "192.168.1.1", 80))
	must(t, err)
	_, err = e.batchRegister(plain, batchEni(plainL, "198.18.0.1", 80))
	wantCode(t, err, "InvalidParameterValue")
	e.sim.SetVPCCIDRs("vpc-plain", append(clbsim.DefaultVPCCIDRs(), netip.MustParsePrefix("198.18.0.0/15")))
	_, err = e.batchRegister(plain, batchEni(plainL, "198.18.0.1", 80))
	must(t, err)
}

func TestQuotaPerListenerAndRule(t *testing.T) {
	e := newEnv(t, clbsim.Options{MaxTargetsPerRule: 3})
	lbID, tcpA := e.l4(t)
	tcpB := e.sim.AddListener(lbID, "TCP", 81)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locA := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	locB := e.sim.AddRule(lbID, httpID, "b.example.com", "/")
	onRule := func(loc string, n int) []*clbapi.BatchTarget {
		out := batchOf(httpID, n)
		for _, t := range out {
			t.LocationId = &loc
		}
		return out
	}
	// Three per listener and per rule: 12 on the LB, within the quota.
	_, err := e.batchRegister(lbID, slices.Concat(batchOf(tcpA, 3), batchOf(tcpB, 3), onRule(locA, 3), onRule(locB, 3))...)
	must(t, err)
	_, err = e.batchRegister(lbID, batchEni(tcpB, "10.9.0.1", 80))
	wantCode(t, err, "LimitExceeded")
	wantMessageHas(t, err, "listener "+tcpB+" would have 4 targets", "TOTAL_TARGET_BIND_QUOTA) is 3")
	reg := clbapi.NewRegisterTargetsRequest()
	reg.LoadBalancerId, reg.ListenerId, reg.LocationId, reg.Targets = &lbID, &httpID, &locB, []*clbapi.Target{eni("10.9.0.1", 80)}
	_, err = e.client.RegisterTargets(reg)
	wantCode(t, err, "LimitExceeded")
	wantMessageHas(t, err, "rule "+locB+" of listener "+httpID+" would have 4 targets")
	// Re-registering bound targets adds nothing.
	_, err = e.batchRegister(lbID, batchOf(tcpA, 3)...)
	must(t, err)
	if n := len(e.sim.Targets(lbID)); n != 12 {
		t.Fatalf("%d targets, want 12", n)
	}

	resp, err := e.client.DescribeQuota(clbapi.NewDescribeQuotaRequest())
	must(t, err)
	quotas := map[string]*clbapi.Quota{}
	for _, q := range resp.Response.QuotaSet {
		quotas[*q.QuotaId] = q
	}
	bind := quotas["TOTAL_TARGET_BIND_QUOTA"]
	if bind == nil || *bind.QuotaLimit != 3 || bind.QuotaCurrent != nil {
		t.Fatalf("DescribeQuota = %s, want TOTAL_TARGET_BIND_QUOTA 3 with QuotaCurrent null", resp.ToJsonString())
	}
	internal := quotas["TOTAL_INTERNAL_CLB_QUOTA"]
	if internal == nil || internal.QuotaCurrent == nil || *internal.QuotaCurrent != 1 {
		t.Fatalf("DescribeQuota = %s, want 1 internal load balancer in use", resp.ToJsonString())
	}
	for _, id := range []string{"TOTAL_OPEN_CLB_QUOTA", "TOTAL_LISTENER_QUOTA", "TOTAL_LISTENER_RULE_QUOTA"} {
		if quotas[id] == nil || *quotas[id].QuotaLimit <= 0 {
			t.Fatalf("DescribeQuota lacks %s: %s", id, resp.ToJsonString())
		}
	}
	if clbsim.IsWrite("DescribeQuota") || !clbsim.IsWrite("BatchModifyTargetTag") {
		t.Fatal("IsWrite misfiles DescribeQuota or BatchModifyTargetTag")
	}
}

// describeBackends returns the backends of the LB's first listener.
func (e *env) describeBackends(t *testing.T, lbID string) []*clbapi.Backend {
	t.Helper()
	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	resp, err := e.client.DescribeTargets(dt)
	must(t, err)
	return resp.Response.Listeners[0].Targets
}

// healthRule returns the one health rule of the LB's first listener.
func (e *env) healthRule(t *testing.T, lbID string) *clbapi.RuleHealth {
	t.Helper()
	dh := clbapi.NewDescribeTargetHealthRequest()
	dh.LoadBalancerIds = []*string{&lbID}
	resp, err := e.client.DescribeTargetHealth(dh)
	must(t, err)
	rules := resp.Response.LoadBalancers[0].Listeners[0].Rules
	if len(rules) != 1 {
		t.Fatalf("DescribeTargetHealth = %s, want one rule", resp.ToJsonString())
	}
	return rules[0]
}

func TestTargetShape(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	_, err := e.batchRegister(lbID, batchEni(tcpID, "10.0.0.1", 80),
		&clbapi.BatchTarget{ListenerId: &tcpID, InstanceId: new("ins-abcdefgh"), Port: common.Int64Ptr(80)})
	must(t, err)
	byIP := func(list []*clbapi.Backend) (eniB, cvmB *clbapi.Backend) {
		for _, b := range list {
			if len(b.PrivateIpAddresses) > 0 {
				eniB = b
			} else {
				cvmB = b
			}
		}
		return eniB, cvmB
	}

	// The plain shape; an L4 listener's health rule still has a LocationId.
	eniB, cvmB := byIP(e.describeBackends(t, lbID))
	if *eniB.Type != "ENI" || deref(eniB.InstanceId) != "" || *cvmB.Type != "CVM" || *cvmB.InstanceId != "ins-abcdefgh" {
		t.Fatalf("plain shape: %+v %+v", eniB, cvmB)
	}
	rule := e.healthRule(t, lbID)
	if rule.LocationId == nil || !locationIDPattern.MatchString(*rule.LocationId) || rule.Domain != nil || rule.Url != nil {
		t.Fatalf("L4 health rule %+v: want a loc- LocationId and no Domain or Url", rule)
	}
	if again := e.healthRule(t, lbID); *again.LocationId != *rule.LocationId {
		t.Fatal("the L4 LocationId is not stable")
	}
	ids := map[string]bool{}
	for _, th := range rule.Targets {
		ids[*th.TargetId] = true
	}
	if !ids["10.0.0.1"] || !ids["ins-abcdefgh"] {
		t.Fatalf("plain TargetIds %v", ids)
	}

	// The hostile shape: a pod IP reported as a cvm backend with an instance ID.
	e.sim.SetTargetShape(clbsim.TargetShape{ENIType: "cvm", CVMType: "cvm", ENITargetID: "instance"})
	eniB, cvmB = byIP(e.describeBackends(t, lbID))
	fake := deref(eniB.InstanceId)
	if *eniB.Type != "cvm" || !regexp.MustCompile(`^ins-[a-z0-9]{8}$`).MatchString(fake) || *eniB.PrivateIpAddresses[0] != "10.0.0.1" ||
		*cvmB.Type != "cvm" || *cvmB.InstanceId != "ins-abcdefgh" {
		t.Fatalf("hostile shape: %+v %+v", eniB, cvmB)
	}
	ids = map[string]bool{}
	for _, th := range e.healthRule(t, lbID).Targets {
		ids[*th.TargetId+"@"+*th.IP] = true
	}
	if !ids[fake+"@10.0.0.1"] {
		t.Fatalf("TargetIds %v, want %s for 10.0.0.1", ids, fake)
	}

	// GLOBALROUTE keeps the IP as TargetId and no InstanceId.
	e.sim.SetTargetShape(clbsim.TargetShape{ENIType: "GLOBALROUTE"})
	if eniB, _ = byIP(e.describeBackends(t, lbID)); *eniB.Type != "GLOBALROUTE" || deref(eniB.InstanceId) != "" {
		t.Fatalf("GLOBALROUTE shape: %+v", eniB)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestDescribeTargetsLeavesOutUnknownListeners(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	emptyID := e.sim.AddListener(lbID, "TCP", 81)
	e.register(t, lbID, tcpID, eni("10.0.0.1", 80))
	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId, dt.ListenerIds = &lbID, []*string{&tcpID, &emptyID, new("lbl-zzzzzzzz")}
	resp, err := e.client.DescribeTargets(dt)
	must(t, err)
	got := map[string]int{}
	for _, l := range resp.Response.Listeners {
		got[*l.ListenerId] = len(l.Targets)
	}
	if len(got) != 2 || got[tcpID] != 1 || got[emptyID] != 0 {
		t.Fatalf("DescribeTargets = %s, want %s with 1 target and %s with none", resp.ToJsonString(), tcpID, emptyID)
	}
	dt.ListenerIds = []*string{new("lbl-zzzzzzzz")}
	resp, err = e.client.DescribeTargets(dt)
	must(t, err)
	if len(resp.Response.Listeners) != 0 {
		t.Fatalf("DescribeTargets of an unknown listener = %s", resp.ToJsonString())
	}
	dt.ListenerIds = []*string{new("listener-1")}
	_, err = e.client.DescribeTargets(dt)
	wantCode(t, err, "InvalidParameter.FormatError")
	// Writes still name the missing listener.
	reg := clbapi.NewRegisterTargetsRequest()
	reg.LoadBalancerId, reg.ListenerId, reg.Targets = &lbID, new("lbl-zzzzzzzz"), eniTargets(1)
	_, err = e.client.RegisterTargets(reg)
	wantCode(t, err, "InvalidParameter.ListenerIdNotFound")
}

func TestBatchModifyTargetTag(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	onRule := batchEni(httpID, "10.0.1.1", 80)
	onRule.LocationId = &locID
	onRule.Tag = new("old")
	_, err := e.batchRegister(lbID, batchEni(tcpID, "10.0.0.1", 80), batchEni(tcpID, "10.0.0.2", 80), onRule)
	must(t, err)

	tagged := eni("10.0.0.2", 80)
	tagged.Tag = new("own")
	_, err = e.modifyTags(lbID,
		&clbapi.RsTagRule{ListenerId: &tcpID, Tag: new("rule"), Targets: []*clbapi.Target{eni("10.0.0.1", 80), tagged}},
		&clbapi.RsTagRule{ListenerId: &httpID, LocationId: &locID, Tag: new("new"), Targets: []*clbapi.Target{eni("10.0.1.1", 80)}})
	must(t, err)
	tags := map[string]string{}
	for _, tg := range e.sim.Targets(lbID) {
		tags[tg.EniIP] = tg.Tag
	}
	if tags["10.0.0.1"] != "rule" || tags["10.0.0.2"] != "own" || tags["10.0.1.1"] != "new" {
		t.Fatalf("tags %v: want Target.Tag over RsTagRule.Tag", tags)
	}

	cases := []struct {
		name  string
		rules []*clbapi.RsTagRule
		want  string
	}{
		{"unbound target", []*clbapi.RsTagRule{{ListenerId: &tcpID, Tag: new("x"), Targets: []*clbapi.Target{eni("10.0.0.1", 80), eni("10.0.0.9", 80)}}}, "InvalidParameter"},
		{"no list", nil, "MissingParameter"},
		{"no targets", []*clbapi.RsTagRule{{ListenerId: &tcpID, Tag: new("x")}}, "MissingParameter"},
		{"no tag", []*clbapi.RsTagRule{{ListenerId: &tcpID, Targets: []*clbapi.Target{eni("10.0.0.1", 80)}}}, "MissingParameter"},
		{"L7 without LocationId", []*clbapi.RsTagRule{{ListenerId: &httpID, Tag: new("x"), Targets: []*clbapi.Target{eni("10.0.1.1", 80)}}}, "MissingParameter"},
		{"unknown listener", []*clbapi.RsTagRule{{ListenerId: new("lbl-zzzzzzzz"), Tag: new("x"), Targets: eniTargets(1)}}, "InvalidParameter.ListenerIdNotFound"},
		{"501 targets", []*clbapi.RsTagRule{{ListenerId: &tcpID, Tag: new("x"), Targets: eniTargets(501)}}, "InvalidParameterValue.Length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.modifyTags(lbID, tc.rules...)
			wantCode(t, err, tc.want)
		})
	}
	_, err = e.modifyTags(lbID, cases[0].rules...)
	wantMessageHas(t, err, "10.0.0.9:80 is not bound to listener "+tcpID)
	for _, tg := range e.sim.Targets(lbID) {
		if tg.EniIP == "10.0.0.1" && tg.Tag != "rule" {
			t.Fatalf("a refused BatchModifyTargetTag applied: %+v", tg)
		}
	}

	dt := clbapi.NewDescribeTargetsRequest()
	dt.LoadBalancerId = &lbID
	dt.Filters = []*clbapi.Filter{{Name: new("tag"), Values: common.StringPtrs([]string{"new"})}}
	resp, err := e.client.DescribeTargets(dt)
	must(t, err)
	for _, l := range resp.Response.Listeners {
		n := len(l.Targets)
		for _, r := range l.Rules {
			n += len(r.Targets)
		}
		if (*l.ListenerId == httpID) != (n == 1) {
			t.Fatalf("tag filter after re-tagging: %s", resp.ToJsonString())
		}
	}
}

func TestRemoveBackendsOutOfBand(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	httpID := e.sim.AddListener(lbID, "HTTP", 8080)
	locID := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	onRule := batchEni(httpID, "10.0.0.1", 80)
	onRule.LocationId = &locID
	_, err := e.batchRegister(lbID, batchEni(tcpID, "10.0.0.1", 80), batchEni(tcpID, "10.0.0.2", 80), onRule)
	must(t, err)
	if n := e.sim.RemoveBackends(lbID, func(tg clbsim.Target) bool { return tg.EniIP == "10.0.0.1" }); n != 2 {
		t.Fatalf("RemoveBackends removed %d, want 2", n)
	}
	if got := e.sim.Targets(lbID); len(got) != 1 || got[0].EniIP != "10.0.0.2" {
		t.Fatalf("Targets after RemoveBackends = %+v", got)
	}
	// A controller with a stale view now meets the unbound-target error.
	_, err = e.batchDeregister(lbID, batchEni(tcpID, "10.0.0.1", 80))
	wantCode(t, err, "InvalidParameter")
	if n := e.sim.RemoveBackends("lb-zzzzzzzz", func(clbsim.Target) bool { return true }); n != 0 {
		t.Fatalf("RemoveBackends on an unknown LB removed %d", n)
	}
}

// TestChangeAndAddBackendsOutOfBand: the console-user helpers change what the API then reports,
// and AddBackend refuses what the CLB refuses (a backend bound twice, a listener that is gone).
func TestChangeAndAddBackendsOutOfBand(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, tcpID := e.l4(t)
	_, err := e.batchRegister(lbID, batchEni(tcpID, "10.0.0.1", 80))
	must(t, err)
	if n := e.sim.ChangeBackends(lbID, func(tg clbsim.Target) bool { return tg.EniIP == "10.0.0.1" },
		func(tg *clbsim.Target) { tg.Weight, tg.Tag, tg.EniIP = 55, "hand-edited", "10.9.9.9" }); n != 1 {
		t.Fatalf("ChangeBackends changed %d, want 1", n)
	}
	foreign := clbsim.Target{ListenerID: tcpID, EniIP: "10.0.0.7", Port: 9000, Weight: 10, Tag: "someone-else"}
	if !e.sim.AddBackend(lbID, foreign) {
		t.Fatal("AddBackend refused a new backend")
	}
	if e.sim.AddBackend(lbID, foreign) {
		t.Fatal("AddBackend bound the same backend twice")
	}
	if e.sim.AddBackend(lbID, clbsim.Target{ListenerID: "lbl-zzzzzzzz", EniIP: "10.0.0.8", Port: 80}) {
		t.Fatal("AddBackend bound a backend on a listener that does not exist")
	}
	got := e.sim.Targets(lbID)
	want := []clbsim.Target{
		{ListenerID: tcpID, Type: "ENI", EniIP: "10.0.0.1", Port: 80, Weight: 55, Tag: "hand-edited"}, // only weight and tag change
		{ListenerID: tcpID, Type: "ENI", EniIP: "10.0.0.7", Port: 9000, Weight: 10, Tag: "someone-else"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Targets = %+v, want %+v", got, want)
	}
}

func TestAdminRefusalKnobs(t *testing.T) {
	e := newEnv(t, clbsim.Options{VpcID: "vpc-adm"})
	admin := httptest.NewServer(e.sim.AdminHandler())
	t.Cleanup(admin.Close)
	lbID, tcpID := e.l4(t)

	if status, out := adminDo(t, admin, http.MethodPut, "/vpcs/vpc-adm", `["10.0.0.0/16"]`); status != http.StatusOK {
		t.Fatalf("PUT /vpcs: %d %s", status, out)
	}
	_, err := e.batchRegister(lbID, batchEni(tcpID, "10.1.0.1", 80))
	wantCode(t, err, "InvalidParameterValue")
	if status, _ := adminDo(t, admin, http.MethodPut, "/vpcs/vpc-adm", `["10.0.0.0/33"]`); status != http.StatusBadRequest {
		t.Fatalf("a bad CIDR was accepted: %d", status)
	}
	if status, out := adminDo(t, admin, http.MethodPut, "/loadbalancers/"+lbID+"/crossvpc", `{"SnatPro":true,"Routed":["10.1.0.0/16"]}`); status != http.StatusOK {
		t.Fatalf("PUT crossvpc: %d %s", status, out)
	}
	_, err = e.batchRegister(lbID, batchEni(tcpID, "10.1.0.1", 80))
	must(t, err)
	if status, _ := adminDo(t, admin, http.MethodPut, "/loadbalancers/lb-zzzzzzzz/crossvpc", `{"SnatPro":true}`); status != http.StatusBadRequest {
		t.Fatalf("crossvpc of an unknown LB: %d", status)
	}
	e.clock.Step(time.Second)

	if status, out := adminDo(t, admin, http.MethodPut, "/targetshape", `{"ENIType":"CVM","ENITargetID":"instance"}`); status != http.StatusOK {
		t.Fatalf("PUT /targetshape: %d %s", status, out)
	}
	if b := e.describeBackends(t, lbID); *b[0].Type != "CVM" || deref(b[0].InstanceId) == "" {
		t.Fatalf("shape not applied: %+v", b[0])
	}
	if status, _ := adminDo(t, admin, http.MethodPut, "/targetshape", `{"ENITargetID":"mac"}`); status != http.StatusBadRequest {
		t.Fatalf("a bad ENITargetID was accepted: %d", status)
	}

	if status, out := adminDo(t, admin, http.MethodPut, "/latency", `{"BusyFixed":2000000000,"BusyPerTarget":1000000}`); status != http.StatusOK {
		t.Fatalf("PUT /latency: %d %s", status, out)
	}
	_, err = e.batchDeregister(lbID, batchEni(tcpID, "10.1.0.1", 80))
	must(t, err)
	if !e.sim.Busy(lbID) {
		t.Fatal("PUT /latency did not set the busy time")
	}
	_, state := adminDo(t, admin, http.MethodGet, "/state", "")
	var dump struct {
		VPCCIDRs      map[string][]string `json:"vpcCIDRs"`
		LoadBalancers []struct {
			BusyTask string
			SnatPro  bool
			Routed   []string
		}
	}
	must(t, json.Unmarshal([]byte(state), &dump))
	if lb := dump.LoadBalancers[0]; lb.BusyTask == "" || !lb.SnatPro || len(lb.Routed) != 1 || len(dump.VPCCIDRs["vpc-adm"]) != 1 {
		t.Fatalf("state = %s", state)
	}
	e.clock.Step(2*time.Second + time.Millisecond)
	if e.sim.Busy(lbID) {
		t.Fatal("still busy after 2 s + 1 ms")
	}
}
