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
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// plan is one binding's part of a pass.
type plan struct {
	b          Binding
	listenerID string
	locationID string
	diff       targets.Plan
	status     Status
	active     bool // resolved, not in conflict: its diff is written
	// unroutable are the addresses of wanted backends the cloud refuses as not routable.
	unroutable []string
	// overQuota counts wanted backends left unregistered by the quota; quotaLimit is the quota and
	// quotaFinal the backends the scope would hold once every write of the pass is done.
	overQuota, quotaLimit, quotaFinal int
	// forbidden is why no binding policy allows the binding (policy.go); "" when one does.
	forbidden string
	// heldBack are backends with the binding's tag that this controller did not write: they are
	// not deregistered (ownership.go).
	heldBack int
	// planned is set once diff holds the pass's writes, which stay there if the cloud refuses them.
	planned bool
	// drift says how the CLB differed from the binding's unchanged desired state (noteDrift).
	drift string
	// Traffic share (shares.go): the weights of the binding's serving backends, the owner tags of
	// the other bindings sharing its scope, the keys an older one of them wants, and the outcome.
	shareWeights      map[targets.Key]int64
	neighborTags      []string
	claimedByNeighbor map[targets.Key]bool
	share             ShareStatus
	// weightInputs names what moves the binding's weights besides its own changes (the shares and
	// versions of the bindings sharing its listener, its slow-start steps), so that such a move is
	// not taken for a repair of a change made outside the controller.
	weightInputs string
	// rampWeights are the weights of backends warming up under slow start (slowstart.go).
	rampWeights map[targets.Key]int64
}

// pass syncs every binding of the load balancer once and reports whether all of them are synced
// (false schedules a retry with backoff).
func (w *worker) pass(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, w.s.opts.PassTimeout)
	defer cancel()
	calls := &callLog{}
	ctx = clb.WithObserver(ctx, calls.add)
	// The caches change only by a read with a new answer or a write: a pass without one publishes
	// nothing new (a steady drift check reads the answer it read last time).
	defer func() {
		if calls.mayHaveChanged() > 0 || !w.published() {
			w.publishKnown(w.s.opts.Clock.Now())
		}
	}()
	start := w.s.opts.Clock.Now()
	w.expireHinted()
	defer func() { w.prefetched = nil }()
	if w.quietDriftCheck(ctx, calls, start) {
		return w.endQuiet(start)
	}
	bindings, versions, settled := w.snapshot()
	slices.SortFunc(bindings, func(a, b Binding) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key.String(), b.Key.String()))
	})

	plans, err := w.resolve(ctx, bindings, calls)
	if err == nil {
		var vanished, quiet bool
		vanished, quiet, err = w.readTargets(ctx, plans, settled, calls)
		if quiet {
			return w.endQuiet(start)
		}
		if err == nil && vanished {
			// A listener was deleted behind our back. Read the listeners again now, so that a
			// binding given by port and protocol finds the listener re-created in its place in
			// this pass, and one given by ID reports ListenerNotFound.
			w.listeners.readAt = time.Time{}
			if plans, err = w.resolve(ctx, bindings, calls); err == nil {
				_, _, err = w.readTargets(ctx, plans, false, calls)
			}
		}
	}
	// Policies are checked once the backends are known, which tell the bindings already serving
	// a listener from those joining it; health checks are written only for allowed bindings.
	w.authorize(plans)
	if err == nil {
		w.applyHealthChecks(ctx, plans)
	}
	if err != nil {
		// A read failed: the backends are unknown, so no binding is synced. The plans must turn
		// inactive, or finish would report them Synced with an empty diff and, the pass then
		// counting as a success, never try again. Plans the listener read never got to (no
		// reason yet) get the error too.
		for _, p := range plans {
			if p.active || p.status.Reason == "" {
				p.status = cloudErrorStatus(p, err)
				p.active = false
			}
		}
		return w.finish(plans, nil, start, calls, versions)
	}
	maps.DeleteFunc(w.unroutable, func(_ string, at time.Time) bool { return start.Sub(at) >= unroutableTTL })
	w.pruneTargets(plans)
	w.applyRamps(plans, start)
	w.applyShares(plans, versions)
	for _, p := range plans {
		if p.active {
			w.planWrites(p)
		}
	}
	w.applyQuota(ctx, plans, start)
	w.noteDrift(plans, versions)
	changes := w.write(ctx, plans)
	synced := w.finish(plans, changes, start, calls, versions)
	w.settle(plans, synced, changes)
	return synced
}

// endQuiet ends a quiet pass (quiet.go): it plans, writes and reports nothing.
func (w *worker) endQuiet(start time.Time) bool {
	quietPasses.WithLabelValues(w.lbID).Inc()
	w.record(nil)
	passDuration.WithLabelValues(w.lbID).Observe(w.s.opts.Clock.Since(start).Seconds())
	return true
}

// noteDrift records, on every binding the CLB no longer matches although its desired state has
// not changed since it last did (someone changed the CLB), what was found. The repair is written
// in this pass; if it fails, the binding reports Drifted with what was found and why the repair
// failed, never Synced.
func (w *worker) noteDrift(plans []*plan, versions map[types.NamespacedName]int) {
	for _, p := range plans {
		if p.active && !p.diff.Empty() && w.repairs(p, versions[p.b.Key]) {
			p.drift = driftFound(p)
		}
	}
}

// driftFound says how the CLB differs from what a binding wants.
func driftFound(p *plan) string {
	var found []string
	if n := len(p.diff.Register); n > 0 {
		found = append(found, fmt.Sprintf("%d of its backends missing", n))
	}
	if n := len(p.diff.ModifyWeight); n > 0 {
		found = append(found, fmt.Sprintf("%d with another weight", n))
	}
	if n := len(p.diff.Retag); n > 0 {
		found = append(found, fmt.Sprintf("%d with another tag", n))
	}
	if n := len(p.diff.Deregister); n > 0 {
		found = append(found, fmt.Sprintf("%d it does not want (%s)", n, backendNames(p.diff.Deregister[:min(n, namedDeregistrations)])))
	}
	return fmt.Sprintf("the CLB was changed outside the controller: %s has %s", p.scope(), strings.Join(found, ", "))
}

// pruneTargets forgets the backends of listeners no binding uses any more, so they are neither
// kept nor read again.
func (w *worker) pruneTargets(plans []*plan) {
	used := make(map[string]bool, len(plans))
	for _, p := range plans {
		used[p.listenerID] = true
	}
	maps.DeleteFunc(w.targets, func(id string, _ *targetCache) bool { return !used[id] })
}

// planWrites diffs the binding against its listener's backends, leaving out registrations of
// addresses the cloud refused as not routable a short while ago: they would only be refused again.
func (w *worker) planWrites(p *plan) {
	p.diff = targets.Diff(p.desired(), w.actual(p.listenerID), p.diffOptions())
	p.planned = true
	p.unroutable = nil
	p.diff.Register = slices.DeleteFunc(p.diff.Register, func(t targets.Target) bool {
		_, refused := w.unroutable[t.EniIP]
		if refused {
			p.unroutable = append(p.unroutable, t.EniIP)
		}
		return refused
	})
	w.holdBackForeign(p)
}

// resolve finds each binding's listener and rule, and settles conflicts between bindings.
func (w *worker) resolve(ctx context.Context, bindings []Binding, calls *callLog) ([]*plan, error) {
	force := false
	for _, b := range bindings {
		if _, ok := w.listeners.byID[b.Listener.ID]; b.Listener.ID == "" || !ok {
			force = true // a listener created since the last read, or given by port
		}
	}
	plans := make([]*plan, 0, len(bindings))
	for _, b := range bindings {
		plans = append(plans, &plan{b: b})
	}
	// An unresolved binding re-reads the listeners, but at most once per RetryBase, so a binding
	// waiting for its listener does not cost a read on every pass.
	now := w.s.opts.Clock.Now()
	checks := w.wantsHealthCheck()
	var err error
	switch {
	case w.listeners.byID == nil && !checks:
		err = w.seedListeners(ctx, bindings)
	case !w.listeners.fresh(now) || (force && now.Sub(w.listeners.readAt) >= w.s.opts.RetryBase) ||
		(w.listeners.partial && checks):
		err = w.rereadListeners(ctx, calls)
	}
	if err != nil {
		return plans, err
	}
	for _, p := range plans {
		w.resolveOne(p)
	}
	if w.listeners.partial && slices.ContainsFunc(plans, func(p *plan) bool { return !p.active }) {
		// DescribeTargets may leave out a listener or rule without backends (undocumented): a
		// binding is told its listener or rule is missing only after a read of them all.
		if err := w.rereadListeners(ctx, calls); err != nil {
			return plans, err
		}
		for _, p := range plans {
			*p = plan{b: p.b}
			w.resolveOne(p)
		}
	}
	owners := map[targets.Scope]*plan{} // the binding that owns each scope
	for _, p := range plans {
		if !p.active {
			continue
		}
		scope := p.scope()
		if first, taken := owners[scope]; taken {
			msg := shareConflict(p, first, w.lbID)
			if msg == "" && p.b.Share == nil && (p.b.Exclusive || first.b.Exclusive) {
				msg = fmt.Sprintf("%s of %s is already bound by %s; delete one of the two bindings, set multiCluster on both, "+
					"or split its traffic with spec.trafficShare on both", scope, w.lbID, first.b.Key)
			}
			if msg != "" {
				p.active = false
				p.status.Reason = networkingv1alpha1.BindingConflictReason
				p.status.Message = msg
				p.status.Cleaned = p.b.Deleting // it never wrote anything
				continue
			}
		}
		if _, taken := owners[scope]; !taken {
			owners[scope] = p
		}
	}
	return plans, nil
}

// rereadListeners reads the listeners in full (refreshListeners). A read that finds them as they
// were is no news, so a settled worker's drift check may still be quiet: at 500 load balancers
// read again together every listenerTTL, a full pass each cost a burst of CPU for nothing.
func (w *worker) rereadListeners(ctx context.Context, calls *callLog) error {
	made := calls.count()
	changed, err := w.refreshListeners(ctx)
	if err == nil && !changed {
		calls.sameAnswers(calls.count() - made)
	}
	return err
}

// resolveOne finds the binding's listener and rule in the listener cache.
func (w *worker) resolveOne(p *plan) {
	b := p.b
	missing := func(reason, msg string) {
		p.status = Status{Reason: reason, Message: msg, Cleaned: b.Deleting}
	}
	if w.listeners.notFound {
		missing(networkingv1alpha1.BindingLoadBalancerNotFoundReason,
			fmt.Sprintf("load balancer %s does not exist in the controller's region and account; check spec.loadBalancerId", w.lbID))
		return
	}
	if msg := otherVPC(w.lbID, w.lb.vpcID, w.s.opts.VpcID); msg != "" {
		missing(networkingv1alpha1.BindingLoadBalancerInAnotherVPCReason, msg)
		return
	}
	l, reason, msg := findListener(w.lbID, w.listeners.byID, b.Listener)
	if reason != "" {
		missing(reason, msg)
		return
	}
	p.listenerID = l.ID
	layer7 := l.Protocol == string(networkingv1alpha1.ProtocolHTTP) || l.Protocol == string(networkingv1alpha1.ProtocolHTTPS)
	switch {
	case layer7 && b.Rule == nil:
		missing(networkingv1alpha1.BindingInvalidSpecReason,
			fmt.Sprintf("listener %s is %s and takes backends only on rules; set spec.rule (it is immutable: re-create the binding)", l.ID, l.Protocol))
		return
	case !layer7 && b.Rule != nil:
		missing(networkingv1alpha1.BindingInvalidSpecReason,
			fmt.Sprintf("listener %s is %s and has no rules; remove spec.rule (it is immutable: re-create the binding)", l.ID, l.Protocol))
		return
	case layer7:
		r, ok := findRule(l, *b.Rule)
		if !ok {
			missing(networkingv1alpha1.BindingRuleNotFoundReason,
				fmt.Sprintf("rule %s does not exist on listener %s; create it or fix spec.rule", ruleName(*b.Rule), l.ID))
			return
		}
		p.locationID = r.LocationID
	}
	p.status.ListenerID, p.status.LocationID = p.listenerID, p.locationID
	p.active = true
}

// findListener finds the listener ref names among the load balancer's. When it is not found, it
// returns the condition reason and message: ListenerNotFound, or InvalidSpec for a listener given
// by port and protocol whose port holds listeners of other protocols only, as waiting for it to
// appear would be waiting for the spec to change.
func findListener(lbID string, byID map[string]clb.Listener, ref ListenerRef) (l clb.Listener, reason, message string) {
	notFound := func() (clb.Listener, string, string) {
		return clb.Listener{}, networkingv1alpha1.BindingListenerNotFoundReason,
			fmt.Sprintf("listener %s does not exist on %s; create it or fix spec.listener", listenerName(ref), lbID)
	}
	if ref.ID != "" {
		l, ok := byID[ref.ID]
		if !ok {
			return notFound()
		}
		return l, "", ""
	}
	var onPort []clb.Listener
	for _, l := range byID {
		if l.Port != ref.Port {
			continue
		}
		if strings.EqualFold(l.Protocol, ref.Protocol) {
			return l, "", ""
		}
		onPort = append(onPort, l)
	}
	if len(onPort) == 0 {
		return notFound()
	}
	slices.SortFunc(onPort, func(a, b clb.Listener) int { return strings.Compare(a.ID, b.ID) })
	what := fmt.Sprintf("listener %s on port %d is %s, not %s", onPort[0].ID, ref.Port, onPort[0].Protocol, ref.Protocol)
	if len(onPort) > 1 {
		names := make([]string, len(onPort))
		for i, l := range onPort {
			names[i] = fmt.Sprintf("%s (%s)", l.ID, l.Protocol)
		}
		what = fmt.Sprintf("the listeners on port %d are %s, none %s", ref.Port, strings.Join(names, ", "), ref.Protocol)
	}
	return clb.Listener{}, networkingv1alpha1.BindingInvalidSpecReason,
		fmt.Sprintf("%s; fix spec.listener.protocol (it is immutable: re-create the binding), or create a %s listener on port %d of %s",
			what, ref.Protocol, ref.Port, lbID)
}

func findRule(l clb.Listener, ref RuleRef) (clb.Rule, bool) {
	for _, r := range l.Rules {
		if (ref.LocationID != "" && r.LocationID == ref.LocationID) ||
			(ref.LocationID == "" && strings.EqualFold(r.Domain, ref.Domain) && r.URL == ref.URL) {
			return r, true
		}
	}
	return clb.Rule{}, false
}

// readTargets reads, in as few calls as possible, the backends of every listener an active
// binding uses whose cache is stale. It reports whether one of them has vanished: the API leaves
// a deleted listener out of its answer; and whether the pass is quiet: the worker was settled and
// the read found nothing new (quiet.go).
func (w *worker) readTargets(ctx context.Context, plans []*plan, settled bool, calls *callLog) (vanished, quiet bool, err error) {
	now := w.s.opts.Clock.Now()
	var stale []string
	byIP := map[string]bool{} // listener → its pod backends are keyed by IP (see targets.Target.Keyed)
	for _, p := range plans {
		if !p.active {
			continue
		}
		byIP[p.listenerID] = byIP[p.listenerID] || !p.b.ByInstance
		if !w.targets[p.listenerID].fresh(now, w.s.opts.TargetsTTL) && !slices.Contains(stale, p.listenerID) {
			stale = append(stale, p.listenerID)
		}
	}
	if len(stale) == 0 {
		return false, false, nil
	}
	stale = w.fillRead(stale, plans)
	read, ok := w.takePrefetched(stale)
	if !ok {
		read, err = w.s.cloud.DescribeTargets(ctx, w.lbID, stale)
	}
	if err != nil {
		if clb.IsNotFound(err) {
			w.listeners.readAt = time.Time{} // a listener vanished: look again next pass
		}
		return false, false, err
	}
	if w.quietRead(settled, calls, stale, read) {
		w.markRead(stale, now)
		return false, true, nil
	}
	missing := read.Missing(stale)
	ours := map[string]bool{}
	for _, p := range plans {
		ours[p.b.OwnerTag] = true
	}
	built := make(map[string]*targetCache, len(stale))
	for _, id := range stale {
		if slices.Contains(missing, id) {
			delete(w.targets, id)
			continue
		}
		w.noteForeignTagged(id, w.targets[id], read.Targets, byIP[id], ours, now)
		c := &targetCache{targets: map[targets.Key]targets.Target{}, readAt: now, answer: read.Digest, pristine: true}
		if now.Before(w.s.recheckUntil) {
			c.recheckAt = w.s.recheckUntil
		}
		w.targets[id] = c
		built[id] = c
	}
	for _, t := range read.Targets {
		// Only the caches built from this read: one made earlier in the pass may hold more
		// listeners than are stale (takePrefetched).
		if c, ok := built[t.ListenerID]; ok {
			t = t.Keyed(byIP[t.ListenerID])
			c.targets[t.Key] = t
		}
	}
	return len(missing) > 0, false, nil
}

// fillRead adds to a read the fresh listeners read longest ago, up to the room left in its last
// DescribeTargets call. Their caches then expire together, so a load balancer's steady state
// costs ⌈listeners/20⌉ reads per TargetsTTL rather than one per group of listeners read at
// different times (after a health hint, a new binding).
func (w *worker) fillRead(stale []string, plans []*plan) []string {
	var fresh []string
	for _, p := range plans {
		if p.active && w.targets[p.listenerID] != nil && !slices.Contains(stale, p.listenerID) && !slices.Contains(fresh, p.listenerID) {
			fresh = append(fresh, p.listenerID)
		}
	}
	return w.fillWith(stale, fresh)
}

// fillWith appends to stale the listeners of fresh read longest ago, up to the room left in the
// last DescribeTargets call of stale.
func (w *worker) fillWith(stale, fresh []string) []string {
	room := (clb.DescribeTargetsListeners - len(stale)%clb.DescribeTargetsListeners) % clb.DescribeTargetsListeners
	slices.SortFunc(fresh, func(a, b string) int { return w.targets[a].readAt.Compare(w.targets[b].readAt) })
	return append(stale, fresh[:min(room, len(fresh))]...)
}

// actual is a listener's cached backends.
func (w *worker) actual(listenerID string) []targets.Target {
	c := w.targets[listenerID]
	if c == nil {
		return nil
	}
	return slices.Collect(maps.Values(c.targets))
}

func (p *plan) desired() []targets.Target {
	if p.b.Deleting {
		return nil
	}
	out := make([]targets.Target, 0, len(p.b.Desired))
	for _, t := range p.b.Desired {
		if p.claimedByNeighbor[t.Key] {
			continue
		}
		t.Weight = p.baseWeight(t)
		if weight, ok := p.shareWeights[t.Key]; ok {
			t.Weight = weight
		}
		t.ListenerID, t.LocationID = p.listenerID, p.locationID
		out = append(out, t)
	}
	return out
}

func (p *plan) diffOptions() targets.DiffOptions {
	opts := targets.DiffOptions{OwnerTag: p.b.OwnerTag, Exclusive: p.b.Exclusive, Scope: p.scope(), Neighbors: p.neighborTags}
	if len(p.claimedByNeighbor) > 0 {
		opts.Claimed = make(map[targets.Key]bool, len(p.claimedByNeighbor))
		for k := range p.claimedByNeighbor {
			k.ListenerID, k.LocationID = p.listenerID, p.locationID
			opts.Claimed[k] = true
		}
	}
	return opts
}

// scope is the binding's listener or rule, once resolved.
func (p *plan) scope() targets.Scope {
	return targets.Scope{ListenerID: p.listenerID, LocationID: p.locationID}
}

// applyQuota trims registrations to what the listener's or rule's backend quota
// (TOTAL_TARGET_BIND_QUOTA, read once per quotaTTL) leaves room for, counting every backend in
// the scope, ours or not: a write past it would be refused whole. Registrations are written
// before deregistrations, so a scope at its quota during a rolling update takes the rest in the
// next pass.
func (w *worker) applyQuota(ctx context.Context, plans []*plan, now time.Time) {
	if !slices.ContainsFunc(plans, func(p *plan) bool { return p.active && len(p.diff.Register) > 0 }) {
		return
	}
	limit := w.s.targetQuota(ctx, now)
	if limit <= 0 {
		return
	}
	onCLB, final := map[targets.Scope]int{}, map[targets.Scope]int{}
	for _, p := range plans {
		if !p.active {
			continue
		}
		scope := p.scope()
		if _, counted := onCLB[scope]; !counted {
			n := 0
			if c := w.targets[p.listenerID]; c != nil {
				for k := range c.targets {
					if k.LocationID == p.locationID {
						n++
					}
				}
			}
			onCLB[scope], final[scope] = n, n
		}
		final[scope] += len(p.diff.Register) - len(p.diff.Deregister)
	}
	for _, p := range plans {
		if !p.active {
			continue
		}
		scope := p.scope()
		room := max(limit-onCLB[scope], 0)
		if n := len(p.diff.Register); n > room {
			p.overQuota = n - room
			p.diff.Register = p.diff.Register[:room]
		}
		onCLB[scope] += len(p.diff.Register)
		p.quotaLimit, p.quotaFinal = limit, final[scope]
	}
}

// Operations of the batch writes, as metrics label them.
const (
	opReweight   = "reweight"
	opRegister   = "register"
	opDeregister = "deregister"
	opRetag      = "retag"
)

// writeStep is one kind of batch write.
type writeStep struct {
	op string
	// action is the CLB API action, for the audit log.
	action string
	pick   func(targets.Plan) []targets.Target
	call   func(context.Context, string, []targets.Target) (clb.BatchResult, error)
	apply  func(*targetCache, targets.Target)
	count  func(*Changes, []targets.Target) // the binding's backends the step wrote
}

// batch gathers the step's writes of every active binding whose listener has not failed.
func (step writeStep) batch(plans []*plan, failed map[string]error) []targets.Target {
	var out []targets.Target
	for _, p := range plans {
		if !p.active || failed[p.listenerID] != nil {
			continue
		}
		out = append(out, step.pick(p.diff)...)
	}
	return out
}

// write applies every active binding's diff with one batch per kind of write: weights first,
// then registers, then deregisters, then tags. Weights come first because they drain terminating
// pods, whose preStop clock is already running; a new backend serves only once the CLB's health
// check passes, so registering it a call later costs no capacity. A write the cloud refuses or
// slows down thus never holds up a drain. A listener the cloud reports failed fails only the
// bindings on it. Backends the cloud refuses as not routable are left out and remembered;
// backends that vanished out of band are left out of the write (internal/clb re-reads and
// retries the rest), and the pass asks for another if they were wanted.
func (w *worker) write(ctx context.Context, plans []*plan) map[types.NamespacedName]*Changes {
	changes := map[types.NamespacedName]*Changes{}
	failed := map[string]error{} // listener ID → why
	now := w.s.opts.Clock.Now()
	steps := []writeStep{
		{opReweight, "BatchModifyTargetWeight", func(d targets.Plan) []targets.Target { return d.ModifyWeight }, w.s.cloud.ModifyTargetWeights,
			func(c *targetCache, t targets.Target) {
				if old, ok := c.targets[t.Key]; ok {
					old.Weight = t.Weight
					c.targets[t.Key] = old
				}
			},
			func(c *Changes, ts []targets.Target) { c.Reweighted += len(ts) }},
		{opRegister, "BatchRegisterTargets", func(d targets.Plan) []targets.Target { return d.Register }, w.s.cloud.RegisterTargets,
			func(c *targetCache, t targets.Target) { c.targets[t.Key] = t },
			func(c *Changes, ts []targets.Target) { c.Registered += len(ts) }},
		{opDeregister, "BatchDeregisterTargets", func(d targets.Plan) []targets.Target { return d.Deregister }, w.s.cloud.DeregisterTargets,
			func(c *targetCache, t targets.Target) { delete(c.targets, t.Key) },
			countDeregistered},
		{opRetag, "BatchModifyTargetTag", func(d targets.Plan) []targets.Target { return d.Retag }, w.s.cloud.ModifyTargetTags,
			func(c *targetCache, t targets.Target) {
				if old, ok := c.targets[t.Key]; ok {
					old.Tag = t.Tag
					c.targets[t.Key] = old
				}
			},
			func(c *Changes, ts []targets.Target) { c.Retagged += len(ts) }},
	}
	for _, step := range steps {
		w.writeStep(ctx, step, plans, failed, changes, now)
	}
	for _, p := range plans {
		if err := failed[p.listenerID]; p.active && err != nil {
			p.status = cloudErrorStatus(p, err)
			if p.drift != "" {
				p.status.Reason = networkingv1alpha1.BindingDriftedReason
				p.status.Message = p.drift + ": the repair failed: " + err.Error()
			}
			p.active = false
		}
	}
	return changes
}

// writeStep sends one kind of write for every active binding whose listener has not failed, and
// records the outcome: the caches, the per-binding counts, failed listeners, refused addresses.
func (w *worker) writeStep(ctx context.Context, step writeStep, plans []*plan, failed map[string]error,
	changes map[types.NamespacedName]*Changes, now time.Time) {
	batch := step.batch(plans, failed)
	if len(batch) == 0 {
		return
	}
	res, err := step.call(ctx, w.lbID, batch)
	w.audit(ctx, step, batch, plans, err)
	batchFailed := map[string]bool{}
	for _, id := range res.FailedListenerIDs {
		batchFailed[id] = true
		failed[id] = &refusedError{listenerID: id, message: res.Message}
	}
	refused, vanished := map[targets.Key]bool{}, map[targets.Key]bool{} // left out of the write
	for _, t := range res.Refused {
		refused[t.Key] = true
		w.unroutable[t.EniIP] = now
	}
	for _, t := range res.Gone {
		vanished[t.Key] = true
		if c := w.targets[t.ListenerID]; c != nil {
			delete(c.targets, t.Key) // gone from the CLB: the next diff registers it again if wanted
			c.pristine = false
		}
		if step.op != opDeregister {
			w.again = true
		}
	}
	written := map[targets.Key]bool{}
	for _, t := range batch {
		if err != nil {
			failed[t.ListenerID] = err
		}
		if err != nil || batchFailed[t.ListenerID] {
			delete(w.targets, t.ListenerID) // unknown state: read it again
			continue
		}
		if refused[t.Key] || vanished[t.Key] {
			continue
		}
		written[t.Key] = true
		targetWrites.WithLabelValues(step.op).Inc()
		if c := w.targets[t.ListenerID]; c != nil {
			step.apply(c, t)
			c.pristine = false
		}
	}
	for _, p := range plans {
		if !p.active || failed[p.listenerID] != nil {
			continue
		}
		var done []targets.Target
		gone := 0
		for _, t := range step.pick(p.diff) {
			switch {
			case written[t.Key]:
				done = append(done, t)
			case refused[t.Key]:
				p.unroutable = append(p.unroutable, t.EniIP)
			case vanished[t.Key]:
				gone++
			}
		}
		if len(done) > 0 {
			step.count(changesFor(changes, p), done)
		}
		if gone > 0 {
			changesFor(changes, p).Vanished += gone
		}
	}
	if err != nil && clb.IsNotFound(err) {
		w.listeners.readAt = time.Time{}
	}
	if err != nil && clb.Code(err) == "LimitExceeded" {
		w.s.dropQuota() // the quota, or what shares it, changed: read it again
	}
}

// namedDeregistrations is how many deregistered backends Changes.DeregisteredNames names.
const namedDeregistrations = 5

func countDeregistered(c *Changes, ts []targets.Target) {
	names := backendNames(ts[:min(len(ts), max(namedDeregistrations-c.Deregistered, 0))])
	if c.DeregisteredNames != "" {
		names = c.DeregisteredNames + ", " + names
	}
	c.Deregistered += len(ts)
	c.DeregisteredNames = strings.TrimSuffix(names, ", ")
}

// backendNames lists backends as address:port (a CVM by its instance ID), comma-separated.
func backendNames(ts []targets.Target) string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		addr := t.EniIP
		if t.InstanceID != "" {
			addr = t.InstanceID
		}
		names = append(names, net.JoinHostPort(addr, strconv.FormatInt(t.Port, 10)))
	}
	return strings.Join(names, ", ")
}

func changesFor(all map[types.NamespacedName]*Changes, p *plan) *Changes {
	c, ok := all[p.b.Key]
	if !ok {
		c = &Changes{ListenerID: p.listenerID, LocationID: p.locationID}
		all[p.b.Key] = c
	}
	return c
}

// finish computes the status of every binding after the pass, stores and reports them.
func (w *worker) finish(plans []*plan, changes map[types.NamespacedName]*Changes, start time.Time, calls *callLog,
	versions map[types.NamespacedName]int) bool {
	now := w.s.opts.Clock.Now()
	degraded := calls.summary()
	causes := map[string]bool{}
	results := make(map[types.NamespacedName]Status, len(plans))
	allSynced := true
	for _, p := range plans {
		st := p.status
		if p.active {
			st = w.syncedStatus(p, now)
		}
		prev, known := w.s.Status(p.b.Key)
		var c Changes
		if ch := changes[p.b.Key]; ch != nil {
			c = *ch
		}
		// LastSyncTime moves only when something happened to the binding. A pass runs for every
		// binding of the load balancer; were the time to move for all of them, each would be
		// reported, and would write its status, whenever any other binding changed: N status
		// writes per change, which also slows the controller down so much that changes arriving
		// together no longer land in one pass.
		switch {
		case st.LastSyncTime.IsZero() || (c == (Changes{}) && sameButSyncTime(st, prev)):
			st.LastSyncTime = prev.LastSyncTime
		case !known && c == (Changes{}) && st.Synced && !p.b.StoredSyncTime.IsZero():
			// The first pass since a restart changed nothing: in sync since the stored time.
			st.LastSyncTime = p.b.StoredSyncTime
		}
		results[p.b.Key] = st
		allSynced = allSynced && (st.Synced || st.Cleaned)
		w.s.setStatus(w, p.b.Key, st)
		if p.b.Deleting {
			w.s.setLeftovers(w, p.b.Key, w.leftovers(p))
		}
		if c.Registered+c.Deregistered+c.Reweighted+c.Retagged > 0 && w.repairs(p, versions[p.b.Key]) {
			c.Repaired = true // the CLB matched this very desired state before: someone changed it
			w.countRepairs(c)
		}
		if st.Synced {
			w.markSynced(p, versions[p.b.Key])
		}
		if degraded != "" && c != (Changes{}) {
			c.Degraded = degraded // the binding's writes went through, but not smoothly
		}
		if st.Err != nil {
			causes[failureCause(st.Err)] = true
		}
		if st != prev || c != (Changes{}) {
			w.s.notifier.Synced(p.b.Key, p.b.UID, st, c)
		}
	}
	for cause := range causes {
		failedPasses.WithLabelValues(w.lbID, cause).Inc()
	}
	w.record(results)
	passDuration.WithLabelValues(w.lbID).Observe(now.Sub(start).Seconds())
	return allSynced
}

// leftovers lists what a deleting binding would still remove from its listener or rule.
func (w *worker) leftovers(p *plan) Leftovers {
	lo := Leftovers{OwnerTag: p.b.OwnerTag}
	if p.listenerID == "" {
		return lo
	}
	lo.Scope = p.scope().String() + " of " + w.lbID
	// The pass's own plan, when it got that far: a refused write drops the cache, not the plan.
	var left []targets.Target
	switch {
	case p.planned:
		lo.Known, left = true, p.diff.Deregister
	case w.targets[p.listenerID] != nil:
		lo.Known, left = true, targets.Diff(nil, w.actual(p.listenerID), p.diffOptions()).Deregister
	}
	if lo.Known {
		for _, t := range left {
			addr := t.EniIP
			if t.InstanceID != "" {
				addr = t.InstanceID
			}
			lo.Backends = append(lo.Backends, fmt.Sprintf("%s:%d", addr, t.Port))
		}
	}
	return lo
}

// sameButSyncTime reports whether a and b differ at most in LastSyncTime.
func sameButSyncTime(a, b Status) bool {
	a.LastSyncTime = b.LastSyncTime
	return a == b
}

// syncedStatus describes a binding whose writes all went through.
func (w *worker) syncedStatus(p *plan, now time.Time) Status {
	st := Status{ListenerID: p.listenerID, LocationID: p.locationID, Synced: true, LastSyncTime: now, Share: p.share}
	st.Registered = targets.Count(p.desired(), w.actual(p.listenerID), p.diffOptions()).Registered
	if p.b.Deleting {
		st.Cleaned = true
		st.Reason, st.Message = networkingv1alpha1.BindingDeletingReason, "all backends of the binding are off the CLB"
	}
	if n := len(p.diff.Conflicts); n > 0 {
		st.Synced, st.Conflicts = false, n
		st.Reason = networkingv1alpha1.BindingConflictReason
		st.Message = fmt.Sprintf("%d wanted backends on %s are registered by another owner (another cluster, or by hand); "+
			"they are left alone until their owner removes them", n, p.scope())
	}
	if p.overQuota > 0 {
		st.Synced, st.OverQuota = false, p.overQuota
		st.Reason, st.Message = networkingv1alpha1.BindingProgressingReason, fmt.Sprintf(
			"%s is at its quota of %d backends: %d more are registered once the backends leaving it are deregistered",
			p.scope(), p.quotaLimit, p.overQuota)
		if p.quotaFinal > p.quotaLimit {
			st.Reason, st.Message = networkingv1alpha1.BindingQuotaExceededReason, fmt.Sprintf(
				"%s of %s would need %d backends, but the CLB allows %d per listener or rule (quota TOTAL_TARGET_BIND_QUOTA): "+
					"%d of the binding's %d wanted backends are not registered; ask Tencent Cloud to raise the quota, "+
					"or spread the Service over more listeners or rules", p.scope(), w.lbID,
				p.quotaFinal, p.quotaLimit, p.overQuota, len(p.desired()))
		}
	}
	if n := len(p.unroutable); n > 0 {
		slices.Sort(p.unroutable)
		p.unroutable = slices.Compact(p.unroutable)
		st.Synced, st.Unroutable = false, len(p.unroutable)
		st.Reason = networkingv1alpha1.BindingBackendNotRoutableReason
		st.Message = fmt.Sprintf("%d of the binding's backends cannot be registered on %s: the load balancer cannot route to %s. "+
			"Pod IPs must be addresses of the load balancer's VPC (VPC-CNI), or, for a GlobalRouter cluster, the load balancer "+
			"needs its cross-VPC binding (SnatPro) and the container CIDR routed to it through CCN; the other backends are "+
			"registered, and these are tried again every %s", st.Unroutable, w.lbID, sample(p.unroutable, 3), unroutableTTL)
	}
	// Last, so it wins: a second writer with our identity matters more than any other finding.
	if p.heldBack > 0 {
		st.Synced = false
		st.Reason = networkingv1alpha1.BindingOwnershipConflictReason
		st.Message = ownershipConflictMessage(p.heldBack, p.scope().String()+" of "+w.lbID, p.b.OwnerTag)
	}
	return st
}

// sample names up to n of items, and how many more there are.
func sample(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func cloudErrorStatus(p *plan, err error) Status {
	return Status{
		ListenerID: p.listenerID, LocationID: p.locationID,
		Reason: networkingv1alpha1.BindingCloudErrorReason, Message: err.Error(), Err: err,
	}
}

func listenerName(ref ListenerRef) string {
	if ref.ID != "" {
		return ref.ID
	}
	return fmt.Sprintf("%s:%d", ref.Protocol, ref.Port)
}

func ruleName(ref RuleRef) string {
	if ref.LocationID != "" {
		return ref.LocationID
	}
	return ref.Domain + ref.URL
}
