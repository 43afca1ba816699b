package clbsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// loadBalancer is one CLB instance.
type loadBalancer struct {
	id, name, lbType, vpcID string
	status                  int64 // 0 creating, 1 running
	createdAt               time.Time
	listeners               map[string]*listener
	busyTask                string // ID of the task that holds the LB, "" when idle
	busyUntil               time.Time
	snatPro                 bool           // cross-VPC binding (SNAT Pro) is on
	routed                  []netip.Prefix // CIDRs routed to the LB from other VPCs (CCN)
	tags                    map[string]string
}

// listener is one CLB listener. L4 listeners keep backends directly; L7
// listeners keep them on rules.
type listener struct {
	id, name, protocol string
	port               int64
	scheduler          string
	health             clbapi.HealthCheck
	createdAt          time.Time
	rules              map[string]*rule
	backends           []*backend
}

// rule is one L7 forwarding rule (location).
type rule struct {
	id, domain, url string
	scheduler       string
	health          clbapi.HealthCheck
	createdAt       time.Time
	backends        []*backend
}

// backend is one registered target.
type backend struct {
	typ, instanceID, eniIP, tag string
	port, weight                int64
	registeredAt                time.Time
	probe                       probeState
}

// key identifies a backend within one listener or rule.
func (b *backend) key() string { return targetKey(b.instanceID, b.eniIP, b.port) }

func targetKey(instanceID, eniIP string, port int64) string {
	return fmt.Sprintf("%s|%s|%d", instanceID, eniIP, port)
}

// ip is the address health probes and the data plane use.
func (b *backend) ip() string { return b.eniIP }

// Listener protocols and schedulers the code branches on.
const (
	protoTCP          = "TCP"
	protoHTTP         = "HTTP"
	protoHTTPS        = "HTTPS"
	schedulerWRR      = "WRR"
	schedulerLeastCon = "LEAST_CONN"
)

func isL7(protocol string) bool { return protocol == protoHTTP || protocol == protoHTTPS }

// sortedListeners returns an LB's listeners ordered by port, then ID.
func (lb *loadBalancer) sortedListeners() []*listener {
	out := make([]*listener, 0, len(lb.listeners))
	for _, l := range lb.listeners {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *listener) int {
		return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.id, b.id))
	})
	return out
}

// sortedRules returns a listener's rules ordered by creation, then ID.
func (l *listener) sortedRules() []*rule {
	out := make([]*rule, 0, len(l.rules))
	for _, r := range l.rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *rule) int {
		return cmp.Or(a.createdAt.Compare(b.createdAt), cmp.Compare(a.id, b.id))
	})
	return out
}

// backendCount is the number of targets on the LB, counted against the quota.
func (lb *loadBalancer) backendCount() int {
	n := 0
	for _, l := range lb.listeners {
		n += len(l.backends)
		for _, r := range l.rules {
			n += len(r.backends)
		}
	}
	return n
}

// findBackend returns the index of the backend with key k, or -1.
func findBackend(list []*backend, k string) int {
	return slices.IndexFunc(list, func(b *backend) bool { return b.key() == k })
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID returns prefix + 8 random lowercase alphanumerics, unused so far.
func (s *Sim) newID(prefix string) string {
	for {
		b := make([]byte, 8)
		for i := range b {
			b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
		}
		id := prefix + string(b)
		if !s.idInUse(id) {
			return id
		}
	}
}

func (s *Sim) idInUse(id string) bool {
	if _, ok := s.lbs[id]; ok {
		return true
	}
	for _, lb := range s.lbs {
		for lid, l := range lb.listeners {
			if lid == id {
				return true
			}
			if _, ok := l.rules[id]; ok {
				return true
			}
		}
	}
	return false
}

// Target is one backend as Targets reports it.
type Target struct {
	ListenerID, LocationID, Type, InstanceID, EniIP, Tag string
	Port, Weight                                         int64
}

// Targets returns every backend on the LB, sorted by listener, location, address and port.
func (s *Sim) Targets(lbID string) []Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb := s.lbs[lbID]
	if lb == nil {
		return nil
	}
	out := make([]Target, 0, lb.backendCount())
	for _, l := range lb.listeners {
		out = appendTargets(out, l.id, "", l.backends)
		for _, r := range l.rules {
			out = appendTargets(out, l.id, r.id, r.backends)
		}
	}
	slices.SortFunc(out, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.ListenerID, b.ListenerID), cmp.Compare(a.LocationID, b.LocationID),
			cmp.Compare(a.EniIP, b.EniIP), cmp.Compare(a.InstanceID, b.InstanceID), cmp.Compare(a.Port, b.Port))
	})
	return out
}

func appendTargets(out []Target, listenerID, locationID string, list []*backend) []Target {
	for _, b := range list {
		out = append(out, Target{
			ListenerID: listenerID, LocationID: locationID, Type: b.typ, InstanceID: b.instanceID,
			EniIP: b.eniIP, Tag: b.tag, Port: b.port, Weight: b.weight,
		})
	}
	return out
}

// stateDump is the JSON shape of DumpState.
type stateDump struct {
	Now           time.Time    `json:"now"`
	LoadBalancers []lbDump     `json:"loadBalancers"`
	PendingTasks  []string     `json:"pendingTasks"`
	HealthRules   []healthDump `json:"healthOverrides"`
	// VPCCIDRs are the configured VPCs; the others have DefaultVPCCIDRs.
	VPCCIDRs    map[string][]netip.Prefix `json:"vpcCIDRs,omitempty"`
	TargetShape TargetShape               `json:"targetShape"`
}

type lbDump struct {
	ID, Name, Type, VpcID string
	Status                int64
	BusyTask              string         `json:",omitempty"`
	BusyUntil             time.Time      `json:",omitzero"`
	SnatPro               bool           `json:",omitempty"`
	Routed                []netip.Prefix `json:",omitempty"`
	Listeners             []listenerDump
}

type listenerDump struct {
	ID, Name, Protocol string
	Port               int64
	HealthCheck        clbapi.HealthCheck
	Targets            []Target   `json:",omitempty"`
	Rules              []ruleDump `json:",omitempty"`
}

type ruleDump struct {
	ID, Domain, URL string
	HealthCheck     clbapi.HealthCheck
	Targets         []Target `json:",omitempty"`
}

type healthDump struct {
	Selector HealthSelector
	State    string
}

// DumpState returns the whole emulated cloud as JSON.
func (s *Sim) DumpState() ([]byte, error) {
	s.mu.Lock()
	d := s.dumpLocked()
	s.mu.Unlock()
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal state: %w", err)
	}
	return b, nil
}

func (s *Sim) dumpLocked() stateDump {
	s.settle()
	d := stateDump{Now: s.now(), LoadBalancers: make([]lbDump, 0, len(s.lbs)), PendingTasks: make([]string, 0, len(s.pending)),
		VPCCIDRs: maps.Clone(s.vpcCIDRs), TargetShape: s.shape}
	for _, t := range s.pending {
		d.PendingTasks = append(d.PendingTasks, t.id)
	}
	d.HealthRules = make([]healthDump, 0, len(s.overrides))
	for _, o := range s.overrides {
		d.HealthRules = append(d.HealthRules, healthDump{Selector: o.sel, State: o.state})
	}
	for _, lb := range s.lbs {
		ld := lbDump{ID: lb.id, Name: lb.name, Type: lb.lbType, VpcID: lb.vpcID, Status: lb.status, BusyTask: lb.busyTask, BusyUntil: lb.busyUntil,
			SnatPro: lb.snatPro, Routed: lb.routed}
		for _, l := range lb.sortedListeners() {
			ld.Listeners = append(ld.Listeners, dumpListener(l))
		}
		d.LoadBalancers = append(d.LoadBalancers, ld)
	}
	slices.SortFunc(d.LoadBalancers, func(a, b lbDump) int { return cmp.Compare(a.ID, b.ID) })
	return d
}

func dumpListener(l *listener) listenerDump {
	out := listenerDump{ID: l.id, Name: l.name, Protocol: l.protocol, Port: l.port, HealthCheck: l.health,
		Targets: appendTargets(nil, l.id, "", l.backends)}
	for _, r := range l.sortedRules() {
		out.Rules = append(out.Rules, ruleDump{ID: r.id, Domain: r.domain, URL: r.url, HealthCheck: r.health,
			Targets: appendTargets(nil, l.id, r.id, r.backends)})
	}
	return out
}
