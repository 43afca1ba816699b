package clb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// benchLB is one load balancer as the scale bench builds it (20 TCP listeners of 10 pod IPs),
// behind a server that answers each action with clbsim's first answer, so that a benchmark
// measures the client: what one drift check and one health poll of it cost a steady manager.
func benchLB(b *testing.B) (*Client, string, []string) {
	e := newEnv(b, nil)
	lb := e.sim.AddLoadBalancer("bench")
	listeners := make([]string, 0, 20)
	for l := range 20 {
		id := e.sim.AddListener(lb, "TCP", int64(8000+l))
		listeners = append(listeners, id)
		for t := range 10 {
			e.sim.AddBackend(lb, clbsim.Target{ListenerID: id, EniIP: fmt.Sprintf("10.1.%d.%d", l, t), Port: 8080, Weight: 10})
		}
	}
	var mu sync.Mutex
	answers := map[string]*httptest.ResponseRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.Header.Get("X-TC-Action")
		mu.Lock()
		rec := answers[action]
		if rec == nil {
			rec = httptest.NewRecorder()
			e.sim.ServeHTTP(rec, r)
			answers[action] = rec
		}
		mu.Unlock()
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		_, _ = w.Write(rec.Body.Bytes())
	}))
	b.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	c := newEnv(b, func(cfg *Config) { cfg.Endpoint = u.Host }).c
	return c, lb, listeners
}

// The SDK's own response types are the baseline ("sdk"), run beside ours ("slim").
func BenchmarkDescribeTargets200(b *testing.B) {
	c, lb, listeners := benchLB(b)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := clbapi.NewDescribeTargetsRequest()
			req.LoadBalancerId = new(lb)
			req.ListenerIds = ptrs(listeners)
			resp, err := c.api.DescribeTargetsWithContext(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, l := range resp.Response.Listeners {
				for _, t := range l.Targets {
					_ = sdkBackendTarget(*l.ListenerId, "", t)
					n++
				}
			}
			if n != 200 {
				b.Fatalf("DescribeTargets: %d targets", n)
			}
		}
	})
	b.Run("slim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			read, err := c.DescribeTargets(context.Background(), lb, listeners)
			if err != nil || len(read.Targets) != 200 {
				b.Fatalf("DescribeTargets: %d targets, %v", len(read.Targets), err)
			}
		}
	})
}

func BenchmarkDescribeTargetHealth200(b *testing.B) {
	c, lb, _ := benchLB(b)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := clbapi.NewDescribeTargetHealthRequest()
			req.LoadBalancerIds = []*string{new(lb)}
			resp, err := c.api.DescribeTargetHealthWithContext(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, l := range resp.Response.LoadBalancers[0].Listeners {
				for _, r := range l.Rules {
					n += len(r.Targets)
				}
			}
			if n != 200 {
				b.Fatalf("DescribeTargetHealth: %d targets", n)
			}
		}
	})
	b.Run("slim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			read, err := c.DescribeTargetHealth(context.Background(), []string{lb})
			if err != nil || len(read[lb]) != 200 {
				b.Fatalf("DescribeTargetHealth: %d targets, %v", len(read[lb]), err)
			}
		}
	})
}

// TestSlimReadsMatchTheSDK: the slim decoding of DescribeTargets and DescribeTargetHealth reads
// the same backends, weights, tags and health as the SDK's own response types.
func TestSlimReadsMatchTheSDK(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	lb := e.sim.AddLoadBalancer("slim")
	l4 := e.sim.AddListener(lb, "TCP", 80)
	l7 := e.sim.AddListener(lb, "HTTP", 8080)
	rule := e.sim.AddRule(lb, l7, "a.example.com", "/")
	g.Expect(e.sim.AddBackend(lb, clbsim.Target{ListenerID: l4, EniIP: "10.1.0.1", Port: 8080, Weight: 7, Tag: "ns/a"})).To(BeTrue())
	g.Expect(e.sim.AddBackend(lb, clbsim.Target{ListenerID: l4, Type: "CVM", InstanceID: "ins-00000001", Port: 30080, Weight: 0})).To(BeTrue())
	g.Expect(e.sim.AddBackend(lb, clbsim.Target{ListenerID: l7, LocationID: rule, EniIP: "10.1.0.2", Port: 9090, Weight: 100})).To(BeTrue())
	e.sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lb, IP: "10.1.0.1"}, "Alive")

	req := clbapi.NewDescribeTargetsRequest()
	req.LoadBalancerId = new(lb)
	typed, err := e.c.api.DescribeTargetsWithContext(ctx, req)
	g.Expect(err).NotTo(HaveOccurred())
	var want []targets.Target
	wantListeners := make([]Listener, 0, len(typed.Response.Listeners))
	for _, l := range typed.Response.Listeners {
		listener := Listener{ID: *l.ListenerId, Protocol: *l.Protocol, Port: *l.Port}
		for _, r := range l.Rules {
			listener.Rules = append(listener.Rules, Rule{LocationID: *r.LocationId, Domain: *r.Domain, URL: *r.Url})
		}
		wantListeners = append(wantListeners, listener)
		for _, b := range l.Targets {
			want = append(want, sdkBackendTarget(*l.ListenerId, "", b))
		}
		for _, r := range l.Rules {
			for _, b := range r.Targets {
				want = append(want, sdkBackendTarget(*l.ListenerId, *r.LocationId, b))
			}
		}
	}
	got, err := e.c.DescribeTargets(ctx, lb, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Targets).To(ConsistOf(want))
	g.Expect(got.Targets).To(HaveLen(3))
	g.Expect(got.Listeners).To(ConsistOf(wantListeners))
	g.Expect(wantListeners).To(HaveLen(2)) // l4 and l7

	hreq := clbapi.NewDescribeTargetHealthRequest()
	hreq.LoadBalancerIds = []*string{new(lb)}
	typedHealth, err := e.c.api.DescribeTargetHealthWithContext(ctx, hreq)
	g.Expect(err).NotTo(HaveOccurred())
	var wantHealth []TargetHealth
	for _, l := range typedHealth.Response.LoadBalancers[0].Listeners {
		for _, r := range l.Rules {
			loc := *r.LocationId
			if isL4(*l.Protocol) {
				loc = ""
			}
			for _, th := range r.Targets {
				h := TargetHealth{Key: targets.Key{ListenerID: *l.ListenerId, LocationID: loc, Port: *th.Port, EniIP: str(th.IP)},
					Healthy: th.HealthStatus != nil && *th.HealthStatus, Detail: str(th.HealthStatusDetail)}
				if id := str(th.TargetId); strings.HasPrefix(id, "ins-") {
					h.InstanceID = id
				}
				wantHealth = append(wantHealth, h)
			}
		}
	}
	gotHealth, err := e.c.DescribeTargetHealth(ctx, []string{lb})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gotHealth[lb]).To(ConsistOf(wantHealth))
	g.Expect(gotHealth[lb]).To(ContainElement(HaveField("Healthy", BeTrue())))
}

// sdkBackendTarget is backendTarget on the SDK's own Backend type.
func sdkBackendTarget(listenerID, locationID string, b *clbapi.Backend) targets.Target {
	slim := slimBackend{Type: str(b.Type), InstanceID: str(b.InstanceId), Port: i64(b.Port), Weight: i64(b.Weight), Tag: str(b.Tag)}
	for _, ip := range b.PrivateIpAddresses {
		slim.PrivateIPAddresses = append(slim.PrivateIPAddresses, str(ip))
	}
	return backendTarget(listenerID, locationID, &slim)
}

// TestSlimResponseErrors: an API error in the body is returned as the SDK's error, with its code,
// message and request ID, and a body that is not JSON is a ParseJsonError.
func TestSlimResponseErrors(t *testing.T) {
	g := NewWithT(t)
	var r slimResponse[describeTargetsParams]
	err := r.ParseErrorFromHTTPResponse([]byte(`{"Response":{"Error":{"Code":"InvalidParameter.LBIdNotFound","Message":"lb-x not found"},"RequestId":"req-9"}}`))
	var sdkErr *tcerr.TencentCloudSDKError
	g.Expect(errors.As(err, &sdkErr)).To(BeTrue())
	g.Expect(sdkErr.Code).To(Equal("InvalidParameter.LBIdNotFound"))
	g.Expect(sdkErr.Message).To(Equal("lb-x not found"))
	g.Expect(sdkErr.RequestId).To(Equal("req-9"))

	err = r.ParseErrorFromHTTPResponse([]byte(`<html>`))
	g.Expect(errors.As(err, &sdkErr)).To(BeTrue())
	g.Expect(sdkErr.Code).To(Equal("ClientError.ParseJsonError"))

	g.Expect(r.ParseErrorFromHTTPResponse([]byte(`{"Response":{"Listeners":[{"ListenerId":"lbl-1","Targets":[{"Port":80,"Weight":5,"PrivateIpAddresses":["10.0.0.1"],"Tag":null}]}],"RequestId":"req-1"}}`))).To(Succeed())
	g.Expect(r.Response.Listeners).To(HaveLen(1))
	g.Expect(r.Response.Listeners[0].Targets[0].Weight).To(Equal(int64(5)))
}
