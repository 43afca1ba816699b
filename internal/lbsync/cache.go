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
	"crypto/sha256"
	"sync"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// How long cloud reads stay trusted. They are all here, so their interplay is visible in one place.
const (
	// listenerTTL bounds how long a listener lookup (IDs, protocols, rules) is trusted. Listeners
	// change rarely and only by hand; a NotFound from any write drops the cache at once. The load
	// balancer's VPC (Options.VpcID) is read with the same lifetime, in its own cache with the tags (vpc.go).
	listenerTTL = 5 * time.Minute
	// targetsTTL is the default of Options.TargetsTTL: how long the backends read from a listener
	// are trusted. After a successful write the cache is updated in place, so a steady cluster
	// reads only this often (one DescribeTargets per 20 listeners of a load balancer), which is
	// also how soon a weight or tag changed by hand is put back; a backend removed or added by
	// hand is usually found sooner, by the health poller (drift.go).
	targetsTTL = time.Minute
	// unroutableTTL bounds how long an address the cloud refused as not routable from the load
	// balancer is left out of registrations. Enabling the cross-VPC binding or routing the
	// container CIDR is done by hand, so one refused write per this period is all it costs to
	// notice the fix.
	unroutableTTL = 5 * time.Minute
	// quotaTTL bounds how long the backends-per-listener quota (TOTAL_TARGET_BIND_QUOTA) is
	// trusted. It is an account setting raised by ticket; a LimitExceeded answer drops it at once.
	quotaTTL = time.Hour
)

// quotaCache is the account's backends-per-listener-or-rule quota as last read; 0 is unknown.
// The quota is the account's in the region, the same for every load balancer, so the workers
// share one read.
type quotaCache struct {
	mu     sync.Mutex
	limit  int
	readAt time.Time
}

// targetQuota returns the backends-per-listener-or-rule quota, reading it when stale; 0 means
// unknown (register without trimming: the cloud refuses what is too much). A failed read is
// tried again after a listener's lifetime, not on every pass.
func (s *Syncer) targetQuota(ctx context.Context, now time.Time) int {
	c := &s.quota
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < quotaTTL {
		return c.limit
	}
	limit, err := s.cloud.TargetQuota(ctx)
	if err != nil {
		ctrllog.FromContext(ctx).V(1).Info("Reading the backend quota failed", "err", err.Error())
		limit, now = 0, now.Add(listenerTTL-quotaTTL)
	}
	c.limit, c.readAt = limit, now
	return limit
}

// dropQuota forgets the quota, so the next pass that registers reads it again.
func (s *Syncer) dropQuota() {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	s.quota.readAt = time.Time{}
}

// listenerCache is the load balancer's listeners as last read.
type listenerCache struct {
	byID     map[string]clb.Listener
	readAt   time.Time
	notFound bool // the load balancer itself does not exist
	// partial is set when the cache was filled from DescribeTargets (seedListeners): the
	// listeners it names, with protocol, port and rules, but no names or health checks.
	partial bool
}

func (c *listenerCache) fresh(now time.Time) bool {
	return !c.readAt.IsZero() && now.Sub(c.readAt) < listenerTTL
}

// targetCache is the backends of one listener as last read, kept up to date by our own writes.
type targetCache struct {
	targets map[targets.Key]targets.Target
	readAt  time.Time
	// recheckAt, when set, ends the cache early: it was read so soon after the Syncer started
	// that a write of the previous leader may still land after the read (Options.StartupRecheck).
	// Without it, such a write would go unseen for targetsTTL while status says Synced.
	recheckAt time.Time
	// answer is the digest of the read the cache was built from, while pristine: no write of
	// ours has changed it since. A read with the same digest then finds nothing new (quiet.go).
	answer   [sha256.Size]byte
	pristine bool
}

func (c *targetCache) fresh(now time.Time, ttl time.Duration) bool {
	return c != nil && !c.readAt.IsZero() && now.Sub(c.readAt) < ttl &&
		(c.recheckAt.IsZero() || now.Before(c.recheckAt))
}
