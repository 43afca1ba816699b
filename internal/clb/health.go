package clb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Health details reported in TargetHealth.Detail.
const (
	HealthAlive   = "Alive"
	HealthDead    = "Dead"
	HealthUnknown = "Unknown"
	// HealthClose means the check is off or the listener is stopped.
	HealthClose = "Close"
)

// The L7 listener protocols; the others (TCP, UDP, TCP_SSL, QUIC) are L4.
const (
	protocolHTTP  = "HTTP"
	protocolHTTPS = "HTTPS"
)

// TargetHealth is the cloud's health verdict on one target. Its key carries the target's IP
// whenever the cloud reports one, and also its instance ID when TargetId is an "ins-" ID, so
// both may be set: match pods by EniIP, nodes by InstanceID.
type TargetHealth struct {
	targets.Key
	// Healthy is true only for a passing check; the CLB sends traffic to a
	// target only if it is healthy and its weight is above 0.
	Healthy bool
	// Detail is HealthAlive, HealthDead, HealthUnknown or HealthClose.
	Detail string
}

// DescribeTargetHealth returns the health of every target of the given load
// balancers, keyed by load balancer ID. It calls DescribeTargetHealth once per
// 30 distinct IDs. A load balancer that does not exist is absent from the map:
// if the cloud refuses a chunk with InvalidParameter.LBIdNotFound, the chunk
// is bisected to isolate the missing ones, so one deleted load balancer does
// not hide the health of the others. On error the map holds what was read.
//
// The lists are shared with the answers of later calls that read the same (an unchanged answer
// returns the very same list): callers must not modify them.
func (c *Client) DescribeTargetHealth(ctx context.Context, lbIDs []string) (map[string][]TargetHealth, error) {
	out := map[string][]TargetHealth{}
	for part := range slices.Chunk(uniqueSorted(lbIDs), maxDescribeHealthLBs) {
		err := eachExisting(part, func(ids []string) error {
			return c.describeTargetHealth(ctx, ids, out)
		})
		if err != nil {
			return out, fmt.Errorf("describing target health of %d load balancers: %w", len(lbIDs), err)
		}
	}
	return out, nil
}

// eachExisting calls fn(ids); when fn reports a missing load balancer, it
// splits ids in halves and tries again, dropping single missing IDs.
func eachExisting(ids []string, fn func([]string) error) error {
	err := fn(ids)
	if !IsNotFoundKind(err, KindLoadBalancer) {
		return err
	}
	if len(ids) == 1 {
		return nil
	}
	mid := len(ids) / 2
	if err := eachExisting(ids[:mid], fn); err != nil {
		return err
	}
	return eachExisting(ids[mid:], fn)
}

func (c *Client) describeTargetHealth(ctx context.Context, lbIDs []string, out map[string][]TargetHealth) error {
	req := clbapi.NewDescribeTargetHealthRequest()
	req.LoadBalancerIds = ptrs(lbIDs)
	var resp slimResponse[describeTargetHealthParams]
	key := memoKey(lbIDs)
	last, remembered := c.healthMemo.lookup(key)
	if remembered {
		resp.known = &last.digest
	}
	err := c.doRead(ctx, actionDescribeTargetHealth, &resp.unchanged, func(ctx context.Context) error {
		return resp.send(ctx, c.api, req)
	})
	if err != nil {
		return err
	}
	read := last.value
	if !resp.unchanged {
		read = resp.Response.targetHealth()
		c.healthMemo.store(key, resp.digest, read)
	}
	// Not copied: a steady poll of 100,000 backends would copy them all each time. Each ID is
	// in one request, so each list is the memo's own, read-only (see DescribeTargetHealth).
	maps.Copy(out, read)
	return nil
}

// targetHealth converts a DescribeTargetHealth answer: each load balancer's targets, an empty
// list for one without targets (it exists).
func (resp *describeTargetHealthParams) targetHealth() map[string][]TargetHealth {
	out := make(map[string][]TargetHealth, len(resp.LoadBalancers))
	for _, lb := range resp.LoadBalancers {
		hs := out[lb.LoadBalancerID]
		if hs == nil {
			hs = []TargetHealth{} // present, even without targets: the LB exists
		}
		for _, l := range lb.Listeners {
			l4 := isL4(l.Protocol)
			for _, r := range l.Rules {
				loc := r.LocationID
				if l4 {
					loc = "" // L4 listeners report their targets under a rule entry too
				}
				for i := range r.Targets {
					hs = append(hs, targetHealth(l.ListenerID, loc, &r.Targets[i]))
				}
			}
		}
		out[lb.LoadBalancerID] = hs
	}
	return out
}

func targetHealth(listenerID, locationID string, t *slimTargetHealth) TargetHealth {
	h := TargetHealth{
		Key:     targets.Key{ListenerID: listenerID, LocationID: locationID, Port: t.Port},
		Healthy: t.HealthStatus,
		Detail:  t.HealthStatusDetail,
	}
	if h.Detail == "" {
		h.Detail = t.HealthStatusDetial
	}
	// Keyed by IP whenever the cloud gives one: TargetId may be the instance an ENI IP is attached
	// to, and Type may say CVM for a pod's IP, so neither tells how the target was registered.
	// An instance ID is kept beside the IP for node targets.
	h.EniIP = t.IP
	if id := t.TargetID; strings.HasPrefix(id, "ins-") {
		h.InstanceID = id
	}
	return h
}

func isL4(protocol string) bool {
	switch strings.ToUpper(protocol) {
	case protocolHTTP, protocolHTTPS:
		return false
	default:
		return true
	}
}
