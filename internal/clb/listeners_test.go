package clb

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestValidateHealthCheck(t *testing.T) {
	httpCheck := HealthCheck{Enabled: true, CheckType: CheckHTTP, HTTPCheckDomain: "web.example.com", HTTPVersion: "HTTP/1.1"}
	customCheck := func(contextType, send, recv string) HealthCheck {
		return HealthCheck{Enabled: true, CheckType: CheckCUSTOM, ContextType: contextType, SendContext: send, RecvContext: recv}
	}
	with := func(hc HealthCheck, edit func(*HealthCheck)) HealthCheck {
		edit(&hc)
		return hc
	}
	cases := []struct {
		name     string
		protocol string
		hc       HealthCheck
		field    string // "" = accepted
	}{
		{"UDP defaults to PING", "UDP", HealthCheck{Enabled: true}, ""},
		{"UDP takes CUSTOM", "UDP", customCheck("TEXT", "ping", "pong"), ""},
		{"UDP refuses TCP", "UDP", HealthCheck{CheckType: CheckTCP}, "CheckType"},
		{"UDP refuses HTTP", "UDP", httpCheck, "CheckType"},
		{"TCP defaults to TCP", "TCP", HealthCheck{}, ""},
		{"TCP takes a complete HTTP check", "TCP", httpCheck, ""},
		{"TCP refuses PING", "TCP", HealthCheck{CheckType: CheckPING}, "CheckType"},
		{"TCP refuses GRPC", "TCP", HealthCheck{CheckType: CheckGRPC}, "CheckType"},
		{"TCP refuses HTTPS", "TCP", HealthCheck{CheckType: CheckHTTPS}, "CheckType"},
		{"HTTP on TCP needs a domain", "TCP", with(httpCheck, func(h *HealthCheck) { h.HTTPCheckDomain = "" }), "HttpCheckDomain"},
		{"HTTP on TCP needs a version", "TCP", with(httpCheck, func(h *HealthCheck) { h.HTTPVersion = "" }), "HttpVersion"},
		{"HTTP on TCP_SSL needs a domain", "TCP_SSL", with(httpCheck, func(h *HealthCheck) { h.HTTPCheckDomain = "" }), "HttpCheckDomain"},
		{"unknown HTTP version", "TCP", with(httpCheck, func(h *HealthCheck) { h.HTTPVersion = "HTTP/2" }), "HttpVersion"},
		{"TCP_SSL refuses CUSTOM", "TCP_SSL", customCheck("TEXT", "a", "b"), "CheckType"},
		{"QUIC refuses PING", "QUIC", HealthCheck{CheckType: CheckPING}, "CheckType"},
		{"QUIC takes TCP", "quic", HealthCheck{CheckType: "tcp"}, ""},
		{"HTTP rules default to HTTP", "HTTP", HealthCheck{HTTPCheckPath: "/healthz"}, ""},
		{"HTTP rules need no domain", "HTTP", HealthCheck{CheckType: CheckHTTP}, ""},
		{"HTTP rules take GRPC", "HTTP", HealthCheck{CheckType: CheckGRPC}, ""},
		{"HTTP rules refuse HTTPS", "HTTP", HealthCheck{CheckType: CheckHTTPS}, "CheckType"},
		{"HTTPS rules take HTTPS", "HTTPS", HealthCheck{CheckType: CheckHTTPS}, ""},
		{"HTTPS rules refuse TCP", "HTTPS", HealthCheck{CheckType: CheckTCP}, "CheckType"},
		{"rules refuse CUSTOM", "HTTP", customCheck("TEXT", "a", "b"), "CheckType"},
		{"CUSTOM needs a context type", "TCP", customCheck("", "a", "b"), "ContextType"},
		{"CUSTOM context type is HEX or TEXT", "TCP", customCheck("JSON", "a", "b"), "ContextType"},
		{"CUSTOM needs what to send", "TCP", customCheck("TEXT", "", "b"), "SendContext"},
		{"CUSTOM needs what to receive", "UDP", customCheck("TEXT", "a", ""), "RecvContext"},
		{"HEX of even length", "TCP", customCheck("HEX", "0A1B", "FF"), ""},
		{"HEX of odd length", "TCP", customCheck("HEX", "0A1", "FF"), "SendContext"},
		{"HEX in lower case", "TCP", customCheck("HEX", "0A", "ff"), "RecvContext"},
		{"TEXT with a control character", "TCP", customCheck("TEXT", "PING\r\n", "PONG"), "SendContext"},
		{"TEXT of 500 characters", "TCP", customCheck("TEXT", strings.Repeat("a", 500), "b"), ""},
		{"TEXT of 501 characters", "TCP", customCheck("TEXT", "a", strings.Repeat("b", 501)), "RecvContext"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateHealthCheck(tc.protocol, tc.hc)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			invalid, ok := errors.AsType[*InvalidHealthCheckError](err)
			if !ok {
				t.Fatalf("got %v, want an InvalidHealthCheckError about %s", err, tc.field)
			}
			if invalid.Field != tc.field || invalid.Protocol != strings.ToUpper(tc.protocol) || invalid.Fix == "" {
				t.Fatalf("got %+v, want field %s and protocol %s, with a fix", invalid, tc.field, tc.protocol)
			}
		})
	}
}

func TestCompleteHealthCheck(t *testing.T) {
	cases := []struct {
		name     string
		protocol string
		cur      *HealthCheck
		want     HealthCheck
		out      HealthCheck
	}{
		{"HTTP on TCP gets HTTP/1.1 and all codes", "TCP", &HealthCheck{CheckType: CheckTCP},
			HealthCheck{CheckType: CheckHTTP, HTTPCheckDomain: "a.b"},
			HealthCheck{CheckType: CheckHTTP, HTTPCheckDomain: "a.b", HTTPVersion: DefaultHTTPVersion, HTTPCode: DefaultHTTPCode}},
		{"the version and codes the listener has are kept", "TCP",
			&HealthCheck{CheckType: CheckHTTP, HTTPVersion: "HTTP/1.0", HTTPCode: 2, HTTPCheckDomain: "a.b"},
			HealthCheck{IntervalSeconds: 10},
			HealthCheck{IntervalSeconds: 10}},
		{"the spec's own codes win", "TCP", nil,
			HealthCheck{CheckType: CheckHTTP, HTTPCode: 2, HTTPVersion: "HTTP/1.0"},
			HealthCheck{CheckType: CheckHTTP, HTTPCode: 2, HTTPVersion: "HTTP/1.0"}},
		{"rules get all codes but no version", "HTTP", nil,
			HealthCheck{HTTPCheckPath: "/healthz"},
			HealthCheck{HTTPCheckPath: "/healthz", HTTPCode: DefaultHTTPCode}},
		{"HTTPS rules get all codes", "HTTPS", nil, HealthCheck{CheckType: CheckHTTPS}, HealthCheck{CheckType: CheckHTTPS, HTTPCode: DefaultHTTPCode}},
		{"GRPC gets no HTTP codes", "HTTP", nil, HealthCheck{CheckType: CheckGRPC}, HealthCheck{CheckType: CheckGRPC}},
		{"TCP gets nothing", "TCP", nil, HealthCheck{IntervalSeconds: 5}, HealthCheck{IntervalSeconds: 5}},
		{"UDP gets nothing", "UDP", nil, HealthCheck{}, HealthCheck{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(CompleteHealthCheck(tc.protocol, tc.cur, tc.want)).To(Equal(tc.out))
		})
	}
}

func TestHealthCheckSatisfiedBy(t *testing.T) {
	cur := &HealthCheck{Enabled: true, CheckType: CheckHTTP, IntervalSeconds: 5, HTTPCheckPath: "/healthz",
		HTTPCheckDomain: "Web.Example.com", HTTPCheckMethod: "head", HTTPCode: 31, HTTPVersion: "HTTP/1.1"}
	cases := []struct {
		name string
		want HealthCheck
		cur  *HealthCheck
		ok   bool
	}{
		{"fields left out match anything", HealthCheck{Enabled: true}, cur, true},
		{"equal fields", HealthCheck{Enabled: true, CheckType: "http", IntervalSeconds: 5, HTTPCheckDomain: "web.example.com", HTTPCheckMethod: "HEAD"}, cur, true},
		{"the switch differs", HealthCheck{Enabled: false}, cur, false},
		{"the interval differs", HealthCheck{Enabled: true, IntervalSeconds: 10}, cur, false},
		{"paths are case-sensitive", HealthCheck{Enabled: true, HTTPCheckPath: "/Healthz"}, cur, false},
		{"a field the listener lacks", HealthCheck{Enabled: true, ContextType: "TEXT"}, cur, false},
		{"no check known", HealthCheck{Enabled: true}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.want.SatisfiedBy(tc.cur); got != tc.ok {
				t.Fatalf("SatisfiedBy = %v, want %v", got, tc.ok)
			}
		})
	}
}

// TestHealthCheckRoundTrip writes every field the controller sends through the SDK to clbsim
// and reads it back.
func TestHealthCheckRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	lb := e.sim.AddLoadBalancer("hc")
	tcp := e.sim.AddListener(lb, "TCP", 80)
	udp := e.sim.AddListener(lb, "UDP", 53)
	cases := []struct {
		name       string
		listenerID string
		hc         HealthCheck
	}{
		{"HTTP on TCP", tcp, HealthCheck{Enabled: true, CheckType: CheckHTTP, HTTPCheckDomain: "web.example.com", HTTPVersion: "HTTP/1.0",
			HTTPCheckPath: "/healthz", HTTPCode: 2, IntervalSeconds: 10, TimeoutSeconds: 3, HealthyThreshold: 2, UnhealthyThreshold: 4}},
		{"CUSTOM on UDP", udp, HealthCheck{Enabled: true, CheckType: CheckCUSTOM, ContextType: "HEX", SendContext: "0A0B", RecvContext: "FF"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(e.c.ModifyListenerHealthCheck(t.Context(), lb, tc.listenerID, tc.hc)).To(Succeed())
			ls, err := e.c.DescribeListeners(t.Context(), lb, tc.listenerID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ls).To(HaveLen(1))
			g.Expect(tc.hc.SatisfiedBy(ls[0].HealthCheck)).To(BeTrue(), "read back %+v", ls[0].HealthCheck)
		})
	}

	err := e.c.ModifyListenerHealthCheck(t.Context(), lb, udp, HealthCheck{Enabled: true, CheckType: CheckTCP})
	invalid, ok := errors.AsType[*InvalidConfigError](err)
	if !ok || invalid.Reason != ReasonInvalidParameter || !strings.Contains(err.Error(), "CheckType") {
		t.Fatalf("TCP check on UDP: got %v, want an InvalidParameter refusal naming CheckType", err)
	}
}
