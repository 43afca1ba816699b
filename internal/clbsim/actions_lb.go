package clbsim

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"unicode/utf8"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Limits of the load-balancer actions (reference §1.3).
const (
	maxLBsPerCreate   = 20
	maxLBIDsPerCall   = 20
	maxLBNameLength   = 60
	defaultDescribeLB = 20
	maxDescribeLB     = 100
)

// newLB adds a load balancer with the given status. Callers hold s.mu.
func (s *Sim) newLB(name, lbType, vpcID string, status int64) *loadBalancer {
	lb := &loadBalancer{
		id: s.newID("lb-"), name: name, lbType: lbType, vpcID: vpcID, status: status,
		createdAt: s.now(), listeners: map[string]*listener{},
	}
	if lb.name == "" {
		lb.name = lb.id
	}
	s.lbs[lb.id] = lb
	return lb
}

func (s *Sim) createLoadBalancer(c *call) (any, error) {
	req, err := decode[clbapi.CreateLoadBalancerRequestParams](c)
	if err != nil {
		return nil, err
	}
	if err := validateCreateLB(req); err != nil {
		return nil, err
	}
	number := 1
	if req.Number != nil {
		number = int(*req.Number)
	}
	vpcID := s.opts.VpcID
	if req.VpcId != nil {
		vpcID = *req.VpcId
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	created := make([]*loadBalancer, 0, number)
	ids := make([]string, 0, number)
	for range number {
		lb := s.newLB(deref(req.LoadBalancerName), *req.LoadBalancerType, vpcID, 0)
		for _, t := range req.Tags {
			if t != nil && t.TagKey != nil {
				if lb.tags == nil {
					lb.tags = map[string]string{}
				}
				lb.tags[*t.TagKey] = deref(t.TagValue)
			}
		}
		created = append(created, lb)
		ids = append(ids, lb.id)
	}
	t := s.startTask(c, ids, 0, func() {
		for _, lb := range created {
			lb.status = 1
		}
	})
	dealName := fmt.Sprintf("20%014d", rand.Int64N(1e14))
	s.deals[dealName] = t.id
	return &clbapi.CreateLoadBalancerResponseParams{LoadBalancerIds: ptrs(ids), DealName: &dealName, RequestId: &c.requestID}, nil
}

func validateCreateLB(req *clbapi.CreateLoadBalancerRequestParams) error {
	if req.LoadBalancerType == nil {
		return errf(codeMissingParameter, "LoadBalancerType is required")
	}
	if *req.LoadBalancerType != "OPEN" && *req.LoadBalancerType != "INTERNAL" {
		return errf(codeInvalidValue, "LoadBalancerType must be OPEN or INTERNAL, got %q", *req.LoadBalancerType)
	}
	if req.Number != nil && (*req.Number < 1 || *req.Number > maxLBsPerCreate) {
		return errf(codeRange, "Number must be within [1, %d]", maxLBsPerCreate)
	}
	if req.LoadBalancerName != nil && utf8.RuneCountInString(*req.LoadBalancerName) > maxLBNameLength {
		return errf(codeLength, "LoadBalancerName is longer than %d characters", maxLBNameLength)
	}
	return nil
}

func (s *Sim) deleteLoadBalancer(c *call) (any, error) {
	req, err := decode[clbapi.DeleteLoadBalancerRequestParams](c)
	if err != nil {
		return nil, err
	}
	if len(req.LoadBalancerIds) == 0 {
		return nil, errf(codeMissingParameter, "LoadBalancerIds is required")
	}
	if len(req.LoadBalancerIds) > maxLBIDsPerCall {
		return nil, errf(codeLength, "LoadBalancerIds holds at most %d IDs", maxLBIDsPerCall)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	ids := make([]string, 0, len(req.LoadBalancerIds))
	for _, id := range req.LoadBalancerIds {
		if _, err := s.writableLB(id); err != nil {
			return nil, err
		}
		if slices.Contains(ids, *id) {
			return nil, errf(codeDuplicate, "LoadBalancerId %s is repeated", *id)
		}
		ids = append(ids, *id)
	}
	s.startTask(c, ids, 0, func() {
		for _, id := range ids {
			delete(s.lbs, id)
			s.dp.closeLB(id)
		}
	})
	return &clbapi.DeleteLoadBalancerResponseParams{RequestId: &c.requestID}, nil
}

func (s *Sim) describeLoadBalancers(c *call) (any, error) {
	req, err := decode[clbapi.DescribeLoadBalancersRequestParams](c)
	if err != nil {
		return nil, err
	}
	offset, limit, err := pageOf(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	matched := s.matchLBs(req)
	resp := &clbapi.DescribeLoadBalancersResponseParams{
		TotalCount: new(uint64(len(matched))), LoadBalancerSet: []*clbapi.LoadBalancer{}, RequestId: &c.requestID,
	}
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		resp.LoadBalancerSet = append(resp.LoadBalancerSet, lbOutput(matched[i]))
	}
	return resp, nil
}

func pageOf(req *clbapi.DescribeLoadBalancersRequestParams) (offset, limit int, err error) {
	if len(req.LoadBalancerIds) > maxLBIDsPerCall {
		return 0, 0, errf(codeLength, "LoadBalancerIds holds at most %d IDs", maxLBIDsPerCall)
	}
	limit = defaultDescribeLB
	if req.Limit != nil {
		if *req.Limit < 0 || *req.Limit > maxDescribeLB {
			return 0, 0, errf(codeRange, "Limit must be within [0, %d]", maxDescribeLB)
		}
		limit = int(*req.Limit)
	}
	if req.Offset != nil {
		if *req.Offset < 0 {
			return 0, 0, errf(codeRange, "Offset must not be negative")
		}
		offset = int(*req.Offset)
	}
	return offset, limit, nil
}

// matchLBs applies the supported filters; unknown IDs are simply not listed,
// as the real DescribeLoadBalancers does.
func (s *Sim) matchLBs(req *clbapi.DescribeLoadBalancersRequestParams) []*loadBalancer {
	out := make([]*loadBalancer, 0, len(s.lbs))
	for _, lb := range s.lbs {
		if len(req.LoadBalancerIds) > 0 && !slices.ContainsFunc(req.LoadBalancerIds, func(id *string) bool { return deref(id) == lb.id }) {
			continue
		}
		if (req.LoadBalancerName != nil && *req.LoadBalancerName != lb.name) ||
			(req.LoadBalancerType != nil && *req.LoadBalancerType != lb.lbType) ||
			(req.VpcId != nil && *req.VpcId != lb.vpcID) {
			continue
		}
		out = append(out, lb)
	}
	slices.SortFunc(out, func(a, b *loadBalancer) int {
		return cmp.Or(a.createdAt.Compare(b.createdAt), cmp.Compare(a.id, b.id))
	})
	return out
}

func lbOutput(lb *loadBalancer) *clbapi.LoadBalancer {
	return &clbapi.LoadBalancer{
		LoadBalancerId:   new(lb.id),
		LoadBalancerName: new(lb.name),
		LoadBalancerType: new(lb.lbType),
		Forward:          new(uint64(1)),
		Status:           new(uint64(lb.status)),
		CreateTime:       new(unixTime(lb.createdAt)),
		VpcId:            new(lb.vpcID),
		AddressIPVersion: new("ipv4"),
		SnatPro:          new(lb.snatPro),
		Tags:             tagInfos(lb.tags),
	}
}

// tagInfos lists a load balancer's tags as the API does, sorted by key.
func tagInfos(tags map[string]string) []*clbapi.TagInfo {
	out := make([]*clbapi.TagInfo, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, &clbapi.TagInfo{TagKey: new(k), TagValue: new(tags[k])})
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
