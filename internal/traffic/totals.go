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
	"math"
	"math/bits"
	"slices"
)

// pool is what decides a member's total weight: its share and its serving backends.
type pool struct {
	share int64 // wanted share, above 0
	n     int64 // serving backends (base weight above 0), at least 1
	sum   int64 // their base weights
	top   int64 // the largest of them
}

// lo and hi bound the pool's total: every serving backend between weight 1 and 100.
func (p pool) lo() int64 { return p.n }
func (p pool) hi() int64 { return maxWeight * p.n }

// totals returns each pool's total weight, between lo and hi. A lone pool keeps its base
// weights. Otherwise, with r_i the shares divided by their greatest common divisor, when some
// integer v puts every r_i·v within its pool's bounds, those totals meet the shares exactly. Of
// such v it takes the one nearest to lifting no pool's largest base weight above 100: weights as
// large as they can be while they stay in proportion to the bases. When no v fits, closest
// finds the totals.
func totals(pools []pool) []int64 {
	out := make([]int64, len(pools))
	switch len(pools) {
	case 0:
		return out
	case 1:
		out[0] = pools[0].sum
		return out
	}
	var g int64
	for _, p := range pools {
		g = gcd(g, p.share)
	}
	r := make([]int64, len(pools))
	for i, p := range pools {
		r[i] = p.share / g
	}
	vlo, vhi, soft := int64(1), int64(math.MaxInt64), int64(math.MaxInt64)
	for i, p := range pools {
		vlo = max(vlo, (p.lo()+r[i]-1)/r[i])
		vhi = min(vhi, p.hi()/r[i])
		soft = min(soft, maxWeight*p.sum/(r[i]*p.top))
	}
	if vlo > vhi {
		return closest(pools, r)
	}
	v := min(max(soft, vlo), vhi)
	for i := range out {
		out[i] = r[i] * v
	}
	return out
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// closest finds the totals when no exact ones fit the bounds: it minimises the largest error
// between a pool's share of the sum and its wanted share q_i = 100·r_i/sum(r), first for real
// totals and then among the roundings of those down or up.
//
// Write x_i for the achieved share in percent and w = 100/sum(totals), so that total_i = x_i/w
// and the bounds read lo_i·w <= x_i <= hi_i·w. An error of at most e is then reachable when some
// w allows x_i within [max(lo_i·w, q_i−e), min(hi_i·w, q_i+e)] adding up to 100: the w that do
// form an interval, window(e), which only widens as e grows, so the least e is found by
// bisection. Among the w of that window, closest takes the one nearest to lifting no pool's
// largest base weight above 100 (as totals does), and spreads the shares within their ranges in
// proportion to q where it can.
func closest(pools []pool, r []int64) []int64 {
	p := newProblem(pools, r)
	eLo, eHi := 0.0, 100.0
	for range 200 {
		mid := (eLo + eHi) / 2
		if mid <= eLo || mid >= eHi {
			break
		}
		if wlo, whi := p.window(mid); wlo <= whi {
			eHi = mid
		} else {
			eLo = mid
		}
	}
	e := eHi
	wlo, whi := p.window(e)
	var soft float64
	for i, pl := range pools {
		soft = max(soft, p.q[i]*float64(pl.top)/float64(maxWeight*pl.sum))
	}
	w := min(max(soft, wlo), whi)
	xl, xh := make([]float64, len(pools)), make([]float64, len(pools))
	var cHi float64
	for i := range pools {
		xl[i] = max(p.lo[i]*w, p.q[i]-e)
		xh[i] = max(min(p.hi[i]*w, p.q[i]+e), xl[i])
		cHi = max(cHi, xh[i]/p.q[i])
	}
	x := make([]float64, len(pools))
	sumAt := func(c float64) float64 {
		var s float64
		for i := range x {
			x[i] = min(max(c*p.q[i], xl[i]), xh[i])
			s += x[i]
		}
		return s
	}
	cLo := 0.0
	for range 200 {
		mid := (cLo + cHi) / 2
		if mid <= cLo || mid >= cHi {
			break
		}
		if sumAt(mid) < 100 {
			cLo = mid
		} else {
			cHi = mid
		}
	}
	sumAt(cHi)
	ideal := make([]float64, len(pools))
	for i := range x {
		ideal[i] = x[i] / w
	}
	return pick(pools, r, ideal)
}

// problem holds the real-valued form of closest and scratch space for window.
type problem struct {
	q, lo, hi []float64
	key       []float64
	idx       []int
}

func newProblem(pools []pool, r []int64) *problem {
	k := len(pools)
	p := &problem{q: make([]float64, k), lo: make([]float64, k), hi: make([]float64, k), key: make([]float64, k), idx: make([]int, k)}
	var sum int64
	for _, ri := range r {
		sum += ri
	}
	for i, pl := range pools {
		p.q[i] = maxWeight * float64(r[i]) / float64(sum)
		p.lo[i], p.hi[i] = float64(pl.lo()), float64(pl.hi())
	}
	return p
}

// window returns the interval of w for which every share can be within e of the wanted one;
// it is empty when wlo > whi.
func (p *problem) window(e float64) (wlo, whi float64) {
	wlo, whi = 0, math.Inf(1)
	for i, q := range p.q {
		wlo = max(wlo, (q-e)/p.hi[i])
		whi = min(whi, (q+e)/p.lo[i])
	}
	return max(wlo, p.atLeast(e)), min(whi, p.atMost(e))
}

// sortBy orders p.idx by key(i).
func (p *problem) sortBy(key func(i int) float64) {
	for i := range p.idx {
		p.idx[i], p.key[i] = i, key(i)
	}
	slices.SortFunc(p.idx, func(a, b int) int { return cmp.Compare(p.key[a], p.key[b]) })
}

// atMost is the largest w for which the smallest shares allowed, max(lo_i·w, q_i−e), add up
// to at most 100. Their sum is piecewise linear and grows with w; it bends where
// lo_i·w = q_i−e.
func (p *problem) atMost(e float64) float64 {
	floor := func(i int) float64 { return max(p.q[i]-e, 0) }
	p.sortBy(func(i int) float64 { return floor(i) / p.lo[i] })
	var slope, fixed float64
	for i := range p.q {
		fixed += floor(i)
	}
	for _, i := range p.idx {
		if slope > 0 {
			if w := (100 - fixed) / slope; w <= p.key[i] {
				return w
			}
		}
		slope += p.lo[i]
		fixed -= floor(i)
	}
	return (100 - fixed) / slope
}

// atLeast is the smallest w for which the largest shares allowed, min(hi_i·w, q_i+e), add up
// to at least 100. Their sum is piecewise linear and grows with w; it bends where
// hi_i·w = q_i+e.
func (p *problem) atLeast(e float64) float64 {
	p.sortBy(func(i int) float64 { return (p.q[i] + e) / p.hi[i] })
	var slope, fixed float64
	for i := range p.q {
		slope += p.hi[i]
	}
	for _, i := range p.idx {
		if w := (100 - fixed) / slope; w <= p.key[i] {
			return max(w, 0)
		}
		slope -= p.hi[i]
		fixed += p.q[i] + e
	}
	return p.key[p.idx[len(p.idx)-1]]
}

// maxRounded is the number of pools up to which pick tries every rounding of the ideal totals
// down or up; beyond it, only the nearest.
const maxRounded = 8

// pick turns the ideal real totals into integers within the pools' bounds. Rounding alone can
// miss by much when the totals are small (1 backend at 100 against 12 at 1 is 89.3%; 97 against
// 12 is 89.0%), so pick also tries the totals in exact proportion to the shares scaled from
// each pool in turn: every integer total of that pool within r_i+1 of its ideal one, the other
// pools rounded to match. These cover the narrow range of scales where the shares fit the
// bounds, which is less than one step of v wide (otherwise totals would have found a v). Of all
// candidates it keeps the one with the least largest error, then the largest sum, then the
// first tried.
func pick(pools []pool, r []int64, ideal []float64) []int64 {
	k := len(pools)
	c := candidates{r: r, best: make([]int64, k), try: make([]int64, k)}
	clamp := func(i int, t int64) int64 { return min(max(t, pools[i].lo()), pools[i].hi()) }
	if k > maxRounded {
		for i, t := range ideal {
			c.try[i] = clamp(i, int64(math.Round(t)))
		}
		c.consider()
	} else {
		for mask := range 1 << k {
			for i, t := range ideal {
				c.try[i] = clamp(i, int64(math.Floor(t))+int64(mask>>i&1))
			}
			c.consider()
		}
	}
	for i, t := range ideal {
		from, to := clamp(i, int64(math.Floor(t))-r[i]-1), clamp(i, int64(math.Ceil(t))+r[i]+1)
		for ti := from; ti <= to; ti++ {
			for j := range c.try {
				// round(r_j·ti/r_i), halves up.
				c.try[j] = clamp(j, (2*r[j]*ti+r[i])/(2*r[i]))
			}
			c.consider()
		}
	}
	return c.best
}

// candidates keeps the best totals tried so far.
type candidates struct {
	r         []int64
	best, try []int64
	// err/sum is the largest error of best (see miss); sum is 0 before the first candidate.
	err, sum uint64
}

// consider keeps try if it is closer to the shares than best, or as close with a larger sum.
func (c *candidates) consider() {
	err, sum := miss(c.try, c.r)
	if c.sum > 0 {
		if d := compareFrac(err, sum, c.err, c.sum); d > 0 || d == 0 && sum <= c.sum {
			return
		}
	}
	copy(c.best, c.try)
	c.err, c.sum = err, sum
}

// miss measures how far totals t are from the shares r: the largest error, in units of
// 100/sum(r) percentage points, is num/sum.
func miss(t, r []int64) (num, sum uint64) {
	var total, rs int64
	for i := range t {
		total += t[i]
		rs += r[i]
	}
	for i := range t {
		d := t[i]*rs - r[i]*total
		num = max(num, uint64(max(d, -d)))
	}
	return num, uint64(total)
}

// compareFrac compares a/b with c/d (b, d > 0) without overflow.
func compareFrac(a, b, c, d uint64) int {
	xh, xl := bits.Mul64(a, d)
	yh, yl := bits.Mul64(c, b)
	if xh != yh {
		return cmp.Compare(xh, yh)
	}
	return cmp.Compare(xl, yl)
}
