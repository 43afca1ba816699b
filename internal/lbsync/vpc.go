/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package lbsync

import (
	"context"
	"fmt"
	"time"
)

// lbCache is the load balancer as last read, kept only when Options.VpcID or Options.Policies is
// set: its VPC, and its resource tags, which binding policies match. It is read again with the
// listeners' lifetime (listenerTTL), so that a tag removed takes a permission away within it, and
// a load balancer deleted and missing is noticed as it is by the listeners.
type lbCache struct {
	vpcID  string
	tags   map[string]string
	readAt time.Time
}

func (c *lbCache) fresh(now time.Time) bool {
	return !c.readAt.IsZero() && now.Sub(c.readAt) < listenerTTL
}

// inVPC reports whether the load balancer may be written to: always when Options.VpcID is
// unset, otherwise when it is in that VPC. It reads the load balancer when the cache is stale
// and the VPC or the tags are needed; a load balancer that does not exist gives the
// NotFoundError of internal/clb. A failed read keeps the last one.
func (w *worker) inVPC(ctx context.Context, now time.Time) (bool, error) {
	own := w.s.opts.VpcID
	if !w.s.readsLoadBalancers() {
		return true, nil
	}
	if !w.lb.fresh(now) {
		lb, err := w.s.cloud.GetLoadBalancer(ctx, w.lbID)
		if err != nil {
			return false, fmt.Errorf("reading load balancer %s: %w", w.lbID, err)
		}
		w.lb = lbCache{vpcID: lb.VpcID, tags: lb.Tags, readAt: now}
	}
	return otherVPC(w.lbID, w.lb.vpcID, own) == "", nil
}

// readsLoadBalancers reports whether the workers read their load balancers: for the VPC check
// (Options.VpcID) or the binding policies, which match tags.
func (s *Syncer) readsLoadBalancers() bool {
	return s.opts.VpcID != "" || s.opts.Policies != nil
}

// otherVPC explains why nothing may be written to a load balancer in lbVPC by a controller
// running in ownVPC; it is "" when the load balancer may be written to (no ownVPC, or the same).
func otherVPC(lbID, lbVPC, ownVPC string) string {
	if ownVPC == "" || lbVPC == ownVPC {
		return ""
	}
	where := "VPC " + lbVPC
	if lbVPC == "" {
		where = "no VPC (classic network)"
	}
	return fmt.Sprintf("load balancer %s is in %s, not in the controller's VPC %s (--vpc-id): its backends "+
		"could not be this cluster's, so nothing is registered; use a load balancer in %s for spec.loadBalancerId "+
		"(it is immutable: re-create the binding), or bind it from a cluster in its VPC", lbID, where, ownVPC, ownVPC)
}
