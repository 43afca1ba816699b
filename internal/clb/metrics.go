package clb

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const metricsNamespace = "clbind_clb"

// labelAction is the label holding the API action name.
const labelAction = "action"

// Label values for calls that did not get a cloud error code.
const (
	codeOK       = "OK"
	codeCanceled = "Canceled"
	codeUnknown  = "Unknown"
)

// clientMetrics are the per-action API metrics. Every attempt counts,
// retries included, because every attempt spends the account's quota.
type clientMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// rateLimit is each action's current client-side rate (ratelimit.go).
	rateLimit *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*clientMetrics, error) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Name:      "api_calls_total",
		Help:      "CLB API calls by action and result code (OK, a cloud error code, or Canceled).",
	}, []string{labelAction, "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "api_call_duration_seconds",
		Help:      "Latency of one CLB API call attempt, by action.",
		Buckets:   []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{labelAction})
	rateLimit := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace,
		Name:      "api_rate_limit_qps",
		Help:      "Calls per second the client currently allows itself for an action: the configured rate, lowered after RequestLimitExceeded.",
	}, []string{labelAction})

	var err error
	if calls, err = register(reg, calls); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	if rateLimit, err = register(reg, rateLimit); err != nil {
		return nil, err
	}
	return &clientMetrics{calls: calls, duration: duration, rateLimit: rateLimit}, nil
}

// register registers c, or returns the collector already registered under the
// same name, so that several clients (tests, or one per region) can share a
// registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *clientMetrics) observe(action, code string, took time.Duration) {
	m.calls.WithLabelValues(action, code).Inc()
	m.duration.WithLabelValues(action).Observe(took.Seconds())
}
