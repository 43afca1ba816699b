package clbsim

import (
	"slices"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Limits of the listener actions (reference §1.3, §1.4).
const (
	maxPortsPerCreateListener = 49 // "Length of .Ports should be less than 50"
	maxListenerIDsPerDescribe = 100
)

var listenerProtocols = []string{protoTCP, "UDP", protoHTTP, protoHTTPS, "TCP_SSL", "QUIC"}

// portFamily is the transport a listener occupies its port on.
func portFamily(protocol string) string {
	if protocol == "UDP" || protocol == "QUIC" {
		return "udp"
	}
	return "tcp"
}

// lookupListener validates and resolves a listener ID on lb.
func lookupListener(lb *loadBalancer, id *string) (*listener, error) {
	if id == nil {
		return nil, errf(codeMissingParameter, "ListenerId is required")
	}
	if !validID(*id, "lbl-") {
		return nil, errf(codeFormatError, "ListenerId %q is malformed", *id)
	}
	l := lb.listeners[*id]
	if l == nil {
		return nil, errf(codeListenerNotFound, "listener %s not found on %s", *id, lb.id)
	}
	return l, nil
}

// newListener builds a listener; the caller adds it to its LB. Callers hold s.mu.
func (s *Sim) newListener(protocol string, port int64, name string, hc *clbapi.HealthCheck) *listener {
	l := &listener{
		id: s.newID("lbl-"), name: name, protocol: protocol, port: port, scheduler: schedulerWRR,
		createdAt: s.now(), rules: map[string]*rule{},
	}
	if hc != nil {
		mergeHealthCheck(&l.health, hc)
	}
	return l
}

func (s *Sim) createListener(c *call) (any, error) {
	req, err := decode[clbapi.CreateListenerRequestParams](c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.writableLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	if err := validateCreateListener(lb, req); err != nil {
		return nil, err
	}
	created := make([]*listener, 0, len(req.Ports))
	ids := make([]string, 0, len(req.Ports))
	for i, port := range req.Ports {
		name := ""
		if len(req.ListenerNames) > 0 {
			name = deref(req.ListenerNames[i])
		}
		l := s.newListener(*req.Protocol, *port, name, req.HealthCheck)
		if req.Scheduler != nil {
			l.scheduler = *req.Scheduler
		}
		created = append(created, l)
		ids = append(ids, l.id)
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		for _, l := range created {
			lb.listeners[l.id] = l
		}
	})
	return &clbapi.CreateListenerResponseParams{ListenerIds: ptrs(ids), RequestId: &c.requestID}, nil
}

func validateCreateListener(lb *loadBalancer, req *clbapi.CreateListenerRequestParams) error {
	if req.Protocol == nil {
		return errf(codeMissingParameter, "Protocol is required")
	}
	if !slices.Contains(listenerProtocols, *req.Protocol) {
		return errf(codeProtocolCheck, "Protocol must be one of %v, got %q", listenerProtocols, *req.Protocol)
	}
	if len(req.Ports) == 0 {
		return errf(codeMissingParameter, "Ports is required")
	}
	if len(req.Ports) > maxPortsPerCreateListener {
		return errf(codeLength, "Length of .Ports should be less than 50")
	}
	if len(req.ListenerNames) > 0 && len(req.ListenerNames) != len(req.Ports) {
		return errf(codeLength, "ListenerNames must have as many elements as Ports")
	}
	if err := validatePorts(lb, *req.Protocol, req.Ports); err != nil {
		return err
	}
	if err := validateListenerScheduler(req.Scheduler); err != nil {
		return err
	}
	return validateListenerHealth(*req.Protocol, nil, req.HealthCheck)
}

func validateListenerScheduler(scheduler *string) error {
	if scheduler != nil && *scheduler != schedulerWRR && *scheduler != schedulerLeastCon {
		return errf(codeInvalidValue, "Scheduler must be WRR or LEAST_CONN")
	}
	return nil
}

func validatePorts(lb *loadBalancer, protocol string, ports []*int64) error {
	seen := map[int64]bool{}
	for _, p := range ports {
		if p == nil || *p < 1 || *p > 65535 {
			return errf(codeRange, "Ports must be within [1, 65535]")
		}
		if seen[*p] {
			return errf(codeDuplicate, "port %d is repeated", *p)
		}
		seen[*p] = true
		for _, l := range lb.listeners {
			if l.port == *p && portFamily(l.protocol) == portFamily(protocol) {
				return errf(codePortCheckFailed, "port %d is already used by listener %s", *p, l.id)
			}
		}
	}
	return nil
}

// validateListenerHealth refuses listener-level health checks on L7
// listeners: there, health checks belong to rules. stored is the listener's
// check before the request (nil on create).
func validateListenerHealth(protocol string, stored, hc *clbapi.HealthCheck) error {
	if hc == nil {
		return nil
	}
	if isL7(protocol) {
		return errf(codeInvalidParameter, "HealthCheck applies to TCP/UDP/TCP_SSL/QUIC listeners; set it on the rules of %s listeners", protocol)
	}
	return validateHealthCheck(protocol, stored, hc)
}

func (s *Sim) deleteListener(c *call) (any, error) {
	req, err := decode[clbapi.DeleteListenerRequestParams](c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.writableLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	l, err := lookupListener(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		delete(lb.listeners, l.id)
		s.dp.closeListener(lb.id, l.id)
	})
	return &clbapi.DeleteListenerResponseParams{RequestId: &c.requestID}, nil
}

func (s *Sim) modifyListener(c *call) (any, error) {
	req, err := decode[clbapi.ModifyListenerRequestParams](c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.writableLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	l, err := lookupListener(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	if err := validateListenerHealth(l.protocol, &l.health, req.HealthCheck); err != nil {
		return nil, err
	}
	if err := validateListenerScheduler(req.Scheduler); err != nil {
		return nil, err
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		if req.HealthCheck != nil {
			mergeHealthCheck(&l.health, req.HealthCheck)
		}
		setString(&l.name, req.ListenerName)
		setString(&l.scheduler, req.Scheduler)
	})
	return &clbapi.ModifyListenerResponseParams{RequestId: &c.requestID}, nil
}

func (s *Sim) describeListeners(c *call) (any, error) {
	req, err := decode[clbapi.DescribeListenersRequestParams](c)
	if err != nil {
		return nil, err
	}
	if len(req.ListenerIds) > maxListenerIDsPerDescribe {
		return nil, errf(codeLength, "ListenerIds holds at most %d IDs", maxListenerIDsPerDescribe)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.lookupLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	for _, id := range req.ListenerIds {
		if _, err := lookupListener(lb, id); err != nil {
			return nil, err
		}
	}
	out := []*clbapi.Listener{}
	for _, l := range lb.sortedListeners() {
		if !listenerSelected(l, req.ListenerIds, req.Protocol, req.Port) {
			continue
		}
		out = append(out, s.listenerOutput(l))
	}
	return &clbapi.DescribeListenersResponseParams{Listeners: out, TotalCount: new(uint64(len(out))), RequestId: &c.requestID}, nil
}

func listenerSelected(l *listener, ids []*string, protocol *string, port *int64) bool {
	if len(ids) > 0 && !slices.ContainsFunc(ids, func(id *string) bool { return deref(id) == l.id }) {
		return false
	}
	return (protocol == nil || *protocol == l.protocol) && (port == nil || *port == l.port)
}

func (s *Sim) listenerOutput(l *listener) *clbapi.Listener {
	out := &clbapi.Listener{
		ListenerId: new(l.id), ListenerName: new(l.name), Protocol: new(l.protocol), Port: new(l.port),
		Scheduler: new(l.scheduler), CreateTime: new(unixTime(l.createdAt)), TargetType: new("NODE"),
	}
	if !isL7(l.protocol) {
		out.HealthCheck = s.healthOutput(l.health, l.protocol)
		return out
	}
	for _, r := range l.sortedRules() {
		out.Rules = append(out.Rules, &clbapi.RuleOutput{
			LocationId: new(r.id), Domain: new(r.domain), Url: new(r.url), ListenerId: new(l.id),
			Scheduler: new(r.scheduler), HealthCheck: s.healthOutput(r.health, l.protocol),
			CreateTime: new(unixTime(r.createdAt)), TargetType: new("NODE"), Domains: []*string{new(r.domain)},
		})
	}
	return out
}
