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
	"errors"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// Cloud is what the workers need from internal/clb.
type Cloud interface {
	GetLoadBalancer(ctx context.Context, id string) (clb.LoadBalancer, error)
	// ReadSoon announces load balancers that GetLoadBalancer will read before long.
	ReadSoon(ids ...string)
	DescribeListeners(ctx context.Context, lbID string, listenerIDs ...string) ([]clb.Listener, error)
	DescribeTargets(ctx context.Context, lbID string, listenerIDs []string) (clb.TargetsRead, error)
	RegisterTargets(ctx context.Context, lbID string, ts []targets.Target) (clb.BatchResult, error)
	ModifyTargetWeights(ctx context.Context, lbID string, ts []targets.Target) (clb.BatchResult, error)
	DeregisterTargets(ctx context.Context, lbID string, ts []targets.Target) (clb.BatchResult, error)
	ModifyListenerHealthCheck(ctx context.Context, lbID, listenerID string, hc clb.HealthCheck) error
	ModifyRuleHealthCheck(ctx context.Context, lbID, listenerID, locationID string, hc clb.HealthCheck) error
	ModifyTargetTags(ctx context.Context, lbID string, ts []targets.Target) (clb.BatchResult, error)
	TargetQuota(ctx context.Context) (int, error)
}

var _ Cloud = (*clb.Client)(nil)

// ListenerRef names a listener by ID, or by port and protocol.
type ListenerRef struct {
	ID       string
	Port     int64
	Protocol string
}

// RuleRef names an HTTP/HTTPS rule by location ID, or by domain and URL.
type RuleRef struct {
	LocationID string
	Domain     string
	URL        string
}

// Binding is one binding's desired state, as the binding controller computed it.
type Binding struct {
	Key            types.NamespacedName
	UID            types.UID
	LoadBalancerID string
	Listener       ListenerRef
	// Rule is set for HTTP/HTTPS listeners.
	Rule *RuleRef
	// OwnerTag is targets.OwnerTag of the binding.
	OwnerTag string
	// Exclusive is true unless the binding is multiCluster.
	Exclusive bool
	// Share is the binding's traffic share in percent (spec.trafficShare); nil when it does not
	// share its listener or rule with other bindings by weight (shares.go).
	Share *int32
	// SlowStart is the binding's warm-up (spec.slowStart): the weight of a backend whose
	// ReadySince is set ramps up over it (targets.RampWeight); 0 for none.
	SlowStart time.Duration
	// ByInstance is true in Node mode: backends are CVM instances, not pod IPs. It tells how a
	// backend the cloud reports with both an instance ID and an IP was registered.
	ByInstance bool
	// Desired are the targets the binding wants. Their ListenerID and LocationID are filled in by
	// the worker once it has resolved the listener and rule.
	Desired []targets.Target
	// Deleting asks the worker to remove every backend the binding owns; Status.Cleaned tells
	// when that is done.
	Deleting bool
	// CreatedAt breaks ties between conflicting bindings: the oldest keeps the listener.
	CreatedAt time.Time
	// StoredSyncTime is the binding's status.lastSyncTime as stored. A worker that has no status
	// of the binding yet (the manager restarted) and finds it in sync without writing keeps it:
	// nothing happened to the binding, so its status is not written again (10,000 status writes
	// at every restart otherwise). Not part of the desired state: a change alone wakes nothing.
	StoredSyncTime time.Time
}

// Status is what the worker last observed and did for a binding.
type Status struct {
	// ListenerID and LocationID are the resolved IDs, once known.
	ListenerID string
	LocationID string
	// Synced is true when the CLB held exactly the desired backends after the last pass.
	Synced bool
	// Registered counts the binding's backends on the CLB after the last pass.
	Registered int
	// Reason and Message explain why the binding is not synced (condition reasons of the API).
	Reason  string
	Message string
	// Err is the last cloud error, typed by internal/clb; nil when the last pass succeeded.
	Err error
	// LastSyncTime is when the CLB last matched the desired backends.
	LastSyncTime time.Time
	// Cleaned is true once a deleting binding has no backend left on the CLB.
	Cleaned bool
	// Conflicts are wanted backends owned by someone else (multiCluster).
	Conflicts int
	// Unroutable are wanted backends left out because the load balancer cannot reach them.
	Unroutable int
	// OverQuota are wanted backends left out because the listener or rule is at its quota.
	OverQuota int
	// Share is how the binding's traffic share was carried out (Binding.Share set).
	Share ShareStatus
}

// Changes are the writes one pass made for one binding.
type Changes struct {
	Registered, Deregistered, Reweighted, Retagged int
	// DeregisteredNames names the first backends deregistered (address:port, comma-separated), so
	// that a repair's Event can say which foreign backends it removed.
	DeregisteredNames      string
	ListenerID, LocationID string
	// Degraded describes the failed (and retried) or slow API calls of the pass, if any.
	Degraded string
	// Vanished counts the binding's backends the cloud no longer had when the pass went to change
	// them: removed behind the controller's back. They were left out of the write.
	Vanished int
	// Repaired is set when the writes undid changes made outside the controller: the CLB had
	// matched the binding's unchanged desired state before.
	Repaired bool
}

// Notifier hears about every pass that touched a binding, so the controller can write status
// and record events.
type Notifier interface {
	Synced(key types.NamespacedName, uid types.UID, status Status, changes Changes)
}

// Options tune the Syncer. Zero values take the defaults.
type Options struct {
	// Window is a fixed time a worker gathers changes before a pass (default 0: none). Without
	// it a worker writes a change at once unless more changes of its load balancer are queued
	// for a reconcile (arrivals.go).
	Window time.Duration
	// MaxWindow ends the wait for changes on their way once the controller has reconciled nothing
	// for that long, and bounds the Window's extensions while changes keep arriving (default 2s).
	// A wait while the controller's queue moves ends after maxGroupWait.
	MaxWindow time.Duration
	// RetryBase and RetryMax bound the backoff after a failed pass (defaults 1s and 30s): an
	// outage costs a load balancer one pass per 30 s at most, and its end is noticed within 30 s.
	RetryBase, RetryMax time.Duration
	// TargetsTTL is how long the backends read from a listener are trusted: the worker reads them
	// again this often, to find and repair changes made outside the controller (default 1m).
	TargetsTTL time.Duration
	// PassTimeout bounds one pass (default 2m).
	PassTimeout time.Duration
	Clock       clock.WithTicker

	// StartupRecheck is how long after Start a write of the previous leader may still land on
	// the CLB (default 1m): a Batch call holds its load balancer until it is applied, even when
	// its caller has died. Backends read in that time are read again once it has passed.
	StartupRecheck time.Duration

	// Policies, when set, are the binding policies every binding is checked against before each
	// pass writes for it (policy.go); nil allows every binding.
	Policies PolicySource

	// VpcID, when set, is the cluster's VPC: the bindings of a load balancer in another VPC are
	// refused (LoadBalancerInAnotherVPC) and nothing is written to it, as its backends could not
	// be the cluster's pods.
	VpcID string
}

func (o *Options) setDefaults() {
	if o.Window < 0 {
		o.Window = 0
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 2 * time.Second
	}
	o.MaxWindow = max(o.MaxWindow, o.Window)
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = max(30*time.Second, o.RetryBase)
	}
	if o.TargetsTTL <= 0 {
		o.TargetsTTL = targetsTTL
	}
	if o.PassTimeout <= 0 {
		o.PassTimeout = 2 * time.Minute
	}
	if o.StartupRecheck <= 0 {
		o.StartupRecheck = time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// Syncer owns one worker per load balancer. It is a manager.Runnable that needs leader election:
// only the leader writes to the CLB.
type Syncer struct {
	cloud    Cloud
	notifier Notifier
	opts     Options

	mu      sync.Mutex
	started bool
	runCtx  context.Context //nolint:containedctx // the manager's context, handed to workers started after Start
	workers map[string]*worker
	// heldBy is the load balancer whose worker holds each binding, so an update finds the worker
	// a binding leaves without asking every worker.
	heldBy   map[types.NamespacedName]string
	statuses map[types.NamespacedName]Status
	// leftovers are kept for deleting bindings only, for a deletion that skips the cloud cleanup.
	leftovers map[types.NamespacedName]Leftovers
	wg        sync.WaitGroup

	// checkOutcomes and onHealthCheck report on the health-check requests (healthcheck.go).
	checkOutcomes map[types.NamespacedName]HealthCheckOutcome
	// quota is the backends-per-listener-or-rule quota all workers share (cache.go).
	quota         quotaCache
	onHealthCheck func(key types.NamespacedName)

	// arrivals are the bindings queued for a reconcile, per load balancer (arrivals.go).
	arrivals *arrivals

	// recheckUntil is Start + Options.StartupRecheck. It is set before any worker runs and
	// never changes afterwards.
	recheckUntil time.Time
}

// New returns a Syncer writing through cloud and reporting to notifier.
func New(cloud Cloud, notifier Notifier, opts Options) (*Syncer, error) {
	if cloud == nil || notifier == nil {
		return nil, errors.New("lbsync: cloud and notifier must not be nil")
	}
	opts.setDefaults()
	s := &Syncer{
		cloud: cloud, notifier: notifier, opts: opts,
		workers:  map[string]*worker{},
		heldBy:   map[types.NamespacedName]string{},
		statuses: map[types.NamespacedName]Status{},

		leftovers: map[types.NamespacedName]Leftovers{},
	}
	s.arrivals = newArrivals(s.opts.Clock.Now, s.wakeArrived)
	return s, nil
}

// NeedLeaderElection keeps the workers of standby replicas idle.
func (s *Syncer) NeedLeaderElection() bool { return true }

// Start runs the workers until ctx ends.
func (s *Syncer) Start(ctx context.Context) error {
	s.mu.Lock()
	s.started, s.runCtx = true, ctx
	s.recheckUntil = s.opts.Clock.Now().Add(s.opts.StartupRecheck)
	for _, w := range s.workers {
		s.startWorker(w)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

// startWorker runs w until the Syncer stops or w is reaped; s.mu must be held.
func (s *Syncer) startWorker(w *worker) {
	ctx, stop := context.WithCancel(s.runCtx)
	w.stop = stop
	s.wg.Go(func() { w.run(ctx) })
}

// reapIfIdle stops and forgets the worker when it has no binding and no health check left, with
// its metrics: no state outlives what uses it. s.mu must be held.
func (s *Syncer) reapIfIdle(w *worker) {
	if !w.idle() {
		return
	}
	if w.stop != nil {
		w.stop()
	}
	delete(s.workers, w.lbID)
	forgetLoadBalancerMetrics(w.lbID)
}

// forgetMetricsIfReaped drops the metrics of a stopped worker's load balancer when no worker
// serves it: a pass still running when the worker was reaped wrote them again.
func (s *Syncer) forgetMetricsIfReaped(w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, running := s.workers[w.lbID]; !running {
		forgetLoadBalancerMetrics(w.lbID)
	}
}

// Workers counts the running load balancer workers.
func (s *Syncer) Workers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.workers)
}

// Update replaces a binding's desired state. It returns at once; the load balancer's worker
// picks the change up in its next pass. An update that changes nothing causes no cloud call.
func (s *Syncer) Update(b Binding) {
	b.Desired = slices.Clone(b.Desired)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A binding never moves between load balancers (the field is immutable), but a re-created
	// binding of the same name may point elsewhere.
	if held, ok := s.heldBy[b.Key]; ok && held != b.LoadBalancerID {
		s.release(b.Key)
	}
	w := s.workerFor(b.LoadBalancerID)
	w.update(b)
	s.heldBy[b.Key] = b.LoadBalancerID
}

// workerFor returns the worker of lbID, creating it (and starting it, once the Syncer runs) if
// there is none. Callers hold s.mu.
func (s *Syncer) workerFor(lbID string) *worker {
	w, ok := s.workers[lbID]
	if !ok {
		w = newWorker(lbID, s)
		s.workers[lbID] = w
		if s.started {
			s.startWorker(w)
		}
	}
	return w
}

// Forget drops a binding whose deletion finished.
func (s *Syncer) Forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(key)
	delete(s.statuses, key)
	delete(s.leftovers, key)
}

// Release stops every pass from writing for a binding but keeps its last status and leftovers, so
// that a deletion skipping the cloud cleanup can still name them if removing its finalizer must be
// retried. Forget drops them once the binding is gone.
func (s *Syncer) Release(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(key)
}

func (s *Syncer) release(key types.NamespacedName) {
	held, ok := s.heldBy[key]
	if !ok {
		return
	}
	delete(s.heldBy, key)
	if w := s.workers[held]; w != nil && w.remove(key) {
		s.reapIfIdle(w)
	}
}

// Recheck wakes every worker for a pass, even one backing off after failures: the binding
// policies or a namespace's labels changed, so each binding is judged again at once. A pass whose
// caches are fresh costs no cloud call.
func (s *Syncer) Recheck() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		w.mu.Lock()
		w.changed, w.settled = true, false
		w.markDirty()
		w.mu.Unlock()
	}
}

// Leftovers are the backends a deleting binding would still remove, as its worker last knew them.
type Leftovers struct {
	// Scope names the listener or rule and the load balancer; "" when the binding never resolved.
	Scope string
	// Backends are the addresses (ip:port or instance:port); Known is false when the worker could
	// not read the listener (for example the cloud refuses every call).
	Backends []string
	Known    bool
	// OwnerTag is the tag the binding's backends carry, to find them by hand.
	OwnerTag string
}

// Leftovers returns what a deleting binding would still remove, after its last pass.
func (s *Syncer) Leftovers(key types.NamespacedName) (Leftovers, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, ok := s.leftovers[key]
	return lo, ok
}

// setLeftovers stores what w's pass left of a deleting binding, unless the binding was forgotten
// during the pass: Forget has run, and nothing would delete the entry again.
func (s *Syncer) setLeftovers(w *worker, key types.NamespacedName, lo Leftovers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.holds(key) {
		s.leftovers[key] = lo
	}
}

// Status returns the last status of a binding, if a pass has seen it.
func (s *Syncer) Status(key types.NamespacedName) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[key]
	return st, ok
}

// setStatus stores w's pass's status of a binding, unless it was forgotten during the pass (see
// setLeftovers).
func (s *Syncer) setStatus(w *worker, key types.NamespacedName, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.holds(key) {
		s.statuses[key] = st
	}
}
