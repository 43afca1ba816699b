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
	"fmt"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"
)

const (
	ourTag   = "cbb-00000000000000000001"
	otherTag = "cbb-00000000000000000002"
	listener = "lbl-1"
	location = "loc-1"
	instance = "ins-ab12cd34"
)

// eni is a target on lbl-1 (L4) for 10.0.0.<host>:80.
func eni(host int, weight int64, tag string) Target {
	return Target{Key: Key{ListenerID: listener, EniIP: fmt.Sprintf("10.0.0.%d", host), Port: 80}, Weight: weight, Tag: tag}
}

func draining(t Target) Target {
	t.Weight, t.Draining = 0, true
	return t
}

func at(t Target, listenerID, locationID string) Target {
	t.ListenerID, t.LocationID = listenerID, locationID
	return t
}

func withNeighbors(o DiffOptions, tags ...string) DiffOptions {
	o.Neighbors = tags
	return o
}

func withClaimed(o DiffOptions, keys ...Key) DiffOptions {
	o.Claimed = map[Key]bool{}
	for _, k := range keys {
		o.Claimed[k] = true
	}
	return o
}

func TestDiff(t *testing.T) {
	shared := DiffOptions{OwnerTag: ourTag, Scope: Scope{ListenerID: listener}}
	exclusive := DiffOptions{OwnerTag: ourTag, Exclusive: true, Scope: Scope{ListenerID: listener}}
	tests := []struct {
		name    string
		desired []Target
		actual  []Target
		opts    DiffOptions
		want    Plan
	}{
		{
			name: "nothing wanted, nothing there",
			opts: exclusive,
		},
		{
			name:    "steady state",
			desired: []Target{eni(1, 10, ""), eni(2, 10, "")},
			actual:  []Target{eni(2, 10, ourTag), eni(1, 10, ourTag)},
			opts:    shared,
		},
		{
			name:    "a neighbor's backend is left alone, exclusive or not",
			desired: []Target{eni(1, 10, "")},
			actual:  []Target{eni(1, 10, ourTag), eni(2, 30, otherTag), eni(3, 5, "")},
			opts:    withNeighbors(exclusive, otherTag),
			want:    Plan{Deregister: []Target{eni(3, 5, "")}},
		},
		{
			name:    "a neighbor's backend at a wanted key is adopted in place",
			desired: []Target{eni(2, 60, "")},
			actual:  []Target{eni(2, 30, otherTag)},
			opts:    withNeighbors(shared, otherTag),
			want:    Plan{ModifyWeight: []Target{eni(2, 60, otherTag)}, Retag: []Target{eni(2, 30, ourTag)}},
		},
		{
			name:    "a key an older neighbor claims is neither wanted nor removed",
			desired: []Target{eni(1, 10, ""), eni(2, 10, "")},
			actual:  []Target{eni(2, 10, ourTag)},
			opts:    withClaimed(withNeighbors(exclusive, otherTag), eni(2, 0, "").Key),
			want:    Plan{Register: []Target{eni(1, 10, ourTag)}},
		},
		{
			name:    "new endpoint is registered with our tag",
			desired: []Target{eni(1, 10, ""), eni(2, 10, "")},
			actual:  []Target{eni(1, 10, ourTag)},
			opts:    shared,
			want:    Plan{Register: []Target{eni(2, 10, ourTag)}},
		},
		{
			name:    "weight change is only a weight change",
			desired: []Target{eni(1, 50, "")},
			actual:  []Target{eni(1, 10, ourTag)},
			opts:    shared,
			want:    Plan{ModifyWeight: []Target{eni(1, 50, ourTag)}},
		},
		{
			name:    "rolling update registers, then deregisters, each sorted",
			desired: []Target{eni(4, 10, ""), eni(3, 10, "")},
			actual:  []Target{eni(2, 10, ourTag), eni(1, 10, ourTag)},
			opts:    shared,
			want: Plan{
				Register:   []Target{eni(3, 10, ourTag), eni(4, 10, ourTag)},
				Deregister: []Target{eni(1, 10, ourTag), eni(2, 10, ourTag)},
			},
		},
		{
			name:   "exclusive removes foreign and untagged backends",
			actual: []Target{eni(1, 10, otherTag), eni(2, 10, ""), eni(3, 10, ourTag)},
			opts:   exclusive,
			want:   Plan{Deregister: []Target{eni(1, 10, otherTag), eni(2, 10, ""), eni(3, 10, ourTag)}},
		},
		{
			name:   "multiCluster removes only our backends",
			actual: []Target{eni(1, 10, otherTag), eni(2, 10, ""), eni(3, 10, ourTag)},
			opts:   shared,
			want:   Plan{Deregister: []Target{eni(3, 10, ourTag)}},
		},
		{
			name:    "multiCluster: a foreign backend at a wanted key is a conflict, left alone",
			desired: []Target{eni(1, 10, ""), eni(2, 10, "")},
			actual:  []Target{eni(1, 30, otherTag), eni(2, 10, "")},
			opts:    shared,
			want:    Plan{Conflicts: []Target{eni(1, 30, otherTag), eni(2, 10, "")}},
		},
		{
			name:    "multiCluster: a reused IP still registered by us is kept, at the new weight",
			desired: []Target{eni(1, 20, "")},
			actual:  []Target{eni(1, 0, ourTag)},
			opts:    shared,
			want:    Plan{ModifyWeight: []Target{eni(1, 20, ourTag)}},
		},
		{
			name:    "exclusive: a foreign backend at a wanted key is adopted and re-tagged in place, not re-registered",
			desired: []Target{eni(1, 10, ""), eni(2, 10, "")},
			actual:  []Target{eni(1, 30, otherTag), eni(2, 10, "")},
			opts:    exclusive,
			want: Plan{
				ModifyWeight: []Target{eni(1, 10, otherTag)},
				Retag:        []Target{eni(1, 30, ourTag), eni(2, 10, ourTag)},
			},
		},
		{
			name:    "draining backend goes to weight 0",
			desired: []Target{draining(eni(1, 10, ""))},
			actual:  []Target{eni(1, 10, ourTag)},
			opts:    shared,
			want:    Plan{ModifyWeight: []Target{eni(1, 0, ourTag)}},
		},
		{
			name:    "draining backend that is not registered is not registered",
			desired: []Target{draining(eni(1, 10, ""))},
			opts:    shared,
		},
		{
			name:    "draining backend under a foreign tag is no conflict",
			desired: []Target{draining(eni(1, 10, ""))},
			actual:  []Target{eni(1, 10, otherTag)},
			opts:    shared,
		},
		{
			name:    "a backend listed twice in desired: serving wins over draining",
			desired: []Target{draining(eni(1, 10, "")), eni(1, 10, "")},
			actual:  []Target{eni(1, 0, ourTag)},
			opts:    shared,
			want:    Plan{ModifyWeight: []Target{eni(1, 10, ourTag)}},
		},
		{
			name: "exclusive stays inside its listener and rule",
			desired: []Target{
				at(eni(1, 10, ""), listener, location),
				at(eni(2, 10, ""), listener, "loc-2"),
			},
			actual: []Target{
				at(eni(3, 10, otherTag), listener, location),
				at(eni(4, 10, ourTag), listener, "loc-2"),
				at(eni(5, 10, ourTag), "lbl-2", location),
				eni(6, 10, ourTag),
			},
			opts: DiffOptions{OwnerTag: ourTag, Exclusive: true, Scope: Scope{ListenerID: listener, LocationID: location}},
			want: Plan{
				Register:   []Target{at(eni(1, 10, ourTag), listener, location)},
				Deregister: []Target{at(eni(3, 10, otherTag), listener, location)},
			},
		},
		{
			name:    "instance and ENI targets at the same port are different keys",
			desired: []Target{{Key: Key{ListenerID: listener, InstanceID: instance, Port: 80}, Weight: 10}},
			actual:  []Target{eni(1, 10, ourTag)},
			opts:    shared,
			want: Plan{
				Register:   []Target{{Key: Key{ListenerID: listener, InstanceID: instance, Port: 80}, Weight: 10, Tag: ourTag}},
				Deregister: []Target{eni(1, 10, ourTag)},
			},
		},
		{
			name:    "no owner tag plans nothing",
			desired: []Target{eni(1, 10, "")},
			actual:  []Target{eni(2, 10, "")},
			opts:    DiffOptions{Exclusive: true, Scope: Scope{ListenerID: listener}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := Diff(tt.desired, tt.actual, tt.opts)
			g.Expect(got).To(Equal(tt.want))
			g.Expect(Plan.Empty(Diff(tt.desired, apply(tt.actual, got), tt.opts))).To(BeTrue(), "applying the plan reaches a steady state")
		})
	}
}

// apply models the CLB once every write of plan has succeeded: the convergence checks diff
// desired against it again.
func apply(actual []Target, plan Plan) []Target {
	gone := make(map[Key]bool, len(plan.Deregister))
	for _, t := range plan.Deregister {
		gone[t.Key] = true
	}
	weights := make(map[Key]int64, len(plan.ModifyWeight))
	for _, t := range plan.ModifyWeight {
		weights[t.Key] = t.Weight
	}
	tags := make(map[Key]string, len(plan.Retag))
	for _, t := range plan.Retag {
		tags[t.Key] = t.Tag
	}
	out := make([]Target, 0, len(actual)+len(plan.Register))
	for _, t := range actual {
		if gone[t.Key] {
			continue
		}
		if w, ok := weights[t.Key]; ok {
			t.Weight = w
		}
		if tag, ok := tags[t.Key]; ok {
			t.Tag = tag
		}
		out = append(out, t)
	}
	return append(out, plan.Register...)
}

// TestApply checks the model the convergence checks rely on.
func TestApply(t *testing.T) {
	g := NewWithT(t)
	actual := []Target{eni(1, 10, ourTag), eni(2, 10, otherTag), eni(3, 10, ourTag)}
	plan := Plan{
		Register:     []Target{eni(4, 10, ourTag)},
		ModifyWeight: []Target{eni(3, 0, ourTag)},
		Deregister:   []Target{eni(1, 10, ourTag)},
	}
	g.Expect(apply(actual, plan)).To(Equal([]Target{eni(2, 10, otherTag), eni(3, 0, ourTag), eni(4, 10, ourTag)}))
	g.Expect(actual[2].Weight).To(Equal(int64(10)), "actual is not modified")
}

func TestCount(t *testing.T) {
	tests := []struct {
		name    string
		desired []Target
		actual  []Target
		opts    DiffOptions
		want    Counts
	}{
		{
			name:    "registered, missing and draining",
			desired: []Target{eni(1, 10, ""), eni(2, 10, ""), draining(eni(3, 10, "")), draining(eni(4, 10, ""))},
			actual:  []Target{eni(1, 10, ourTag), eni(3, 0, ourTag), eni(9, 10, ourTag)},
			opts:    DiffOptions{OwnerTag: ourTag, Scope: Scope{ListenerID: listener}},
			want:    Counts{Desired: 2, Registered: 1, Draining: 1},
		},
		{
			name:    "multiCluster does not count a conflict as registered",
			desired: []Target{eni(1, 10, "")},
			actual:  []Target{eni(1, 10, otherTag)},
			opts:    DiffOptions{OwnerTag: ourTag, Scope: Scope{ListenerID: listener}},
			want:    Counts{Desired: 1},
		},
		{
			name:    "exclusive counts an adopted backend as registered",
			desired: []Target{eni(1, 10, "")},
			actual:  []Target{eni(1, 10, otherTag)},
			opts:    DiffOptions{OwnerTag: ourTag, Exclusive: true, Scope: Scope{ListenerID: listener}},
			want:    Counts{Desired: 1, Registered: 1},
		},
		{
			name:    "other listeners are not counted",
			desired: []Target{eni(1, 10, "")},
			actual:  []Target{at(eni(1, 10, ourTag), "lbl-2", "")},
			opts:    DiffOptions{OwnerTag: ourTag, Scope: Scope{ListenerID: listener}},
			want:    Counts{Desired: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Count(tt.desired, tt.actual, tt.opts)).To(Equal(tt.want))
		})
	}
}

// Fuzz scope: targets decoded from fuzz bytes land on the binding's rule or next to it.
var fuzzPlaces = [4][2]string{{listener, location}, {listener, "loc-2"}, {"lbl-2", location}, {listener, ""}}

var fuzzTags = [3]string{ourTag, otherTag, ""}

// decodeTargets turns each 3 bytes of data into a desired or actual target. Keys come from a
// small space so that desired and actual overlap often. Actual keys are unique, as on a CLB.
func decodeTargets(data []byte) (desired, actual []Target) {
	seen := map[Key]bool{}
	for ; len(data) >= 3; data = data[3:] {
		b0, b1, b2 := data[0], data[1], data[2]
		place := fuzzPlaces[(b0>>1)&3]
		k := Key{ListenerID: place[0], LocationID: place[1], Port: 80}
		if b0&0x80 != 0 {
			k.Port = 8080
		}
		if b0&0x08 != 0 {
			k.InstanceID = fmt.Sprintf("ins-0000000%d", (b0>>4)&7)
		} else {
			k.EniIP = fmt.Sprintf("10.0.0.%d", (b0>>4)&7)
		}
		t := Target{Key: k, Weight: int64(b1 % 101), Tag: fuzzTags[int(b2)%len(fuzzTags)]}
		if b0&1 == 0 {
			t.Draining = b2&0x10 != 0
			if t.Draining {
				t.Weight = 0
			}
			desired = append(desired, t)
			continue
		}
		if !seen[k] {
			seen[k] = true
			actual = append(actual, t)
		}
	}
	return desired, actual
}

func FuzzDiff(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, exclusive bool) {
		desired, actual := decodeTargets(data)
		opts := DiffOptions{OwnerTag: ourTag, Exclusive: exclusive, Scope: Scope{ListenerID: listener, LocationID: location}}
		plan := Diff(desired, actual, opts)
		if again := Diff(desired, actual, opts); !reflect.DeepEqual(plan, again) {
			t.Fatalf("Diff is not deterministic:\n%+v\n%+v", plan, again)
		}
		checkWrites(t, actual, opts, plan)
		after := apply(actual, plan)
		checkReached(t, desired, actual, after, opts)
		if next := Diff(desired, after, opts); !Plan.Empty(next) {
			t.Fatalf("Diff after applying its plan is not empty: %+v", next)
		}
	})
}

// checkWrites checks that the plan writes each key at most once, registers only free keys and
// changes only backends the binding owns.
func checkWrites(t *testing.T, actual []Target, opts DiffOptions, plan Plan) {
	t.Helper()
	inScope := func(k Key) bool { return k.Scope() == opts.Scope }
	have := map[Key]Target{}
	for _, a := range actual {
		if inScope(a.Key) {
			have[a.Key] = a
		}
	}
	written := map[Key]bool{}
	write := func(what string, w Target) {
		if written[w.Key] || !inScope(w.Key) {
			t.Fatalf("%s %v: written twice or out of scope", what, w.Key)
		}
		written[w.Key] = true
	}
	for _, r := range plan.Register {
		write("register", r)
		if _, taken := have[r.Key]; taken || r.Tag != ourTag || r.Draining {
			t.Fatalf("register %+v: key taken, foreign tag or draining", r)
		}
	}
	for _, m := range plan.ModifyWeight {
		write("modify", m)
		if a, ok := have[m.Key]; !ok || !fuzzOwns(opts, a) || a.Weight == m.Weight || a.Tag != m.Tag {
			t.Fatalf("modify %+v: not on the CLB, not ours, or no change", m)
		}
	}
	for _, d := range plan.Deregister {
		write("deregister", d)
		if a, ok := have[d.Key]; !ok || !fuzzOwns(opts, a) {
			t.Fatalf("deregister %+v: not on the CLB or not ours", d)
		}
	}
}

// checkReached checks that after (actual with the plan applied) holds exactly the desired
// backends in the binding's scope, except conflicts, and that nothing else changed.
func checkReached(t *testing.T, desired, actual, after []Target, opts DiffOptions) {
	t.Helper()
	want := index(desired, opts, preferServing)
	had := index(actual, opts, func(Target, Target) bool { return false })
	got := index(after, opts, func(Target, Target) bool { return false })
	outside := func(ts []Target) []Target {
		var out []Target
		for _, x := range ts {
			if x.Scope() != opts.Scope {
				out = append(out, x)
			}
		}
		return out
	}
	if !reflect.DeepEqual(outside(actual), outside(after)) {
		t.Fatalf("backends outside the binding's scope changed")
	}
	for k, g := range got {
		w, wanted := want[k]
		switch {
		case !fuzzOwns(opts, g):
			if g != had[k] {
				t.Fatalf("foreign backend %+v changed (was %+v)", g, had[k])
			}
		case !wanted:
			t.Fatalf("owned backend %+v is left but not wanted", g)
		case g.Weight != w.Weight:
			t.Fatalf("backend %+v has weight %d, want %d", k, g.Weight, w.Weight)
		}
	}
	for k, w := range want {
		_, present := got[k]
		_, wasThere := had[k]
		if w.Draining && present != wasThere {
			t.Fatalf("draining backend %v: present %v, was there %v", k, present, wasThere)
		}
		if !w.Draining && !present {
			t.Fatalf("wanted backend %v is missing", k)
		}
	}
}

func fuzzOwns(opts DiffOptions, t Target) bool {
	return opts.Exclusive || t.Tag == opts.OwnerTag
}
