package clbsim

import (
	"slices"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Health states, as HealthStatusDetail reports them, plus the scripted Flapping.
const (
	healthAlive    = "Alive"
	healthDead     = "Dead"
	healthUnknown  = "Unknown"
	healthClose    = "Close"
	healthFlapping = "Flapping"
)

// HealthSelector picks targets for SetHealth. Empty fields match anything.
type HealthSelector struct {
	LoadBalancerID, ListenerID, LocationID, IP string
	Port                                       int64
}

func (sel HealthSelector) matches(lbID, listenerID, locationID string, b *backend) bool {
	return (sel.LoadBalancerID == "" || sel.LoadBalancerID == lbID) &&
		(sel.ListenerID == "" || sel.ListenerID == listenerID) &&
		(sel.LocationID == "" || sel.LocationID == locationID) &&
		(sel.IP == "" || sel.IP == b.eniIP || sel.IP == b.instanceID) &&
		(sel.Port == 0 || sel.Port == b.port)
}

// healthOverride is one SetHealth call; the latest matching override wins.
type healthOverride struct {
	sel   HealthSelector
	state string // "" = back to the scripted default
	setAt time.Time
}

// validHealthState reports whether SetHealth accepts state.
func validHealthState(state string) bool {
	switch state {
	case "", healthAlive, healthDead, healthUnknown, healthFlapping:
		return true
	}
	return false
}

// SetHealth forces the health of the selected targets: "Alive", "Dead",
// "Unknown", "Flapping" (alternates Alive and Dead every check interval), or ""
// to return to the scripted default. Other states are ignored.
func (s *Sim) SetHealth(sel HealthSelector, state string) {
	if !validHealthState(state) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sel == (HealthSelector{}) && state == "" {
		s.overrides = nil
		return
	}
	s.overrides = slices.DeleteFunc(s.overrides, func(o healthOverride) bool { return o.sel == sel })
	s.overrides = append(s.overrides, healthOverride{sel: sel, state: state, setAt: s.now()})
}

// healthParams are the effective health-check settings of a listener or rule.
type healthParams struct {
	on                     bool
	interval, timeout      time.Duration
	healthNum, unhealthNum int64
	checkType              string
	path, domain, method   string
	httpCode, checkPort    int64
}

// effectiveHealth fills the documented defaults into hc, the check of a listener of protocol
// (or of a rule, for HTTP and HTTPS listeners).
func (s *Sim) effectiveHealth(hc clbapi.HealthCheck, protocol string) healthParams {
	p := healthParams{
		on:          hc.HealthSwitch == nil || *hc.HealthSwitch == 1,
		interval:    s.opts.HealthInterval,
		timeout:     defaultProbeTimeout,
		healthNum:   defaultHealthNum,
		unhealthNum: defaultUnHealthNum,
		checkType:   defaultCheckType(protocol),
		path:        "/",
		method:      "HEAD",
		httpCode:    defaultHTTPCode,
	}
	setDuration(&p.interval, hc.IntervalTime)
	setDuration(&p.timeout, hc.TimeOut)
	setInt(&p.healthNum, hc.HealthNum)
	setInt(&p.unhealthNum, hc.UnHealthNum)
	setInt(&p.httpCode, hc.HttpCode)
	setInt(&p.checkPort, hc.CheckPort)
	setString(&p.checkType, hc.CheckType)
	setString(&p.path, hc.HttpCheckPath)
	setString(&p.domain, hc.HttpCheckDomain)
	setString(&p.method, hc.HttpCheckMethod)
	return p
}

func setDuration(dst *time.Duration, seconds *int64) {
	if seconds != nil {
		*dst = time.Duration(*seconds) * time.Second
	}
}

func setInt(dst, src *int64) {
	if src != nil {
		*dst = *src
	}
}

func setString(dst, src *string) {
	if src != nil && *src != "" {
		*dst = *src
	}
}

// healthStatus is the HealthStatusDetail of b on listener l (and rule r, for L7). Callers hold s.mu.
func (s *Sim) healthStatus(lbID string, l *listener, r *rule, b *backend) string {
	hc, locationID := l.health, ""
	if r != nil {
		hc, locationID = r.health, r.id
	}
	p := s.effectiveHealth(hc, l.protocol)
	if !p.on {
		return healthClose
	}
	now := s.now()
	if o := s.overrideFor(lbID, l.id, locationID, b); o != nil {
		if o.state != healthFlapping {
			return o.state
		}
		if (now.Sub(o.setAt)/p.interval)%2 == 0 {
			return healthAlive
		}
		return healthDead
	}
	if s.probes(b, p) {
		if b.probe.status == "" {
			return healthUnknown
		}
		return b.probe.status
	}
	if now.Sub(b.registeredAt) >= time.Duration(p.healthNum)*p.interval {
		return healthAlive
	}
	return healthUnknown
}

// overrideFor returns the latest override that matches b, or nil when there
// is none or it sends b back to the scripted default.
func (s *Sim) overrideFor(lbID, listenerID, locationID string, b *backend) *healthOverride {
	for i := len(s.overrides) - 1; i >= 0; i-- {
		o := &s.overrides[i]
		if !o.sel.matches(lbID, listenerID, locationID, b) {
			continue
		}
		if o.state == "" {
			return nil
		}
		return o
	}
	return nil
}

// probes reports whether b is health-checked for real rather than scripted.
func (s *Sim) probes(b *backend, p healthParams) bool {
	return s.inProbeCIDRs(b.ip()) && (p.checkType == protoTCP || p.checkType == protoHTTP || p.checkType == protoHTTPS)
}

// servesTraffic reports whether the data plane may pick b.
func servesTraffic(status string, b *backend) bool {
	return b.weight > 0 && (status == healthAlive || status == healthClose)
}

// TargetHealth is a backend with the health the CLB reports for it.
type TargetHealth struct {
	Target
	Health string // HealthStatusDetail: Alive, Dead, Unknown, Close
}

// TargetsHealth returns every backend on the LB with its health, as DescribeTargetHealth
// would, without a call: observers (tests, the sandbox) neither meet injected faults nor
// count as calls.
func (s *Sim) TargetsHealth(lbID string) []TargetHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb := s.lbs[lbID]
	if lb == nil {
		return nil
	}
	var out []TargetHealth
	add := func(l *listener, r *rule, list []*backend) {
		locationID := ""
		if r != nil {
			locationID = r.id
		}
		for _, b := range list {
			t := appendTargets(nil, l.id, locationID, []*backend{b})[0]
			out = append(out, TargetHealth{Target: t, Health: s.healthStatus(lbID, l, r, b)})
		}
	}
	for _, l := range lb.sortedListeners() {
		add(l, nil, l.backends)
		for _, r := range l.sortedRules() {
			add(l, r, r.backends)
		}
	}
	return out
}
