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
	"cmp"
	"slices"
)

// maxWeight is the largest weight the CLB takes; 0 is the smallest, and a member with a share
// gives each of its serving backends at least 1.
const maxWeight = 100

// base is a backend's base weight as Compute reads it: below 0 counts as 0, above 100 as 100.
func base(w int64) int64 { return min(max(w, 0), maxWeight) }

// histogram counts a member's backends by base weight, so that the proportional spread costs
// one pass over the backends and then works on at most 100 distinct values.
type histogram struct {
	// count[v] is the number of backends with base weight v; count[0] stay at 0.
	count [maxWeight + 1]int64
	// n is the number of backends with a base weight above 0, sum their base weights, top the
	// largest of them.
	n, sum, top int64
}

func newHistogram(bases []int64) histogram {
	var h histogram
	for _, w := range bases {
		v := base(w)
		h.count[v]++
		if v > 0 {
			h.n++
			h.sum += v
			h.top = max(h.top, v)
		}
	}
	return h
}

// ratio is the non-negative fraction num/den, den > 0.
type ratio struct{ num, den int64 }

func (a ratio) compare(b ratio) int {
	switch x, y := a.num*b.den, b.num*a.den; {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// weigh is the weight of a backend with base v at scale lam, before rounding: lam·v held
// between 1 and 100. It returns the integer part and the remainder in 1/lam.den.
func weigh(v int64, lam ratio) (whole, rem int64) {
	x := lam.num * v
	switch {
	case x <= lam.den:
		return 1, 0
	case x >= maxWeight*lam.den:
		return maxWeight, 0
	}
	return x / lam.den, x % lam.den
}

// scaled is the sum over the member's backends of lam·base held between 1 and 100, times
// lam.den so that it stays an integer.
func (h *histogram) scaled(lam ratio) int64 {
	var s int64
	for v := int64(1); v <= maxWeight; v++ {
		if c := h.count[v]; c > 0 {
			s += c * min(max(lam.num*v, lam.den), maxWeight*lam.den)
		}
	}
	return s
}

// scale finds the lam at which the backends' weights, lam·base held between 1 and 100, add up
// to total exactly (before rounding). total must lie between h.n and 100·h.n. The sum grows
// with lam and bends only where a base reaches 1 (lam = 1/v) or 100 (lam = 100/v), so lam is
// found by a binary search over those at most 200 points and one division in between.
func (h *histogram) scale(total int64) ratio {
	var buf [2 * maxWeight]ratio
	bends := buf[:0]
	for v := int64(1); v <= maxWeight; v++ {
		if h.count[v] > 0 {
			bends = append(bends, ratio{1, v}, ratio{maxWeight, v})
		}
	}
	slices.SortFunc(bends, ratio.compare)
	// The first bend, 1/top, gives every backend 1 (a sum of h.n <= total); find the last bend
	// whose sum is at most total.
	i, j := 0, len(bends)-1
	for i < j {
		mid := (i + j + 1) / 2
		if h.scaled(bends[mid]) <= total*bends[mid].den {
			i = mid
		} else {
			j = mid - 1
		}
	}
	lo := bends[i]
	if h.scaled(lo) == total*lo.den || i == len(bends)-1 {
		return lo
	}
	// Between lo and the next bend every base is either held at 1, held at 100 or free, and
	// the free ones grow linearly: total = held + lam·(sum of free bases).
	hi := bends[i+1]
	held, free := total, int64(0)
	for v := int64(1); v <= maxWeight; v++ {
		c := h.count[v]
		switch {
		case c == 0:
		case hi.num*v <= hi.den:
			held -= c
		case lo.num*v >= maxWeight*lo.den:
			held -= c * maxWeight
		default:
			free += c * v
		}
	}
	return ratio{held, free}
}

// spread divides total among the backends in proportion to their base weights, each weight
// held between 1 and 100, and rounds by largest remainder: the units that the integer parts
// leave over go to the backends with the largest remainders, ties to the earlier backend. A
// base of 0 (or less) stays 0. h is the histogram of bases; a total outside h.n to 100·h.n is
// taken as the nearer end, and total == h.sum gives the base weights back unchanged.
func spread(bases []int64, h *histogram, total int64) []int64 {
	out := make([]int64, len(bases))
	if total <= 0 || h.n == 0 {
		return out
	}
	total = min(max(total, h.n), maxWeight*h.n)
	lam := h.scale(total)
	var rems [maxWeight + 1]int64
	left := total
	for v := int64(1); v <= maxWeight; v++ {
		if h.count[v] > 0 {
			whole, rem := weigh(v, lam)
			rems[v] = rem
			left -= whole * h.count[v]
		}
	}
	// Find the smallest remainder that still earns a unit: every backend above it gets one,
	// and the first `at` backends (in order) with exactly that remainder get one too.
	cut, at := int64(-1), int64(0)
	if left > 0 {
		var order [maxWeight]int64
		vals := order[:0]
		for v := int64(1); v <= maxWeight; v++ {
			if h.count[v] > 0 && rems[v] > 0 {
				vals = append(vals, v)
			}
		}
		slices.SortStableFunc(vals, func(a, b int64) int { return cmp.Compare(rems[b], rems[a]) })
		need := left
		for k := 0; k < len(vals); {
			r, group := rems[vals[k]], int64(0)
			for ; k < len(vals) && rems[vals[k]] == r; k++ {
				group += h.count[vals[k]]
			}
			if need <= group {
				cut, at = r, need
				break
			}
			need -= group
		}
	}
	for i, w := range bases {
		v := base(w)
		if v == 0 {
			continue
		}
		whole, rem := weigh(v, lam)
		switch {
		case left == 0 || rem < cut || rem == 0:
		case rem > cut:
			whole++
		case at > 0:
			whole++
			at--
		}
		out[i] = whole
	}
	return out
}
