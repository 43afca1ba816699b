package clbsim_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// dialRecorder is an Options.Dial hook that records every address.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// assertOnlyLoopback fails if any dial went outside 127.0.0.0/8.
func (d *dialRecorder) assertOnlyLoopback(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.addrs {
		if !strings.HasPrefix(a, "127.") {
			t.Fatalf("clbsim dialled %s, outside the probe CIDRs", a)
		}
	}
}

// echoServer answers every connection with its name and closes it.
func echoServer(t *testing.T, name string) (port int64, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, name)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return int64(ln.Addr().(*net.TCPAddr).Port), func() { _ = ln.Close() }
}

// loopbackVPC lets the load balancers of these tests (no VpcID) reach loopback backends,
// which clbsim would otherwise refuse as outside their VPC.
var loopbackVPC = map[string][]netip.Prefix{"": {netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}}

func loopbackOptions(rec *dialRecorder) clbsim.Options {
	return clbsim.Options{ProbeCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Dial: rec.dial, VPCCIDRs: loopbackVPC}
}

// stepUntil advances the fake clock a second at a time, whenever the prober
// waits on it, until cond holds.
func (e *env) stepUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, func() bool {
		if e.clock.HasWaiters() {
			e.clock.Step(time.Second)
		}
		return cond()
	})
}

func TestNoDialWithoutProbeCIDRs(t *testing.T) {
	rec := &dialRecorder{}
	e := newEnv(t, clbsim.Options{Dial: rec.dial, VPCCIDRs: loopbackVPC})
	lbID, listenerID := e.l4(t)
	port, _ := echoServer(t, "a")
	e.register(t, lbID, listenerID, eni("10.0.0.1", 80), eni("127.0.0.1", port))
	e.clock.Step(time.Minute)
	addr, err := e.sim.ServeListener(lbID, listenerID)
	must(t, err)
	if got := readFrom(t, addr); got != "" {
		t.Fatalf("forwarded outside the probe CIDRs: %q", got)
	}
	if len(rec.addrs) != 0 {
		t.Fatalf("clbsim dialled %v with no probe CIDRs", rec.addrs)
	}
}

func TestRealProbesOnlyInsideProbeCIDRs(t *testing.T) {
	rec := &dialRecorder{}
	e := newEnv(t, loopbackOptions(rec))
	lbID, listenerID := e.l4(t)
	mod := clbapi.NewModifyListenerRequest()
	mod.LoadBalancerId, mod.ListenerId = &lbID, &listenerID
	mod.HealthCheck = &clbapi.HealthCheck{IntervalTime: common.Int64Ptr(2), HealthNum: common.Int64Ptr(2), UnHealthNum: common.Int64Ptr(2)}
	_, err := e.client.ModifyListener(mod)
	must(t, err)
	port, stop := echoServer(t, "a")
	closedPort, stopClosed := echoServer(t, "closed")
	stopClosed()
	e.register(t, lbID, listenerID, eni("10.0.0.1", 80), eni("10.0.0.2", 80), eni("127.0.0.1", port), eni("127.0.0.1", closedPort))

	up, down := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", closedPort)
	e.stepUntil(t, "live backend Alive and closed port Dead", func() bool {
		h := e.health(t, lbID)
		return h[up] == "Alive" && h[down] == "Dead"
	})
	e.clock.Step(4 * time.Second)
	if h := e.health(t, lbID); h["10.0.0.1:80"] != "Alive" {
		t.Fatalf("10.x target should follow the script (Alive after 4 s), got %v", h)
	}
	stop()
	e.stepUntil(t, "stopped backend Dead", func() bool { return e.health(t, lbID)[up] == "Dead" })
	rec.assertOnlyLoopback(t)
	if len(rec.addrs) == 0 {
		t.Fatal("no probe was made")
	}
}

// readFrom connects to addr and returns everything the far end sends.
func readFrom(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	must(t, err)
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestTCPDataPlane(t *testing.T) {
	rec := &dialRecorder{}
	e := newEnv(t, loopbackOptions(rec))
	lbID, listenerID := e.l4(t)
	portA, _ := echoServer(t, "a")
	portB, _ := echoServer(t, "b")
	e.register(t, lbID, listenerID,
		&clbapi.Target{EniIp: new("127.0.0.1"), Port: &portA, Weight: common.Int64Ptr(10)},
		&clbapi.Target{EniIp: new("127.0.0.1"), Port: &portB, Weight: common.Int64Ptr(0)},
		&clbapi.Target{EniIp: new("10.0.0.1"), Port: common.Int64Ptr(80), Weight: common.Int64Ptr(100)})
	e.sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lbID}, "Alive")
	addr, err := e.sim.ServeListener(lbID, listenerID)
	must(t, err)
	if again, _ := e.sim.ServeListener(lbID, listenerID); again != addr {
		t.Fatalf("ServeListener twice gave %s and %s", addr, again)
	}
	for range 5 {
		if got := readFrom(t, addr); got != "a" {
			t.Fatalf("got %q, want a (b has weight 0, 10.x is outside the CIDRs)", got)
		}
	}

	mw := clbapi.NewModifyTargetWeightRequest()
	mw.LoadBalancerId, mw.ListenerId = &lbID, &listenerID
	mw.Targets = []*clbapi.Target{
		{EniIp: new("127.0.0.1"), Port: &portA, Weight: common.Int64Ptr(0)},
		{EniIp: new("127.0.0.1"), Port: &portB, Weight: common.Int64Ptr(10)},
	}
	_, err = e.client.ModifyTargetWeight(mw)
	must(t, err)
	for range 5 {
		if got := readFrom(t, addr); got != "b" {
			t.Fatalf("got %q after the weight change, want b", got)
		}
	}

	e.sim.SetHealth(clbsim.HealthSelector{IP: "127.0.0.1", Port: portB}, "Dead")
	if got := readFrom(t, addr); got != "" {
		t.Fatalf("dead backend still served: %q", got)
	}
	e.sim.SetHealth(clbsim.HealthSelector{IP: "127.0.0.1", Port: portB}, "Alive")
	dr := clbapi.NewDeregisterTargetsRequest()
	dr.LoadBalancerId, dr.ListenerId = &lbID, &listenerID
	dr.Targets = []*clbapi.Target{{EniIp: new("127.0.0.1"), Port: &portB}}
	_, err = e.client.DeregisterTargets(dr)
	must(t, err)
	if got := readFrom(t, addr); got != "" {
		t.Fatalf("deregistered backend still served: %q", got)
	}
	rec.assertOnlyLoopback(t)
}

func TestHTTPDataPlaneRoutesByRule(t *testing.T) {
	rec := &dialRecorder{}
	e := newEnv(t, loopbackOptions(rec))
	lbID := e.sim.AddLoadBalancer("l7")
	httpID := e.sim.AddListener(lbID, "HTTP", 80)
	root := e.sim.AddRule(lbID, httpID, "a.example.com", "/")
	api := e.sim.AddRule(lbID, httpID, "a.example.com", "/api")
	backend := func(name string) int64 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name+" "+r.Host+r.URL.Path)
		}))
		t.Cleanup(srv.Close)
		p, _ := strconv.ParseInt(srv.URL[strings.LastIndex(srv.URL, ":")+1:], 10, 64)
		return p
	}
	for loc, port := range map[string]int64{root: backend("root"), api: backend("api")} {
		req := clbapi.NewRegisterTargetsRequest()
		req.LoadBalancerId, req.ListenerId, req.LocationId = &lbID, &httpID, &loc
		req.Targets = []*clbapi.Target{eni("127.0.0.1", port)}
		_, err := e.client.RegisterTargets(req)
		must(t, err)
	}
	e.sim.SetHealth(clbsim.HealthSelector{}, "Alive")
	addr, err := e.sim.ServeListener(lbID, httpID)
	must(t, err)
	get := func(host, path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, body := get("a.example.com", "/api/x"); body != "api a.example.com/api/x" {
		t.Fatalf("/api/x → %q", body)
	}
	if _, body := get("a.example.com", "/index.html"); body != "root a.example.com/index.html" {
		t.Fatalf("/index.html → %q", body)
	}
	if status, _ := get("b.example.com", "/"); status != http.StatusServiceUnavailable {
		t.Fatalf("unknown host → %d, want 503", status)
	}
	rec.assertOnlyLoopback(t)
}
