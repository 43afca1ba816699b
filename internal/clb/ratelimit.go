package clb

import (
	"context"
	"math"
	"sync"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per API action. The cloud limits each
// action separately (20 QPS by default), so one busy action must not starve
// the others.
type limiters struct {
	cfg RateLimitConfig

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiters(cfg RateLimitConfig) *limiters {
	return &limiters{cfg: cfg, buckets: map[string]*rate.Limiter{}}
}

// wait blocks until action may be called or ctx is done.
func (l *limiters) wait(ctx context.Context, action string) error {
	return l.get(action).Wait(ctx)
}

func (l *limiters) get(action string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[action]; ok {
		return b
	}
	qps := l.cfg.QPS
	if v, ok := l.cfg.PerAction[action]; ok && v != 0 {
		qps = v
	}
	b := newBucket(qps, l.cfg.Burst)
	l.buckets[action] = b
	return b
}

func newBucket(qps float64, burst int) *rate.Limiter {
	if qps < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(qps)))
	}
	return rate.NewLimiter(rate.Limit(qps), burst)
}
