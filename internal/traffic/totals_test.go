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

package traffic

import (
	"math"
	"testing"

	. "github.com/onsi/gomega"
)

func TestTotals(t *testing.T) {
	tests := []struct {
		name  string
		pools []pool
		want  []int64
	}{
		{name: "none", pools: nil, want: []int64{}},
		{name: "alone keeps its base sum", pools: []pool{{share: 100, n: 3, sum: 35, top: 20}}, want: []int64{35}},
		{
			name:  "exact, weights up to 100",
			pools: []pool{{share: 10, n: 1, sum: 10, top: 10}, {share: 90, n: 9, sum: 90, top: 10}},
			want:  []int64{100, 900},
		},
		{
			name:  "exact, reduced shares allow larger weights",
			pools: []pool{{share: 20, n: 3, sum: 30, top: 10}, {share: 80, n: 7, sum: 70, top: 10}},
			want:  []int64{175, 700},
		},
		{
			name:  "exact, no base weight lifted past 100",
			pools: []pool{{share: 30, n: 1, sum: 10, top: 10}, {share: 70, n: 9, sum: 108, top: 100}},
			want:  []int64{45, 105},
		},
		{
			name:  "exact, more weight than the bases allow when the shares need it",
			pools: []pool{{share: 50, n: 1, sum: 10, top: 10}, {share: 50, n: 100, sum: 100, top: 1}},
			want:  []int64{100, 100},
		},
		{
			name:  "unreachable: one pool at 100, the other at 1",
			pools: []pool{{share: 50, n: 1, sum: 10, top: 10}, {share: 50, n: 300, sum: 3000, top: 10}},
			want:  []int64{100, 300},
		},
		{
			name:  "reachable only between two steps of v",
			pools: []pool{{share: 89, n: 1, sum: 10, top: 10}, {share: 11, n: 12, sum: 120, top: 10}},
			want:  []int64{97, 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(totals(tt.pools)).To(Equal(tt.want))
		})
	}
}

// TestTotalsAreClosest compares totals with every pair and triple of totals within the bounds,
// on backend counts small enough to try them all: no other totals come closer to the shares.
func TestTotalsAreClosest(t *testing.T) {
	cases := [][]int64{{1, 1}, {1, 2}, {2, 1}, {1, 5}, {3, 4}, {2, 2}, {1, 12}}
	for _, n := range cases {
		for pa := int64(1); pa < 100; pa += 4 {
			checkClosest(t, []int64{pa, 100 - pa}, n)
		}
	}
	for _, n := range [][]int64{{1, 1, 1}} {
		for pa := int64(1); pa < 100; pa += 13 {
			for pb := int64(1); pa+pb < 100; pb += 17 {
				checkClosest(t, []int64{pa, pb, 100 - pa - pb}, n)
			}
		}
	}
}

func checkClosest(t *testing.T, shares, n []int64) {
	t.Helper()
	pools := make([]pool, len(n))
	for i := range n {
		pools[i] = pool{share: shares[i], n: n[i], sum: 10 * n[i], top: 10}
	}
	got := totals(pools)
	for i, g := range got {
		if g < n[i] || g > maxWeight*n[i] {
			t.Fatalf("shares %v, backends %v: total %d out of bounds", shares, n, g)
		}
	}
	best := math.Inf(1)
	try := make([]int64, len(n))
	var walk func(i int)
	walk = func(i int) {
		if i == len(n) {
			best = math.Min(best, largestError(try, shares))
			return
		}
		for try[i] = n[i]; try[i] <= maxWeight*n[i]; try[i]++ {
			walk(i + 1)
		}
	}
	walk(0)
	if e := largestError(got, shares); e > best+1e-9 {
		t.Fatalf("shares %v, backends %v: totals %v miss by %.4f pp, %.4f is possible", shares, n, got, e, best)
	}
}

// largestError is the largest distance in percentage points between a total's share of the
// sum and the wanted share (shares add up to 100).
func largestError(t, shares []int64) float64 {
	var sum int64
	for _, x := range t {
		sum += x
	}
	var e float64
	for i := range t {
		e = math.Max(e, math.Abs(100*float64(t[i])/float64(sum)-float64(shares[i])))
	}
	return e
}
