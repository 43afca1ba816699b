package clb

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

const (
	testRegion    = "ap-guangzhou"
	testSecretID  = "AKIDclbtest"
	testSecretKey = "clb-test-secret"
)

// env is a Client talking to a fresh clbsim through the real SDK.
type env struct {
	sim *clbsim.Sim
	c   *Client
	reg *prometheus.Registry
}

// newEnv starts clbsim behind httptest and builds a Client on it with fast
// retries and no client-side rate limit; mutate adjusts the Config.
func newEnv(t testing.TB, mutate func(*Config)) *env {
	t.Helper()
	sim := clbsim.New(clbsim.Options{
		SecretID: testSecretID, SecretKey: testSecretKey, Region: testRegion,
		VpcID: "vpc-test", DefaultQPS: -1, MaxTargetsPerRule: 100000,
	})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Region:           testRegion,
		Endpoint:         u.Host,
		Scheme:           "HTTP",
		CredentialsDir:   writeCredentials(t, testSecretID, testSecretKey),
		RateLimits:       RateLimitConfig{QPS: -1},
		Retry:            RetryConfig{MaxRetries: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		TaskPollInterval: 2 * time.Millisecond,
		TaskTimeout:      5 * time.Second,
		RequestTimeout:   5 * time.Second,
		Registerer:       reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, c: c, reg: reg}
}

// ok returns how many calls of action clbsim answered successfully.
func (e *env) ok(action string) int { return e.sim.Calls()[action]["OK"] }

// total returns how many times clbsim saw action, whatever the result.
func (e *env) total(action string) int {
	n := 0
	for _, v := range e.sim.Calls()[action] {
		n += v
	}
	return n
}

// podTargets makes n targets of weight 10 per listener, with distinct IPs.
func podTargets(listenerIDs []string, n int) []targets.Target {
	out := make([]targets.Target, 0, len(listenerIDs)*n)
	for li, id := range listenerIDs {
		for i := range n {
			out = append(out, targets.Target{
				Key:    targets.Key{ListenerID: id, EniIP: fmt.Sprintf("10.%d.%d.%d", li, i/256, i%256), Port: 8080},
				Weight: 10,
				Tag:    "cbb-1",
			})
		}
	}
	return out
}

func sortedTargets(ts []targets.Target) []targets.Target {
	return slices.SortedFunc(slices.Values(ts), func(a, b targets.Target) int { return a.Compare(b.Key) })
}

// withoutReported drops what DescribeTargets reports besides the key, weight and tag.
func withoutReported(ts []targets.Target) []targets.Target {
	out := make([]targets.Target, len(ts))
	for i, t := range ts {
		t.Reported = targets.Identity{}
		out[i] = t
	}
	return out
}

func (e *env) listeners(lbID string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.sim.AddListener(lbID, "TCP", int64(10000+i))
	}
	return ids
}

func TestRetriesThroughTransientErrors(t *testing.T) {
	for _, fault := range []clbsim.Fault{
		{Code: "RequestLimitExceeded"},
		{Code: "FailedOperation.ResourceInOperating"},
		{Code: "InternalError"},
		{Drop: true},
	} {
		name := fault.Code
		if fault.Drop {
			name = "dropped connection"
		}
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, nil)
			lb := e.sim.AddLoadBalancer("retry")
			ts := podTargets(e.listeners(lb, 2), 3)

			fault.Action, fault.Count = "BatchRegisterTargets", 2
			e.sim.InjectFault(fault)
			res, err := e.c.RegisterTargets(t.Context(), lb, ts)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(BatchResult{}))
			g.Expect(e.total("BatchRegisterTargets")).To(Equal(3), "two faults, then success")
			g.Expect(e.ok("BatchRegisterTargets")).To(Equal(1))
			g.Expect(e.sim.Targets(lb)).To(HaveLen(len(ts)))
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	lb := e.sim.AddLoadBalancer("bounded")
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeListeners", Code: "InternalError", Rate: 1})

	_, err := e.c.DescribeListeners(t.Context(), lb)
	g.Expect(err).To(HaveOccurred())
	g.Expect(IsRetriable(err)).To(BeTrue(), "the caller may still requeue")
	g.Expect(Code(err)).To(Equal("InternalError"))
	g.Expect(err.Error()).To(ContainSubstring("describing listeners of " + lb))
	g.Expect(e.total("DescribeListeners")).To(Equal(5), "1 attempt + MaxRetries 4")
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	t.Run("LBIdNotFound", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		_, err := e.c.DescribeTargets(t.Context(), "lb-missing0", nil)
		g.Expect(IsNotFoundKind(err, KindLoadBalancer)).To(BeTrue(), "got %v", err)
		g.Expect(IsRetriable(err)).To(BeFalse())
		g.Expect(e.total("DescribeTargets")).To(Equal(1))

		_, err = e.c.GetLoadBalancer(t.Context(), "lb-missing0")
		g.Expect(IsNotFoundKind(err, KindLoadBalancer)).To(BeTrue(), "got %v", err)
	})
	t.Run("FormatError", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		lb := e.sim.AddLoadBalancer("format")
		e.sim.InjectFault(clbsim.Fault{Action: "BatchRegisterTargets", Code: "InvalidParameter.FormatError", Count: 1})
		res, err := e.c.RegisterTargets(t.Context(), lb, podTargets(e.listeners(lb, 1), 1))
		ice, ok := errors.AsType[*InvalidConfigError](err)
		g.Expect(ok).To(BeTrue(), "got %v", err)
		g.Expect(ice.Reason).To(Equal(ReasonInvalidParameter))
		g.Expect(res.FailedListenerIDs).To(HaveLen(1), "the chunk's listener is reported failed")
		g.Expect(e.total("BatchRegisterTargets")).To(Equal(1))
	})
	t.Run("wrong secret", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, func(c *Config) { c.CredentialsDir = writeCredentials(t, testSecretID, "wrong") })
		_, err := e.c.DescribeLoadBalancers(t.Context(), "lb-whatever")
		g.Expect(Code(err)).To(HavePrefix("AuthFailure"))
		g.Expect(IsRetriable(err)).To(BeFalse())
		g.Expect(e.total("DescribeLoadBalancers")).To(Equal(1))
		g.Expect(err.Error()).NotTo(ContainSubstring("wrong"), "the secret never appears in errors")
	})
}

func TestChunkingUsesMinimalCalls(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	ctx := t.Context()
	lb := e.sim.AddLoadBalancer("chunks")
	listeners := e.listeners(lb, 45)

	// 1,201 targets across 30 listeners: ceil(1201/500) = 3 calls.
	ts := podTargets(listeners[:30], 40)
	ts = append(ts, targets.Target{Key: targets.Key{ListenerID: listeners[0], EniIP: "10.99.0.1", Port: 8080}, Weight: 10})
	g.Expect(ts).To(HaveLen(1201))
	res, err := e.c.RegisterTargets(ctx, lb, append(ts, ts[:7]...)) // duplicates are dropped
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.FailedListenerIDs).To(BeEmpty())
	g.Expect(e.ok("BatchRegisterTargets")).To(Equal(3))
	g.Expect(e.sim.Targets(lb)).To(HaveLen(1201))

	// 45 listeners: ceil(45/20) = 3 DescribeTargets calls.
	got, err := e.c.DescribeTargets(ctx, lb, listeners)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.ok("DescribeTargets")).To(Equal(3))
	g.Expect(sortedTargets(withoutReported(got.Targets))).To(Equal(sortedTargets(ts))) // ConsistOf is quadratic

	// Weights: 1,201 targets in rules of ≤50 → 3 BatchModifyTargetWeight calls, each awaited.
	for i := range ts {
		ts[i].Weight = 0
	}
	_, err = e.c.ModifyTargetWeights(ctx, lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.ok("BatchModifyTargetWeight")).To(Equal(3))
	g.Expect(e.ok("DescribeTaskStatus")).To(BeNumerically(">=", 3))
	for _, st := range e.sim.Targets(lb) {
		g.Expect(st.Weight).To(BeZero())
	}

	res, err = e.c.DeregisterTargets(ctx, lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.FailedListenerIDs).To(BeEmpty())
	g.Expect(e.ok("BatchDeregisterTargets")).To(Equal(3))
	g.Expect(e.sim.Targets(lb)).To(BeEmpty())

	// 61 load balancers: ceil(61/30) = 3 DescribeTargetHealth calls.
	lbs := make([]string, 0, 61)
	lbs = append(lbs, lb)
	for i := range 60 {
		lbs = append(lbs, e.sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i)))
	}
	health, err := e.c.DescribeTargetHealth(ctx, lbs)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(health).To(HaveLen(61))
	g.Expect(e.ok("DescribeTargetHealth")).To(Equal(3))

	// 101 listener IDs: 2 DescribeListeners calls; 21 LBs: 2 DescribeLoadBalancers calls.
	more := append(listeners, e.listeners(lb, 56)...)
	ls, err := e.c.DescribeListeners(ctx, lb, more...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ls).To(HaveLen(101))
	g.Expect(e.ok("DescribeListeners")).To(Equal(2))
	found, err := e.c.DescribeLoadBalancers(ctx, lbs[:21]...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(HaveLen(21))
	g.Expect(e.ok("DescribeLoadBalancers")).To(Equal(2))
}

func TestPartialFailures(t *testing.T) {
	t.Run("FailListenerIdSet is surfaced", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		lb := e.sim.AddLoadBalancer("partial")
		ls := e.listeners(lb, 3)
		e.sim.InjectFault(clbsim.Fault{FailListenerIDs: []string{ls[1]}, Count: 1})

		res, err := e.c.RegisterTargets(t.Context(), lb, podTargets(ls, 2))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.FailedListenerIDs).To(Equal([]string{ls[1]}))
		g.Expect(res.Message).NotTo(BeEmpty())
		var onFailed int
		for _, st := range e.sim.Targets(lb) {
			if st.ListenerID == ls[1] {
				onFailed++
			}
		}
		g.Expect(onFailed).To(BeZero())
		g.Expect(e.sim.Targets(lb)).To(HaveLen(4))
	})
	t.Run("a failed chunk does not stop the others", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		lb := e.sim.AddLoadBalancer("chunks")
		ls := e.listeners(lb, 3)
		slices.Sort(ls) // targets are sent sorted by listener
		// Chunk 1 holds ls[0] and ls[1] (300 + 200), chunk 2 ls[1] and ls[2].
		ts := podTargets(ls, 300)
		e.sim.InjectFault(clbsim.Fault{Action: "BatchRegisterTargets", Code: "InvalidParameterValue.Duplicate", Count: 1})

		res, err := e.c.RegisterTargets(t.Context(), lb, ts)
		g.Expect(err).To(MatchError(ContainSubstring("registering 900 targets on " + lb)))
		g.Expect(IsRetriable(err)).To(BeFalse())
		g.Expect(res.FailedListenerIDs).To(Equal([]string{ls[0], ls[1]}))
		g.Expect(e.total("BatchRegisterTargets")).To(Equal(2))
		g.Expect(e.sim.Targets(lb)).To(HaveLen(400), "the second chunk was applied")
	})
	t.Run("a chunk still throttled after its retries stops the rest", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		lb := e.sim.AddLoadBalancer("throttled")
		ls := e.listeners(lb, 3)
		e.sim.InjectFault(clbsim.Fault{Action: "BatchRegisterTargets", Code: "RequestLimitExceeded", Rate: 1})

		res, err := e.c.RegisterTargets(t.Context(), lb, podTargets(ls, 300))
		g.Expect(IsRetriable(err)).To(BeTrue(), "got %v", err)
		g.Expect(res.FailedListenerIDs).To(ConsistOf(ls))
		g.Expect(e.total("BatchRegisterTargets")).To(Equal(5), "one chunk, 1 attempt + 4 retries")
	})
	t.Run("a missing load balancer stops at the first chunk", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		ts := podTargets([]string{"lbl-a", "lbl-b", "lbl-c"}, 300)
		res, err := e.c.DeregisterTargets(t.Context(), "lb-gone0000", ts)
		g.Expect(IsNotFoundKind(err, KindLoadBalancer)).To(BeTrue(), "got %v", err)
		g.Expect(res.FailedListenerIDs).To(Equal([]string{"lbl-a", "lbl-b", "lbl-c"}))
		g.Expect(e.total("BatchDeregisterTargets")).To(Equal(1))
	})
}

func TestContextCancelStopsRetryLoop(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(c *Config) {
		c.Retry = RetryConfig{MaxRetries: 1000, BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second}
	})
	lb := e.sim.AddLoadBalancer("cancel")
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeTargets", Code: "RequestLimitExceeded", Rate: 1})

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := e.c.DescribeTargets(ctx, lb, nil)
	g.Expect(time.Since(start)).To(BeNumerically("<", 150*time.Millisecond))
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "got %v", err)
	g.Expect(e.total("DescribeTargets")).To(Equal(1))

	// A request in flight is abandoned too.
	e.sim.ClearFaults()
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeTargets", Delay: 5 * time.Second, Count: 1})
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = e.c.DescribeTargets(ctx, lb, nil)
	g.Expect(time.Since(start)).To(BeNumerically("<", time.Second))
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "got %v", err)
}

func TestRateLimiterPacesCalls(t *testing.T) {
	g := NewWithT(t)
	const (
		n     = 8
		qps   = 20.0
		burst = 2
	)
	e := newEnv(t, func(c *Config) {
		c.RateLimits = RateLimitConfig{QPS: -1, PerAction: map[string]float64{"DescribeListeners": qps}, Burst: burst}
	})
	lb := e.sim.AddLoadBalancer("paced")

	start := time.Now()
	for range n {
		_, err := e.c.DescribeListeners(t.Context(), lb)
		g.Expect(err).NotTo(HaveOccurred())
	}
	// The bucket starts empty, so every call waits its turn (the burst is in ratelimit_test.go).
	want := time.Duration(float64(n) / qps * float64(time.Second)) // 400ms
	g.Expect(time.Since(start)).To(BeNumerically("~", want, 100*time.Millisecond))

	// Other actions have their own (here unlimited) bucket.
	start = time.Now()
	for range n {
		_, err := e.c.DescribeTargets(t.Context(), lb, nil)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(time.Since(start)).To(BeNumerically("<", want/2))
}

func TestWaitTask(t *testing.T) {
	t.Run("failed task", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, nil)
		lb := e.sim.AddLoadBalancer("taskfail")
		ts := podTargets(e.listeners(lb, 1), 2)
		_, err := e.c.RegisterTargets(t.Context(), lb, ts)
		g.Expect(err).NotTo(HaveOccurred())

		e.sim.InjectFault(clbsim.Fault{Action: "BatchModifyTargetWeight", TaskFail: true, Count: 1})
		res, err := e.c.ModifyTargetWeights(t.Context(), lb, ts)
		_, ok := errors.AsType[*TaskFailedError](err)
		g.Expect(ok).To(BeTrue(), "got %v", err)
		g.Expect(res.FailedListenerIDs).To(Equal([]string{ts[0].ListenerID}))
	})
	t.Run("task outlives the wait", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, func(c *Config) { c.TaskTimeout = 50 * time.Millisecond })
		lb := e.sim.AddLoadBalancer("slow")
		ls := e.listeners(lb, 1)
		e.sim.SetLatency(clbsim.Latency{TaskFixed: 10 * time.Second})
		err := e.c.ModifyListenerHealthCheck(t.Context(), lb, ls[0], HealthCheck{Enabled: true})
		g.Expect(err).To(HaveOccurred())
		_, ok := errors.AsType[*ConflictError](err)
		g.Expect(ok).To(BeTrue(), "got %v", err)
		g.Expect(IsRetriable(err)).To(BeTrue())
	})
}

func TestTargetsListenersAndHealthRoundTrip(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	ctx := t.Context()
	lb := e.sim.AddLoadBalancer("roundtrip")
	tcp := e.sim.AddListener(lb, "TCP", 80)
	web := e.sim.AddListener(lb, "HTTP", 8080)
	loc := e.sim.AddRule(lb, web, "example.com", "/api")

	ts := []targets.Target{
		{Key: targets.Key{ListenerID: tcp, EniIP: "10.0.0.1", Port: 80}, Weight: 10, Tag: "cbb-a"},
		{Key: targets.Key{ListenerID: tcp, EniIP: "10.0.0.2", Port: 80}, Weight: 0, Tag: "cbb-a"},
		{Key: targets.Key{ListenerID: web, LocationID: loc, EniIP: "10.0.0.3", Port: 8080}, Weight: 50, Tag: "cbb-b"},
	}
	_, err := e.c.RegisterTargets(ctx, lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := e.c.DescribeTargets(ctx, lb, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(withoutReported(got.Targets)).To(ConsistOf(ts), "weight 0 and tags survive the round trip")
	g.Expect(got.Listeners).To(ConsistOf(
		Listener{ID: tcp, Protocol: "TCP", Port: 80},
		Listener{ID: web, Protocol: "HTTP", Port: 8080, Rules: []Rule{{LocationID: loc, Domain: "example.com", URL: "/api"}}},
	), "the answer names each listener's protocol, port and rules")
	g.Expect(got.Missing([]string{tcp, "lbl-gone0000"})).To(Equal([]string{"lbl-gone0000"}))

	e.sim.SetHealth(clbsim.HealthSelector{IP: "10.0.0.1"}, "Alive")
	e.sim.SetHealth(clbsim.HealthSelector{IP: "10.0.0.2"}, "Dead")
	e.sim.SetHealth(clbsim.HealthSelector{IP: "10.0.0.3"}, "Alive")
	health, err := e.c.DescribeTargetHealth(ctx, []string{lb, "lb-missing0"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(health).To(HaveKey(lb))
	g.Expect(health).NotTo(HaveKey("lb-missing0"), "a missing LB is left out, not an error")
	g.Expect(health[lb]).To(ConsistOf(
		TargetHealth{Key: ts[0].Key, Healthy: true, Detail: HealthAlive},
		TargetHealth{Key: ts[1].Key, Healthy: false, Detail: HealthDead},
		TargetHealth{Key: ts[2].Key, Healthy: true, Detail: HealthAlive},
	))

	ls, err := e.c.DescribeListeners(ctx, lb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ls).To(HaveLen(2))
	_, err = e.c.DescribeListeners(ctx, lb, "lbl-missing0")
	g.Expect(IsNotFoundKind(err, KindListener)).To(BeTrue(), "got %v", err)

	hc := HealthCheck{Enabled: true, CheckType: "TCP", TimeoutSeconds: 2, IntervalSeconds: 5, HealthyThreshold: 3, UnhealthyThreshold: 3, SourceIPType: new(int64(1))}
	g.Expect(e.c.ModifyListenerHealthCheck(ctx, lb, tcp, hc)).To(Succeed())
	rhc := HealthCheck{Enabled: true, CheckType: "HTTP", HTTPCheckPath: "/healthz", HTTPCode: 2, IntervalSeconds: 10}
	g.Expect(e.c.ModifyRuleHealthCheck(ctx, lb, web, loc, rhc)).To(Succeed())
	ls, err = e.c.DescribeListeners(ctx, lb, tcp, web)
	g.Expect(err).NotTo(HaveOccurred())
	for _, l := range ls {
		switch l.ID {
		case tcp:
			g.Expect(l.Protocol).To(Equal("TCP"))
			g.Expect(l.HealthCheck).To(PointTo(MatchFields(IgnoreExtras, Fields{
				"Enabled": BeTrue(), "IntervalSeconds": BeEquivalentTo(5), "SourceIPType": PointTo(BeEquivalentTo(1)),
			})))
		case web:
			g.Expect(l.Rules).To(HaveLen(1))
			g.Expect(l.Rules[0]).To(MatchFields(IgnoreExtras, Fields{"LocationID": Equal(loc), "Domain": Equal("example.com"), "URL": Equal("/api")}))
			g.Expect(l.Rules[0].HealthCheck).To(PointTo(MatchFields(IgnoreExtras, Fields{
				"Enabled": BeTrue(), "HTTPCheckPath": Equal("/healthz"), "IntervalSeconds": BeEquivalentTo(10),
			})))
		}
	}

	lbInfo, err := e.c.GetLoadBalancer(ctx, lb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lbInfo).To(MatchFields(IgnoreExtras, Fields{"ID": Equal(lb), "VpcID": Equal("vpc-test"), "Region": Equal(testRegion), "Running": BeTrue()}))
}

func TestMetricsCountCallsByActionAndCode(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	lb := e.sim.AddLoadBalancer("metrics")
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeTargets", Code: "RequestLimitExceeded", Count: 2})
	_, err := e.c.DescribeTargets(t.Context(), lb, nil)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = e.c.DescribeTargets(t.Context(), "lb-missing0", nil)
	g.Expect(err).To(HaveOccurred())

	calls := e.c.metrics.calls
	g.Expect(testutil.ToFloat64(calls.WithLabelValues("DescribeTargets", "OK"))).To(BeEquivalentTo(1))
	g.Expect(testutil.ToFloat64(calls.WithLabelValues("DescribeTargets", "RequestLimitExceeded"))).To(BeEquivalentTo(2))
	g.Expect(testutil.ToFloat64(calls.WithLabelValues("DescribeTargets", "InvalidParameter.LBIdNotFound"))).To(BeEquivalentTo(1))

	// Both metrics are in the registry the Config named.
	n, err := testutil.GatherAndCount(e.reg, "clbind_clb_api_calls_total", "clbind_clb_api_call_duration_seconds")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(4), "3 counter series and 1 histogram series")

	// A second client on the same registry shares the collectors instead of failing.
	c2, err := New(Config{Region: testRegion, CredentialsDir: writeCredentials(t, "a", "b"), Registerer: e.reg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c2.metrics.calls).To(BeIdenticalTo(calls))
}
