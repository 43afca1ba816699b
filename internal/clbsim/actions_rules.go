package clbsim

import (
	"slices"
	"unicode/utf8"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// Limits of RuleInput (reference §1.3).
const (
	maxDomainLength = 80
	maxURLLength    = 200
)

// lookupRule validates and resolves a location ID on l.
func lookupRule(l *listener, id *string) (*rule, error) {
	if id == nil {
		return nil, errf(codeMissingParameter, "LocationId is required")
	}
	if !validID(*id, "loc-") {
		return nil, errf(codeFormatError, "LocationId %q is malformed", *id)
	}
	r := l.rules[*id]
	if r == nil {
		return nil, errf(codeLocationNotFound, "location %s not found on listener %s", *id, l.id)
	}
	return r, nil
}

// ruleByDomainURL finds the rule with exactly this domain and URL.
func ruleByDomainURL(l *listener, domain, url string) *rule {
	for _, r := range l.rules {
		if r.domain == domain && r.url == url {
			return r
		}
	}
	return nil
}

// l7Listener resolves a listener that must be HTTP or HTTPS.
func l7Listener(lb *loadBalancer, id *string) (*listener, error) {
	l, err := lookupListener(lb, id)
	if err != nil {
		return nil, err
	}
	if !isL7(l.protocol) {
		return nil, errf(codeProtocolCheck, "listener %s is %s; rules exist only on HTTP/HTTPS listeners", l.id, l.protocol)
	}
	return l, nil
}

// newRule builds a rule; the caller adds it to its listener. Callers hold s.mu.
func (s *Sim) newRule(domain, url string, hc *clbapi.HealthCheck) *rule {
	r := &rule{id: s.newID("loc-"), domain: domain, url: url, scheduler: schedulerWRR, createdAt: s.now()}
	if hc != nil {
		mergeHealthCheck(&r.health, hc)
	}
	return r
}

func (s *Sim) createRule(c *call) (any, error) {
	req, err := decode[clbapi.CreateRuleRequestParams](c)
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
	l, err := l7Listener(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	if len(req.Rules) == 0 {
		return nil, errf(codeMissingParameter, "Rules is required")
	}
	created := make([]*rule, 0, len(req.Rules))
	ids := make([]string, 0, len(req.Rules))
	for _, in := range req.Rules {
		domain, url, err := validateRuleInput(l, in, created)
		if err != nil {
			return nil, err
		}
		r := s.newRule(domain, url, in.HealthCheck)
		setString(&r.scheduler, in.Scheduler)
		created = append(created, r)
		ids = append(ids, r.id)
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		for _, r := range created {
			l.rules[r.id] = r
		}
	})
	return &clbapi.CreateRuleResponseParams{LocationIds: ptrs(ids), RequestId: &c.requestID}, nil
}

// validateRuleInput checks one RuleInput against the listener and the rules
// already accepted in the same request, and returns its domain and URL.
func validateRuleInput(l *listener, in *clbapi.RuleInput, accepted []*rule) (domain, url string, err error) {
	if in == nil {
		return "", "", errf(codeFormatError, "Rules holds a null element")
	}
	domain = deref(in.Domain)
	if domain == "" && len(in.Domains) > 0 {
		domain = deref(in.Domains[0])
	}
	url = deref(in.Url)
	if domain == "" || url == "" {
		return "", "", errf(codeMissingParameter, "each rule needs Domain (or Domains) and Url")
	}
	if utf8.RuneCountInString(domain) > maxDomainLength || utf8.RuneCountInString(url) > maxURLLength {
		return "", "", errf(codeLength, "Domain is at most %d and Url at most %d characters", maxDomainLength, maxURLLength)
	}
	dup := slices.ContainsFunc(accepted, func(r *rule) bool { return r.domain == domain && r.url == url })
	if dup || ruleByDomainURL(l, domain, url) != nil {
		return "", "", errf(codeDuplicate, "a rule for %s%s already exists", domain, url)
	}
	if err := validateRuleScheduler(in.Scheduler); err != nil {
		return "", "", err
	}
	if in.HealthCheck != nil {
		return domain, url, validateHealthCheck(l.protocol, nil, in.HealthCheck)
	}
	return domain, url, nil
}

func validateRuleScheduler(scheduler *string) error {
	if scheduler != nil && !slices.Contains([]string{schedulerWRR, schedulerLeastCon, "IP_HASH"}, *scheduler) {
		return errf(codeInvalidValue, "Scheduler must be WRR, LEAST_CONN or IP_HASH")
	}
	return nil
}

func (s *Sim) deleteRule(c *call) (any, error) {
	req, err := decode[clbapi.DeleteRuleRequestParams](c)
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
	l, err := l7Listener(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	doomed, err := rulesToDelete(l, req)
	if err != nil {
		return nil, err
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		for _, r := range doomed {
			delete(l.rules, r.id)
		}
	})
	return &clbapi.DeleteRuleResponseParams{RequestId: &c.requestID}, nil
}

func rulesToDelete(l *listener, req *clbapi.DeleteRuleRequestParams) ([]*rule, error) {
	if len(req.LocationIds) == 0 {
		if req.Domain == nil || req.Url == nil {
			return nil, errf(codeMissingParameter, "LocationIds or Domain and Url are required")
		}
		r := ruleByDomainURL(l, *req.Domain, *req.Url)
		if r == nil {
			return nil, errf(codeLocationNotFound, "no rule for %s%s on listener %s", *req.Domain, *req.Url, l.id)
		}
		return []*rule{r}, nil
	}
	out := make([]*rule, 0, len(req.LocationIds))
	for _, id := range req.LocationIds {
		r, err := lookupRule(l, id)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, r) {
			return nil, errf(codeDuplicate, "LocationId %s is repeated", r.id)
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Sim) modifyRule(c *call) (any, error) {
	req, err := decode[clbapi.ModifyRuleRequestParams](c)
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
	l, err := l7Listener(lb, req.ListenerId)
	if err != nil {
		return nil, err
	}
	r, err := lookupRule(l, req.LocationId)
	if err != nil {
		return nil, err
	}
	if err := validateRuleChange(l, r, req); err != nil {
		return nil, err
	}
	s.startTask(c, []string{lb.id}, 0, func() {
		if req.HealthCheck != nil {
			mergeHealthCheck(&r.health, req.HealthCheck)
		}
		setString(&r.url, req.Url)
		setString(&r.scheduler, req.Scheduler)
	})
	return &clbapi.ModifyRuleResponseParams{RequestId: &c.requestID}, nil
}

func validateRuleChange(l *listener, r *rule, req *clbapi.ModifyRuleRequestParams) error {
	if req.Url != nil {
		if *req.Url == "" || utf8.RuneCountInString(*req.Url) > maxURLLength {
			return errf(codeLength, "Url must be 1 to %d characters", maxURLLength)
		}
		if other := ruleByDomainURL(l, r.domain, *req.Url); other != nil && other != r {
			return errf(codeDuplicate, "a rule for %s%s already exists", r.domain, *req.Url)
		}
	}
	if err := validateRuleScheduler(req.Scheduler); err != nil {
		return err
	}
	if req.HealthCheck != nil {
		return validateHealthCheck(l.protocol, &r.health, req.HealthCheck)
	}
	return nil
}
