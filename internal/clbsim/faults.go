package clbsim

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fault is an injected failure or slowdown. A Fault matches calls of Action
// ("" = every action, or every write with Writes) and fires with probability Rate,
// or on every Every-th matching call; with Rate 0, Every 0 and Count > 0 it fires
// on the next Count matching calls.
type Fault struct {
	Action string        // "" = every action
	Writes bool          // match only actions that change state (not Describe*)
	Every  int           // fire on every Every-th matching call (2 = every second one)
	Code   string        // error code returned, e.g. "RequestLimitExceeded", "InternalError"
	Rate   float64       // probability per matching call (0 with Count>0 means "next Count calls")
	Count  int           // stop after this many injections; 0 = unlimited (with Rate)
	Delay  time.Duration // slow response (added before answering)
	Drop   bool          // close the connection without answering
	// FailListenerIDs makes Batch(De)RegisterTargets report these listeners in
	// FailListenerIdSet and skip their targets. Such a fault only matches those two actions.
	FailListenerIDs []string
	// TaskFail lets the call succeed but makes its async task end with Status 1
	// without applying the change.
	TaskFail bool

	seen int // matching calls so far, for Every
}

// IsWrite reports whether an action may change the cloud: every action but the Describe ones.
func IsWrite(action string) bool { return !strings.HasPrefix(action, "Describe") }

// matches reports whether f applies to action.
func (f *Fault) matches(action string) bool {
	if len(f.FailListenerIDs) > 0 && action != "BatchRegisterTargets" && action != "BatchDeregisterTargets" {
		return false
	}
	if f.Writes && !IsWrite(action) {
		return false
	}
	return f.Action == "" || f.Action == action
}

// ctlState holds the run-time knobs: faults, latency and rate limits.
type ctlState struct {
	mu         sync.Mutex
	faults     []*Fault
	lat        Latency
	defaultQPS float64
	qps        map[string]float64 // per-action overrides
	// defaultForeign and foreign are what other clients of the account spend of
	// each action's rate (SetForeignQPS); foreign holds per-action overrides.
	defaultForeign float64
	foreign        map[string]float64
	limiters       map[string]*rate.Limiter // built lazily per action
}

func (c *ctlState) init(opts Options) {
	c.lat = opts.Latency
	c.defaultQPS = opts.DefaultQPS
	c.qps = map[string]float64{}
	c.defaultForeign = max(0, opts.ForeignQPS)
	c.foreign = map[string]float64{}
	c.limiters = map[string]*rate.Limiter{}
}

// InjectFault adds a fault. Faults are tried in the order they were added and
// the first one that fires decides the call.
func (s *Sim) InjectFault(f Fault) {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.faults = append(s.ctl.faults, &f)
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.faults = nil
}

// SetLatency replaces the latency model.
func (s *Sim) SetLatency(l Latency) {
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.lat = l
}

// SetQPS sets the rate limit of one action; action "" sets the default of
// every action without an override. qps < 0 means unlimited, 0 means 20.
func (s *Sim) SetQPS(action string, qps float64) {
	if qps == 0 {
		qps = defaultQPS
	}
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.setPerAction(&s.ctl.defaultQPS, s.ctl.qps, action, qps)
}

// SetForeignQPS says that other clients of the account (the console, Terraform,
// another controller) spend qps of the action's rate limit, so only the limit
// minus qps is left to the callers of this Sim; calls past it get
// RequestLimitExceeded. Action "" sets the share of every action without an
// override. qps <= 0 means no share (for one action, even when every action
// has one). An unlimited action stays unlimited.
func (s *Sim) SetForeignQPS(action string, qps float64) {
	qps = max(0, qps)
	s.ctl.mu.Lock()
	defer s.ctl.mu.Unlock()
	s.ctl.setPerAction(&s.ctl.defaultForeign, s.ctl.foreign, action, qps)
}

// setPerAction stores v as the default of every action (action "") or as action's override,
// and drops the limiters built from the old value. Callers hold c.mu.
func (c *ctlState) setPerAction(def *float64, overrides map[string]float64, action string, v float64) {
	if action == "" {
		*def = v
		c.limiters = map[string]*rate.Limiter{}
		return
	}
	overrides[action] = v
	delete(c.limiters, action)
}

func (c *ctlState) latency() Latency {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lat
}

// allow takes one token from the action's bucket at time now. The bucket
// refills at the action's limit minus the foreign share and holds one second's
// worth of those calls, so a burst of that many passes. The foreign share is
// modelled as a steady rate, not as calls, so the counts stay deterministic.
func (c *ctlState) allow(action string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	lim := c.limiters[action]
	if lim == nil {
		lim = c.newLimiter(action)
		c.limiters[action] = lim
	}
	return lim.AllowN(now, 1)
}

func (c *ctlState) newLimiter(action string) *rate.Limiter {
	qps, ok := c.qps[action]
	if !ok {
		qps = c.defaultQPS
	}
	if qps < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	foreign, ok := c.foreign[action]
	if !ok {
		foreign = c.defaultForeign
	}
	left := qps - foreign
	if left <= 0 {
		return rate.NewLimiter(0, 0) // refuses every call
	}
	return rate.NewLimiter(rate.Limit(left), max(1, int(math.Ceil(left))))
}

// fire returns a copy of the first fault that fires for action, or nil.
func (c *ctlState) fire(action string) *Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.faults {
		if !f.matches(action) {
			continue
		}
		if f.Every > 0 {
			f.seen++
			if f.seen%f.Every != 0 {
				continue
			}
		} else if f.Rate > 0 && rand.Float64() >= f.Rate {
			continue
		}
		if f.Rate <= 0 && f.Every <= 0 && f.Count <= 0 {
			continue
		}
		fired := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				c.faults = append(c.faults[:i:i], c.faults[i+1:]...)
			}
		}
		return &fired
	}
	return nil
}
