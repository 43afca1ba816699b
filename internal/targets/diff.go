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

package targets

import (
	"maps"
	"slices"
)

// DiffOptions scope Diff and Count to one binding.
type DiffOptions struct {
	// OwnerTag is the binding's OwnerTag. It is required: with none, Diff plans nothing.
	OwnerTag string
	// Exclusive is true when the binding is not multiCluster: it owns every backend on its
	// listener or rule, tagged or not.
	Exclusive bool
	// Scope is the binding's listener or rule. Targets elsewhere, desired or actual, are ignored,
	// so the caller may pass everything it read from the load balancer and another binding's rule
	// on the same listener stays safe.
	Scope Scope
	// Neighbors are the owner tags of the other bindings that share the scope by traffic share.
	// Their backends are never removed, exclusive or not; one at a key this binding wants is the
	// same pod, now wanted here, and is adopted in place (re-tagged, not re-registered).
	Neighbors []string
	// Claimed are keys an older neighbor wants: this binding neither wants nor removes them.
	Claimed map[Key]bool
}

// adopts reports whether the binding may change t, found at a key it wants.
func (o DiffOptions) adopts(t Target) bool {
	return o.Exclusive || t.Tag == o.OwnerTag || slices.Contains(o.Neighbors, t.Tag)
}

// removes reports whether the binding may remove t, found at a key it does not want.
func (o DiffOptions) removes(t Target) bool {
	return t.Tag == o.OwnerTag || o.Exclusive && !slices.Contains(o.Neighbors, t.Tag)
}

// Plan lists the writes that take the CLB from actual to desired. internal/lbsync writes the
// weights first (they drain terminating backends, whose preStop clock runs already), then the
// registrations, then the deregistrations: registering before deregistering means a rolling
// change never empties the listener.
type Plan struct {
	// Register holds backends to add, tagged with the owner tag.
	Register []Target
	// ModifyWeight holds backends on the CLB with the weight they must get.
	ModifyWeight []Target
	// Deregister holds backends to remove, as found on the CLB.
	Deregister []Target

	// Conflicts (multiCluster only) holds backends at a wanted key that carry another owner's
	// tag or none. They are not ours: the binding neither changes them nor registers over them,
	// and waits for their owner to remove them.
	Conflicts []Target
	// Retag (exclusive, or a neighbor's) holds backends at a wanted key that carry another tag or
	// none, with the owner tag they must get (BatchModifyTargetTag). They already send traffic to the right
	// place, so the binding adopts them in place rather than taking a serving backend out just to
	// register it again with its tag.
	Retag []Target
}

// Empty reports whether the plan has no writes; Conflicts are not writes.
func (p Plan) Empty() bool {
	return len(p.Register) == 0 && len(p.ModifyWeight) == 0 && len(p.Deregister) == 0 && len(p.Retag) == 0
}

// Diff plans the writes that make the binding's part of actual equal to desired. It is minimal:
// a steady state gives an empty plan, and a weight change is a ModifyWeight, never a deregister
// and register.
//
// Ownership of a backend at a wanted key:
//   - none there: register it with opts.OwnerTag (unless it is draining);
//   - our tag: keep it and fix its weight;
//   - another tag or none, exclusive, or a neighbor's tag: adopt it (keep it, fix its weight, re-tag it in place).
//     Deregistering it to register it again would cut a serving backend, and with a re-created
//     binding every backend at once;
//   - another tag or none, multiCluster: report a conflict and leave it alone. The key may be a
//     pod IP that another cluster still has registered; its owner deregisters it, and the next
//     Diff registers ours.
//
// Backends at keys that are not wanted are deregistered when owned: all of them in exclusive
// mode but the neighbors', only those with our tag in multiCluster mode. Claimed keys are out of
// the binding's sight. The Tag of desired targets is ignored.
func Diff(desired, actual []Target, opts DiffOptions) Plan {
	var plan Plan
	if opts.OwnerTag == "" {
		return plan
	}
	want := index(desired, opts, preferServing)
	have := index(actual, opts, preferTagged(opts.OwnerTag))
	for _, k := range sortedKeys(want) {
		w := want[k]
		got, found := have[k]
		switch {
		case !found:
			if !w.Draining && !w.Retiring {
				w.Tag = opts.OwnerTag
				plan.Register = append(plan.Register, w)
			}
		case !opts.adopts(got):
			if !w.Draining && !w.Retiring {
				plan.Conflicts = append(plan.Conflicts, got)
			}
		default:
			if got.Tag != opts.OwnerTag {
				retag := got
				retag.Tag = opts.OwnerTag
				plan.Retag = append(plan.Retag, retag)
			}
			if got.Weight != w.Weight {
				got.Weight = w.Weight
				plan.ModifyWeight = append(plan.ModifyWeight, got)
			}
		}
	}
	for _, k := range sortedKeys(have) {
		if _, wanted := want[k]; !wanted && opts.removes(have[k]) {
			plan.Deregister = append(plan.Deregister, have[k])
		}
	}
	return plan
}

// Counts are the numbers a binding reports in its status.
type Counts struct {
	// Desired is how many backends should serve traffic.
	Desired int
	// Registered is how many of those are on the CLB and owned by the binding.
	Registered int
	// Draining is how many terminating backends are still on the CLB, at weight 0 until their
	// drain delay ends.
	Draining int
	// Retiring is how many backends the Service no longer selects still serve, until their
	// replacements are healthy.
	Retiring int
}

// Count computes the status counts of desired against actual, with the same scope and ownership
// rules as Diff.
func Count(desired, actual []Target, opts DiffOptions) Counts {
	want := index(desired, opts, preferServing)
	have := index(actual, opts, preferTagged(opts.OwnerTag))
	var c Counts
	for k, w := range want {
		got, found := have[k]
		onCLB := found && opts.OwnerTag != "" && opts.adopts(got)
		switch {
		case w.Draining:
			if onCLB {
				c.Draining++
			}
		case w.Retiring:
			if onCLB {
				c.Retiring++
			}
		default:
			c.Desired++
			if onCLB {
				c.Registered++
			}
		}
	}
	return c
}

// index maps the targets in the binding's scope by key; when a key repeats, better picks.
func index(ts []Target, opts DiffOptions, better func(a, b Target) bool) map[Key]Target {
	m := make(map[Key]Target, len(ts))
	for _, t := range ts {
		if t.Scope() != opts.Scope || opts.Claimed[t.Key] {
			continue
		}
		if old, ok := m[t.Key]; ok && !better(t, old) {
			continue
		}
		m[t.Key] = t
	}
	return m
}

// preferServing resolves a backend listed twice (an endpoint in two EndpointSlices during a
// slice update): serving beats draining, then the higher weight wins.
func preferServing(a, b Target) bool {
	if a.Draining != b.Draining {
		return !a.Draining
	}
	return a.Weight > b.Weight
}

// preferTagged resolves a key listed twice on the CLB, which the CLB itself does not allow, in
// favour of our own backend, so that Diff never mistakes ours for a conflict.
func preferTagged(tag string) func(a, b Target) bool {
	return func(a, b Target) bool {
		return a.Tag == tag && b.Tag != tag
	}
}

func sortedKeys(m map[Key]Target) []Key {
	return slices.SortedFunc(maps.Keys(m), Key.Compare)
}
