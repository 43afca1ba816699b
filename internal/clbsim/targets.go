package clbsim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
)

// defaultWeight is the weight of a target registered without one.
const defaultWeight = 10

// targetSpec is one validated target of a request, bound to its listener or rule.
type targetSpec struct {
	l                     *listener
	r                     *rule
	instanceID, eniIP, tg string
	port                  int64
	weight                *int64
}

// groupKey names the listener or rule a spec belongs to.
func (t targetSpec) groupKey() string {
	if t.r != nil {
		return t.l.id + "/" + t.r.id
	}
	return t.l.id
}

func (t targetSpec) key() string { return targetKey(t.instanceID, t.eniIP, t.port) }

// list is the backend list the spec lives in.
func (t targetSpec) list() *[]*backend {
	if t.r != nil {
		return &t.r.backends
	}
	return &t.l.backends
}

// bound reports whether the target is already registered.
func (t targetSpec) bound() bool { return findBackend(*t.list(), t.key()) >= 0 }

// targetFields are the fields Target and BatchTarget share.
type targetFields struct {
	port              *int64
	instanceID, eniIP *string
	weight            *int64
	tag               *string
}

func fieldsOfTarget(t *clbapi.Target) targetFields {
	return targetFields{port: t.Port, instanceID: t.InstanceId, eniIP: t.EniIp, weight: t.Weight, tag: t.Tag}
}

func fieldsOfBatchTarget(t *clbapi.BatchTarget) targetFields {
	return targetFields{port: t.Port, instanceID: t.InstanceId, eniIP: t.EniIp, weight: t.Weight, tag: t.Tag}
}

// validate checks one target's own fields (reference §1.3, Target).
func (f targetFields) validate() error {
	if f.port == nil {
		return errf(codeMissingParameter, "Targets.Port is required")
	}
	if *f.port < 1 || *f.port > 65535 {
		return errf(codeRange, "Targets.Port must be within [1, 65535]")
	}
	hasInstance, hasIP := deref(f.instanceID) != "", deref(f.eniIP) != ""
	switch {
	case hasInstance && hasIP:
		return errf(codeFormatError, "set exactly one of InstanceId and EniIp")
	case !hasInstance && !hasIP:
		return errf(codeMissingParameter, "one of InstanceId and EniIp is required")
	case hasIP:
		if _, err := netip.ParseAddr(*f.eniIP); err != nil {
			return errf(codeFormatError, "EniIp %q is not an IP address", *f.eniIP)
		}
	case !validID(*f.instanceID, "ins-"):
		return errf(codeFormatError, "InstanceId %q is malformed", *f.instanceID)
	}
	if f.weight != nil && (*f.weight < 0 || *f.weight > 100) {
		return errf(codeRange, "Weight must be within [0, 100]")
	}
	return nil
}

func (f targetFields) spec(l *listener, r *rule) targetSpec {
	return targetSpec{l: l, r: r, instanceID: deref(f.instanceID), eniIP: deref(f.eniIP), tg: deref(f.tag),
		port: *f.port, weight: f.weight}
}

// resolveGroup finds where targets go: the listener for L4, a rule for L7
// (by LocationId, or by Domain+Url when LocationId is absent).
func resolveGroup(lb *loadBalancer, listenerID, locationID, domain, url *string) (*listener, *rule, error) {
	l, err := lookupListener(lb, listenerID)
	if err != nil {
		return nil, nil, err
	}
	if !isL7(l.protocol) {
		if locationID != nil {
			return nil, nil, errf(codeLocationNotFound, "listener %s is %s and has no rules", l.id, l.protocol)
		}
		return l, nil, nil
	}
	if locationID != nil {
		r, err := lookupRule(l, locationID)
		return l, r, err
	}
	if domain == nil || url == nil {
		return nil, nil, errf(codeMissingParameter, "LocationId or Domain and Url are required for %s listener %s", l.protocol, l.id)
	}
	r := ruleByDomainURL(l, *domain, *url)
	if r == nil {
		return nil, nil, errf(codeLocationNotFound, "no rule for %s%s on listener %s", *domain, *url, l.id)
	}
	return l, r, nil
}

// specsFor validates targets for one listener or rule.
func specsFor(l *listener, r *rule, targets []*clbapi.Target) ([]targetSpec, error) {
	out := make([]targetSpec, 0, len(targets))
	for _, t := range targets {
		if t == nil {
			return nil, errf(codeFormatError, "Targets holds a null element")
		}
		f := fieldsOfTarget(t)
		if err := f.validate(); err != nil {
			return nil, err
		}
		out = append(out, f.spec(l, r))
	}
	return out, nil
}

// checkDuplicates refuses a target that appears twice in one request.
func checkDuplicates(specs []targetSpec) error {
	seen := make(map[string]bool, len(specs))
	for _, t := range specs {
		k := t.groupKey() + "|" + t.key()
		if seen[k] {
			return errf(codeDuplicate, "target %s:%d appears more than once on %s", t.addr(), t.port, t.groupName())
		}
		seen[k] = true
	}
	return nil
}

// groupName names the listener or rule a spec belongs to, for messages.
func (t targetSpec) groupName() string {
	if t.r != nil {
		return "rule " + t.r.id + " of listener " + t.l.id
	}
	return "listener " + t.l.id
}

// addr is the target's EniIp or InstanceId.
func (t targetSpec) addr() string { return t.eniIP + t.instanceID }

// checkQuota refuses registrations that would take a listener (L4) or a rule
// (L7) past TOTAL_TARGET_BIND_QUOTA, which DescribeQuota documents per rule.
func (s *Sim) checkQuota(specs []targetSpec) error {
	added := map[string]int{}
	var groups []targetSpec // the first spec of each group, in request order
	for _, t := range specs {
		if t.bound() {
			continue
		}
		if added[t.groupKey()] == 0 {
			groups = append(groups, t)
		}
		added[t.groupKey()]++
	}
	var over []string
	for _, t := range groups {
		if n := len(*t.list()) + added[t.groupKey()]; n > s.opts.MaxTargetsPerRule {
			over = append(over, fmt.Sprintf("%s would have %d targets", t.groupName(), n))
		}
	}
	if len(over) == 0 {
		return nil
	}
	return errf(codeLimitExceeded, "%s; the quota (TOTAL_TARGET_BIND_QUOTA) is %d per listener or rule",
		strings.Join(over, "; "), s.opts.MaxTargetsPerRule)
}

// checkBound refuses a request that names targets not registered where it
// says: deregistering, re-weighting or re-tagging them fails the whole
// request with InvalidParameter, naming each one.
func checkBound(specs []targetSpec) error {
	var missing []string
	for _, t := range specs {
		if !t.bound() {
			missing = append(missing, fmt.Sprintf("target %s:%d is not bound to %s", t.addr(), t.port, t.groupName()))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errf(codeInvalidParameter, "%s", strings.Join(missing, "; "))
}

// addBackends registers specs. Registering a target that is already bound
// (same listener/rule, address and port) is a no-op that keeps its weight and
// tag: the reference documents no error for it, so clbsim is idempotent here.
func (s *Sim) addBackends(specs []targetSpec) {
	now := s.applyAt
	for _, t := range specs {
		if t.bound() {
			continue
		}
		b := &backend{typ: "ENI", instanceID: t.instanceID, eniIP: t.eniIP, tag: t.tg, port: t.port,
			weight: defaultWeight, registeredAt: now}
		if t.instanceID != "" {
			b.typ = "CVM"
		}
		if t.weight != nil {
			b.weight = *t.weight
		}
		*t.list() = append(*t.list(), b)
	}
}

// removeBackends deregisters specs. Callers have refused targets that are not
// bound (checkBound): the real API fails such a request with InvalidParameter
// (terraform-provider-tencentcloud swallows exactly that error).
func removeBackends(specs []targetSpec) {
	for _, t := range specs {
		list := t.list()
		*list = slices.DeleteFunc(*list, func(b *backend) bool { return b.key() == t.key() })
	}
}

// withDefaultWeight gives every spec without its own weight the fallback.
func withDefaultWeight(specs []targetSpec, fallback *int64) {
	w := int64(defaultWeight)
	if fallback != nil {
		w = *fallback
	}
	for i := range specs {
		if specs[i].weight == nil {
			specs[i].weight = &w
		}
	}
}

// setWeights applies the specs' weights to their bound backends.
func setWeights(specs []targetSpec) {
	for _, t := range specs {
		list := *t.list()
		if i := findBackend(list, t.key()); i >= 0 && t.weight != nil {
			list[i].weight = *t.weight
		}
	}
}

// setTags applies the specs' tags to their bound backends.
func setTags(specs []targetSpec) {
	for _, t := range specs {
		list := *t.list()
		if i := findBackend(list, t.key()); i >= 0 {
			list[i].tag = t.tg
		}
	}
}
