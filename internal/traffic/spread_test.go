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

func TestSpread(t *testing.T) {
	tests := []struct {
		name  string
		bases []int64
		total int64
		want  []int64
	}{
		{name: "base sum gives the bases back", bases: []int64{10, 20, 5, 100, 1}, total: 136, want: []int64{10, 20, 5, 100, 1}},
		{name: "scaled up exactly", bases: []int64{10, 20, 5}, total: 140, want: []int64{40, 80, 20}},
		{name: "largest remainder", bases: []int64{10, 10, 10}, total: 31, want: []int64{11, 10, 10}},
		{name: "remainder ties go to earlier backends", bases: []int64{10, 10, 10, 10}, total: 42, want: []int64{11, 11, 10, 10}},
		{name: "larger remainder wins over order", bases: []int64{1, 2}, total: 4, want: []int64{1, 3}},
		{name: "held at 100, the rest share what is left", bases: []int64{100, 10, 10}, total: 150, want: []int64{100, 25, 25}},
		{name: "held at 1, the rest share what is left", bases: []int64{100, 1, 1, 1}, total: 50, want: []int64{47, 1, 1, 1}},
		{name: "all at 1", bases: []int64{7, 50, 100}, total: 3, want: []int64{1, 1, 1}},
		{name: "all at 100", bases: []int64{7, 50, 100}, total: 300, want: []int64{100, 100, 100}},
		{name: "base 0 stays 0", bases: []int64{0, 10, 0, 30}, total: 80, want: []int64{0, 20, 0, 60}},
		{name: "out of range bases are held to 0 and 100", bases: []int64{-5, 150, 50}, total: 75, want: []int64{0, 50, 25}},
		{name: "total 0", bases: []int64{10, 10}, total: 0, want: []int64{0, 0}},
		{name: "total above the bounds", bases: []int64{10, 10}, total: 500, want: []int64{100, 100}},
		{name: "total below the bounds", bases: []int64{10, 0, 10}, total: 1, want: []int64{1, 0, 1}},
		{name: "no backends", bases: nil, total: 0, want: []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHistogram(tt.bases)
			g.Expect(spread(tt.bases, &h, tt.total)).To(Equal(tt.want))
		})
	}
}

// TestSpreadIsLargestRemainder checks spread against the real-valued weights it rounds, found
// here by bisection: lam·base held between 1 and 100, adding up to the total. Every weight is
// that value rounded down or up, and the weights add up to the total.
func TestSpreadIsLargestRemainder(t *testing.T) {
	patterns := [][]int64{
		{10}, {1, 100}, {3, 7, 7, 50}, {10, 20, 5, 10, 50, 1, 10, 100}, {99, 98, 97, 2, 1}, {13, 0, 13, 26},
	}
	for _, p := range patterns {
		for _, n := range []int{1, 2, 5, 17, 100} {
			bases := make([]int64, n*len(p))
			for i := range bases {
				bases[i] = p[i%len(p)]
			}
			h := newHistogram(bases)
			for total := h.n; total <= maxWeight*h.n; total += 1 + total/7 {
				got := spread(bases, &h, total)
				ideal := idealWeights(bases, total)
				var sum int64
				for i, w := range got {
					sum += w
					if float64(w) < math.Floor(ideal[i]+1e-9) || float64(w) > math.Ceil(ideal[i]-1e-9) {
						t.Fatalf("bases %v total %d: backend %d has %d, ideal %.6f", p, total, i, w, ideal[i])
					}
				}
				if sum != total {
					t.Fatalf("bases %v total %d: weights add up to %d", p, total, sum)
				}
			}
		}
	}
}

// idealWeights is lam·base held between 1 and 100 (0 for base 0) with lam such that they add
// up to total.
func idealWeights(bases []int64, total int64) []float64 {
	at := func(lam float64) ([]float64, float64) {
		out := make([]float64, len(bases))
		var s float64
		for i, b := range bases {
			if b > 0 {
				out[i] = math.Min(math.Max(lam*float64(b), 1), maxWeight)
			}
			s += out[i]
		}
		return out, s
	}
	lo, hi := 0.0, 100.0
	for range 200 {
		mid := (lo + hi) / 2
		if _, s := at(mid); s < float64(total) {
			lo = mid
		} else {
			hi = mid
		}
	}
	out, _ := at(hi)
	return out
}
