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

package health

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Cloud is what the poller needs from internal/clb.
type Cloud interface {
	DescribeTargetHealth(ctx context.Context, lbIDs []string) (map[string][]clb.TargetHealth, error)
}

var _ Cloud = (*clb.Client)(nil)

// Snapshot is one load balancer's health view as last read.
type Snapshot struct {
	Targets map[targets.Key]clb.TargetHealth
	// ReadAt is when the view was read; zero if never. ChangedAt is when a read last found it
	// different: a view that reads the same keeps its Targets map.
	ReadAt, ChangedAt time.Time
	// Err is the error of the last read, if it failed; Targets then hold the previous view.
	Err error
	// FailingSince is when reads started failing, zero while the last one succeeded. A view
	// that starts or stops failing counts as changed; one that keeps failing does not.
	FailingSince time.Time
	// read is the list Targets was built from, as the client returned it (shared, read-only): a
	// later read that returns the very same list read the same answer.
	read []clb.TargetHealth
}

// Options tune the poller. Zero values take the defaults.
type Options struct {
	// Fast is the interval while anyone waits for a verdict (default 2s).
	Fast time.Duration
	// Slow is the interval when steady (default 30s).
	Slow  time.Duration
	Clock clock.WithTicker
	// OnRead, if set, is given every view a poll read, changed or not: a reader that must look
	// at a view later than its change (the workers, which ignore views read right after their
	// own writes) sees it again at the next poll.
	OnRead func(lbID string, view Snapshot)
}

// OnChange is told which load balancers' views changed after a poll.
type OnChange func(lbIDs []string)

// interest is one watcher's wish: a load balancer, polled fast or not.
type interest struct {
	lbID string
	fast bool
}

// Poller reads DescribeTargetHealth for every load balancer someone is interested in.
type Poller struct {
	cloud    Cloud
	onChange OnChange
	opts     Options

	mu        sync.Mutex
	interests map[types.NamespacedName]interest
	// watchers counts the interests in each load balancer, so the last Unwatch drops its view.
	watchers map[string]int
	views    map[string]Snapshot
	wake     chan struct{}
}

// New returns a poller; onChange may be nil.
func New(cloud Cloud, onChange OnChange, opts Options) (*Poller, error) {
	if cloud == nil {
		return nil, errors.New("health: cloud must not be nil")
	}
	if opts.Fast <= 0 {
		opts.Fast = 2 * time.Second
	}
	if opts.Slow < opts.Fast {
		opts.Slow = max(30*time.Second, opts.Fast)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Poller{
		cloud: cloud, onChange: onChange, opts: opts,
		interests: map[types.NamespacedName]interest{},
		watchers:  map[string]int{},
		views:     map[string]Snapshot{},
		wake:      make(chan struct{}, 1),
	}, nil
}

// Watch declares that owner (a binding) needs the health of lbID, polled fast while fast is
// true. A watcher that turns fast, or a load balancer never read, triggers a poll at once.
func (p *Poller) Watch(owner types.NamespacedName, lbID string, fast bool) {
	p.mu.Lock()
	prev, had := p.interests[owner]
	p.interests[owner] = interest{lbID: lbID, fast: fast}
	p.watchers[lbID]++
	if had {
		p.unref(prev.lbID)
	}
	_, read := p.views[lbID]
	p.mu.Unlock()
	if !read || (fast && (!had || !prev.fast || prev.lbID != lbID)) {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Unwatch drops owner's interest, and the view of its load balancer when nobody else watches it.
func (p *Poller) Unwatch(owner types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in, had := p.interests[owner]; had {
		delete(p.interests, owner)
		p.unref(in.lbID)
	}
}

// unref counts one watcher of lbID less, and forgets its view once none is left; p.mu must be held.
func (p *Poller) unref(lbID string) {
	p.watchers[lbID]--
	if p.watchers[lbID] <= 0 {
		delete(p.watchers, lbID)
		delete(p.views, lbID)
	}
}

// View returns the last health view of lbID.
func (p *Poller) View(lbID string) (Snapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.views[lbID]
	return s, ok
}

// NeedLeaderElection keeps standby replicas from polling.
func (p *Poller) NeedLeaderElection() bool { return true }

// Start polls until ctx ends. Wake-ups (a new watcher, one turning fast) poll at once, but never
// more often than a quarter of the fast interval: a burst of 1,000 new bindings is one poll,
// not 1,000.
func (p *Poller) Start(ctx context.Context) error {
	minGap := p.opts.Fast / 4
	var last time.Time
	for {
		if wait := minGap - p.opts.Clock.Since(last); !last.IsZero() && wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-p.opts.Clock.After(wait):
			}
		}
		select {
		case <-p.wake: // this poll serves the wake-up
		default:
		}
		lbIDs, fast := p.wanted()
		if len(lbIDs) > 0 {
			last = p.opts.Clock.Now()
			p.poll(ctx, lbIDs)
		}
		interval := p.opts.Slow
		if fast {
			interval = p.opts.Fast
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-p.opts.Clock.After(interval):
		}
	}
}

// wanted lists the load balancers to read and whether anyone wants them fast.
func (p *Poller) wanted() ([]string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := map[string]bool{}
	fast := false
	for _, in := range p.interests {
		set[in.lbID] = true
		fast = fast || in.fast
	}
	for id := range p.views {
		if !set[id] {
			delete(p.views, id) // nobody watches it any more
		}
	}
	return slices.Sorted(maps.Keys(set)), fast
}

// poll reads all wanted load balancers (the client packs 30 into a call) and reports changes.
func (p *Poller) poll(ctx context.Context, lbIDs []string) {
	start := p.opts.Clock.Now()
	read, err := p.cloud.DescribeTargetHealth(ctx, lbIDs)
	pollDuration.Observe(p.opts.Clock.Since(start).Seconds())
	if err != nil {
		pollErrors.Inc()
		ctrl.LoggerFrom(ctx).Error(err, "Reading CLB target health", "loadBalancers", len(lbIDs))
	}
	now := p.opts.Clock.Now()
	var changed []string
	fresh := map[string]Snapshot{} // for OnRead: every view this poll read
	p.mu.Lock()
	for _, id := range lbIDs {
		if p.watchers[id] == 0 {
			continue // unwatched during the read: keeping its view would outlive every watcher
		}
		prev := p.views[id]
		list, ok := read[id]
		if !ok && err != nil {
			prev.Err = err // keep the last view; say it is stale
			if prev.FailingSince.IsZero() {
				prev.FailingSince = now
				changed = append(changed, id)
			}
			p.views[id] = prev
			continue
		}
		// A steady load balancer reads as it did: keep its map rather than build another of every
		// backend on each poll (at 100,000 backends, most of a poll's memory and CPU).
		next := Snapshot{Targets: prev.Targets, ReadAt: now, ChangedAt: prev.ChangedAt, read: list}
		if prev.ReadAt.IsZero() || !prev.FailingSince.IsZero() || (!sameList(prev.read, list) && !sameHealth(prev.Targets, list)) {
			next.ChangedAt = now
			next.Targets = make(map[targets.Key]clb.TargetHealth, len(list))
			for _, t := range list {
				next.Targets[t.Key] = t
			}
			changed = append(changed, id)
		}
		p.views[id] = next
		fresh[id] = next
	}
	p.mu.Unlock()
	if len(changed) > 0 && p.onChange != nil {
		p.onChange(changed)
	}
	if p.opts.OnRead != nil {
		for _, id := range slices.Sorted(maps.Keys(fresh)) {
			p.opts.OnRead(id, fresh[id])
		}
	}
}

// sameList reports whether a and b are the same list: the client returns the list it returned
// before when the answer reads the same, so a steady poll compares nothing backend by backend.
func sameList(a, b []clb.TargetHealth) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameHealth reports whether list holds exactly the backends and verdicts of view; the keys of a
// read are unique (the CLB holds a backend once in a listener or rule).
func sameHealth(view map[targets.Key]clb.TargetHealth, list []clb.TargetHealth) bool {
	if len(view) != len(list) {
		return false
	}
	for _, t := range list {
		if got, ok := view[t.Key]; !ok || got != t {
			return false
		}
	}
	return true
}

var (
	pollDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "clbind", Subsystem: "health", Name: "poll_duration_seconds",
		Help:    "Duration of one health poll over every watched load balancer.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	})
	pollErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "clbind", Subsystem: "health", Name: "poll_errors_total",
		Help: "Health polls that failed.",
	})
)

func init() {
	metrics.Registry.MustRegister(pollDuration, pollErrors)
}
