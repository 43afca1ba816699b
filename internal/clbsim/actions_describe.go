package clbsim

import (
	"slices"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Limits of the describe actions (reference §1.4).
const (
	maxListenersPerDescribeTargets = 20
	maxLBsPerDescribeHealth        = 30
)

var targetFilterNames = []string{"location-id", "private-ip-address", "tag"}

func (s *Sim) describeTargets(c *call) (any, error) {
	req, err := decode[clbapi.DescribeTargetsRequestParams](c)
	if err != nil {
		return nil, err
	}
	if len(req.ListenerIds) > maxListenersPerDescribeTargets {
		return nil, errf(codeLength, "ListenerIds holds at most %d IDs", maxListenersPerDescribeTargets)
	}
	filters, err := targetFilters(req.Filters)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.lookupLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	// Unknown listener IDs are left out of the answer: the documented errors of
	// DescribeTargets have no ListenerIdNotFound (tke-extend reads a missing
	// listener as an empty result). Malformed IDs are still refused.
	for _, id := range req.ListenerIds {
		if id == nil || !validID(*id, "lbl-") {
			return nil, errf(codeFormatError, "ListenerId %q is malformed", deref(id))
		}
	}
	out := []*clbapi.ListenerBackend{}
	for _, l := range lb.sortedListeners() {
		if listenerSelected(l, req.ListenerIds, req.Protocol, req.Port) {
			out = append(out, listenerBackend(l, filters, s.shape))
		}
	}
	return &clbapi.DescribeTargetsResponseParams{Listeners: out, RequestId: &c.requestID}, nil
}

// targetFilters turns Filters into name → accepted values.
func targetFilters(in []*clbapi.Filter) (map[string][]string, error) {
	out := map[string][]string{}
	for _, f := range in {
		if f == nil || f.Name == nil || !slices.Contains(targetFilterNames, *f.Name) {
			return nil, errf(codeInvalidValue+".InvalidFilter", "supported filters are %v", targetFilterNames)
		}
		for _, v := range f.Values {
			out[*f.Name] = append(out[*f.Name], deref(v))
		}
	}
	return out, nil
}

func filterAccepts(filters map[string][]string, name, value string) bool {
	values, ok := filters[name]
	return !ok || slices.Contains(values, value)
}

func listenerBackend(l *listener, filters map[string][]string, shape TargetShape) *clbapi.ListenerBackend {
	out := &clbapi.ListenerBackend{ListenerId: new(l.id), Protocol: new(l.protocol), Port: new(l.port)}
	if !isL7(l.protocol) {
		out.Targets = backendsOutput(l.backends, filters, shape)
		return out
	}
	out.Rules = []*clbapi.RuleTargets{}
	for _, r := range l.sortedRules() {
		if !filterAccepts(filters, "location-id", r.id) {
			continue
		}
		out.Rules = append(out.Rules, &clbapi.RuleTargets{
			LocationId: new(r.id), Domain: new(r.domain), Url: new(r.url), Targets: backendsOutput(r.backends, filters, shape),
		})
	}
	return out
}

// backendsOutput presents backends as Backend, their Type and InstanceId as
// the target shape says.
func backendsOutput(list []*backend, filters map[string][]string, shape TargetShape) []*clbapi.Backend {
	out := []*clbapi.Backend{}
	for _, b := range list {
		if !filterAccepts(filters, "private-ip-address", b.eniIP) || !filterAccepts(filters, "tag", b.tag) {
			continue
		}
		be := &clbapi.Backend{
			Type: new(shape.backendType(b)), Port: new(b.port), Weight: new(b.weight), Tag: new(b.tag),
			RegisteredTime: new(unixTime(b.registeredAt)), PublicIpAddresses: []*string{}, PrivateIpAddresses: []*string{},
			InstanceId: new(shape.backendInstanceID(b)),
		}
		if b.eniIP != "" {
			be.PrivateIpAddresses = []*string{new(b.eniIP)}
		}
		out = append(out, be)
	}
	return out
}

// describeTargetHealthRequest accepts the newer SDKs' ListenerIds and
// LocationIds too; the pinned SDK only sends LoadBalancerIds.
type describeTargetHealthRequest struct {
	LoadBalancerIds []*string
	ListenerIds     []*string
	LocationIds     []*string
}

func (s *Sim) describeTargetHealth(c *call) (any, error) {
	req, err := decode[describeTargetHealthRequest](c)
	if err != nil {
		return nil, err
	}
	if len(req.LoadBalancerIds) == 0 {
		return nil, errf(codeMissingParameter, "LoadBalancerIds is required")
	}
	if len(req.LoadBalancerIds) > maxLBsPerDescribeHealth {
		return nil, errf(codeLength, "LoadBalancerIds holds at most %d IDs", maxLBsPerDescribeHealth)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	out := make([]*clbapi.LoadBalancerHealth, 0, len(req.LoadBalancerIds))
	for _, id := range req.LoadBalancerIds {
		lb, err := s.lookupLB(id)
		if err != nil {
			return nil, err
		}
		out = append(out, s.lbHealth(lb, req))
	}
	return &clbapi.DescribeTargetHealthResponseParams{LoadBalancers: out, RequestId: &c.requestID}, nil
}

func (s *Sim) lbHealth(lb *loadBalancer, req *describeTargetHealthRequest) *clbapi.LoadBalancerHealth {
	out := &clbapi.LoadBalancerHealth{LoadBalancerId: new(lb.id), LoadBalancerName: new(lb.name), Listeners: []*clbapi.ListenerHealth{}}
	for _, l := range lb.sortedListeners() {
		if !listenerSelected(l, req.ListenerIds, nil, nil) {
			continue
		}
		lh := &clbapi.ListenerHealth{ListenerId: new(l.id), ListenerName: new(l.name), Protocol: new(l.protocol), Port: new(l.port)}
		if !isL7(l.protocol) {
			// L4 listeners report one rule with no Domain and Url (reference §1.3), but with a
			// LocationId, as the official example shows; clbsim derives a stable one.
			lh.Rules = []*clbapi.RuleHealth{{LocationId: new(l4LocationID(l)), Targets: s.targetsHealth(lb.id, l, nil, l.backends)}}
		}
		for _, r := range l.sortedRules() {
			if len(req.LocationIds) > 0 && !slices.ContainsFunc(req.LocationIds, func(id *string) bool { return deref(id) == r.id }) {
				continue
			}
			lh.Rules = append(lh.Rules, &clbapi.RuleHealth{LocationId: new(r.id), Domain: new(r.domain), Url: new(r.url),
				Targets: s.targetsHealth(lb.id, l, r, r.backends)})
		}
		out.Listeners = append(out.Listeners, lh)
	}
	return out
}

func (s *Sim) targetsHealth(lbID string, l *listener, r *rule, list []*backend) []*clbapi.TargetHealth {
	out := make([]*clbapi.TargetHealth, 0, len(list))
	for _, b := range list {
		status := s.healthStatus(lbID, l, r, b)
		out = append(out, &clbapi.TargetHealth{
			IP: new(b.eniIP), Port: new(b.port), TargetId: new(s.shape.targetID(b)),
			HealthStatus: new(status == healthAlive), HealthStatusDetail: new(status), HealthStatusDetial: new(status), //nolint:staticcheck // bk-bcs still reads the misspelt field.
		})
	}
	return out
}

// l4LocationID is the LocationId DescribeTargetHealth reports for the one rule
// of an L4 listener: stable per listener, never accepted as a rule ID.
func l4LocationID(l *listener) string { return fakeID("loc-", l.id) }
