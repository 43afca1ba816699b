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

// Package policy decides whether a CLBBindingPolicy allows a binding to manage the backends of
// its load balancer and listener. It is pure: the admission webhook and the load balancer
// workers gather what they know (namespace labels, load balancer tags, the resolved listener)
// and ask Evaluate, so the two enforcement points cannot disagree.
package policy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// Policy is a CLBBindingPolicy ready to be evaluated.
type Policy struct {
	Name string
	Spec networkingv1alpha1.CLBBindingPolicySpec
	// selector is Spec.Namespaces.Selector parsed; nil when the policy names namespaces only.
	selector labels.Selector
	// invalid explains a selector that does not parse: the policy then allows nothing.
	invalid string
}

// Compile prepares policies for Evaluate, sorted by name so that messages are stable.
func Compile(items []networkingv1alpha1.CLBBindingPolicy) []Policy {
	out := make([]Policy, 0, len(items))
	for i := range items {
		p := Policy{Name: items[i].Name, Spec: items[i].Spec}
		if sel := p.Spec.Namespaces.Selector; sel != nil {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				p.invalid = err.Error()
			} else {
				p.selector = s
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Policy) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Listener is what is known of a binding's listener: its ID once resolved, its port and protocol
// when given or resolved. Zero fields are unknown.
type Listener struct {
	ID       string
	Port     int64
	Protocol string
}

// Neighbor is a binding of another namespace already on the same listener or rule.
type Neighbor struct {
	Namespace, Name string
	// Shareable is true when the policy that allows the neighbor sets sharedAcrossNamespaces.
	Shareable bool
}

// Request is a binding as the policies see it.
type Request struct {
	Namespace string
	// NamespaceLabels are the namespace's labels; nil when the namespace is unknown, which no
	// selector then matches.
	NamespaceLabels map[string]string
	LoadBalancerID  string
	// Tags of the load balancer, and whether they were read: tag entries match nothing until then.
	Tags      map[string]string
	TagsKnown bool
	Listener  Listener
	// Exclusive is true for a binding without spec.multiCluster.
	Exclusive bool
	// Neighbors are bindings of other namespaces on the same listener or rule, created before.
	Neighbors []Neighbor
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Allowed bool
	// Policy names the policy that allows the binding.
	Policy string
	// Shareable is true when an allowing policy sets sharedAcrossNamespaces: bindings of other
	// namespaces may then join the listener or rule.
	Shareable bool
	// Message explains a refusal: the namespace, the load balancer, and what a cluster admin
	// would have to add.
	Message string
	// NeedTags and NeedListener are set on a refusal that reading the load balancer's tags, or
	// resolving the listener's ID and port, could turn into an allowance.
	NeedTags, NeedListener bool
}

// miss is how close a policy came to allowing the request; the higher, the closer.
type miss int

const (
	missNamespace miss = iota
	missLoadBalancer
	missListener
	missExclusive
	missShared
	allowed
)

// Evaluate decides whether some policy allows the request. A refusal's message follows the
// policy that came closest, so that it tells the admin the one thing to add.
func Evaluate(policies []Policy, req Request) Decision {
	best, bestMiss := -1, missNamespace
	var d Decision
	for i := range policies {
		m, needTags, needListener := check(&policies[i], req)
		d.NeedTags = d.NeedTags || needTags
		d.NeedListener = d.NeedListener || needListener
		if m == allowed {
			if !d.Allowed {
				d.Allowed, d.Policy = true, policies[i].Name
			}
			d.Shareable = d.Shareable || policies[i].Spec.SharedAcrossNamespaces
			continue
		}
		if m > missNamespace && (best < 0 || m > bestMiss) {
			best, bestMiss = i, m
		}
	}
	if d.Allowed {
		d.NeedTags, d.NeedListener, d.Message = false, false, ""
		// A neighbor whose policy does not allow sharing keeps the listener to its namespace.
		for _, n := range req.Neighbors {
			if !n.Shareable {
				return Decision{Message: fmt.Sprintf("%s is already bound from namespace %s (CLBBackendBinding %s/%s), "+
					"and the policy that allows that binding does not set spec.sharedAcrossNamespaces: bindings of two namespaces "+
					"may share a listener or rule only when the policies allowing both set it, and both bindings set spec.multiCluster",
					where(req), n.Namespace, n.Namespace, n.Name)}
			}
		}
		return d
	}
	d.Message = refusal(policies, best, bestMiss, req)
	return d
}

// check runs one policy against the request.
func check(p *Policy, req Request) (m miss, needTags, needListener bool) {
	if !p.selectsNamespace(req) {
		return missNamespace, false, false
	}
	lbOK, needTags := p.matchesLoadBalancer(req)
	if !lbOK {
		return missLoadBalancer, needTags, false
	}
	lOK, needListener := p.matchesListener(req.Listener)
	if !lOK {
		return missListener, false, needListener
	}
	if req.Exclusive && p.Spec.Exclusive == networkingv1alpha1.ExclusiveForbidden {
		return missExclusive, false, false
	}
	if len(req.Neighbors) > 0 && !p.Spec.SharedAcrossNamespaces {
		return missShared, false, false
	}
	return allowed, false, false
}

func (p *Policy) selectsNamespace(req Request) bool {
	if p.invalid != "" {
		return false
	}
	if slices.Contains(p.Spec.Namespaces.Names, req.Namespace) {
		return true
	}
	return p.selector != nil && req.NamespaceLabels != nil && p.selector.Matches(labels.Set(req.NamespaceLabels))
}

func (p *Policy) matchesLoadBalancer(req Request) (ok, needTags bool) {
	for _, m := range p.Spec.LoadBalancers {
		switch {
		case m.ID != "":
			if m.ID == req.LoadBalancerID {
				return true, false
			}
		case m.Tag != nil:
			if !req.TagsKnown {
				needTags = true
				continue
			}
			if v, ok := req.Tags[m.Tag.Key]; ok && (m.Tag.Value == "" || v == m.Tag.Value) {
				return true, false
			}
		}
	}
	return false, needTags
}

// matchesListener reports whether the listener is among the policy's. An entry that names a
// field the request does not know yet (an ID for a listener given by port) asks for it.
func (p *Policy) matchesListener(l Listener) (ok, needListener bool) {
	if len(p.Spec.Listeners) == 0 {
		return true, false
	}
	for _, m := range p.Spec.Listeners {
		switch {
		case m.ID != "":
			if l.ID == "" {
				needListener = true
			} else if m.ID == l.ID {
				return true, false
			}
		case m.Port != 0:
			if l.Port == 0 {
				needListener = true
				continue
			}
			protocolOK := m.Protocol == "" || strings.EqualFold(string(m.Protocol), l.Protocol)
			if int64(m.Port) == l.Port && protocolOK {
				return true, false
			}
			if l.Protocol == "" && int64(m.Port) == l.Port {
				needListener = true
			}
		}
	}
	return false, needListener
}

// refusal explains why no policy allows the request, from the closest policy.
func refusal(policies []Policy, best int, m miss, req Request) string {
	subject := fmt.Sprintf("no CLBBindingPolicy allows namespace %s to bind %s", req.Namespace, where(req))
	if best < 0 {
		return fmt.Sprintf("%s: a cluster admin must create one, for example with spec.namespaces.names: [%s] and "+
			"spec.loadBalancers: [{id: %s}] (kubectl explain clbbindingpolicy.spec)", subject, req.Namespace, req.LoadBalancerID)
	}
	p := policies[best]
	switch m {
	case missLoadBalancer:
		var names []string
		for i := range policies {
			if policies[i].selectsNamespace(req) {
				names = append(names, policies[i].Name)
			}
		}
		tags := ""
		if req.TagsKnown {
			tags = " (its tags: " + describeTags(req.Tags) + ")"
		}
		return fmt.Sprintf("%s: the policies for the namespace (%s) do not name load balancer %s%s; a cluster admin must add "+
			"{id: %s} or one of its tags to spec.loadBalancers of one of them, or create another policy",
			subject, strings.Join(names, ", "), req.LoadBalancerID, tags, req.LoadBalancerID)
	case missListener:
		return fmt.Sprintf("%s: CLBBindingPolicy %s allows load balancer %s only on the listeners %s; a cluster admin must "+
			"add this listener to its spec.listeners, or create another policy", subject, p.Name, req.LoadBalancerID,
			describeListeners(p.Spec.Listeners))
	case missExclusive:
		return fmt.Sprintf("%s exclusively: CLBBindingPolicy %s allows it only with spec.multiCluster: true (its spec.exclusive is "+
			"Forbidden), so that the binding never removes backends it did not register; set spec.multiCluster, or have a "+
			"cluster admin set spec.exclusive: Allowed", subject, p.Name)
	case missShared:
		return fmt.Sprintf("%s while namespace %s binds it too: CLBBindingPolicy %s does not set spec.sharedAcrossNamespaces; "+
			"bindings of two namespaces may share a listener or rule only when the policies allowing both set it, and both "+
			"bindings set spec.multiCluster", subject, req.Neighbors[0].Namespace, p.Name)
	}
	return subject
}

// where names the listener and load balancer of a request.
func where(req Request) string {
	l := req.Listener
	switch {
	case l.ID != "" && l.Port != 0:
		return fmt.Sprintf("listener %s (%s:%d) of load balancer %s", l.ID, l.Protocol, l.Port, req.LoadBalancerID)
	case l.ID != "":
		return fmt.Sprintf("listener %s of load balancer %s", l.ID, req.LoadBalancerID)
	case l.Port != 0:
		return fmt.Sprintf("listener %s:%d of load balancer %s", l.Protocol, l.Port, req.LoadBalancerID)
	}
	return "load balancer " + req.LoadBalancerID
}

func describeTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ", ")
}

func describeListeners(ls []networkingv1alpha1.ListenerMatch) string {
	parts := make([]string, 0, len(ls))
	for _, m := range ls {
		switch {
		case m.ID != "":
			parts = append(parts, m.ID)
		case m.Protocol != "":
			parts = append(parts, string(m.Protocol)+":"+strconv.Itoa(int(m.Port)))
		default:
			parts = append(parts, "port "+strconv.Itoa(int(m.Port)))
		}
	}
	return strings.Join(parts, ", ")
}
