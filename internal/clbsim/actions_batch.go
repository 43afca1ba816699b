package clbsim

import (
	"slices"
	"strings"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// batchPlan is a validated Batch(De)RegisterTargets request.
type batchPlan struct {
	lb       *loadBalancer
	specs    []targetSpec // targets of listeners that did not fail
	failed   []string     // FailListenerIdSet
	messages []string
}

// planBatch validates a batch. Malformed targets, unknown listeners and
// repeated targets fail the whole request; listener-level problems (an L7
// listener without a usable LocationId, an injected failure) only put the
// listener in FailListenerIdSet, as the real API reports partial failure.
func (s *Sim) planBatch(c *call, lbID *string, targets []*clbapi.BatchTarget) (*batchPlan, error) {
	if len(targets) == 0 {
		return nil, errf(codeMissingParameter, "Targets is required")
	}
	if len(targets) > maxTargetsPerBatch {
		return nil, errf(codeLength, "Targets holds at most %d elements", maxTargetsPerBatch)
	}
	lb, err := s.writableLB(lbID)
	if err != nil {
		return nil, err
	}
	p := &batchPlan{lb: lb}
	var injected []string
	if c.fault != nil {
		injected = c.fault.FailListenerIDs
	}
	for _, t := range targets {
		if err := p.add(t, injected); err != nil {
			return nil, err
		}
	}
	p.specs = slices.DeleteFunc(p.specs, func(t targetSpec) bool { return slices.Contains(p.failed, t.l.id) })
	return p, checkDuplicates(p.specs)
}

func (p *batchPlan) add(t *clbapi.BatchTarget, injected []string) error {
	if t == nil {
		return errf(codeFormatError, "Targets holds a null element")
	}
	f := fieldsOfBatchTarget(t)
	if err := f.validate(); err != nil {
		return err
	}
	l, err := lookupListener(p.lb, t.ListenerId)
	if err != nil {
		return err
	}
	var r *rule
	switch {
	case slices.Contains(injected, l.id):
		p.fail(l.id, "injected failure")
		return nil
	case isL7(l.protocol) && t.LocationId == nil:
		p.fail(l.id, "LocationId is required for "+l.protocol+" listener "+l.id)
		return nil
	case isL7(l.protocol):
		if r = l.rules[*t.LocationId]; r == nil {
			p.fail(l.id, "location "+*t.LocationId+" not found on listener "+l.id)
			return nil
		}
	case t.LocationId != nil:
		p.fail(l.id, "listener "+l.id+" is "+l.protocol+" and has no rules")
		return nil
	}
	p.specs = append(p.specs, f.spec(l, r))
	return nil
}

func (p *batchPlan) fail(listenerID, why string) {
	if !slices.Contains(p.failed, listenerID) {
		p.failed = append(p.failed, listenerID)
		p.messages = append(p.messages, why)
	}
}

// runBatch validates and applies a Batch(De)RegisterTargets request
// synchronously (runSync). Registering refuses unreachable EniIps and the
// quota; deregistering refuses targets that are not bound. Either refusal
// fails the whole request and applies nothing.
func (s *Sim) runBatch(c *call, lbID *string, targets []*clbapi.BatchTarget, register bool) (*batchPlan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	p, err := s.planBatch(c, lbID, targets)
	if err != nil {
		return nil, err
	}
	apply := func() { removeBackends(p.specs) }
	if register {
		if err := s.checkReachable(p.lb, p.specs); err != nil {
			return nil, err
		}
		if err := s.checkQuota(p.specs); err != nil {
			return nil, err
		}
		apply = func() { s.addBackends(p.specs) }
	} else if err := checkBound(p.specs); err != nil {
		return nil, err
	}
	s.runSync(c, p.lb.id, len(p.specs), len(targets), apply)
	return p, nil
}

// runSync runs a synchronous write (the Batch* target calls apply their
// change before answering). With Latency.BatchSync it holds the LB for the
// task duration of applied targets before answering; DescribeTaskStatus on
// its RequestId then reports 0. After that the LB stays busy for BusyFixed +
// called×BusyPerTarget, with the task reported running. Callers hold s.mu,
// which is released while the call waits.
func (s *Sim) runSync(c *call, lbID string, applied, called int, apply func()) {
	lat := s.ctl.latency()
	var d time.Duration
	if lat.BatchSync {
		d = lat.TaskFixed + time.Duration(applied)*lat.TaskPerTarget
	}
	t := s.startTaskFor(c, []string{lbID}, d, apply)
	if h := s.held[lbID]; h != nil {
		s.mu.Unlock()
		h.wait(c.cancelled)
		s.mu.Lock()
	}
	if d > 0 {
		s.mu.Unlock()
		s.wait(c.cancelled, d)
		s.mu.Lock()
		s.settle()
	}
	s.holdAfter(t, lat.BusyFixed+time.Duration(called)*lat.BusyPerTarget)
}

func (s *Sim) batchRegisterTargets(c *call) (any, error) {
	req, err := decode[clbapi.BatchRegisterTargetsRequestParams](c)
	if err != nil {
		return nil, err
	}
	p, err := s.runBatch(c, req.LoadBalancerId, req.Targets, true)
	if err != nil {
		return nil, err
	}
	resp := &clbapi.BatchRegisterTargetsResponseParams{RequestId: &c.requestID}
	if len(p.failed) > 0 {
		resp.FailListenerIdSet = ptrs(p.failed)
		resp.Message = new(strings.Join(p.messages, "; "))
	}
	return resp, nil
}

func (s *Sim) batchDeregisterTargets(c *call) (any, error) {
	req, err := decode[clbapi.BatchDeregisterTargetsRequestParams](c)
	if err != nil {
		return nil, err
	}
	p, err := s.runBatch(c, req.LoadBalancerId, req.Targets, false)
	if err != nil {
		return nil, err
	}
	resp := &clbapi.BatchDeregisterTargetsResponseParams{RequestId: &c.requestID}
	if len(p.failed) > 0 {
		resp.FailListenerIdSet = ptrs(p.failed)
	}
	return resp, nil
}
