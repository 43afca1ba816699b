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
			arr := newArrivals(func(lbID string) { woken = append(woken, lbID) })
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
				if got, want := arr.outstanding(lb), slices.Contains(tc.outstanding, lb); got != want {
					t.Errorf("outstanding(%s) = %v, want %v", lb, got, want)
				}
			}
			if !slices.Equal(woken, tc.woken) {
				t.Errorf("woken %v, want %v", woken, tc.woken)
			}
		})
	}
}
