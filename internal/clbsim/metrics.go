package clbsim

import (
	"maps"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// observer counts calls by action and result, in memory and as Prometheus metrics.
type observer struct {
	mu       sync.Mutex
	calls    map[string]map[string]int
	registry *prometheus.Registry
	counter  *prometheus.CounterVec
}

func (o *observer) init() {
	o.calls = map[string]map[string]int{}
	o.registry = prometheus.NewRegistry()
	o.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clbsim_api_calls_total",
		Help: "CLB API calls served by clbsim, by action and result (OK or the error code).",
	}, []string{"action", "result"})
	o.registry.MustRegister(o.counter)
}

func (o *observer) record(action, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls[action] == nil {
		o.calls[action] = map[string]int{}
	}
	o.calls[action][result]++
	o.counter.WithLabelValues(action, result).Inc()
}

// Calls returns action → result ("OK" or error code) → count since the last ResetCalls.
func (s *Sim) Calls() map[string]map[string]int {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	out := make(map[string]map[string]int, len(s.obs.calls))
	for action, results := range s.obs.calls {
		out[action] = maps.Clone(results)
	}
	return out
}

// ResetCalls zeroes the counters returned by Calls. The Prometheus counters
// keep counting, as counters must.
func (s *Sim) ResetCalls() {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	s.obs.calls = map[string]map[string]int{}
}

// metricsHandler serves the Prometheus text format.
func (s *Sim) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.obs.registry, promhttp.HandlerOpts{})
}
