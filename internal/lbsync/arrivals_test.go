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
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestArrivals: a binding queued for a reconcile holds its load balancer until a reconcile that
// began after it was queued ends; the workqueue folds repeated queueing into one reconcile.
func TestArrivals(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	type step struct {
		op  string // expect, begin, done
		key types.NamespacedName
		lb  string
	}
	tests := []struct {
		name        string
		steps       []step
		outstanding []string // load balancers still held after the steps
		woken       []string // load balancers woken, in order
	}{
		{
			name:  "queued, then reconciled",
			steps: []step{{op: "expect", key: a, lb: "lb-1"}, {op: "begin", key: a}, {op: "done", key: a}},
			woken: []string{"lb-1"},
		},
		{
			name:        "queued again during its reconcile: held until the next reconcile",
			steps:       []step{{op: "expect", key: a, lb: "lb-1"}, {op: "begin", key: a}, {op: "expect", key: a, lb: "lb-1"}, {op: "done", key: a}},
			outstanding: []string{"lb-1"},
		},
		{
			name: "queued twice before its reconcile: one reconcile settles both",
			steps: []step{{op: "expect", key: a, lb: "lb-1"}, {op: "expect", key: a, lb: "lb-1"},
				{op: "begin", key: a}, {op: "done", key: a}},
			woken: []string{"lb-1"},
		},
		{
			name: "two bindings of one load balancer: woken as each arrives, held until both have",
			steps: []step{{op: "expect", key: a, lb: "lb-1"}, {op: "expect", key: b, lb: "lb-1"},
				{op: "begin", key: a}, {op: "done", key: a}},
			outstanding: []string{"lb-1"},
			woken:       []string{"lb-1"},
		},
		{
			name: "a reconcile of a binding never queued changes nothing",
			steps: []step{{op: "expect", key: a, lb: "lb-1"},
				{op: "begin", key: b}, {op: "done", key: b}},
			outstanding: []string{"lb-1"},
		},
		{
			name: "re-created on another load balancer: the first is released",
			steps: []step{{op: "expect", key: a, lb: "lb-1"}, {op: "expect", key: a, lb: "lb-2"},
				{op: "begin", key: a}, {op: "done", key: a}},
			woken: []string{"lb-1", "lb-2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var woken []string
			arr := newArrivals(time.Now, func(lbID string) { woken = append(woken, lbID) })
			began := map[types.NamespacedName]uint64{}
			for _, s := range tc.steps {
				switch s.op {
				case "expect":
					arr.expect(s.key, s.lb)
				case "begin":
					began[s.key] = arr.begin()
				case "done":
					arr.done(s.key, began[s.key])
				}
			}
			for _, lb := range []string{"lb-1", "lb-2"} {
				if got := arr.outstandingSince(lb, arr.begin()).waiting; got != slices.Contains(tc.outstanding, lb) {
					want := !got
					t.Errorf("outstanding(%s) = %v, want %v", lb, got, want)
				}
			}
			if !slices.Equal(woken, tc.woken) {
				t.Errorf("woken %v, want %v", woken, tc.woken)
			}
		})
	}
}

// TestArrivalsHorizon: a worker waits only for the bindings queued before it began to wait; one
// queued again before its reconcile keeps its place; every ended reconcile marks the queue moving.
func TestArrivalsHorizon(t *testing.T) {
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	c := types.NamespacedName{Namespace: "ns", Name: "c"}
	now := time.Unix(1000, 0)
	arr := newArrivals(func() time.Time { return now }, func(string) {})
	arr.expect(a, "lb-1")
	horizon := arr.begin()
	arr.expect(b, "lb-1") // queued after the wait began
	arr.expect(a, "lb-1") // queued again: still queued since before the wait
	if !arr.outstandingSince("lb-1", horizon).waiting {
		t.Fatal("a, queued before the horizon, is not outstanding")
	}
	began := arr.begin()
	now = now.Add(time.Second)
	arr.done(a, began)
	q := arr.outstandingSince("lb-1", horizon)
	settled := q.settled
	if q.waiting {
		t.Error("b, queued after the horizon, holds the wait")
	}
	if !settled.Equal(now) {
		t.Errorf("settled = %v, want the reconcile's end %v", settled, now)
	}
	if q := arr.outstandingSince("lb-1", arr.begin()); !q.waiting || q.queued != 1 || q.ended != 1 {
		t.Errorf("for a wait that begins now: %+v, want b waiting, 1 queued, 1 reconcile ended", q)
	}
	// A reconcile that settles nothing still shows the queue moving.
	now = now.Add(time.Second)
	arr.done(c, arr.begin())
	if q := arr.outstandingSince("lb-1", horizon); !q.settled.Equal(now) || q.ended != 2 {
		t.Errorf("after a reconcile of an unqueued binding: %+v, want settled %v and 2 ended", q, now)
	}
}
