package clbsim

import (
	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Limits of the target actions (reference §1.4).
const (
	maxTargetsPerRegister   = 20
	maxTargetsPerBatch      = 500
	maxRulesPerWeightBatch  = 100
	maxTargetsPerWeightRule = 50
)

// targetsRequest is what Register, Deregister and ModifyTargetWeight share.
type targetsRequest struct {
	lbID, listenerID, locationID, domain, url *string
	targets                                   []*clbapi.Target
}

// planTargets validates a single-listener target request. Callers hold s.mu.
func (s *Sim) planTargets(req targetsRequest, limit int) (*loadBalancer, []targetSpec, error) {
	if len(req.targets) == 0 {
		return nil, nil, errf(codeMissingParameter, "Targets is required")
	}
	if limit > 0 && len(req.targets) > limit {
		return nil, nil, errf(codeLength, "Targets holds at most %d elements", limit)
	}
	lb, err := s.writableLB(req.lbID)
	if err != nil {
		return nil, nil, err
	}
	l, r, err := resolveGroup(lb, req.listenerID, req.locationID, req.domain, req.url)
	if err != nil {
		return nil, nil, err
	}
	specs, err := specsFor(l, r, req.targets)
	if err != nil {
		return nil, nil, err
	}
	return lb, specs, checkDuplicates(specs)
}

func (s *Sim) registerTargets(c *call) (any, error) {
	req, err := decode[clbapi.RegisterTargetsRequestParams](c)
	if err != nil {
		return nil, err
	}
	err = s.targetsTask(c, targetsRequest{req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url, req.Targets}, true)
	if err != nil {
		return nil, err
	}
	return &clbapi.RegisterTargetsResponseParams{RequestId: &c.requestID}, nil
}

func (s *Sim) deregisterTargets(c *call) (any, error) {
	req, err := decode[clbapi.DeregisterTargetsRequestParams](c)
	if err != nil {
		return nil, err
	}
	err = s.targetsTask(c, targetsRequest{req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url, req.Targets}, false)
	if err != nil {
		return nil, err
	}
	return &clbapi.DeregisterTargetsResponseParams{RequestId: &c.requestID}, nil
}

// targetsTask validates a Register/DeregisterTargets request and starts its task.
func (s *Sim) targetsTask(c *call, req targetsRequest, register bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, specs, err := s.planTargets(req, maxTargetsPerRegister)
	if err != nil {
		return err
	}
	apply := func() { removeBackends(specs) }
	if register {
		if err := s.checkReachable(lb, specs); err != nil {
			return err
		}
		if err := s.checkQuota(specs); err != nil {
			return err
		}
		apply = func() { s.addBackends(specs) }
	} else if err := checkBound(specs); err != nil {
		return err
	}
	s.startTask(c, []string{lb.id}, len(specs), apply)
	return nil
}

func (s *Sim) modifyTargetWeight(c *call) (any, error) {
	req, err := decode[clbapi.ModifyTargetWeightRequestParams](c)
	if err != nil {
		return nil, err
	}
	if req.Weight != nil && (*req.Weight < 0 || *req.Weight > 100) {
		return nil, errf(codeRange, "Weight must be within [0, 100]")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, specs, err := s.planTargets(targetsRequest{req.LoadBalancerId, req.ListenerId, req.LocationId, req.Domain, req.Url, req.Targets}, 0)
	if err != nil {
		return nil, err
	}
	if err := checkBound(specs); err != nil {
		return nil, err
	}
	withDefaultWeight(specs, req.Weight)
	s.startTask(c, []string{lb.id}, len(specs), func() { setWeights(specs) })
	return &clbapi.ModifyTargetWeightResponseParams{RequestId: &c.requestID}, nil
}

func (s *Sim) batchModifyTargetWeight(c *call) (any, error) {
	req, err := decode[clbapi.BatchModifyTargetWeightRequestParams](c)
	if err != nil {
		return nil, err
	}
	if err := checkWeightBatchShape(req.ModifyList); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.writableLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	var all []targetSpec
	for _, rw := range req.ModifyList {
		//nolint:staticcheck // RsWeightRule.Domain and Url are deprecated but still accepted by the API.
		l, r, err := resolveGroup(lb, rw.ListenerId, rw.LocationId, rw.Domain, rw.Url)
		if err != nil {
			return nil, err
		}
		specs, err := specsFor(l, r, rw.Targets)
		if err != nil {
			return nil, err
		}
		withDefaultWeight(specs, rw.Weight)
		all = append(all, specs...)
	}
	if err := checkDuplicates(all); err != nil {
		return nil, err
	}
	if err := checkBound(all); err != nil {
		return nil, err
	}
	s.startTask(c, []string{lb.id}, len(all), func() { setWeights(all) })
	return &clbapi.BatchModifyTargetWeightResponseParams{RequestId: &c.requestID}, nil
}

// checkWeightBatchShape enforces "ModifyList数组最多100个元素，ModifyList[i].Targets最多50个，全部Targets累加不超过500".
func checkWeightBatchShape(list []*clbapi.RsWeightRule) error {
	if len(list) == 0 {
		return errf(codeMissingParameter, "ModifyList is required")
	}
	if len(list) > maxRulesPerWeightBatch {
		return errf(codeLength, "ModifyList holds at most %d elements", maxRulesPerWeightBatch)
	}
	total := 0
	for _, rw := range list {
		if rw == nil || len(rw.Targets) == 0 {
			return errf(codeMissingParameter, "ModifyList[].Targets is required")
		}
		if len(rw.Targets) > maxTargetsPerWeightRule {
			return errf(codeLength, "ModifyList[].Targets holds at most %d elements", maxTargetsPerWeightRule)
		}
		if rw.Weight != nil && (*rw.Weight < 0 || *rw.Weight > 100) {
			return errf(codeRange, "Weight must be within [0, 100]")
		}
		total += len(rw.Targets)
	}
	if total > maxTargetsPerBatch {
		return errf(codeLength, "ModifyList holds at most %d targets in total", maxTargetsPerBatch)
	}
	return nil
}

func (s *Sim) batchModifyTargetTag(c *call) (any, error) {
	req, err := decode[clbapi.BatchModifyTargetTagRequestParams](c)
	if err != nil {
		return nil, err
	}
	total, err := checkTagBatchShape(req.ModifyList)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	lb, err := s.writableLB(req.LoadBalancerId)
	if err != nil {
		return nil, err
	}
	var all []targetSpec
	for _, rt := range req.ModifyList {
		l, r, err := resolveGroup(lb, rt.ListenerId, rt.LocationId, nil, nil)
		if err != nil {
			return nil, err
		}
		specs, err := specsFor(l, r, rt.Targets)
		if err != nil {
			return nil, err
		}
		if err := withRuleTag(specs, rt); err != nil {
			return nil, err
		}
		all = append(all, specs...)
	}
	if err := checkDuplicates(all); err != nil {
		return nil, err
	}
	if err := checkBound(all); err != nil {
		return nil, err
	}
	s.runSync(c, lb.id, len(all), total, func() { setTags(all) })
	return &clbapi.BatchModifyTargetTagResponseParams{RequestId: &c.requestID}, nil
}

// checkTagBatchShape enforces "批量修改的资源数量上限为500" (at most 500 targets)
// and returns the number of targets.
func checkTagBatchShape(list []*clbapi.RsTagRule) (int, error) {
	if len(list) == 0 {
		return 0, errf(codeMissingParameter, "ModifyList is required")
	}
	total := 0
	for _, rt := range list {
		if rt == nil || len(rt.Targets) == 0 {
			return 0, errf(codeMissingParameter, "ModifyList[].Targets is required")
		}
		total += len(rt.Targets)
	}
	if total > maxTargetsPerBatch {
		return 0, errf(codeLength, "ModifyList holds at most %d targets in total", maxTargetsPerBatch)
	}
	return total, nil
}

// withRuleTag gives every spec without its own Tag the RsTagRule's: the SDK
// says Target.Tag wins over RsTagRule.Tag. A target with neither is refused,
// since the request would not say what to set.
func withRuleTag(specs []targetSpec, rt *clbapi.RsTagRule) error {
	for i, t := range rt.Targets {
		switch {
		case t.Tag != nil:
		case rt.Tag != nil:
			specs[i].tg = *rt.Tag
		default:
			return errf(codeMissingParameter, "Tag is required on ModifyList[] of listener %s or on its target %s:%d",
				deref(rt.ListenerId), specs[i].addr(), specs[i].port)
		}
	}
	return nil
}
