package clbsim

import (
	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Quotas DescribeQuota reports besides TOTAL_TARGET_BIND_QUOTA, with the
// limits of a real response (tke-extend-network-controller's quota.go).
// clbsim reports them but does not enforce them.
var otherQuotas = []struct {
	id    string
	limit int64
}{
	{"TOTAL_LISTENER_QUOTA", 50},
	{"TOTAL_LISTENER_RULE_QUOTA", 50},
	{"TOTAL_SNAT_IP_QUOTA", 10},
}

// describeQuota reports the account's quotas in the region. QuotaCurrent is
// null for per-instance quotas, as on the real API.
func (s *Sim) describeQuota(c *call) (any, error) {
	if _, err := decode[clbapi.DescribeQuotaRequestParams](c); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	count := map[string]int64{}
	for _, lb := range s.lbs {
		count[lb.lbType]++
	}
	quota := func(id string, current *int64, limit int64) *clbapi.Quota {
		return &clbapi.Quota{QuotaId: new(id), QuotaCurrent: current, QuotaLimit: new(limit)}
	}
	set := []*clbapi.Quota{
		quota("TOTAL_OPEN_CLB_QUOTA", new(count["OPEN"]), 100),
		quota("TOTAL_INTERNAL_CLB_QUOTA", new(count["INTERNAL"]), 200),
		quota("TOTAL_TARGET_BIND_QUOTA", nil, int64(s.opts.MaxTargetsPerRule)),
	}
	for _, q := range otherQuotas {
		set = append(set, quota(q.id, nil, q.limit))
	}
	return &clbapi.DescribeQuotaResponseParams{QuotaSet: set, RequestId: &c.requestID}, nil
}
