package clbsim_test

import (
	"strings"
	"testing"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// httpOnL4 is a complete HTTP check of an L4 listener.
func httpOnL4() *clbapi.HealthCheck {
	return &clbapi.HealthCheck{CheckType: new("HTTP"), HttpCheckDomain: new("web.example.com"), HttpVersion: new("HTTP/1.1")}
}

func custom(contextType, send, recv string) *clbapi.HealthCheck {
	return &clbapi.HealthCheck{CheckType: new("CUSTOM"), ContextType: new(contextType), SendContext: new(send), RecvContext: new(recv)}
}

// TestHealthCheckRulesByProtocol sends each health check the SDK documents as refused (or
// accepted) by a listener or rule of each protocol, through every action that takes one.
func TestHealthCheckRulesByProtocol(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	// The check each case sends, in the four actions: CreateListener and ModifyListener for L4
	// protocols, CreateRule and ModifyRule for HTTP and HTTPS.
	cases := []struct {
		name     string
		protocol string
		hc       *clbapi.HealthCheck
		code     string // "" = accepted
		field    string // named by the message when refused
	}{
		{"UDP takes PING", "UDP", &clbapi.HealthCheck{CheckType: new("PING")}, "", ""},
		{"UDP takes CUSTOM", "UDP", custom("TEXT", "ping", "pong"), "", ""},
		{"UDP refuses TCP", "UDP", &clbapi.HealthCheck{CheckType: new("TCP")}, "InvalidParameterValue", "CheckType"},
		{"UDP refuses HTTP", "UDP", httpOnL4(), "InvalidParameterValue", "CheckType"},
		{"TCP takes TCP", "TCP", &clbapi.HealthCheck{CheckType: new("TCP")}, "", ""},
		{"TCP takes a complete HTTP check", "TCP", httpOnL4(), "", ""},
		{"TCP takes CUSTOM", "TCP", custom("HEX", "0A1B", "FF"), "", ""},
		{"TCP refuses PING", "TCP", &clbapi.HealthCheck{CheckType: new("PING")}, "InvalidParameterValue", "CheckType"},
		{"TCP refuses GRPC", "TCP", &clbapi.HealthCheck{CheckType: new("GRPC")}, "InvalidParameterValue", "CheckType"},
		{"TCP refuses HTTPS", "TCP", &clbapi.HealthCheck{CheckType: new("HTTPS")}, "InvalidParameterValue", "CheckType"},
		{"TCP refuses an unknown type", "TCP", &clbapi.HealthCheck{CheckType: new("ICMP")}, "InvalidParameterValue", "CheckType"},
		{"HTTP on TCP needs HttpCheckDomain", "TCP",
			&clbapi.HealthCheck{CheckType: new("HTTP"), HttpVersion: new("HTTP/1.1")}, "MissingParameter", "HttpCheckDomain"},
		{"HTTP on TCP needs HttpVersion", "TCP",
			&clbapi.HealthCheck{CheckType: new("HTTP"), HttpCheckDomain: new("web.example.com")}, "MissingParameter", "HttpVersion"},
		{"HttpVersion is HTTP/1.0 or HTTP/1.1", "TCP",
			&clbapi.HealthCheck{CheckType: new("HTTP"), HttpCheckDomain: new("a.b"), HttpVersion: new("HTTP/2")}, "InvalidParameterValue", "HttpVersion"},
		{"TCP_SSL takes HTTP", "TCP_SSL", httpOnL4(), "", ""},
		{"TCP_SSL refuses CUSTOM", "TCP_SSL", custom("TEXT", "a", "b"), "InvalidParameterValue", "CheckType"},
		{"HTTP on TCP_SSL needs HttpVersion", "TCP_SSL",
			&clbapi.HealthCheck{CheckType: new("HTTP"), HttpCheckDomain: new("web.example.com")}, "MissingParameter", "HttpVersion"},
		{"QUIC takes TCP", "QUIC", &clbapi.HealthCheck{CheckType: new("TCP")}, "", ""},
		{"QUIC refuses PING", "QUIC", &clbapi.HealthCheck{CheckType: new("PING")}, "InvalidParameterValue", "CheckType"},
		{"CUSTOM needs ContextType", "TCP",
			&clbapi.HealthCheck{CheckType: new("CUSTOM"), SendContext: new("a"), RecvContext: new("b")}, "MissingParameter", "ContextType"},
		{"ContextType is HEX or TEXT", "TCP", custom("JSON", "a", "b"), "InvalidParameterValue", "ContextType"},
		{"CUSTOM needs SendContext", "UDP",
			&clbapi.HealthCheck{CheckType: new("CUSTOM"), ContextType: new("TEXT"), RecvContext: new("b")}, "MissingParameter", "SendContext"},
		{"CUSTOM needs RecvContext", "UDP",
			&clbapi.HealthCheck{CheckType: new("CUSTOM"), ContextType: new("TEXT"), SendContext: new("a")}, "MissingParameter", "RecvContext"},
		{"HEX has an even length", "TCP", custom("HEX", "0A1", "FF"), "InvalidParameterValue", "SendContext"},
		{"HEX is upper-case 0-9A-F", "TCP", custom("HEX", "0A", "ff"), "InvalidParameterValue", "RecvContext"},
		{"TEXT is visible ASCII", "TCP", custom("TEXT", "PING\r\n", "+PONG"), "InvalidParameterValue", "SendContext"},
		{"TEXT is at most 500 characters", "TCP", custom("TEXT", "a", strings.Repeat("b", 501)), "InvalidParameterValue.Length", "RecvContext"},
		{"TEXT of 500 characters", "TCP", custom("TEXT", strings.Repeat("a", 500), "b"), "", ""},
		{"HTTP rules take HTTP", "HTTP", &clbapi.HealthCheck{CheckType: new("HTTP"), HttpCheckPath: new("/healthz")}, "", ""},
		{"HTTP rules take GRPC", "HTTP", &clbapi.HealthCheck{CheckType: new("GRPC")}, "", ""},
		{"HTTP rules refuse HTTPS", "HTTP", &clbapi.HealthCheck{CheckType: new("HTTPS")}, "InvalidParameterValue", "CheckType"},
		{"HTTP rules refuse TCP", "HTTP", &clbapi.HealthCheck{CheckType: new("TCP")}, "InvalidParameterValue", "CheckType"},
		{"HTTP rules refuse CUSTOM", "HTTP", custom("TEXT", "a", "b"), "InvalidParameterValue", "CheckType"},
		{"HTTPS rules take HTTPS", "HTTPS", &clbapi.HealthCheck{CheckType: new("HTTPS")}, "", ""},
		{"HTTPS rules refuse PING", "HTTPS", &clbapi.HealthCheck{CheckType: new("PING")}, "InvalidParameterValue", "CheckType"},
		{"HttpCode is within 1-31", "HTTP", &clbapi.HealthCheck{HttpCode: common.Int64Ptr(32)}, "InvalidParameterValue.Range", "HttpCode"},
	}
	port := int64(1000)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lbID := e.sim.AddLoadBalancer("hc")
			port++
			var create, modify func() error
			if tc.protocol == "HTTP" || tc.protocol == "HTTPS" {
				listenerID := e.sim.AddListener(lbID, tc.protocol, port)
				locationID := e.sim.AddRule(lbID, listenerID, "web.example.com", "/")
				create = func() error {
					req := clbapi.NewCreateRuleRequest()
					req.LoadBalancerId, req.ListenerId = &lbID, &listenerID
					req.Rules = []*clbapi.RuleInput{{Domain: new("web.example.com"), Url: new("/new"), HealthCheck: tc.hc}}
					_, err := e.client.CreateRule(req)
					return err
				}
				modify = func() error {
					req := clbapi.NewModifyRuleRequest()
					req.LoadBalancerId, req.ListenerId, req.LocationId = &lbID, &listenerID, &locationID
					req.HealthCheck = tc.hc
					_, err := e.client.ModifyRule(req)
					return err
				}
			} else {
				listenerID := e.sim.AddListener(lbID, tc.protocol, port)
				create = func() error {
					req := clbapi.NewCreateListenerRequest()
					req.LoadBalancerId, req.Protocol, req.Ports = &lbID, new(tc.protocol), common.Int64Ptrs([]int64{port + 10000})
					req.HealthCheck = tc.hc
					_, err := e.client.CreateListener(req)
					return err
				}
				modify = func() error {
					req := clbapi.NewModifyListenerRequest()
					req.LoadBalancerId, req.ListenerId, req.HealthCheck = &lbID, &listenerID, tc.hc
					_, err := e.client.ModifyListener(req)
					return err
				}
			}
			for action, call := range map[string]func() error{"create": create, "modify": modify} {
				err := call()
				wantCode(t, err, tc.code)
				if err == nil {
					continue
				}
				if msg := err.(*sdkerrors.TencentCloudSDKError).GetMessage(); !strings.Contains(msg, "HealthCheck."+tc.field) {
					t.Errorf("%s: message %q does not name HealthCheck.%s", action, msg, tc.field)
				}
			}
		})
	}
}

// TestHealthCheckModifyKeepsWhatItLeavesOut: the fields an HTTP check of a TCP listener needs may
// come from an earlier request, as Modify* keeps what it leaves out; switching the type needs them
// anew only when the listener never had them.
func TestHealthCheckModifyKeepsWhatItLeavesOut(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID, listenerID := e.l4(t)
	modify := func(hc *clbapi.HealthCheck) error {
		req := clbapi.NewModifyListenerRequest()
		req.LoadBalancerId, req.ListenerId, req.HealthCheck = &lbID, &listenerID, hc
		_, err := e.client.ModifyListener(req)
		return err
	}
	wantCode(t, modify(&clbapi.HealthCheck{CheckType: new("HTTP")}), "MissingParameter")
	must(t, modify(httpOnL4()))
	must(t, modify(&clbapi.HealthCheck{IntervalTime: common.Int64Ptr(10)}))
	must(t, modify(&clbapi.HealthCheck{CheckType: new("TCP")}))
	must(t, modify(&clbapi.HealthCheck{CheckType: new("HTTP")})) // the domain and version are still set
	wantCode(t, modify(&clbapi.HealthCheck{CheckType: new("PING")}), "InvalidParameterValue")
}

// TestHealthCheckDefaults: a listener or rule that was never given a check reports the
// documented defaults: PING for UDP, TCP for other L4 listeners, HTTP with HttpCode 31 for rules.
func TestHealthCheckDefaults(t *testing.T) {
	e := newEnv(t, clbsim.Options{})
	lbID := e.sim.AddLoadBalancer("defaults")
	want := map[string]string{
		e.sim.AddListener(lbID, "UDP", 53):     "PING",
		e.sim.AddListener(lbID, "TCP", 80):     "TCP",
		e.sim.AddListener(lbID, "TCP_SSL", 81): "TCP",
		e.sim.AddListener(lbID, "QUIC", 82):    "TCP",
	}
	web := e.sim.AddListener(lbID, "HTTP", 8080)
	e.sim.AddRule(lbID, web, "web.example.com", "/")
	tcpHTTP := e.sim.AddListener(lbID, "TCP", 83)
	req := clbapi.NewModifyListenerRequest()
	req.LoadBalancerId, req.ListenerId, req.HealthCheck = &lbID, &tcpHTTP, httpOnL4()
	_, err := e.client.ModifyListener(req)
	must(t, err)

	dl := clbapi.NewDescribeListenersRequest()
	dl.LoadBalancerId = &lbID
	resp, err := e.client.DescribeListeners(dl)
	must(t, err)
	for _, l := range resp.Response.Listeners {
		switch id := *l.ListenerId; id {
		case web:
			hc := l.Rules[0].HealthCheck
			if *hc.CheckType != "HTTP" || *hc.HttpCode != 31 {
				t.Errorf("rule check = %s/%d, want type HTTP and HttpCode 31", *hc.CheckType, *hc.HttpCode)
			}
		case tcpHTTP:
			hc := l.HealthCheck
			if *hc.CheckType != "HTTP" || *hc.HttpCode != 31 || *hc.HttpVersion != "HTTP/1.1" || *hc.HttpCheckDomain != "web.example.com" {
				t.Errorf("HTTP check of a TCP listener = %s %d %s %s, want the request's fields and HttpCode 31",
					*hc.CheckType, *hc.HttpCode, *hc.HttpVersion, *hc.HttpCheckDomain)
			}
		default:
			if got := *l.HealthCheck.CheckType; got != want[id] {
				t.Errorf("%s listener: CheckType %s, want %s", *l.Protocol, got, want[id])
			}
		}
	}
}
