package clb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// TargetKey identifies one backend of one listener (and, for HTTP/HTTPS
// listeners, one rule). It is comparable, so it can key a map.
type TargetKey struct {
	ListenerID string
	// LocationID is the L7 rule; empty for TCP/UDP/TCP_SSL/QUIC listeners.
	LocationID string
	// EniIP is the pod (or ENI) IP. Set exactly one of EniIP and InstanceID.
	EniIP string
	// InstanceID is a CVM instance ("ins-…"), for node targets.
	InstanceID string
	Port       int64
}

// Target is a backend with its settings.
type Target struct {
	TargetKey
	// Weight is 0–100 and is always sent: 0 takes the target out of rotation.
	Weight int64
	// Tag marks ownership (a short id of cluster and binding).
	Tag string
}

// BatchResult reports a partial failure of a batch write: the targets of the
// listeners in FailedListenerIDs (sorted, unique) may not have been applied;
// every other target was. Retry only those listeners.
type BatchResult struct {
	FailedListenerIDs []string
	Message           string
}

// DescribeTargets returns the backends of the given listeners of lbID, or of
// all its listeners if listenerIDs is empty. It calls DescribeTargets once per
// 20 distinct listener IDs.
func (c *Client) DescribeTargets(ctx context.Context, lbID string, listenerIDs []string) ([]Target, error) {
	ids := uniqueSorted(listenerIDs)
	if len(ids) == 0 {
		return c.describeTargets(ctx, lbID, nil)
	}
	var out []Target
	for part := range slices.Chunk(ids, maxDescribeTargetsLBLs) {
		ts, err := c.describeTargets(ctx, lbID, part)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

func (c *Client) describeTargets(ctx context.Context, lbID string, listenerIDs []string) ([]Target, error) {
	req := clbapi.NewDescribeTargetsRequest()
	req.LoadBalancerId = new(lbID)
	req.ListenerIds = ptrs(listenerIDs)
	var resp *clbapi.DescribeTargetsResponse
	err := c.do(ctx, actionDescribeTargets, func(ctx context.Context) (err error) {
		resp, err = c.api.DescribeTargetsWithContext(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describing targets of %s: %w", lbID, err)
	}
	if resp.Response == nil {
		return nil, nil
	}
	var out []Target
	for _, l := range resp.Response.Listeners {
		lid := str(l.ListenerId)
		for _, b := range l.Targets {
			out = append(out, backendTarget(lid, "", b))
		}
		for _, r := range l.Rules {
			loc := str(r.LocationId)
			for _, b := range r.Targets {
				out = append(out, backendTarget(lid, loc, b))
			}
		}
	}
	return out, nil
}

// backendTarget converts a DescribeTargets backend. CVM backends are keyed by
// instance, everything else (ENI, pod IPs) by private IP, matching how we
// register them.
func backendTarget(listenerID, locationID string, b *clbapi.Backend) Target {
	t := Target{
		TargetKey: TargetKey{ListenerID: listenerID, LocationID: locationID, Port: i64(b.Port)},
		Weight:    i64(b.Weight),
		Tag:       str(b.Tag),
	}
	if str(b.Type) == "CVM" && str(b.InstanceId) != "" {
		t.InstanceID = str(b.InstanceId)
	} else if len(b.PrivateIpAddresses) > 0 {
		t.EniIP = str(b.PrivateIpAddresses[0])
	}
	return t
}

// RegisterTargets binds targets to lbID with BatchRegisterTargets, 500 targets
// a call (duplicates by TargetKey are dropped, the last one wins). The call is
// synchronous, so no task is awaited. Listeners the cloud reports in
// FailListenerIdSet are merged into the result. When a call fails, its
// listeners are added to the result and its error is returned (joined with
// the others); see stopAfter for when the remaining calls are still sent.
func (c *Client) RegisterTargets(ctx context.Context, lbID string, targets []Target) (BatchResult, error) {
	res, err := writeInChunks(ctx, targets, func(ctx context.Context, part []Target) ([]*string, *string, error) {
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
		return resp.Response.FailListenerIdSet, resp.Response.Message, nil
	})
	if err != nil {
		return res, fmt.Errorf("registering %d targets on %s: %w", len(targets), lbID, err)
	}
	return res, nil
}

// DeregisterTargets unbinds targets from lbID with BatchDeregisterTargets, 500
// targets a call. Only the TargetKey matters. Partial failures are handled as
// in RegisterTargets.
func (c *Client) DeregisterTargets(ctx context.Context, lbID string, targets []Target) (BatchResult, error) {
	res, err := writeInChunks(ctx, targets, func(ctx context.Context, part []Target) ([]*string, *string, error) {
		req := clbapi.NewBatchDeregisterTargetsRequest()
		req.LoadBalancerId = new(lbID)
		req.Targets = toBatchTargets(part, false)
		var resp *clbapi.BatchDeregisterTargetsResponse
		err := c.do(ctx, actionBatchDeregisterTargets, func(ctx context.Context) (err error) {
			resp, err = c.api.BatchDeregisterTargetsWithContext(ctx, req)
			return err
		})
		if err != nil || resp.Response == nil {
			return nil, nil, err
		}
		return resp.Response.FailListenerIdSet, nil, nil // this action returns no Message
	})
	if err != nil {
		return res, fmt.Errorf("deregistering %d targets from %s: %w", len(targets), lbID, err)
	}
	return res, nil
}

// sendBatch sends one chunk and returns the cloud's FailListenerIdSet and Message.
type sendBatch func(ctx context.Context, part []Target) (failed []*string, msg *string, err error)

// writeInChunks sends the distinct targets, sorted, in chunks of 500 and
// merges the outcomes.
func writeInChunks(ctx context.Context, targets []Target, send sendBatch) (BatchResult, error) {
	var acc batchAccumulator
	parts := slices.Collect(slices.Chunk(dedupeTargets(targets), maxBatchTargets))
	for i, part := range parts {
		failed, msg, err := send(ctx, part)
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
		acc.add(strs(failed), str(msg))
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
	failed map[string]struct{}
	msgs   []string
	errs   []error
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
func (a *batchAccumulator) failChunk(part []Target, err error) {
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
	res := BatchResult{Message: strings.Join(a.msgs, "; ")}
	if len(a.failed) > 0 {
		res.FailedListenerIDs = slices.Sorted(maps.Keys(a.failed))
	}
	return res, errors.Join(a.errs...)
}

func toBatchTargets(ts []Target, withSettings bool) []*clbapi.BatchTarget {
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
func dedupeTargets(ts []Target) []Target {
	byKey := make(map[TargetKey]Target, len(ts))
	for _, t := range ts {
		byKey[t.TargetKey] = t
	}
	return slices.SortedFunc(maps.Values(byKey), func(a, b Target) int { return compareKeys(a.TargetKey, b.TargetKey) })
}

func compareKeys(a, b TargetKey) int {
	return cmp.Or(
		cmp.Compare(a.ListenerID, b.ListenerID),
		cmp.Compare(a.LocationID, b.LocationID),
		cmp.Compare(a.EniIP, b.EniIP),
		cmp.Compare(a.InstanceID, b.InstanceID),
		cmp.Compare(a.Port, b.Port),
	)
}

// ModifyTargetWeights sets the weight of existing targets of lbID with
// BatchModifyTargetWeight and waits for each call's task. Targets are grouped
// by listener and rule into RsWeightRules of at most 50 targets, and rules are
// packed into calls of at most 100 rules and 500 targets. The cloud reports no
// per-listener failure for this action, so the result lists the listeners of
// calls that failed.
func (c *Client) ModifyTargetWeights(ctx context.Context, lbID string, targets []Target) (BatchResult, error) {
	var acc batchAccumulator
	calls := packWeightRules(dedupeTargets(targets))
	for i, call := range calls {
		if err := c.modifyWeights(ctx, lbID, call); err != nil {
			acc.failChunk(call.targets(), err)
			if stopAfter(ctx, err) {
				for _, rest := range calls[i+1:] {
					acc.failChunk(rest.targets(), nil)
				}
				break
			}
		}
	}
	res, err := acc.result()
	if err != nil {
		return res, fmt.Errorf("modifying the weights of %d targets on %s: %w", len(targets), lbID, err)
	}
	return res, nil
}

func (c *Client) modifyWeights(ctx context.Context, lbID string, call weightCall) error {
	req := clbapi.NewBatchModifyTargetWeightRequest()
	req.LoadBalancerId = new(lbID)
	for _, r := range call {
		rule := &clbapi.RsWeightRule{ListenerId: new(r.listenerID), LocationId: optional(r.locationID)}
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

// weightRule is one RsWeightRule: targets of one listener and rule.
type weightRule struct {
	listenerID, locationID string
	targets                []Target
}

// weightCall is the ModifyList of one BatchModifyTargetWeight call.
type weightCall []weightRule

func (w weightCall) targets() []Target {
	var out []Target
	for _, r := range w {
		out = append(out, r.targets...)
	}
	return out
}

// packWeightRules splits targets, sorted by key, into calls within the
// BatchModifyTargetWeight limits. It fills each call to 500 targets, cutting a
// listener/rule group into rules of at most 50 and splitting a group across
// calls only at a call boundary, so the number of calls is
// max(ceil(targets/500), ceil(rules/100)) in all but contrived cases where
// both limits bind at once.
func packWeightRules(sorted []Target) []weightCall {
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
		for j < len(sorted) && sorted[j].ListenerID == sorted[i].ListenerID && sorted[j].LocationID == sorted[i].LocationID {
			j++
		}
		group := sorted[i:j]
		for len(group) > 0 {
			if len(cur) == maxWeightRules || curSize == maxWeightTargets {
				flush()
			}
			n := min(len(group), maxWeightTargetsPerRule, maxWeightTargets-curSize)
			cur = append(cur, weightRule{listenerID: group[0].ListenerID, locationID: group[0].LocationID, targets: group[:n]})
			curSize += n
			group = group[n:]
		}
		i = j
	}
	flush()
	return calls
}
