package clbsim

import (
	"maps"
	"slices"
	"sync"
)

// Quick setup for tests. These calls change state at once, without tasks,
// locks, rate limits or faults; the same is possible through the API actions.

// AddLoadBalancer creates a running INTERNAL load balancer in Options.VpcID
// and returns its ID ("lb-xxxxxxxx").
func (s *Sim) AddLoadBalancer(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newLB(name, "INTERNAL", s.opts.VpcID, 1).id
}

// AddLoadBalancerInVPC creates a running INTERNAL load balancer in the given VPC, which may
// differ from Options.VpcID, and returns its ID.
func (s *Sim) AddLoadBalancerInVPC(name, vpcID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newLB(name, "INTERNAL", vpcID, 1).id
}

// SetLoadBalancerTags replaces the resource tags of a load balancer, as the console or the tag
// API does; DescribeLoadBalancers reports them. It reports whether the load balancer exists.
func (s *Sim) SetLoadBalancerTags(lbID string, tags map[string]string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.lbs[lbID]
	if lb == nil {
		return false
	}
	lb.tags = maps.Clone(tags)
	return true
}

// AddListener creates a listener (TCP|UDP|HTTP|HTTPS|TCP_SSL|QUIC) and returns
// its ID ("lbl-xxxxxxxx"), or "" if the LB does not exist.
func (s *Sim) AddListener(lbID, protocol string, port int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.lbs[lbID]
	if lb == nil {
		return ""
	}
	l := s.newListener(protocol, port, "", nil)
	lb.listeners[l.id] = l
	return l.id
}

// AddRule creates a rule on an HTTP/HTTPS listener and returns its ID
// ("loc-xxxxxxxx"), or "" if the listener does not exist.
func (s *Sim) AddRule(lbID, listenerID, domain, url string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.lbs[lbID]
	if lb == nil || lb.listeners[listenerID] == nil {
		return ""
	}
	r := s.newRule(domain, url, nil)
	lb.listeners[listenerID].rules[r.id] = r
	return r.id
}

// DeleteListener removes a listener and its targets at once.
func (s *Sim) DeleteListener(lbID, listenerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lb := s.lbs[lbID]; lb != nil {
		delete(lb.listeners, listenerID)
	}
	s.dp.closeListener(lbID, listenerID)
}

// RemoveBackends removes the LB's backends that match at once, without a task
// or lock, as a console user or another tool would, and returns how many it
// removed. match sees each backend as Targets reports it.
func (s *Sim) RemoveBackends(lbID string, match func(Target) bool) int {
	n := 0
	s.eachBackendList(lbID, func(listenerID, locationID string, list *[]*backend) {
		*list = slices.DeleteFunc(*list, func(b *backend) bool {
			hit := match(appendTargets(nil, listenerID, locationID, []*backend{b})[0])
			if hit {
				n++
			}
			return hit
		})
	})
	return n
}

// ChangeBackends sets the weight and tag of the LB's backends that match at once, as a console
// user would, and returns how many it changed. change sees each backend as Targets reports it;
// only its Weight and Tag are kept.
func (s *Sim) ChangeBackends(lbID string, match func(Target) bool, change func(*Target)) int {
	n := 0
	s.eachBackendList(lbID, func(listenerID, locationID string, list *[]*backend) {
		for _, b := range *list {
			t := appendTargets(nil, listenerID, locationID, []*backend{b})[0]
			if !match(t) {
				continue
			}
			change(&t)
			b.weight, b.tag = t.Weight, t.Tag
			n++
		}
	})
	return n
}

// WriteHold keeps the Batch* writes of a load balancer in flight (HoldWrites).
type WriteHold struct {
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

// HoldWrites makes every Batch* write call on lbID wait, as a slow write on the real CLB does,
// until Release: the load balancer is busy meanwhile. A test uses it to act while a write is in
// flight for as long as it needs, whatever the speed of the machine.
func (s *Sim) HoldWrites(lbID string) *WriteHold {
	h := &WriteHold{release: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[string]*WriteHold{}
	}
	s.held[lbID] = h
	return h
}

// Waiting counts the write calls held now.
func (h *WriteHold) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting
}

// Release lets the held calls answer and stops holding new ones.
func (h *WriteHold) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

func (h *WriteHold) wait(cancelled <-chan struct{}) {
	h.mu.Lock()
	h.waiting++
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-cancelled:
	}
	h.mu.Lock()
	h.waiting--
	h.mu.Unlock()
}

// AddBackend registers t at once on its listener (and rule), as a console user would, and
// reports whether it did: the listener or rule must exist and not hold that address and port
// already (the CLB refuses a backend bound twice). Type is CVM when InstanceID is set, else ENI.
func (s *Sim) AddBackend(lbID string, t Target) bool {
	added := false
	s.eachBackendList(lbID, func(listenerID, locationID string, list *[]*backend) {
		if listenerID != t.ListenerID || locationID != t.LocationID ||
			slices.ContainsFunc(*list, func(b *backend) bool { return b.key() == targetKey(t.InstanceID, t.EniIP, t.Port) }) {
			return
		}
		b := &backend{typ: "ENI", instanceID: t.InstanceID, eniIP: t.EniIP, tag: t.Tag, port: t.Port,
			weight: t.Weight, registeredAt: s.now()}
		if t.InstanceID != "" {
			b.typ = "CVM"
		}
		*list = append(*list, b)
		added = true
	})
	return added
}

// eachBackendList calls fn with every backend list of the LB (each listener's, each rule's)
// under the lock, after the pending tasks have settled.
func (s *Sim) eachBackendList(lbID string, fn func(listenerID, locationID string, list *[]*backend)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb := s.lbs[lbID]
	if lb == nil {
		return
	}
	for _, l := range lb.listeners {
		fn(l.id, "", &l.backends)
		for _, r := range l.rules {
			fn(l.id, r.id, &r.backends)
		}
	}
}
