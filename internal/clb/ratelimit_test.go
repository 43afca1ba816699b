package clb

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"
)

const testAction = actionDescribeTargets

// newTestLimiters returns limiters on a fake clock whose rate gauge is in a fresh registry.
func newTestLimiters(t *testing.T, cfg RateLimitConfig) (*limiters, *testingclock.FakeClock, *prometheus.GaugeVec) {
	t.Helper()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return newLimiters(cfg, fc, m.rateLimit), fc, m.rateLimit
}

func TestLimitersFromConfig(t *testing.T) {
	g := NewWithT(t)
	l, fc, gauge := newTestLimiters(t, RateLimitConfig{QPS: 20, PerAction: map[string]float64{
		actionDescribeTargetHealth: 5, actionModifyRule: -1, actionDescribeListeners: 0,
	}})
	g.Expect(l.qps(actionDescribeTargetHealth)).To(Equal(5.0), "a per-action override")
	g.Expect(l.qps(actionDescribeListeners)).To(Equal(20.0), "an override of 0 means the default")
	g.Expect(l.qps(actionModifyRule)).To(Equal(-1.0), "a negative override is unlimited")
	g.Expect(l.get(testAction)).To(BeIdenticalTo(l.get(testAction)))
	g.Expect(testutil.ToFloat64(gauge.WithLabelValues(actionDescribeTargetHealth))).To(Equal(5.0))

	// An unlimited action never waits, and a refusal does not pace it.
	ctx := t.Context()
	for range 100 {
		g.Expect(l.wait(ctx, actionModifyRule)).To(Succeed())
	}
	g.Expect(l.throttled(actionModifyRule, fc.Now())).To(BeFalse())
	g.Expect(l.throttled(testAction, fc.Now())).To(BeTrue())
}

func TestBurst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       RateLimitConfig
		wantBurst int
	}{
		{name: "one second of calls", cfg: RateLimitConfig{QPS: 20}, wantBurst: 20},
		{name: "rounded up", cfg: RateLimitConfig{QPS: 2.5}, wantBurst: 3},
		{name: "at least one", cfg: RateLimitConfig{QPS: 0.2}, wantBurst: 1},
		{name: "configured", cfg: RateLimitConfig{QPS: 20, Burst: 5}, wantBurst: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			l, fc, _ := newTestLimiters(t, tc.cfg)
			b := l.get(testAction)
			g.Expect(b.take()).To(BeNumerically(">", 0), "a new bucket starts empty")
			fc.Step(time.Minute)
			for i := range tc.wantBurst {
				g.Expect(b.take()).To(BeZero(), "call %d of the burst", i+1)
			}
			g.Expect(b.take()).To(BeNumerically(">", 0), "past the burst")
		})
	}
}

// rateEvent moves the fake clock by after, then, if refused, reports a refusal
// of a call sent sentAgo earlier; the rate must then be want.
type rateEvent struct {
	after   time.Duration
	refused bool
	sentAgo time.Duration
	want    float64
}

func TestAdaptiveRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qps    float64
		events []rateEvent
	}{
		{name: "a refusal halves the rate", qps: 20, events: []rateEvent{
			{refused: true, want: 10},
		}},
		{name: "refusals within a second of a decrease count once", qps: 20, events: []rateEvent{
			{refused: true, want: 10},
			{after: 10 * time.Millisecond, refused: true, want: 10},
			{after: 980 * time.Millisecond, refused: true, want: 10},
			{after: 10 * time.Millisecond, refused: true, want: 5},
		}},
		{name: "a refusal of a call sent before the decrease does not count", qps: 20, events: []rateEvent{
			{refused: true, want: 10},
			// The step up due after a second stays; the old call's refusal takes nothing off.
			{after: 1500 * time.Millisecond, refused: true, sentAgo: 1600 * time.Millisecond, want: 11},
			{after: 500 * time.Millisecond, refused: true, sentAgo: 400 * time.Millisecond, want: 5.5},
		}},
		{name: "the rate does not fall below 1 QPS", qps: 4, events: []rateEvent{
			{refused: true, want: 2},
			{after: time.Second, refused: true, want: 1.1}, // 2 + 0.2 recovered, then halved
			{after: time.Second, refused: true, want: 1},
			{after: time.Second, refused: true, want: 1},
		}},
		{name: "a configured rate below the floor stays", qps: 0.5, events: []rateEvent{
			{refused: true, want: 0.5},
		}},
		{name: "a second without refusals gives back a twentieth", qps: 20, events: []rateEvent{
			{refused: true, want: 10},
			{after: 999 * time.Millisecond, want: 10},
			{after: time.Millisecond, want: 11},
			{after: 3 * time.Second, want: 14},
		}},
		{name: "a refusal restarts the quiet period", qps: 20, events: []rateEvent{
			{refused: true, want: 10},
			{after: 500 * time.Millisecond, refused: true, want: 10},
			{after: 900 * time.Millisecond, want: 10},
			{after: 100 * time.Millisecond, want: 11},
		}},
		{name: "never above the configured rate", qps: 20, events: []rateEvent{
			{after: time.Minute, want: 20},
			{refused: true, want: 10},
			{after: time.Hour, want: 20},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			l, fc, gauge := newTestLimiters(t, RateLimitConfig{QPS: tc.qps})
			for i, ev := range tc.events {
				fc.Step(ev.after)
				if ev.refused {
					l.throttled(testAction, fc.Now().Add(-ev.sentAgo))
				}
				g.Expect(l.qps(testAction)).To(BeNumerically("~", ev.want, 1e-9), "event %d", i)
				g.Expect(testutil.ToFloat64(gauge.WithLabelValues(testAction))).To(BeNumerically("~", ev.want, 1e-9), "gauge after event %d", i)
			}
		})
	}
}

// waiter runs l.wait in a goroutine; done is closed when it returns.
func waiter(ctx context.Context, l *limiters, errs *sync.Map, name string) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.wait(ctx, testAction); err != nil {
			errs.Store(name, err)
		}
	}()
	return done
}

func TestWaitersAreReleasedAtTheCurrentRate(t *testing.T) {
	g := NewWithT(t)
	l, fc, _ := newTestLimiters(t, RateLimitConfig{QPS: 20})
	var errs sync.Map
	released := func(done chan struct{}) func() bool {
		return func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
	}

	// The bucket starts empty: the first caller waits 50 ms, the second queues behind it.
	first := waiter(t.Context(), l, &errs, "first")
	g.Eventually(fc.HasWaiters).Should(BeTrue())
	second := waiter(t.Context(), l, &errs, "second")
	fc.Step(50 * time.Millisecond)
	g.Eventually(released(first)).Should(BeTrue())
	g.Eventually(fc.HasWaiters).Should(BeTrue(), "the second caller waits for its own token")
	g.Expect(released(second)()).To(BeFalse())

	// A refusal now halves the rate for the caller already waiting: 100 ms, not 50.
	l.throttled(testAction, fc.Now())
	fc.Step(50 * time.Millisecond)
	g.Eventually(fc.HasWaiters).Should(BeTrue())
	g.Consistently(released(second), 20*time.Millisecond).Should(BeFalse())
	fc.Step(50 * time.Millisecond)
	g.Eventually(released(second)).Should(BeTrue())

	// A canceled caller stops waiting.
	ctx, cancel := context.WithCancel(t.Context())
	third := waiter(ctx, l, &errs, "third")
	g.Eventually(fc.HasWaiters).Should(BeTrue())
	cancel()
	g.Eventually(released(third)).Should(BeTrue())
	loaded, _ := errs.Load("third")
	err, _ := loaded.(error)
	g.Expect(err).To(MatchError(context.Canceled))
	_, failed := errs.Load("second")
	g.Expect(failed).To(BeFalse())
}

// TestForeignShareOfTheBudget runs calls of one action through the SDK against
// clbsim while another client spends half of the action's budget: the client
// lowers its rate instead of being refused half the time.
func TestForeignShareOfTheBudget(t *testing.T) {
	const (
		budget   = 100 // clbsim's limit; a multiple of the real 20 to keep the test short
		calls    = 300
		callers  = 8
		maxShare = 0.05
	)
	g := NewWithT(t)
	e := newEnv(t, func(c *Config) { c.RateLimits = RateLimitConfig{QPS: budget} })
	e.sim.SetQPS("", budget)
	e.sim.SetForeignQPS("", budget/2)
	lb := e.sim.AddLoadBalancer("shared")

	work := make(chan struct{})
	go func() {
		defer close(work)
		for range calls {
			work <- struct{}{}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for range work {
				if _, err := e.c.DescribeTargets(t.Context(), lb, nil); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)

	g.Expect(failed).To(BeEmpty())
	refused := e.sim.Calls()[actionDescribeTargets]["RequestLimitExceeded"]
	total := e.total(actionDescribeTargets)
	t.Logf("%d calls in %v: %d attempts, %d refused (%.1f%%), rate now %.1f QPS",
		calls, took.Round(time.Millisecond), total, refused, 100*float64(refused)/float64(total), e.c.limiters.qps(actionDescribeTargets))
	g.Expect(e.ok(actionDescribeTargets)).To(Equal(calls))
	g.Expect(float64(refused)/float64(total)).To(BeNumerically("<=", maxShare),
		"%d of %d attempts refused with RequestLimitExceeded", refused, total)
}

// The foreign share must be what makes the difference: the same options with
// the whole budget are never refused.
func TestWholeBudgetIsNeverRefused(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(c *Config) { c.RateLimits = RateLimitConfig{QPS: 100} })
	e.sim.SetQPS("", 100)
	lb := e.sim.AddLoadBalancer("alone")
	for range 150 {
		_, err := e.c.DescribeTargets(t.Context(), lb, nil)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(e.sim.Calls()[actionDescribeTargets]["RequestLimitExceeded"]).To(BeZero())
	g.Expect(e.c.limiters.qps(actionDescribeTargets)).To(Equal(100.0))
}
