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
	"fmt"
	"math"
	"reflect"
	"testing"

	. "github.com/onsi/gomega"
)

// equal is n backends of base weight w.
func equal(n int, w int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = w
	}
	return out
}

// mixed is n backends with per-pod overrides, one of them 0.
func mixed(n int) []int64 {
	pattern := []int64{10, 20, 5, 0, 10, 50, 1, 100}
	out := make([]int64, n)
	for i := range out {
		out[i] = pattern[i%len(pattern)]
	}
	return out
}

// memberSums is each member's total weight.
func memberSums(s Split) []int64 {
	out := make([]int64, len(s.Weights))
	for i, ws := range s.Weights {
		for _, w := range ws {
			out[i] += w
		}
	}
	return out
}

func offNames(s Split) []string {
	if len(s.Off) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.Off))
	for _, d := range s.Off {
		out = append(out, d.Name)
	}
	return out
}

// TestComputeExamples are the worked examples of issue 19.
func TestComputeExamples(t *testing.T) {
	t.Run("10% canary with 1 pod against 9 stable pods", func(t *testing.T) {
		g := NewWithT(t)
		s := Compute([]Member{{Name: "canary", Share: 10, Weights: equal(1, 10)}, {Name: "stable", Share: 90, Weights: equal(9, 10)}})
		g.Expect(s.Weights).To(Equal([][]int64{{100}, equal(9, 100)}))
		g.Expect(s.Achieved).To(Equal([]float64{10, 90}))
		g.Expect(s.Off).To(BeEmpty())
	})
	t.Run("50% for 1 canary pod against 300 stable pods", func(t *testing.T) {
		g := NewWithT(t)
		s := Compute([]Member{{Name: "canary", Share: 50, Weights: equal(1, 10)}, {Name: "stable", Share: 50, Weights: equal(300, 10)}})
		g.Expect(s.Weights).To(Equal([][]int64{{100}, equal(300, 1)}))
		g.Expect(s.Achieved).To(Equal([]float64{25, 75}))
		g.Expect(s.Off).To(Equal([]Deviation{
			{Member: 0, Name: "canary", Wanted: 50, Achieved: 25, Message: "wanted 50% but 1 backend at most weight 100 against " +
				"300 backends at least weight 1 gives at most 25.0%: add canary pods or lower its share"},
			{Member: 1, Name: "stable", Wanted: 50, Achieved: 75, Message: "wanted 50% but 300 backends at least weight 1 against " +
				"1 backend at most weight 100 gives at least 75.0%: add pods to the others or raise its share"},
		}))
	})
	t.Run("shares 0 and 100", func(t *testing.T) {
		g := NewWithT(t)
		s := Compute([]Member{{Name: "canary", Share: 0, Weights: equal(2, 10)}, {Name: "stable", Share: 100, Weights: mixed(9)}})
		g.Expect(s.Weights).To(Equal([][]int64{{0, 0}, mixed(9)}))
		g.Expect(s.Achieved).To(Equal([]float64{0, 100}))
		g.Expect(s.Off).To(BeEmpty())
	})
	t.Run("33% on 3 pods and 67% on 7", func(t *testing.T) {
		g := NewWithT(t)
		s := Compute([]Member{{Name: "canary", Share: 33, Weights: equal(3, 10)}, {Name: "stable", Share: 67, Weights: equal(7, 10)}})
		g.Expect(s.Weights).To(Equal([][]int64{{99, 99, 99}, {87, 86, 86, 86, 86, 86, 86}}))
		g.Expect(s.Achieved[0]).To(BeNumerically("~", 33, 1e-9))
		g.Expect(s.Off).To(BeEmpty())
	})
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name     string
		members  []Member
		weights  [][]int64
		achieved []float64
		off      []string
		message  string // of the first in off
	}{
		{
			name:     "a single member reproduces its base weights",
			members:  []Member{{Name: "web", Share: 100, Weights: []int64{10, 0, 100, 1, 37}}},
			weights:  [][]int64{{10, 0, 100, 1, 37}},
			achieved: []float64{100},
		},
		{
			name:     "a single member with a share below 100 still takes everything",
			members:  []Member{{Name: "web", Share: 40, Weights: []int64{10, 20}}},
			weights:  [][]int64{{10, 20}},
			achieved: []float64{100},
		},
		{
			name:     "a single member with share 0 gets nothing",
			members:  []Member{{Name: "web", Share: 0, Weights: []int64{10, 20}}},
			weights:  [][]int64{{0, 0}},
			achieved: []float64{0},
		},
		{
			name:     "overrides keep their proportion",
			members:  []Member{{Name: "canary", Share: 20, Weights: []int64{10}}, {Name: "stable", Share: 80, Weights: []int64{10, 10, 10, 5}}},
			weights:  [][]int64{{87}, {100, 99, 99, 50}},
			achieved: []float64{20, 80},
		},
		{
			name: "an override of 1 against 100 is kept",
			members: []Member{
				{Name: "canary", Share: 30, Weights: []int64{10}},
				{Name: "stable", Share: 70, Weights: []int64{100, 1, 1, 1, 1, 1, 1, 1, 1}},
			},
			weights:  [][]int64{{45}, {97, 1, 1, 1, 1, 1, 1, 1, 1}},
			achieved: []float64{30, 70},
		},
		{
			name:     "shares that do not add up to 100 count in proportion",
			members:  []Member{{Name: "a", Share: 30, Weights: equal(1, 10)}, {Name: "b", Share: 30, Weights: equal(2, 10)}},
			weights:  [][]int64{{100}, {50, 50}},
			achieved: []float64{50, 50},
		},
		{
			name:     "shares out of range are held to 0 and 100",
			members:  []Member{{Name: "a", Share: -20, Weights: equal(1, 10)}, {Name: "b", Share: 250, Weights: equal(2, 10)}},
			weights:  [][]int64{{0}, {10, 10}},
			achieved: []float64{0, 100},
		},
		{
			name: "a member without backends: its share goes to the others",
			members: []Member{
				{Name: "canary", Share: 20, Weights: equal(2, 10)},
				{Name: "blue", Share: 30, Weights: equal(3, 10)},
				{Name: "green", Share: 50, Weights: []int64{0, 0}},
			},
			weights:  [][]int64{equal(2, 100), equal(3, 100), {0, 0}},
			achieved: []float64{40, 60, 0},
			off:      []string{"canary", "blue", "green"},
			message:  "wanted 20% but gets 40.0% because green has no serving backend and its share goes to the others",
		},
		{
			name: "a member without backends is reported even when its share is small",
			members: []Member{
				{Name: "canary", Share: 1},
				{Name: "stable", Share: 99, Weights: equal(3, 10)},
			},
			weights:  [][]int64{{}, {10, 10, 10}},
			achieved: []float64{0, 100},
			off:      []string{"canary"},
			message:  "wanted 1% but canary has no serving backend, so its share goes to the others: scale canary up or set its share to 0",
		},
		{
			name:     "only one member with backends takes all traffic",
			members:  []Member{{Name: "canary", Share: 10, Weights: equal(2, 10)}, {Name: "stable", Share: 90}},
			weights:  [][]int64{{10, 10}, {}},
			achieved: []float64{100, 0},
			off:      []string{"canary", "stable"},
			message:  "wanted 10% but gets 100.0% because stable has no serving backend and its share goes to the others",
		},
		{
			name:     "a share 0 member never takes the traffic of one without backends",
			members:  []Member{{Name: "canary", Share: 0, Weights: equal(2, 10)}, {Name: "stable", Share: 100}},
			weights:  [][]int64{{0, 0}, {}},
			achieved: []float64{0, 0},
			off:      []string{"stable"},
			message: "wanted 100% but stable has no serving backend, nor has any other member with a share: " +
				"no backend takes new connections; scale stable up",
		},
		{
			name: "three members, one of them held at weight 1",
			members: []Member{
				{Name: "a", Share: 5, Weights: equal(20, 10)},
				{Name: "b", Share: 45, Weights: equal(1, 10)},
				{Name: "c", Share: 50, Weights: equal(1, 10)},
			},
			weights:  [][]int64{equal(20, 1), {98}, {100}},
			achieved: []float64{100 * 20.0 / 218, 100 * 98.0 / 218, 100 * 100.0 / 218},
			off:      []string{"a", "c"},
			message: "wanted 5% but 20 backends at least weight 1 against 2 backends at most weight 100 gives at least 9.1%: " +
				"add pods to the others or raise its share",
		},
		{
			name:     "no members",
			members:  nil,
			weights:  [][]int64{},
			achieved: []float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := Compute(tt.members)
			checkSplit(t, tt.members, s)
			g.Expect(s.Weights).To(Equal(tt.weights))
			g.Expect(s.Achieved).To(HaveLen(len(tt.achieved)))
			for i, a := range tt.achieved {
				g.Expect(s.Achieved[i]).To(BeNumerically("~", a, 1e-9), "member %d", i)
			}
			g.Expect(offNames(s)).To(Equal(tt.off))
			if tt.message != "" {
				g.Expect(s.Off[0].Message).To(Equal(tt.message))
			}
		})
	}
}

// TestComputeIsStable: the same input gives the same output, so a sync that changes nothing
// writes nothing.
func TestComputeIsStable(t *testing.T) {
	g := NewWithT(t)
	members := []Member{
		{Name: "a", Share: 33, Weights: mixed(101)},
		{Name: "b", Share: 33, Weights: mixed(7)},
		{Name: "c", Share: 34, Weights: equal(50, 10)},
	}
	first := Compute(members)
	for range 5 {
		g.Expect(Compute(members)).To(Equal(first))
	}
}

// TestComputeGrid runs two members over backend counts and shares from one end to the other,
// with equal and mixed base weights, and checks every invariant of Compute on each.
func TestComputeGrid(t *testing.T) {
	counts := []int{1, 2, 3, 7, 10, 50, 99, 100, 101, 300, 1000}
	shares := []int32{0, 1, 5, 10, 25, 33, 50, 67, 90, 99, 100}
	bases := map[string]func(int) []int64{"equal": func(n int) []int64 { return equal(n, 10) }, "mixed": mixed}
	var cases, offCases int
	for kind, weights := range bases {
		for _, nc := range counts {
			for _, ns := range counts {
				for _, share := range shares {
					members := []Member{
						{Name: "canary", Share: share, Weights: weights(nc)},
						{Name: "stable", Share: 100 - share, Weights: weights(ns)},
					}
					s := Compute(members)
					checkSplit(t, members, s)
					checkPairRange(t, members, s)
					cases++
					if len(s.Off) > 0 {
						offCases++
					}
					if t.Failed() {
						t.Fatalf("%s bases, %d canary and %d stable pods, canary share %d", kind, nc, ns, share)
					}
				}
			}
		}
	}
	// Both ends of the grid are exercised: most cases are met, and some cannot be.
	t.Logf("%d of %d cases off", offCases, cases)
	if offCases == 0 || offCases > cases/2 {
		t.Fatalf("%d of %d cases off", offCases, cases)
	}
}

// checkSplit checks what Compute promises for any input.
func checkSplit(t testing.TB, members []Member, s Split) {
	t.Helper()
	if len(s.Weights) != len(members) || len(s.Achieved) != len(members) {
		t.Fatalf("%d members, %d weight lists, %d achieved", len(members), len(s.Weights), len(s.Achieved))
	}
	for i, m := range members {
		checkWeights(t, m, s.Weights[i])
		checkProportional(t, m, s.Weights[i])
	}
	checkShares(t, members, s)
	for _, d := range s.Off {
		if math.Abs(d.Achieved-d.Wanted) <= OffBy+1e-9 {
			continue // a member with a share but no backend, within OffBy all the same
		}
		if ok, known := reachable(members, 50000); known && ok {
			t.Fatalf("members reported off, but some weights meet every share within %v: %+v", OffBy, s.Off)
		}
		break
	}
}

// checkWeights checks a member's weights against its share and base weights.
func checkWeights(t testing.TB, m Member, weights []int64) {
	t.Helper()
	if len(weights) != len(m.Weights) {
		t.Fatalf("%s: %d backends, %d weights", m.Name, len(m.Weights), len(weights))
	}
	for j, w := range weights {
		b := m.Weights[j]
		switch {
		case w < 0 || w > maxWeight:
			t.Fatalf("%s backend %d: weight %d out of range", m.Name, j, w)
		case (m.Share <= 0 || b <= 0) && w != 0:
			t.Fatalf("%s (share %d) backend %d (base %d): weight %d, want 0", m.Name, m.Share, j, b, w)
		case m.Share > 0 && b > 0 && w < 1:
			t.Fatalf("%s (share %d) backend %d (base %d): weight 0, want at least 1", m.Name, m.Share, j, b)
		}
	}
}

// checkShares checks Achieved against the weights, and Off against the wanted shares.
func checkShares(t testing.TB, members []Member, s Split) {
	t.Helper()
	var all, wantedSum int64
	for i, sum := range memberSums(s) {
		all += sum
		wantedSum += share(members[i])
	}
	offAt := map[int]Deviation{}
	for _, d := range s.Off {
		if _, twice := offAt[d.Member]; twice || d.Member < 0 || d.Member >= len(members) || d.Name != members[d.Member].Name || d.Message == "" {
			t.Fatalf("bad deviation %+v", d)
		}
		offAt[d.Member] = d
	}
	for i, sum := range memberSums(s) {
		achieved, wanted := 0.0, 0.0
		if all > 0 {
			achieved = 100 * float64(sum) / float64(all)
		}
		if wantedSum > 0 {
			wanted = 100 * float64(share(members[i])) / float64(wantedSum)
		}
		if s.Achieved[i] != achieved {
			t.Fatalf("%s: Achieved %v, weights give %v", members[i].Name, s.Achieved[i], achieved)
		}
		d, isOff := offAt[i]
		stranded := share(members[i]) > 0 && newHistogram(members[i].Weights).n == 0 // always reported
		if farOff := math.Abs(achieved-wanted) > OffBy+1e-9; isOff != (farOff || stranded) {
			t.Fatalf("%s: wanted %.3f, achieved %.3f, reported off: %v", members[i].Name, wanted, achieved, isOff)
		}
		if isOff && (d.Wanted != wanted || d.Achieved != achieved) {
			t.Fatalf("%s: deviation %+v, want wanted %v achieved %v", members[i].Name, d, wanted, achieved)
		}
	}
}

// checkProportional checks that a member's weights follow its base weights: equal bases differ
// by at most 1, and a larger base never gets less than a smaller one (with largest remainder, a
// larger base has the larger ideal weight, and the larger remainder when the integer parts tie).
func checkProportional(t testing.TB, m Member, weights []int64) {
	t.Helper()
	byBase := map[int64][2]int64{} // base -> smallest, largest weight
	for j, w := range weights {
		b := base(m.Weights[j])
		if b == 0 {
			continue
		}
		r, seen := byBase[b]
		if !seen {
			r = [2]int64{w, w}
		}
		byBase[b] = [2]int64{min(r[0], w), max(r[1], w)}
	}
	for b, r := range byBase {
		if r[1]-r[0] > 1 {
			t.Fatalf("%s: base %d gets weights %d to %d", m.Name, b, r[0], r[1])
		}
		for c, q := range byBase {
			if c > b && q[0] < r[1] {
				t.Fatalf("%s: base %d gets up to %d, larger base %d down to %d", m.Name, b, r[1], c, q[0])
			}
		}
	}
}

// checkPairRange checks, for two members that both have a share and backends, that a member
// reported off truly cannot reach its share: its total lies between its backend count and 100
// times that, the other's too, so its share lies between lo/(lo+other's hi) and
// hi/(hi+other's lo).
func checkPairRange(t testing.TB, members []Member, s Split) {
	t.Helper()
	if len(members) != 2 || members[0].Share <= 0 || members[1].Share <= 0 {
		return
	}
	n := [2]int64{newHistogram(members[0].Weights).n, newHistogram(members[1].Weights).n}
	if n[0] == 0 || n[1] == 0 {
		return
	}
	for _, d := range s.Off {
		i := d.Member
		lo, hi, otherLo, otherHi := n[i], maxWeight*n[i], n[1-i], maxWeight*n[1-i]
		least := 100 * float64(lo) / float64(lo+otherHi)
		most := 100 * float64(hi) / float64(hi+otherLo)
		if d.Wanted >= least-OffBy && d.Wanted <= most+OffBy {
			t.Fatalf("%s reported off (wanted %.2f, achieved %.2f) but can reach %.2f to %.2f", d.Name, d.Wanted, d.Achieved, least, most)
		}
		if d.Achieved != least && d.Achieved != most {
			t.Fatalf("%s is off at %.4f, not at the end of its range %.4f to %.4f", d.Name, d.Achieved, least, most)
		}
	}
}

// reachable reports whether any weights that follow Compute's rules (share 0 or no backend:
// total 0; otherwise a total between the backend count and 100 times that) bring every member
// within OffBy of its wanted share. It tries every sum of totals, which decides it exactly in
// integers: for a fixed sum each total has an integer range, and some choice adds up to the sum
// when the ranges' ends enclose it. known is false when there are more than limit sums to try.
func reachable(members []Member, limit int64) (ok, known bool) {
	var p, sumLo, sumHi int64
	lo, hi := make([]int64, len(members)), make([]int64, len(members))
	for i, m := range members {
		p += share(m)
		if n := newHistogram(m.Weights).n; share(m) > 0 && n > 0 {
			lo[i], hi[i] = n, maxWeight*n
		}
		sumLo, sumHi = sumLo+lo[i], sumHi+hi[i]
	}
	if p == 0 {
		return true, true
	}
	if sumHi == 0 {
		// Nothing takes traffic: every achieved share is 0.
		for _, m := range members {
			if 100*share(m) > p*int64(OffBy) {
				return false, true
			}
		}
		return true, true
	}
	if sumHi-sumLo > limit {
		return false, false
	}
	for s := sumLo; s <= sumHi; s++ {
		var least, most int64
		fits := true
		for i, m := range members {
			// |100·t/s − 100·share/p| <= OffBy  <=>  (100·share − p)·s <= 100·p·t <= (100·share + p)·s.
			a := max(lo[i], ceilDiv((100*share(m)-p*int64(OffBy))*s, 100*p))
			b := min(hi[i], floorDiv((100*share(m)+p*int64(OffBy))*s, 100*p))
			if a > b {
				fits = false
				break
			}
			least, most = least+a, most+b
		}
		if fits && least <= s && s <= most {
			return true, true
		}
	}
	return false, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func FuzzCompute(f *testing.F) {
	f.Add([]byte{1, 10, 1, 10, 90, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10})
	f.Add([]byte{1, 50, 1, 10, 50, 255, 10})
	f.Add([]byte{2, 20, 3, 10, 5, 0, 30, 2, 0, 0, 50, 4, 1, 100, 50, 7})
	f.Add([]byte{0, 100, 4, 0, 101, 250, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		members := decodeMembers(data)
		s := Compute(members)
		checkSplit(t, members, s)
		checkPairRange(t, members, s)
		if again := Compute(members); !reflect.DeepEqual(s, again) {
			t.Fatalf("Compute is not deterministic:\n%+v\n%+v", s, again)
		}
	})
}

// decodeMembers reads 1 to 4 members from data: per member a share (some out of range), a
// backend count (now and then in the hundreds) and base weights (some out of range).
func decodeMembers(data []byte) []Member {
	next := func() int64 {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int64(b)
	}
	members := make([]Member, 1+next()%4)
	for i := range members {
		members[i].Name = fmt.Sprintf("m%d", i)
		members[i].Share = int32(next()%121 - 10)
		n := next()
		if n >= 250 {
			n = 100 * (n - 249) // 100 to 600 backends
		} else {
			n %= 13
		}
		pattern := []int64{next()%106 - 2, next()%106 - 2, next()%106 - 2}
		members[i].Weights = make([]int64, n)
		for j := range members[i].Weights {
			members[i].Weights[j] = pattern[j%3]
		}
	}
	return members
}

func BenchmarkCompute(b *testing.B) {
	cases := map[string][]Member{
		"2x1000 met": {
			{Name: "canary", Share: 10, Weights: mixed(1000)},
			{Name: "stable", Share: 90, Weights: equal(1000, 10)},
		},
		"2x1000 closest": { // no exact scale fits: closest solves for the totals
			{Name: "canary", Share: 1, Weights: equal(1000, 10)},
			{Name: "stable", Share: 99, Weights: mixed(1000)},
		},
	}
	for name, members := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(members)
			}
		})
	}
}
