package clb

import (
	"context"
	"fmt"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// quotaTargetsPerRule is the DescribeQuota entry that bounds the backends of one listener (L4)
// or one rule (L7): "一条转发规则下可绑定设备的配额", 200 by default.
const quotaTargetsPerRule = "TOTAL_TARGET_BIND_QUOTA"

// TargetQuota returns how many backends one listener or rule may hold (DescribeQuota's
// TOTAL_TARGET_BIND_QUOTA), the account's quota in the client's region. It returns 0 when the
// cloud does not report that quota.
func (c *Client) TargetQuota(ctx context.Context) (int, error) {
	req := clbapi.NewDescribeQuotaRequest()
	var resp *clbapi.DescribeQuotaResponse
	err := c.do(ctx, actionDescribeQuota, func(ctx context.Context) (err error) {
		resp, err = c.api.DescribeQuotaWithContext(ctx, req)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("describing the CLB quotas of region %s: %w", c.region, err)
	}
	if resp.Response == nil {
		return 0, nil
	}
	for _, q := range resp.Response.QuotaSet {
		if q != nil && str(q.QuotaId) == quotaTargetsPerRule && q.QuotaLimit != nil {
			return int(*q.QuotaLimit), nil
		}
	}
	return 0, nil
}
