package clb

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

// The cloud's limit of 20 calls per second per action is per account: the
// console, Terraform and other controllers spend the same budget. So each
// action's rate adapts (AIMD, as TCP does): a RequestLimitExceeded halves it,
// and each second without one gives back a twentieth of the configured rate.
const (
	// decreaseFactor multiplies the rate on a refusal.
	decreaseFactor = 0.5
	// minAdaptiveQPS is the floor of a lowered rate (or the configured rate if lower).
	minAdaptiveQPS = 1.0
	// decreaseHold is how long after a decrease further refusals are taken as
	// the same overrun: the calls already in flight were sent at the old rate,
	// and the cloud counts its limit per second.
	decreaseHold = time.Second
	// recoverEvery is how long the rate must go without a refusal before each
	// step back up.
	recoverEvery = time.Second
	// recoverSteps is how many steps lead from zero to the configured rate.
	recoverSteps = 20
)

// limiters holds one adaptive token bucket per API action. The cloud limits
// each action separately, so one busy action must not starve the others.
type limiters struct {
	cfg   RateLimitConfig
	clock clock.Clock
	gauge *prometheus.GaugeVec // the current rate per action; nil = not reported

	mu      sync.Mutex
	buckets map[string]*adaptiveBucket // nil for an unlimited action
}

func newLimiters(cfg RateLimitConfig, clk clock.Clock, gauge *prometheus.GaugeVec) *limiters {
	return &limiters{cfg: cfg, clock: clk, gauge: gauge, buckets: map[string]*adaptiveBucket{}}
}

// wait blocks until action may be called or ctx is done. A ctx already done
// returns at once, so a canceled call is never sent.
func (l *limiters) wait(ctx context.Context, action string) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	b := l.get(action)
	if b == nil {
		return nil
	}
	return b.wait(ctx)
}

// throttled reports that a call of action sent at sentAt was refused with
// RequestLimitExceeded. It returns false when the action has no limit, so
// nothing paces its retries.
func (l *limiters) throttled(action string, sentAt time.Time) bool {
	b := l.get(action)
	if b == nil {
		return false
	}
	b.throttled(sentAt)
	return true
}

// qps returns the action's current rate, or -1 if it is unlimited.
func (l *limiters) qps(action string) float64 {
	b := l.get(action)
	if b == nil {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recover(b.clock.Now())
	return b.qps
}

func (l *limiters) get(action string) *adaptiveBucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[action]; ok {
		return b
	}
	qps := l.cfg.QPS
	if v, ok := l.cfg.PerAction[action]; ok && v != 0 {
		qps = v
	}
	var b *adaptiveBucket
	if qps > 0 {
		var gauge prometheus.Gauge
		if l.gauge != nil {
			gauge = l.gauge.WithLabelValues(action)
		}
		b = newAdaptiveBucket(qps, l.cfg.Burst, l.clock, gauge)
	}
	l.buckets[action] = b
	return b
}

// adaptiveBucket is a token bucket whose rate moves between a floor and the
// configured rate. Unlike x/time/rate, whose reservations keep the rate they
// were made at, a lowered rate applies to every caller still waiting.
type adaptiveBucket struct {
	ceiling float64 // the configured rate
	floor   float64
	// burstSeconds is how many seconds of calls the bucket holds.
	burstSeconds float64
	clock        clock.Clock
	gauge        prometheus.Gauge // nil = not reported
	// turn is held by the one caller waiting for the next token, so the others
	// queue in order instead of all waking for each token.
	turn chan struct{}

	mu       sync.Mutex
	qps      float64
	tokens   float64
	filledAt time.Time
	// decreasedAt is the last decrease; calmSince is where the next step up
	// counts from (a refusal or the last step).
	decreasedAt, calmSince time.Time
}

func newAdaptiveBucket(qps float64, burst int, clk clock.Clock, gauge prometheus.Gauge) *adaptiveBucket {
	burstSeconds := 1.0
	if burst > 0 {
		burstSeconds = float64(burst) / qps
	}
	now := clk.Now()
	b := &adaptiveBucket{
		ceiling: qps, floor: min(minAdaptiveQPS, qps), burstSeconds: burstSeconds,
		clock: clk, gauge: gauge, turn: make(chan struct{}, 1),
		// It starts empty: a client (re)starting cannot know what the account
		// spent in the last second, so it starts at its rate, not with a burst.
		qps: qps, filledAt: now, calmSince: now,
	}
	b.report()
	return b
}

func (b *adaptiveBucket) wait(ctx context.Context) error {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-b.turn }()
	for {
		d := b.take()
		if d <= 0 {
			return nil
		}
		t := b.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C():
		}
	}
}

// take takes a token if there is one and returns 0, or else how long until
// there will be one at the current rate.
func (b *adaptiveBucket) take() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.recover(now)
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return max(time.Nanosecond, time.Duration((1-b.tokens)/b.qps*float64(time.Second)))
}

// throttled lowers the rate, unless the refusal is of a call sent before the
// last decrease or comes within decreaseHold of it.
func (b *adaptiveBucket) throttled(sentAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.recover(now)
	b.calmSince = now
	if sentAt.Before(b.decreasedAt) || now.Sub(b.decreasedAt) < decreaseHold {
		return
	}
	b.refill(now)
	b.qps = max(b.floor, b.qps*decreaseFactor)
	// The account's budget is spent right now: do not burst into it.
	b.tokens = 0
	b.decreasedAt = now
	b.report()
}

// recover raises the rate one step for each recoverEvery since calmSince.
func (b *adaptiveBucket) recover(now time.Time) {
	if b.qps >= b.ceiling {
		b.calmSince = now
		return
	}
	steps := now.Sub(b.calmSince) / recoverEvery
	if steps <= 0 {
		return
	}
	b.refill(now) // the time so far counts at the old rate
	b.qps = min(b.ceiling, b.qps+float64(steps)*b.ceiling/recoverSteps)
	b.calmSince = b.calmSince.Add(steps * recoverEvery)
	b.report()
}

// refill adds the tokens earned since filledAt, up to the burst of the current rate.
func (b *adaptiveBucket) refill(now time.Time) {
	burst := max(1, math.Ceil(b.qps*b.burstSeconds))
	if elapsed := now.Sub(b.filledAt); elapsed > 0 {
		b.tokens += elapsed.Seconds() * b.qps
	}
	b.tokens = min(b.tokens, burst)
	b.filledAt = now
}

func (b *adaptiveBucket) report() {
	if b.gauge != nil {
		b.gauge.Set(b.qps)
	}
}
