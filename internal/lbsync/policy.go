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
	"fmt"
	"slices"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/policy"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// PolicySource gives the workers the binding policies. With one set (Options.Policies), a worker
// checks every binding against them in every pass before it writes anything for it: the
// admission webhook can be bypassed or down, and policies change after admission.
type PolicySource interface {
	// Policies returns the compiled CLBBindingPolicies and the labels of the namespace (nil when
	// the namespace does not exist).
	Policies(namespace string) ([]policy.Policy, map[string]string, error)
}

// forbiddenSuffix ends the message of a binding no policy allows: what happens to its backends.
const forbiddenSuffix = "; nothing is written to the CLB for this binding, and the backends it registered stay " +
	"until it is deleted or a policy allows it again"

// authorize checks each resolved binding against the policies. A binding of another namespace
// joining a listener is judged against those already on it, never the other way round: bindings
// whose backends are on the CLB come first, then the oldest (creation times tie within a second).
// A binding no policy allows writes nothing; one being deleted still removes the backends it
// registered itself (its tag), and nothing else.
func (w *worker) authorize(plans []*plan) {
	source := w.s.opts.Policies
	if source == nil {
		return
	}
	order := slices.Clone(plans) // plans are sorted by creation time
	slices.SortStableFunc(order, func(a, b *plan) int {
		return -cmp.Compare(boolInt(w.serving(a)), boolInt(w.serving(b)))
	})
	onScope := map[targets.Scope][]policy.Neighbor{}
	for _, p := range order {
		if !p.active {
			continue
		}
		scope := p.scope()
		l := w.listeners.byID[p.listenerID]
		req := policy.Request{
			Namespace: p.b.Key.Namespace, LoadBalancerID: w.lbID,
			Tags: w.lb.tags, TagsKnown: !w.lb.readAt.IsZero(),
			Listener:  policy.Listener{ID: l.ID, Port: l.Port, Protocol: l.Protocol},
			Exclusive: p.b.Exclusive,
		}
		for _, n := range onScope[scope] {
			if n.Namespace != p.b.Key.Namespace {
				req.Neighbors = append(req.Neighbors, n)
			}
		}
		var d policy.Decision
		policies, labels, err := source.Policies(p.b.Key.Namespace)
		if err != nil {
			d.Message = fmt.Sprintf("the CLBBindingPolicies could not be read (%v), so binding %s is not allowed for now", err, p.b.Key)
		} else {
			req.NamespaceLabels = labels
			d = policy.Evaluate(policies, req)
		}
		onScope[scope] = append(onScope[scope], policy.Neighbor{Namespace: p.b.Key.Namespace, Name: p.b.Key.Name, Shareable: d.Allowed && d.Shareable})
		if d.Allowed {
			continue
		}
		p.forbidden = d.Message
		if p.b.Deleting {
			p.b.Exclusive = false // remove its own backends only
			continue
		}
		p.active = false
		p.status = Status{Reason: networkingv1alpha1.BindingForbiddenReason, Message: d.Message + forbiddenSuffix}
	}
}

// serving reports whether backends with the binding's tag are on its listener or rule.
func (w *worker) serving(p *plan) bool {
	c := w.targets[p.listenerID]
	if !p.active || c == nil {
		return false
	}
	for k, t := range c.targets {
		if k.LocationID == p.locationID && t.Tag == p.b.OwnerTag {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
