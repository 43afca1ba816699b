package clb

import (
	"context"
	"fmt"
	"slices"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// LoadBalancer is a CLB instance of the client's region.
type LoadBalancer struct {
	ID     string
	Name   string
	Region string
	// Type is OPEN (public) or INTERNAL.
	Type  string
	VpcID string
	VIPs  []string
	// Running is false while the instance is being created.
	Running bool
	// SnatPro is the cross-VPC binding: only with it may backends outside the load balancer's
	// VPC (a GlobalRouter cluster's pod IPs, routed to it through CCN) be registered.
	SnatPro bool
	// Tags are the load balancer's resource tags (key → value), which binding policies match.
	Tags map[string]string
}

// DescribeLoadBalancers returns the load balancers with the given IDs that
// exist in the client's region; missing ones are simply absent. It calls
// DescribeLoadBalancers once per 20 distinct IDs.
func (c *Client) DescribeLoadBalancers(ctx context.Context, ids ...string) ([]LoadBalancer, error) {
	var out []LoadBalancer
	for part := range slices.Chunk(uniqueSorted(ids), maxDescribeLoadBalancers) {
		err := eachExisting(part, func(ids []string) error {
			lbs, err := c.describeLoadBalancers(ctx, ids)
			out = append(out, lbs...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("describing load balancers %v: %w", part, err)
		}
	}
	return out, nil
}

func (c *Client) describeLoadBalancers(ctx context.Context, ids []string) ([]LoadBalancer, error) {
	req := clbapi.NewDescribeLoadBalancersRequest()
	req.LoadBalancerIds = ptrs(ids)
	req.Limit = new(int64(len(ids)))
	var resp *clbapi.DescribeLoadBalancersResponse
	err := c.do(ctx, actionDescribeLoadBalancers, func(ctx context.Context) (err error) {
		resp, err = c.api.DescribeLoadBalancersWithContext(ctx, req)
		return err
	})
	if err != nil || resp.Response == nil {
		return nil, err
	}
	out := make([]LoadBalancer, 0, len(resp.Response.LoadBalancerSet))
	for _, lb := range resp.Response.LoadBalancerSet {
		out = append(out, LoadBalancer{
			ID:      str(lb.LoadBalancerId),
			Name:    str(lb.LoadBalancerName),
			Region:  c.region,
			Type:    str(lb.LoadBalancerType),
			VpcID:   str(lb.VpcId),
			VIPs:    strs(lb.LoadBalancerVips),
			Running: lb.Status != nil && *lb.Status == 1,
			SnatPro: lb.SnatPro != nil && *lb.SnatPro,
			Tags:    tags(lb.Tags),
		})
	}
	return out, nil
}

// tags maps the API's tag list; nil when there is none.
func tags(in []*clbapi.TagInfo) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for _, t := range in {
		if t != nil && t.TagKey != nil {
			out[*t.TagKey] = str(t.TagValue)
		}
	}
	return out
}
