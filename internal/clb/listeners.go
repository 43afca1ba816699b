package clb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/targets"
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
	// HTTPVersion of an HTTP check of an L4 listener, which requires it:
	// HTTP/1.0 or HTTP/1.1.
	HTTPVersion string
	// ContextType (HEX or TEXT), SendContext and RecvContext make a CUSTOM
	// check of a TCP or UDP listener: what to send, and what the answer holds.
	ContextType string
	SendContext string
	RecvContext string
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
		return fmt.Errorf("modifying the health check of %s on %s: %w", targets.Scope{ListenerID: listenerID}, lbID, err)
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
		return fmt.Errorf("modifying the health check of %s on %s: %w", targets.Scope{ListenerID: listenerID, LocationID: locationID}, lbID, err)
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
		HttpVersion:     optional(hc.HTTPVersion),
		ContextType:     optional(hc.ContextType),
		SendContext:     optional(hc.SendContext),
		RecvContext:     optional(hc.RecvContext),
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
		HTTPVersion:        str(h.HttpVersion),
		ContextType:        str(h.ContextType),
		SendContext:        str(h.SendContext),
		RecvContext:        str(h.RecvContext),
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

// Health-check types, as HealthCheck.CheckType names them.
const (
	CheckTCP    = "TCP"
	CheckHTTP   = "HTTP"
	CheckHTTPS  = "HTTPS"
	CheckGRPC   = "GRPC"
	CheckPING   = "PING"
	CheckCUSTOM = "CUSTOM"
)

// Defaults the controller sends for fields the API requires or defaults.
const (
	// DefaultHTTPVersion is sent with an HTTP check of an L4 listener that names none.
	DefaultHTTPVersion = "HTTP/1.1"
	// DefaultHTTPCode counts every status class as healthy, as the API does.
	DefaultHTTPCode = 31
	// MaxCustomContext bounds SendContext and RecvContext.
	MaxCustomContext = 500
)

// healthCheckTypes are the check types of each listener protocol (of its rules, for HTTP and
// HTTPS), as the SDK documents HealthCheck.CheckType.
var healthCheckTypes = map[string][]string{
	"UDP":     {CheckPING, CheckCUSTOM},
	"TCP":     {CheckTCP, CheckHTTP, CheckCUSTOM},
	"TCP_SSL": {CheckTCP, CheckHTTP},
	"QUIC":    {CheckTCP, CheckHTTP},
	"HTTP":    {CheckHTTP, CheckGRPC},
	"HTTPS":   {CheckHTTP, CheckHTTPS, CheckGRPC},
}

// HealthCheckTypes returns the check types the API accepts on a listener of protocol, or on
// its rules for HTTP and HTTPS; nil for an unknown protocol.
func HealthCheckTypes(protocol string) []string {
	return slices.Clone(healthCheckTypes[strings.ToUpper(protocol)])
}

// IsLayer7 reports whether protocol is HTTP or HTTPS, whose checks belong to rules.
func IsLayer7(protocol string) bool {
	return strings.EqualFold(protocol, "HTTP") || strings.EqualFold(protocol, "HTTPS")
}

// DefaultHealthCheckType is the check type of a listener (rule, for HTTP and HTTPS) that was
// never given one: PING for UDP, HTTP for rules, TCP otherwise.
func DefaultHealthCheckType(protocol string) string {
	switch {
	case strings.EqualFold(protocol, "UDP"):
		return CheckPING
	case IsLayer7(protocol):
		return CheckHTTP
	}
	return CheckTCP
}

// InvalidHealthCheckError is a health check the CLB API refuses on a listener of Protocol.
type InvalidHealthCheckError struct {
	// Field is the HealthCheck field at fault, as the API names it: CheckType, HttpCheckDomain,
	// HttpVersion, ContextType, SendContext or RecvContext.
	Field    string
	Protocol string
	// Problem says what is wrong, in words that follow the field's name; Fix what would do.
	Problem string
	Fix     string
}

func (e *InvalidHealthCheckError) Error() string {
	return "HealthCheck." + e.Field + " " + e.Problem + "; " + e.Fix
}

// MergeHealthCheck returns cur with every field that want sets over it, as ModifyListener and
// ModifyRule apply a health check: Enabled always, the zero fields of want not at all.
func MergeHealthCheck(cur, want HealthCheck) HealthCheck {
	out := cur
	out.Enabled = want.Enabled
	setString := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setInt := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	setString(&out.CheckType, want.CheckType)
	setInt(&out.TimeoutSeconds, want.TimeoutSeconds)
	setInt(&out.IntervalSeconds, want.IntervalSeconds)
	setInt(&out.HealthyThreshold, want.HealthyThreshold)
	setInt(&out.UnhealthyThreshold, want.UnhealthyThreshold)
	setInt(&out.HTTPCode, want.HTTPCode)
	setString(&out.HTTPCheckPath, want.HTTPCheckPath)
	setString(&out.HTTPCheckDomain, want.HTTPCheckDomain)
	setString(&out.HTTPCheckMethod, want.HTTPCheckMethod)
	setInt(&out.CheckPort, want.CheckPort)
	if want.SourceIPType != nil {
		out.SourceIPType = new(*want.SourceIPType)
	}
	setString(&out.HTTPVersion, want.HTTPVersion)
	setString(&out.ContextType, want.ContextType)
	setString(&out.SendContext, want.SendContext)
	setString(&out.RecvContext, want.RecvContext)
	return out
}

// CompleteHealthCheck adds to want what the API requires or defaults and want leaves out, unless
// cur (the listener's or rule's check now, nil when unknown) has it already: HttpVersion
// HTTP/1.1 for an HTTP check of an L4 listener, and HttpCode 31 for HTTP and HTTPS checks.
func CompleteHealthCheck(protocol string, cur *HealthCheck, want HealthCheck) HealthCheck {
	var now HealthCheck
	if cur != nil {
		now = *cur
	}
	merged := MergeHealthCheck(now, want)
	checkType := cmp.Or(strings.ToUpper(merged.CheckType), DefaultHealthCheckType(protocol))
	if checkType == CheckHTTP && !IsLayer7(protocol) && merged.HTTPVersion == "" {
		want.HTTPVersion = DefaultHTTPVersion
	}
	if (checkType == CheckHTTP || checkType == CheckHTTPS) && merged.HTTPCode == 0 {
		want.HTTPCode = DefaultHTTPCode
	}
	return want
}

// ValidateHealthCheck checks hc, a listener's or rule's check as it is to be (see
// MergeHealthCheck), against what the API accepts on a listener of protocol, and returns an
// *InvalidHealthCheckError when it would be refused. An empty CheckType is the protocol's
// default. The ranges of the numeric fields are not checked here: the CRD enforces them.
func ValidateHealthCheck(protocol string, hc HealthCheck) error {
	protocol = strings.ToUpper(protocol)
	refuse := func(field, problem, fix string) error {
		return &InvalidHealthCheckError{Field: field, Protocol: protocol, Problem: problem, Fix: fix}
	}
	what := "a " + protocol + " listener"
	if IsLayer7(protocol) {
		what = "a rule of a " + protocol + " listener"
	}
	checkType := cmp.Or(strings.ToUpper(hc.CheckType), DefaultHealthCheckType(protocol))
	if allowed := healthCheckTypes[protocol]; !slices.Contains(allowed, checkType) {
		return refuse("CheckType", checkType+" is not supported on "+what, "use "+orList(allowed))
	}
	if v := hc.HTTPVersion; v != "" && v != "HTTP/1.0" && v != "HTTP/1.1" {
		return refuse("HttpVersion", v+" is not an HTTP version the check speaks", "use HTTP/1.0 or HTTP/1.1")
	}
	if checkType == CheckHTTP && !IsLayer7(protocol) {
		if hc.HTTPCheckDomain == "" {
			return refuse("HttpCheckDomain", "is required by an HTTP check on "+what, "set the host name the check sends")
		}
		if hc.HTTPVersion == "" {
			return refuse("HttpVersion", "is required by an HTTP check on "+what, "use HTTP/1.0 or HTTP/1.1")
		}
	}
	if checkType != CheckCUSTOM {
		return nil
	}
	switch hc.ContextType {
	case "HEX", "TEXT":
	case "":
		return refuse("ContextType", "is required by a CUSTOM check", "use HEX or TEXT")
	default:
		return refuse("ContextType", hc.ContextType+" is not a context type", "use HEX or TEXT")
	}
	for _, f := range []struct{ name, v string }{{"SendContext", hc.SendContext}, {"RecvContext", hc.RecvContext}} {
		switch {
		case f.v == "":
			return refuse(f.name, "is required by a CUSTOM check", "set it")
		case len(f.v) > MaxCustomContext:
			return refuse(f.name, fmt.Sprintf("is %d characters long", len(f.v)), fmt.Sprintf("shorten it to %d", MaxCustomContext))
		case strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r > '~' }):
			return refuse(f.name, "holds characters that are not visible ASCII", "use only ASCII characters from space to ~")
		case hc.ContextType == "HEX" && (len(f.v)%2 != 0 || strings.Trim(f.v, "0123456789ABCDEF") != ""):
			return refuse(f.name, "is not hexadecimal while ContextType is HEX",
				"use an even number of the characters 0-9 and A-F, or ContextType TEXT")
		}
	}
	return nil
}

// SatisfiedBy reports whether cur, a listener's or rule's check now, already has every field
// that want sets, so that writing want would change nothing.
func (want HealthCheck) SatisfiedBy(cur *HealthCheck) bool {
	if cur == nil || cur.Enabled != want.Enabled {
		return false
	}
	same := func(w, c string) bool { return w == "" || strings.EqualFold(w, c) }
	exact := func(w, c string) bool { return w == "" || w == c }
	num := func(w, c int64) bool { return w == 0 || w == c }
	return same(want.CheckType, cur.CheckType) && num(want.TimeoutSeconds, cur.TimeoutSeconds) &&
		num(want.IntervalSeconds, cur.IntervalSeconds) && num(want.HealthyThreshold, cur.HealthyThreshold) &&
		num(want.UnhealthyThreshold, cur.UnhealthyThreshold) && num(want.HTTPCode, cur.HTTPCode) &&
		exact(want.HTTPCheckPath, cur.HTTPCheckPath) && same(want.HTTPCheckDomain, cur.HTTPCheckDomain) &&
		same(want.HTTPCheckMethod, cur.HTTPCheckMethod) && num(want.CheckPort, cur.CheckPort) &&
		(want.SourceIPType == nil || (cur.SourceIPType != nil && *cur.SourceIPType == *want.SourceIPType)) &&
		same(want.HTTPVersion, cur.HTTPVersion) && same(want.ContextType, cur.ContextType) &&
		exact(want.SendContext, cur.SendContext) && exact(want.RecvContext, cur.RecvContext)
}

// orList joins ["a", "b", "c"] as "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
