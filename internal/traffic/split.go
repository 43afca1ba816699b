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
	"strings"
)

// Member is one binding on a shared listener or rule.
type Member struct {
	// Name is the binding's name, for messages.
	Name string
	// Share is the wanted percentage of new connections, 0 to 100. The members' shares should
	// add up to 100; when they do not, each counts in proportion to their sum.
	Share int32
	// Weights are the base weights of the member's backends, 1 to 100: the binding's weight or
	// a pod's override. They count only relative to each other; 0 (a pod annotated 0, a
	// draining backend) stays 0.
	Weights []int64
}

// Split is the weight of every backend on the listener or rule, and how close it comes to the
// wanted shares.
type Split struct {
	// Weights holds per member, per backend, the CLB weight 0 to 100, in the order of the input.
	Weights [][]int64
	// Achieved is each member's share of new connections in percent: the sum of its weights
	// over the sum of all weights (0 for all when that is 0).
	Achieved []float64
	// Off lists, in member order, the members whose achieved share is more than OffBy
	// percentage points from the wanted one, and those with a share but no serving backend.
	Off []Deviation
}

// Deviation is a member whose share cannot be met.
type Deviation struct {
	// Member is the member's index in the input to Compute.
	Member int
	// Name is the member's name.
	Name string
	// Wanted and Achieved are the shares in percent.
	Wanted, Achieved float64
	// Message says what limits the share and what to change.
	Message string
}

// OffBy is how far, in percentage points, an achieved share may be from the wanted one before
// Compute reports it.
const OffBy = 1.0

// off reports whether achieved is more than OffBy from wanted; the slack absorbs the float
// rounding of two shares that are exactly OffBy apart.
func off(achieved, wanted float64) bool { return math.Abs(achieved-wanted) > OffBy+1e-9 }

// Compute turns the members' wanted shares into a CLB weight per backend.
//
//   - A member with share 0 gets weight 0 on every backend: they stay registered, ready to take
//     traffic. A member with a share gives every backend whose base weight is above 0 a weight
//     from 1 to 100; a base weight of 0 stays 0.
//   - Within a member, weights are proportional to the base weights as closely as integers and
//     the bounds 1 and 100 allow (largest-remainder rounding), so a per-pod override keeps its
//     meaning.
//   - A member with no backend above base weight 0 gets no traffic, whatever its share; the
//     share goes to the other members in proportion to theirs, and the member is reported. So
//     when only one member with a share has backends, all traffic goes to it.
//   - When only one member has a share and backends (a single member with share 100, or shares
//     0 and 100), it keeps its base weights exactly.
//   - Otherwise the members' totals are chosen so that the largest error between an achieved and
//     a wanted share (in percentage points, shares of members without backends spread over the
//     others) is as small as it can be, given that a member's total lies between its number of
//     backends and 100 times that. Among equally good answers Compute takes the larger weights,
//     up to the point where a member's largest base weight would pass 100.
//   - The result depends on the input only: the same input gives the same output, ties going to
//     the earlier member and the earlier backend.
//
// Compute costs one pass over the backends plus a few hundred steps per member, so it can run
// on every sync of a listener with thousands of backends.
func Compute(members []Member) Split {
	s := Split{Weights: make([][]int64, len(members)), Achieved: make([]float64, len(members))}
	hists := make([]histogram, len(members))
	var pools []pool
	var at []int
	for i, m := range members {
		hists[i] = newHistogram(m.Weights)
		if h := &hists[i]; share(m) > 0 && h.n > 0 {
			pools = append(pools, pool{share: share(m), n: h.n, sum: h.sum, top: h.top})
			at = append(at, i)
		}
	}
	for i, m := range members {
		s.Weights[i] = make([]int64, len(m.Weights))
	}
	for j, total := range totals(pools) {
		i := at[j]
		s.Weights[i] = spread(members[i].Weights, &hists[i], total)
	}
	sums := make([]int64, len(members))
	var all int64
	for i, ws := range s.Weights {
		for _, w := range ws {
			sums[i] += w
		}
		all += sums[i]
	}
	if all > 0 {
		for i := range sums {
			s.Achieved[i] = 100 * float64(sums[i]) / float64(all)
		}
	}
	s.Off = explain(members, hists, s.Achieved)
	return s
}

// share is the member's share held between 0 and 100.
func share(m Member) int64 { return min(max(int64(m.Share), 0), 100) }

// explain lists the members whose achieved share is more than OffBy from the wanted one, and
// those with a share but no serving backend, each with what limits it and what to change.
func explain(members []Member, hists []histogram, achieved []float64) []Deviation {
	var wantedSum, activeSum, activeLo, activeHi int64
	var missing []string
	for i, m := range members {
		wantedSum += share(m)
		switch {
		case share(m) == 0:
		case hists[i].n == 0:
			missing = append(missing, m.Name)
		default:
			activeSum += share(m)
			activeLo += hists[i].n
			activeHi += maxWeight * hists[i].n
		}
	}
	wanted := func(i int) float64 {
		if wantedSum == 0 {
			return 0
		}
		return 100 * float64(share(members[i])) / float64(wantedSum)
	}
	// ownLimit says why member i cannot reach its share by itself: all its backends at 100
	// against all others at 1 stay below it, or all at 1 against all others at 100 above it.
	ownLimit := func(i int) string {
		h, want := &hists[i], wanted(i)
		lo, hi := h.n, maxWeight*h.n
		othersLo, othersHi := activeLo-lo, activeHi-hi
		if most := 100 * float64(hi) / float64(hi+othersLo); achieved[i] < want && most < want-OffBy {
			return fmt.Sprintf("%s at most weight %d against %s at least weight 1 gives at most %.1f%%: add %s pods or lower its share",
				backends(h.n), maxWeight, backends(othersLo), most, members[i].Name)
		}
		if least := 100 * float64(lo) / float64(lo+othersHi); achieved[i] > want && othersHi > 0 && least > want+OffBy {
			return fmt.Sprintf("%s at least weight 1 against %s at most weight %d gives at least %.1f%%: add pods to the others or raise its share",
				backends(h.n), backends(othersHi/maxWeight), maxWeight, least)
		}
		return ""
	}
	var limited []string
	for i, m := range members {
		if share(m) > 0 && hists[i].n > 0 && off(achieved[i], wanted(i)) && ownLimit(i) != "" {
			limited = append(limited, m.Name)
		}
	}
	var devs []Deviation
	for i, m := range members {
		want := wanted(i)
		if !off(achieved[i], want) && (share(m) == 0 || hists[i].n > 0) {
			continue
		}
		d := Deviation{Member: i, Name: m.Name, Wanted: want, Achieved: achieved[i]}
		head := fmt.Sprintf("wanted %s but ", percent(want))
		why := ""
		if hists[i].n > 0 {
			why = ownLimit(i)
		}
		switch {
		case hists[i].n == 0 && activeSum == 0:
			d.Message = head + fmt.Sprintf("%s has no serving backend, nor has any other member with a share: "+
				"no backend takes new connections; scale %s up", m.Name, m.Name)
		case hists[i].n == 0:
			d.Message = head + fmt.Sprintf("%s has no serving backend, so its share goes to the others: scale %s up or set its share to 0",
				m.Name, m.Name)
		case achieved[i] > want && len(missing) > 0:
			d.Message = head + fmt.Sprintf("gets %.1f%% because %s %s no serving backend and %s share goes to the others",
				achieved[i], strings.Join(missing, ", "), plural(len(missing), "has", "have"), plural(len(missing), "its", "their"))
		case why != "":
			d.Message = head + why
		case len(limited) > 0:
			d.Message = head + fmt.Sprintf("gets %.1f%% because %s cannot reach %s",
				achieved[i], strings.Join(limited, ", "), plural(len(limited), "its share", "their shares"))
		default:
			d.Message = head + fmt.Sprintf("gets %.1f%%, the closest that whole weights of 1 to %d on every member's backends allow",
				achieved[i], maxWeight)
		}
		devs = append(devs, d)
	}
	return devs
}

// percent formats a share: whole numbers without decimals.
func percent(x float64) string {
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f%%", x)
	}
	return fmt.Sprintf("%.1f%%", x)
}

func backends(n int64) string {
	return fmt.Sprintf("%d %s", n, plural(int(n), "backend", "backends"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
