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

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
)

// The seed strategy is a baseline, never part of the product: for every rule, one
// DescribeTargets (filtered to the rule), then RegisterTargets of at most 20 missing targets at a
// time, each waited with DescribeTaskStatus before the next call. It speaks the SDK directly.
type seedStrategy struct {
	api  *clbapi.Client
	poll time.Duration // real (compressed) poll interval
}

func newSeedStrategy(srv *simtest.Server, poll time.Duration) (*seedStrategy, error) {
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = srv.Endpoint
	prof.HttpProfile.Scheme = "HTTP"
	prof.HttpProfile.ReqTimeout = 60
	prof.DisableRegionBreaker = true
	api, err := clbapi.NewClient(common.NewCredential(simtest.SecretID, simtest.SecretKey), simtest.Region, prof)
	if err != nil {
		return nil, fmt.Errorf("creating the SDK client: %w", err)
	}
	return &seedStrategy{api: api, poll: poll}, nil
}

// rule is one L7 rule and the IPs it must serve.
type rule struct {
	listenerID, locationID string
	ips                    []string
}

const backendPort = 8080

// sync brings every rule to its IPs, rule by rule.
func (s *seedStrategy) sync(ctx context.Context, lbID string, rules []rule) error {
	for _, r := range rules {
		if err := s.syncRule(ctx, lbID, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *seedStrategy) syncRule(ctx context.Context, lbID string, r rule) error {
	req := clbapi.NewDescribeTargetsRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerIds = []*string{new(r.listenerID)}
	req.Filters = []*clbapi.Filter{{Name: new("location-id"), Values: []*string{new(r.locationID)}}}
	resp, err := s.api.DescribeTargetsWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("DescribeTargets: %w", err)
	}
	have := map[string]bool{}
	for _, l := range resp.Response.Listeners {
		for _, rt := range l.Rules {
			for _, b := range rt.Targets {
				if len(b.PrivateIpAddresses) > 0 {
					have[*b.PrivateIpAddresses[0]] = true
				}
			}
		}
	}
	var missing []string
	for _, ip := range r.ips {
		if !have[ip] {
			missing = append(missing, ip)
		}
	}
	for len(missing) > 0 {
		n := min(len(missing), registerLimit)
		if err := s.register(ctx, lbID, r, missing[:n]); err != nil {
			return err
		}
		missing = missing[n:]
	}
	return nil
}

func (s *seedStrategy) register(ctx context.Context, lbID string, r rule, ips []string) error {
	req := clbapi.NewRegisterTargetsRequest()
	req.LoadBalancerId, req.ListenerId, req.LocationId = new(lbID), new(r.listenerID), new(r.locationID)
	for _, ip := range ips {
		req.Targets = append(req.Targets, &clbapi.Target{EniIp: new(ip), Port: new(int64(backendPort)), Weight: new(int64(10))})
	}
	resp, err := s.api.RegisterTargetsWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("RegisterTargets: %w", err)
	}
	return s.wait(ctx, *resp.Response.RequestId)
}

// wait polls DescribeTaskStatus right away, then every poll after each answer.
func (s *seedStrategy) wait(ctx context.Context, taskID string) error {
	for {
		req := clbapi.NewDescribeTaskStatusRequest()
		req.TaskId = new(taskID)
		resp, err := s.api.DescribeTaskStatusWithContext(ctx, req)
		if err != nil {
			if sdkErr, ok := errors.AsType[*tcerr.TencentCloudSDKError](err); ok && sdkErr.Code == "RequestLimitExceeded" {
				continue
			}
			return fmt.Errorf("DescribeTaskStatus: %w", err)
		}
		switch *resp.Response.Status {
		case 0:
			return nil
		case 1:
			return fmt.Errorf("task %s failed", taskID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.poll):
		}
	}
}

// baselineResult is one run of the seed strategy.
type baselineResult struct {
	Ran       bool          // re-run here; else only the analytic figures are known
	Wall      time.Duration // model time (measured × factor)
	Predicted time.Duration // analytic model time
	Calls     callCounts
	// PredWrites and PredReads are the analytic call counts.
	PredWrites, PredReads int
}

// runBaseline builds the row's starting state in a fresh load balancer of srv (without latency),
// then times the seed strategy under the model compressed by factor.
func runBaseline(ctx context.Context, srv *simtest.Server, m Model, r row, factor float64) (baselineResult, error) {
	sim := srv.Sim
	sim.SetLatency(clbsim.DefaultBusy())
	sim.SetQPS("", -1)
	lbID := sim.AddLoadBalancer(fmt.Sprintf("seed-%d-%d-%d", r.Table, r.Rules, r.Nodes))
	lisID := sim.AddListener(lbID, "HTTP", 80)
	rules := make([]rule, r.Rules)
	for i := range rules {
		rules[i] = rule{listenerID: lisID, locationID: sim.AddRule(lbID, lisID, fmt.Sprintf("r%d.example.com", i), "/"), ips: nodeIPs(r.Nodes)}
	}
	// The starting state: FromRules rules with FromNodes nodes each.
	fast, err := newSeedStrategy(srv, 0)
	if err != nil {
		return baselineResult{}, err
	}
	start := make([]rule, r.FromRules)
	for i := range start {
		start[i] = rules[i]
		start[i].ips = nodeIPs(r.FromNodes)
	}
	if err := fast.sync(ctx, lbID, start); err != nil {
		return baselineResult{}, fmt.Errorf("building the starting state: %w", err)
	}

	s, err := newSeedStrategy(srv, compress(m.Poll, factor))
	if err != nil {
		return baselineResult{}, err
	}
	sim.SetLatency(m.simLatency(false, factor))
	// The cloud's 20 QPS per action, in model time.
	sim.SetQPS("", 20*factor)
	before := sim.Calls()
	t0 := time.Now()
	if err := s.sync(ctx, lbID, rules); err != nil {
		return baselineResult{}, err
	}
	wall := time.Since(t0)
	calls := diffCalls(before, sim.Calls())
	sim.SetLatency(clbsim.DefaultBusy())
	if got, want := len(sim.Targets(lbID)), r.Rules*r.Nodes; got != want {
		return baselineResult{}, fmt.Errorf("seed strategy left %d targets, want %d", got, want)
	}
	return baselineResult{Ran: true, Wall: time.Duration(float64(wall) * factor), Predicted: m.seedPredict(r), Calls: calls}, nil
}

// nodeIPs are the pod IPs of n "nodes": data only, never dialled.
func nodeIPs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d", (i+1)/256, (i+1)%256)
	}
	return out
}

// callCounts are API calls by action (every result, errors included) and errors by action.
type callCounts struct {
	ByAction map[string]int
	Errors   map[string]int
}

var (
	writeActions = []string{"BatchRegisterTargets", "BatchDeregisterTargets", "BatchModifyTargetWeight", "BatchModifyTargetTag",
		"RegisterTargets", "DeregisterTargets", "ModifyTargetWeight"}
	// syncReadActions are the reads of a sync; DescribeTargetHealth (the health poller's) is
	// counted apart.
	syncReadActions = []string{"DescribeTargets", "DescribeListeners", "DescribeTaskStatus", "DescribeLoadBalancers", "DescribeQuota"}
)

func (c callCounts) sum(actions []string) int {
	n := 0
	for _, a := range actions {
		n += c.ByAction[a]
	}
	return n
}

func (c callCounts) writes() int { return c.sum(writeActions) }
func (c callCounts) reads() int  { return c.sum(syncReadActions) }

// busy counts the writes the load balancer answered FailedOperation.ResourceInOperating: a
// writer that waits out the busy time after its own batch calls meets none.
func (c callCounts) busy() int {
	n := 0
	for _, a := range writeActions {
		n += c.Errors[a+"/FailedOperation.ResourceInOperating"]
	}
	return n
}

func diffCalls(before, after map[string]map[string]int) callCounts {
	out := callCounts{ByAction: map[string]int{}, Errors: map[string]int{}}
	for action, results := range after {
		for result, n := range results {
			d := n - before[action][result]
			if d == 0 {
				continue
			}
			out.ByAction[action] += d
			if result != "OK" {
				out.Errors[action+"/"+result] += d
			}
		}
	}
	return out
}
