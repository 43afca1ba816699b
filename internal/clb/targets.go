package clb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// TargetsRead is the answer of DescribeTargets.
type TargetsRead struct {
	Targets []targets.Target
	// Listeners are the listeners the answer held, with their protocol, port and rules (no
	// names or health checks: DescribeTargets has none). The API leaves a listener that does not
	// exist out of its answer without an error, so a requested ID missing here was deleted.
	Listeners []Listener
	// Digest identifies the answer: two reads of the same listeners with the same digest
	// returned the same backends (the request IDs aside).
	Digest [sha256.Size]byte
}

// Missing returns the IDs of requested that the answer did not hold.
func (r TargetsRead) Missing(requested []string) []string {
	var out []string
	for _, id := range uniqueSorted(requested) {
		if !slices.ContainsFunc(r.Listeners, func(l Listener) bool { return l.ID == id }) {
			out = append(out, id)
		}
	}
	return out
}

// BatchResult reports a partial failure of a batch write: the targets of the
// listeners in FailedListenerIDs (sorted, unique) may not have been applied;
// every other target was. Retry only those listeners.
type BatchResult struct {
	FailedListenerIDs []string
	Message           string
	// Refused are targets the cloud refused as not routable from the load balancer (an EniIp
	// outside its VPC without a cross-VPC binding); they were left out and the rest written.
	Refused []targets.Target
	// Gone are targets the cloud no longer had (removed out of band); they were left out and the
	// rest written.
	Gone []targets.Target
}

// DescribeTargets returns the backends of the given listeners of lbID, or of
// all its listeners if listenerIDs is empty, and which listeners the cloud
// answered for. It calls DescribeTargets once per 20 distinct listener IDs.
//
// The lists of an answer made by one call are shared with the answers of later calls that read
// the same (an unchanged answer returns the very same lists): callers must not modify them. A
// steady drift check, which reads what it read last time, then copies nothing.
func (c *Client) DescribeTargets(ctx context.Context, lbID string, listenerIDs []string) (TargetsRead, error) {
	parts := slices.Collect(slices.Chunk(uniqueSorted(listenerIDs), maxDescribeTargetsLBLs))
	if len(parts) == 0 {
		parts = [][]string{nil} // every listener of the load balancer
	}
	digest := sha256.New()
	digest.Write([]byte(lbID))
	var out TargetsRead
	for _, part := range parts {
		read, answer, err := c.describeTargets(ctx, lbID, part)
		if err != nil {
			return TargetsRead{}, err
		}
		if part != nil {
			digest.Write([]byte(memoKey(part)))
		}
		digest.Write(answer[:])
		if len(parts) == 1 {
			out = read // the memo's lists, shared
			break
		}
		out.Targets = append(out.Targets, read.Targets...)
		out.Listeners = append(out.Listeners, read.Listeners...)
	}
	digest.Sum(out.Digest[:0])
	return out, nil
}

// describeTargets makes one call and returns the answer's digest; what it returns may be the
// memo's (read-only).
func (c *Client) describeTargets(ctx context.Context, lbID string, listenerIDs []string) (TargetsRead, [sha256.Size]byte, error) {
	req := clbapi.NewDescribeTargetsRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerIds = ptrs(listenerIDs)
	var resp slimResponse[describeTargetsParams]
	key := memoKey([]string{lbID}, listenerIDs)
	last, remembered := c.targetsMemo.lookup(key)
	if remembered {
		resp.known = &last.digest
	}
	err := c.doRead(ctx, actionDescribeTargets, &resp.unchanged, func(ctx context.Context) error {
		return resp.send(ctx, c.api, req)
	})
	if err != nil {
		return TargetsRead{}, resp.digest, fmt.Errorf("describing targets of %s: %w", lbID, err)
	}
	if resp.unchanged {
		return last.value, resp.digest, nil
	}
	out := resp.Response.targetsRead()
	c.targetsMemo.store(key, resp.digest, out)
	return out, resp.digest, nil
}

// targetsRead converts a DescribeTargets answer.
func (resp *describeTargetsParams) targetsRead() TargetsRead {
	var out TargetsRead
	n := 0
	for _, l := range resp.Listeners {
		n += len(l.Targets)
		for _, r := range l.Rules {
			n += len(r.Targets)
		}
	}
	out.Targets = make([]targets.Target, 0, n)
	for _, l := range resp.Listeners {
		listener := Listener{ID: l.ListenerID, Protocol: l.Protocol, Port: l.Port}
		if IsLayer7(l.Protocol) { // an L4 listener's answer may carry a rule entry of its own
			for _, r := range l.Rules {
				listener.Rules = append(listener.Rules, Rule{LocationID: r.LocationID, Domain: r.Domain, URL: r.URL})
			}
		}
		out.Listeners = append(out.Listeners, listener)
		for i := range l.Targets {
			out.Targets = append(out.Targets, backendTarget(l.ListenerID, "", &l.Targets[i]))
		}
		for _, r := range l.Rules {
			for i := range r.Targets {
				out.Targets = append(out.Targets, backendTarget(l.ListenerID, r.LocationID, &r.Targets[i]))
			}
		}
	}
	return out
}

// backendTarget converts a DescribeTargets backend. Its key is a default only: a CVM backend
// (Type CVM or cvm) with an instance ID is keyed by instance, everything else by private IP;
// Target.Keyed re-keys it the way its binding registers.
func backendTarget(listenerID, locationID string, b *slimBackend) targets.Target {
	t := targets.Target{
		Key:      targets.Key{ListenerID: listenerID, LocationID: locationID, Port: b.Port},
		Weight:   b.Weight,
		Tag:      b.Tag,
		Reported: targets.Identity{InstanceID: b.InstanceID},
	}
	if len(b.PrivateIPAddresses) > 0 {
		t.Reported.IP = b.PrivateIPAddresses[0]
	}
	if strings.EqualFold(b.Type, "CVM") && t.Reported.InstanceID != "" || t.Reported.IP == "" {
		t.InstanceID = t.Reported.InstanceID
	} else {
		t.EniIP = t.Reported.IP
	}
	return t
}

// RegisterTargets binds targets to lbID with BatchRegisterTargets, 500 targets
// a call (duplicates by Key are dropped, the last one wins). The call is
// synchronous; the load balancer stays busy for a while after it, which the
// next write waits out (pacing.go). Listeners the cloud reports in
// FailListenerIdSet are merged into the result. A chunk refused because some
// of its addresses are not routable from the load balancer is sent again
// without them, and they are reported in BatchResult.Refused. When a call
// fails, its listeners are added to the result and its error is returned
// (joined with the others); see stopAfter for when the remaining calls are
// still sent.
func (c *Client) RegisterTargets(ctx context.Context, lbID string, ts []targets.Target) (BatchResult, error) {
	res, err := writeInChunks(ctx, ts, func(ctx context.Context, part []targets.Target) (chunkOutcome, error) {
		var out chunkOutcome
		for len(part) > 0 {
			failed, msg, err := c.registerChunk(ctx, lbID, part)
			refused := refusedIn(part, RefusedAddresses(err))
			if err == nil || len(refused) == 0 {
				out.failed, out.msg = failed, msg
				return out, err
			}
			out.refused = append(out.refused, refused...)
			part = slices.DeleteFunc(slices.Clone(part), func(t targets.Target) bool { return slices.Contains(refused, t) })
		}
		return out, nil
	})
	if err != nil {
		return res, fmt.Errorf("registering %d targets on %s: %w", len(ts), lbID, err)
	}
	return res, nil
}

func (c *Client) registerChunk(ctx context.Context, lbID string, part []targets.Target) ([]*string, *string, error) {
	if err := c.settle(ctx, lbID); err != nil {
		return nil, nil, err
	}
	req := clbapi.NewBatchRegisterTargetsRequest()
	req.LoadBalancerId = new(lbID)
	req.Targets = toBatchTargets(part, true)
	var resp *clbapi.BatchRegisterTargetsResponse
	err := c.do(ctx, actionBatchRegisterTargets, func(ctx context.Context) (err error) {
		resp, err = c.api.BatchRegisterTargetsWithContext(ctx, req)
		return err
	})
	if err != nil || resp.Response == nil {
		return nil, nil, err
	}
	c.pending.set(lbID, str(resp.Response.RequestId))
	return resp.Response.FailListenerIdSet, resp.Response.Message, nil
}

// refusedIn returns the targets of part whose EniIp is one of addrs.
func refusedIn(part []targets.Target, addrs []string) []targets.Target {
	var out []targets.Target
	for _, t := range part {
		if t.EniIP != "" && slices.Contains(addrs, t.EniIP) {
			out = append(out, t)
		}
	}
	return out
}

// DeregisterTargets unbinds targets from lbID with BatchDeregisterTargets, 500
// targets a call. Only the Key matters. The cloud refuses a whole call
// when one of its targets is no longer bound (removed by hand, or a CVM that
// was terminated): the chunk's listeners are then read again and the chunk is
// sent once more without the targets that are gone (BatchResult.Gone).
// Partial failures are handled as in RegisterTargets.
func (c *Client) DeregisterTargets(ctx context.Context, lbID string, ts []targets.Target) (BatchResult, error) {
	res, err := writeInChunks(ctx, ts, func(ctx context.Context, part []targets.Target) (chunkOutcome, error) {
		var failed []*string
		out, err := c.mendStale(ctx, lbID, part, func(ctx context.Context, part []targets.Target) (err error) {
			failed, err = c.deregisterChunk(ctx, lbID, part)
			return err
		})
		out.failed = failed
		return out, err
	})
	if err != nil {
		return res, fmt.Errorf("deregistering %d targets from %s: %w", len(ts), lbID, err)
	}
	return res, nil
}

func (c *Client) deregisterChunk(ctx context.Context, lbID string, part []targets.Target) ([]*string, error) {
	if err := c.settle(ctx, lbID); err != nil {
		return nil, err
	}
	req := clbapi.NewBatchDeregisterTargetsRequest()
	req.LoadBalancerId = new(lbID)
	req.Targets = toBatchTargets(part, false)
	var resp *clbapi.BatchDeregisterTargetsResponse
	err := c.do(ctx, actionBatchDeregisterTargets, func(ctx context.Context) (err error) {
		resp, err = c.api.BatchDeregisterTargetsWithContext(ctx, req)
		return err
	})
	if err != nil || resp.Response == nil {
		return nil, err
	}
	c.pending.set(lbID, str(resp.Response.RequestId))
	return resp.Response.FailListenerIdSet, nil // this action returns no Message
}

// mendStale sends part; if the cloud refuses it as a bad parameter, which is how it answers a
// write naming a target it no longer has, it reads the part's listeners again and sends once
// more without the targets that are gone. A refusal with nothing gone is a real one and is
// returned as it is.
func (c *Client) mendStale(ctx context.Context, lbID string, part []targets.Target, send func(context.Context, []targets.Target) error) (chunkOutcome, error) {
	var out chunkOutcome
	err := send(ctx, part)
	if !isParameterRefusal(err) {
		return out, err
	}
	present, gone, rerr := c.splitGone(ctx, lbID, part)
	if rerr != nil || len(gone) == 0 {
		return out, err
	}
	out.gone = gone
	if len(present) == 0 {
		return out, nil
	}
	return out, send(ctx, present)
}

// isParameterRefusal reports whether err is the cloud refusing a request's parameters (not a
// missing load balancer or listener, which have their own codes).
func isParameterRefusal(err error) bool {
	ic, ok := errors.AsType[*InvalidConfigError](err)
	return ok && ic.Reason == ReasonInvalidParameter
}

// splitGone reads the listeners of part and splits it into the targets still bound and those
// gone. A target is matched by the address it was written with (Target.Reported), whatever
// Type the cloud reports.
func (c *Client) splitGone(ctx context.Context, lbID string, part []targets.Target) (present, gone []targets.Target, err error) {
	ids := make([]string, 0, len(part))
	for _, t := range part {
		ids = append(ids, t.ListenerID)
	}
	read, err := c.DescribeTargets(ctx, lbID, ids)
	if err != nil {
		return nil, nil, err
	}
	bound := map[targets.Key]bool{}
	for _, t := range read.Targets {
		for _, byIP := range []bool{true, false} {
			bound[t.Keyed(byIP).Key] = true
		}
	}
	for _, t := range part {
		if bound[t.Key] {
			present = append(present, t)
		} else {
			gone = append(gone, t)
		}
	}
	return present, gone, nil
}

// chunkOutcome is what one chunk's write reports besides its error.
type chunkOutcome struct {
	failed  []*string // FailListenerIdSet
	msg     *string
	refused []targets.Target // left out: not routable
	gone    []targets.Target // left out: no longer bound
}

// sendChunk writes one chunk.
type sendChunk func(ctx context.Context, part []targets.Target) (chunkOutcome, error)

// writeInChunks sends the distinct targets, sorted, in chunks of 500 and
// merges the outcomes.
func writeInChunks(ctx context.Context, ts []targets.Target, send sendChunk) (BatchResult, error) {
	var acc batchAccumulator
	parts := slices.Collect(slices.Chunk(dedupeTargets(ts), maxBatchTargets))
	for i, part := range parts {
		out, err := send(ctx, part)
		acc.refused = append(acc.refused, out.refused...)
		acc.gone = append(acc.gone, out.gone...)
		if err != nil {
			acc.failChunk(part, err)
			if stopAfter(ctx, err) {
				for _, rest := range parts[i+1:] {
					acc.failChunk(rest, nil)
				}
				break
			}
			continue
		}
		acc.add(strs(out.failed), str(out.msg))
	}
	return acc.result()
}

// stopAfter reports whether a batch write should send no more chunks after
// one failed with err. A refusal specific to the chunk (a bad parameter, a
// deleted listener) leaves the other chunks worth sending. A missing load
// balancer, or one still busy or throttled after all retries, would refuse
// them too, so they are only reported failed.
func stopAfter(ctx context.Context, err error) bool {
	return ctx.Err() != nil || IsNotFoundKind(err, KindLoadBalancer) || IsRetriable(err)
}

// batchAccumulator merges the outcomes of the chunks of one batch write.
type batchAccumulator struct {
	failed  map[string]struct{}
	msgs    []string
	errs    []error
	refused []targets.Target
	gone    []targets.Target
}

func (a *batchAccumulator) add(failedListenerIDs []string, msg string) {
	if a.failed == nil {
		a.failed = map[string]struct{}{}
	}
	for _, id := range failedListenerIDs {
		a.failed[id] = struct{}{}
	}
	if msg != "" && !slices.Contains(a.msgs, msg) {
		a.msgs = append(a.msgs, msg)
	}
}

// failChunk marks every listener of part failed; err may be nil for chunks
// that were never sent.
func (a *batchAccumulator) failChunk(part []targets.Target, err error) {
	ids := make([]string, 0, len(part))
	for _, t := range part {
		ids = append(ids, t.ListenerID)
	}
	a.add(ids, "")
	if err != nil {
		a.errs = append(a.errs, err)
	}
}

func (a *batchAccumulator) result() (BatchResult, error) {
	res := BatchResult{Message: strings.Join(a.msgs, "; "), Refused: a.refused, Gone: a.gone}
	if len(a.failed) > 0 {
		res.FailedListenerIDs = slices.Sorted(maps.Keys(a.failed))
	}
	return res, errors.Join(a.errs...)
}

func toBatchTargets(ts []targets.Target, withSettings bool) []*clbapi.BatchTarget {
	out := make([]*clbapi.BatchTarget, 0, len(ts))
	for _, t := range ts {
		bt := &clbapi.BatchTarget{
			ListenerId: new(t.ListenerID),
			Port:       new(t.Port),
			LocationId: optional(t.LocationID),
			EniIp:      optional(t.EniIP),
			InstanceId: optional(t.InstanceID),
		}
		if withSettings {
			bt.Weight = new(t.Weight)
			bt.Tag = optional(t.Tag)
		}
		out = append(out, bt)
	}
	return out
}

// dedupeTargets drops repeated keys (the cloud refuses them with
// InvalidParameterValue.Duplicate), keeping the last, and sorts by key so that
// each listener's targets are contiguous: a partial failure then touches as
// few chunks as possible, and requests are deterministic.
func dedupeTargets(ts []targets.Target) []targets.Target {
	byKey := make(map[targets.Key]targets.Target, len(ts))
	for _, t := range ts {
		byKey[t.Key] = t
	}
	return slices.SortedFunc(maps.Values(byKey), func(a, b targets.Target) int { return a.Compare(b.Key) })
}

// ModifyTargetWeights sets the weight of existing targets of lbID with
// BatchModifyTargetWeight and waits for each call's task. Targets are grouped
// by listener and rule into RsWeightRules of at most 50 targets, and rules are
// packed into calls of at most 100 rules and 500 targets. The cloud reports no
// per-listener failure for this action, so the result lists the listeners of
// calls that failed.
func (c *Client) ModifyTargetWeights(ctx context.Context, lbID string, ts []targets.Target) (BatchResult, error) {
	res, err := c.sendCalls(ctx, lbID, packWeightRules(dedupeTargets(ts)), c.modifyWeights)
	if err != nil {
		return res, fmt.Errorf("modifying the weights of %d targets on %s: %w", len(ts), lbID, err)
	}
	return res, nil
}

// sendCalls sends packed calls one after the other, each mended if it names targets gone out of
// band, and merges the outcomes. After a call fails, the rest are sent unless stopAfter says no.
func (c *Client) sendCalls(ctx context.Context, lbID string, calls []weightCall,
	send func(context.Context, string, weightCall) error) (BatchResult, error) {
	var acc batchAccumulator
	for i, call := range calls {
		out, err := c.mendStale(ctx, lbID, call.targets(), func(ctx context.Context, ts []targets.Target) error {
			return send(ctx, lbID, packOne(ts))
		})
		acc.gone = append(acc.gone, out.gone...)
		if err != nil {
			acc.failChunk(call.targets(), err)
			if stopAfter(ctx, err) {
				for _, rest := range calls[i+1:] {
					acc.failChunk(rest.targets(), nil)
				}
				break
			}
		}
	}
	return acc.result()
}

func (c *Client) modifyWeights(ctx context.Context, lbID string, call weightCall) error {
	if err := c.settle(ctx, lbID); err != nil {
		return err
	}
	req := clbapi.NewBatchModifyTargetWeightRequest()
	req.LoadBalancerId = new(lbID)
	for _, r := range call {
		rule := &clbapi.RsWeightRule{ListenerId: new(r.scope.ListenerID), LocationId: optional(r.scope.LocationID)}
		for _, t := range r.targets {
			rule.Targets = append(rule.Targets, &clbapi.Target{
				Port:       new(t.Port),
				EniIp:      optional(t.EniIP),
				InstanceId: optional(t.InstanceID),
				Weight:     new(t.Weight),
			})
		}
		req.ModifyList = append(req.ModifyList, rule)
	}
	var resp *clbapi.BatchModifyTargetWeightResponse
	err := c.do(ctx, actionBatchModifyTargetWeight, func(ctx context.Context) (err error) {
		resp, err = c.api.BatchModifyTargetWeightWithContext(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if resp.Response == nil {
		return errors.New("BatchModifyTargetWeight returned no response")
	}
	return c.waitResponseTask(ctx, resp.Response.RequestId)
}

// ModifyTargetTags sets the Tag of existing targets of lbID with BatchModifyTargetTag, a
// synchronous call of at most 500 targets. Targets are grouped by listener, rule and tag into
// RsTagRules packed as for BatchModifyTargetWeight. Failures are reported as in
// ModifyTargetWeights.
func (c *Client) ModifyTargetTags(ctx context.Context, lbID string, ts []targets.Target) (BatchResult, error) {
	byTag := map[string][]targets.Target{}
	for _, t := range dedupeTargets(ts) {
		byTag[t.Tag] = append(byTag[t.Tag], t)
	}
	calls := make([]weightCall, 0, len(byTag))
	for _, tag := range slices.Sorted(maps.Keys(byTag)) {
		calls = append(calls, packWeightRules(byTag[tag])...)
	}
	res, err := c.sendCalls(ctx, lbID, calls, c.modifyTags)
	if err != nil {
		return res, fmt.Errorf("re-tagging %d targets on %s: %w", len(ts), lbID, err)
	}
	return res, nil
}

// modifyTags sends one BatchModifyTargetTag call; every target of call carries the same tag.
func (c *Client) modifyTags(ctx context.Context, lbID string, call weightCall) error {
	if err := c.settle(ctx, lbID); err != nil {
		return err
	}
	req := clbapi.NewBatchModifyTargetTagRequest()
	req.LoadBalancerId = new(lbID)
	for _, r := range call {
		tag := r.targets[0].Tag
		rule := &clbapi.RsTagRule{ListenerId: new(r.scope.ListenerID), LocationId: optional(r.scope.LocationID), Tag: new(tag)}
		for _, t := range r.targets {
			rule.Targets = append(rule.Targets, &clbapi.Target{
				Port:       new(t.Port),
				EniIp:      optional(t.EniIP),
				InstanceId: optional(t.InstanceID),
				Tag:        new(tag),
			})
		}
		req.ModifyList = append(req.ModifyList, rule)
	}
	var resp *clbapi.BatchModifyTargetTagResponse
	err := c.do(ctx, actionBatchModifyTargetTag, func(ctx context.Context) (err error) {
		resp, err = c.api.BatchModifyTargetTagWithContext(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if resp.Response != nil {
		c.pending.set(lbID, str(resp.Response.RequestId))
	}
	return nil
}

// weightRule is one RsWeightRule (or RsTagRule): targets of one listener and rule.
type weightRule struct {
	scope   targets.Scope
	targets []targets.Target
}

// weightCall is the ModifyList of one BatchModifyTargetWeight call.
type weightCall []weightRule

func (w weightCall) targets() []targets.Target {
	var out []targets.Target
	for _, r := range w {
		out = append(out, r.targets...)
	}
	return out
}

// packOne packs the targets of one call, or fewer, into that call again.
func packOne(ts []targets.Target) weightCall {
	var out weightCall
	for _, call := range packWeightRules(ts) {
		out = append(out, call...)
	}
	return out
}

// packWeightRules splits targets, sorted by key, into calls within the
// BatchModifyTargetWeight limits. It fills each call to 500 targets, cutting a
// listener/rule group into rules of at most 50 and splitting a group across
// calls only at a call boundary, so the number of calls is
// max(ceil(targets/500), ceil(rules/100)) in all but contrived cases where
// both limits bind at once.
func packWeightRules(sorted []targets.Target) []weightCall {
	var (
		calls   []weightCall
		cur     weightCall
		curSize int
	)
	flush := func() {
		if len(cur) > 0 {
			calls = append(calls, cur)
		}
		cur, curSize = nil, 0
	}
	for i := 0; i < len(sorted); {
		// The group of targets sharing sorted[i]'s listener and rule.
		j := i + 1
		for j < len(sorted) && sorted[j].Scope() == sorted[i].Scope() {
			j++
		}
		group := sorted[i:j]
		for len(group) > 0 {
			if len(cur) == maxWeightRules || curSize == maxWeightTargets {
				flush()
			}
			n := min(len(group), maxWeightTargetsPerRule, maxWeightTargets-curSize)
			cur = append(cur, weightRule{scope: group[0].Scope(), targets: group[:n]})
			curSize += n
			group = group[n:]
		}
		i = j
	}
	flush()
	return calls
}
