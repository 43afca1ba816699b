package clb

import (
	"context"
	"errors"
	"fmt"
	"slices"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Listener is a CLB listener.
type Listener struct {
	ID       string
	Name     string
	Protocol string // TCP | UDP | TCP_SSL | QUIC | HTTP | HTTPS
	Port     int64
	// Rules are the L7 rules (HTTP/HTTPS only).
	Rules []Rule
	// HealthCheck is the listener's check (L4 only; L7 checks are per rule).
	HealthCheck *HealthCheck
}

// Rule is an L7 forwarding rule of an HTTP/HTTPS listener.
type Rule struct {
	LocationID  string
	Domain      string
	URL         string
	HealthCheck *HealthCheck
}

// HealthCheck is a listener's or rule's health check. When modifying, zero
// numeric and string fields are left out of the request, so the cloud keeps
// (or defaults) them; Enabled is always sent.
type HealthCheck struct {
	Enabled bool
	// CheckType is TCP, HTTP, HTTPS, GRPC, PING or CUSTOM.
	CheckType          string
	TimeoutSeconds     int64 // 2–60, less than IntervalSeconds
	IntervalSeconds    int64 // 2–300
	HealthyThreshold   int64 // 2–10
	UnhealthyThreshold int64 // 2–10
	// HTTPCode is a bit mask of healthy classes: 1=1xx 2=2xx 4=3xx 8=4xx 16=5xx.
	HTTPCode        int64
	HTTPCheckPath   string
	HTTPCheckDomain string
	HTTPCheckMethod string // HEAD or GET
	// CheckPort overrides the probed port (L4 only); -1 resets it.
	CheckPort int64
	// SourceIPType selects the probe source: 0 the CLB VIP, 1 100.64.0.0/10,
	// which pod security groups and NetworkPolicies must allow. Nil keeps it.
	SourceIPType *int64
}

// DescribeListeners returns the listeners of lbID with the given IDs, or all
// of them if none is given. It calls DescribeListeners once per 100 distinct
// IDs. An unknown listener ID is a NotFoundError of kind Listener.
func (c *Client) DescribeListeners(ctx context.Context, lbID string, listenerIDs ...string) ([]Listener, error) {
	ids := uniqueSorted(listenerIDs)
	if len(ids) == 0 {
		return c.describeListeners(ctx, lbID, nil)
	}
	var out []Listener
	for part := range slices.Chunk(ids, maxDescribeListenersIDs) {
		ls, err := c.describeListeners(ctx, lbID, part)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

func (c *Client) describeListeners(ctx context.Context, lbID string, ids []string) ([]Listener, error) {
	req := clbapi.NewDescribeListenersRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerIds = ptrs(ids)
	var resp *clbapi.DescribeListenersResponse
	err := c.do(ctx, actionDescribeListeners, func(ctx context.Context) (err error) {
		resp, err = c.api.DescribeListenersWithContext(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describing listeners of %s: %w", lbID, err)
	}
	if resp.Response == nil {
		return nil, nil
	}
	out := make([]Listener, 0, len(resp.Response.Listeners))
	for _, l := range resp.Response.Listeners {
		li := Listener{
			ID:          str(l.ListenerId),
			Name:        str(l.ListenerName),
			Protocol:    str(l.Protocol),
			Port:        i64(l.Port),
			HealthCheck: fromSDKHealthCheck(l.HealthCheck),
		}
		for _, r := range l.Rules {
			li.Rules = append(li.Rules, Rule{
				LocationID:  str(r.LocationId),
				Domain:      str(r.Domain),
				URL:         str(r.Url),
				HealthCheck: fromSDKHealthCheck(r.HealthCheck),
			})
		}
		out = append(out, li)
	}
	return out, nil
}

// ModifyListenerHealthCheck sets the health check of an L4 listener with
// ModifyListener and waits for its task.
func (c *Client) ModifyListenerHealthCheck(ctx context.Context, lbID, listenerID string, hc HealthCheck) error {
	req := clbapi.NewModifyListenerRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerId = new(listenerID)
	req.HealthCheck = toSDKHealthCheck(hc)
	var resp *clbapi.ModifyListenerResponse
	err := c.do(ctx, actionModifyListener, func(ctx context.Context) (err error) {
		resp, err = c.api.ModifyListenerWithContext(ctx, req)
		return err
	})
	if err == nil && resp.Response == nil {
		err = errors.New("the cloud returned no response")
	}
	if err == nil {
		err = c.waitResponseTask(ctx, resp.Response.RequestId)
	}
	if err != nil {
		return fmt.Errorf("modifying the health check of listener %s on %s: %w", listenerID, lbID, err)
	}
	return nil
}

// ModifyRuleHealthCheck sets the health check of an L7 rule with ModifyRule
// and waits for its task.
func (c *Client) ModifyRuleHealthCheck(ctx context.Context, lbID, listenerID, locationID string, hc HealthCheck) error {
	req := clbapi.NewModifyRuleRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerId = new(listenerID)
	req.LocationId = new(locationID)
	req.HealthCheck = toSDKHealthCheck(hc)
	var resp *clbapi.ModifyRuleResponse
	err := c.do(ctx, actionModifyRule, func(ctx context.Context) (err error) {
		resp, err = c.api.ModifyRuleWithContext(ctx, req)
		return err
	})
	if err == nil && resp.Response == nil {
		err = errors.New("the cloud returned no response")
	}
	if err == nil {
		err = c.waitResponseTask(ctx, resp.Response.RequestId)
	}
	if err != nil {
		return fmt.Errorf("modifying the health check of rule %s of listener %s on %s: %w", locationID, listenerID, lbID, err)
	}
	return nil
}

func toSDKHealthCheck(hc HealthCheck) *clbapi.HealthCheck {
	sw := int64(0)
	if hc.Enabled {
		sw = 1
	}
	return &clbapi.HealthCheck{
		HealthSwitch:    &sw,
		CheckType:       optional(hc.CheckType),
		TimeOut:         optionalInt(hc.TimeoutSeconds),
		IntervalTime:    optionalInt(hc.IntervalSeconds),
		HealthNum:       optionalInt(hc.HealthyThreshold),
		UnHealthNum:     optionalInt(hc.UnhealthyThreshold),
		HttpCode:        optionalInt(hc.HTTPCode),
		HttpCheckPath:   optional(hc.HTTPCheckPath),
		HttpCheckDomain: optional(hc.HTTPCheckDomain),
		HttpCheckMethod: optional(hc.HTTPCheckMethod),
		CheckPort:       optionalInt(hc.CheckPort),
		SourceIpType:    hc.SourceIPType,
	}
}

func fromSDKHealthCheck(h *clbapi.HealthCheck) *HealthCheck {
	if h == nil {
		return nil
	}
	hc := &HealthCheck{
		Enabled:            i64(h.HealthSwitch) == 1,
		CheckType:          str(h.CheckType),
		TimeoutSeconds:     i64(h.TimeOut),
		IntervalSeconds:    i64(h.IntervalTime),
		HealthyThreshold:   i64(h.HealthNum),
		UnhealthyThreshold: i64(h.UnHealthNum),
		HTTPCode:           i64(h.HttpCode),
		HTTPCheckPath:      str(h.HttpCheckPath),
		HTTPCheckDomain:    str(h.HttpCheckDomain),
		HTTPCheckMethod:    str(h.HttpCheckMethod),
		CheckPort:          i64(h.CheckPort),
	}
	if h.SourceIpType != nil {
		hc.SourceIPType = new(*h.SourceIpType)
	}
	return hc
}

func optionalInt(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}
