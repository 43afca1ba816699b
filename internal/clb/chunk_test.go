package clb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// targetsOn makes n targets on each of the given listener/location groups.
func targetsOn(groups map[[2]string]int) []targets.Target {
	var out []targets.Target
	for g, n := range groups {
		for i := range n {
			out = append(out, targets.Target{Key: targets.Key{
				ListenerID: g[0], LocationID: g[1], EniIP: fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256), Port: 80,
			}, Weight: 10})
		}
	}
	return out
}

func spread(listeners, perListener int) map[[2]string]int {
	m := map[[2]string]int{}
	for i := range listeners {
		m[[2]string{fmt.Sprintf("lbl-%03d", i), ""}] = perListener
	}
	return m
}

func with(m map[[2]string]int, listenerID string, n int) map[[2]string]int {
	m[[2]string{listenerID, ""}] = n
	return m
}

func TestPackWeightRules(t *testing.T) {
	tests := []struct {
		name      string
		groups    map[[2]string]int
		wantCalls int
	}{
		{"empty", nil, 0},
		{"one target", spread(1, 1), 1},
		{"one rule of 50", spread(1, 50), 1},
		{"51 on one listener is two rules, one call", spread(1, 51), 1},
		{"500 on one listener", spread(1, 500), 1},
		{"501 on one listener", spread(1, 501), 2},
		{"100 listeners of 5", spread(100, 5), 1},
		{"101 listeners of 1: the rule limit binds", spread(101, 1), 2},
		{"250 listeners of 1", spread(250, 1), 3},
		{"30 listeners of 40 (1200)", spread(30, 40), 3},
		{"1201 over 30 listeners", with(spread(29, 40), "lbl-x", 41), 3},
		{"L7 rules of one listener", map[[2]string]int{{"lbl-1", "loc-1"}: 60, {"lbl-1", "loc-2"}: 60}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			in := dedupeTargets(targetsOn(tt.groups))
			calls := packWeightRules(in)
			g.Expect(calls).To(HaveLen(tt.wantCalls))
			checkWeightCalls(g, in, calls)
		})
	}
}

// TestPackWeightRulesIsMinimal compares the packing with the lower bound
// max(ceil(targets/500), ceil(minimal rules/100)) on random inputs.
func TestPackWeightRulesIsMinimal(t *testing.T) {
	g := NewWithT(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		groups := map[[2]string]int{}
		for i := range r.IntN(250) + 1 {
			// Mostly small groups, some large: both limits get exercised.
			n := r.IntN(8) + 1
			if r.IntN(10) == 0 {
				n = r.IntN(200) + 1
			}
			groups[[2]string{fmt.Sprintf("lbl-%d", i), ""}] = n
		}
		in := dedupeTargets(targetsOn(groups))
		calls := packWeightRules(in)
		checkWeightCalls(g, in, calls)

		minRules := 0
		for _, n := range groups {
			minRules += (n + maxWeightTargetsPerRule - 1) / maxWeightTargetsPerRule
		}
		lower := max((len(in)+maxWeightTargets-1)/maxWeightTargets, (minRules+maxWeightRules-1)/maxWeightRules)
		g.Expect(calls).To(HaveLen(lower), "%d targets in %d minimal rules", len(in), minRules)
	}
}

func checkWeightCalls(g *WithT, in []targets.Target, calls []weightCall) {
	var seen []targets.Target
	for i, call := range calls {
		total := 0
		for _, r := range call {
			if len(r.targets) == 0 || len(r.targets) > maxWeightTargetsPerRule {
				g.Expect(len(r.targets)).To(BeNumerically("<=", maxWeightTargetsPerRule), "call %d: 1..50 targets a rule", i)
				g.Expect(r.targets).NotTo(BeEmpty(), "call %d: 1..50 targets a rule", i)
			}
			for _, tg := range r.targets {
				if tg.Scope() != r.scope {
					g.Expect(tg.Scope()).To(Equal(r.scope), "call %d: target in the wrong rule", i)
				}
			}
			total += len(r.targets)
		}
		g.Expect(len(call)).To(BeNumerically("<=", maxWeightRules), "call %d: rules", i)
		g.Expect(total).To(BeNumerically("<=", maxWeightTargets), "call %d: targets", i)
		seen = append(seen, call.targets()...)
	}
	g.Expect(slices.Equal(seen, in)).To(BeTrue(), "every target exactly once, in order")
}

func TestDedupeTargets(t *testing.T) {
	g := NewWithT(t)
	k := func(l, ip string) targets.Key { return targets.Key{ListenerID: l, EniIP: ip, Port: 80} }
	got := dedupeTargets([]targets.Target{
		{Key: k("lbl-2", "10.0.0.1"), Weight: 1},
		{Key: k("lbl-1", "10.0.0.2"), Weight: 2},
		{Key: k("lbl-2", "10.0.0.1"), Weight: 3}, // repeated: the last wins
	})
	g.Expect(got).To(Equal([]targets.Target{
		{Key: k("lbl-1", "10.0.0.2"), Weight: 2},
		{Key: k("lbl-2", "10.0.0.1"), Weight: 3},
	}))
	g.Expect(uniqueSorted([]string{"b", "", "a", "b"})).To(Equal([]string{"a", "b"}))
	g.Expect(uniqueSorted(nil)).To(BeEmpty())
}

func TestBatchAccumulator(t *testing.T) {
	g := NewWithT(t)
	var acc batchAccumulator
	acc.add(nil, "")
	acc.add([]string{"lbl-2"}, "listener lbl-2 failed")
	acc.failChunk([]targets.Target{{Key: targets.Key{ListenerID: "lbl-3"}}, {Key: targets.Key{ListenerID: "lbl-2"}}}, &ThrottledError{})
	acc.add([]string{"lbl-1"}, "listener lbl-2 failed")
	res, err := acc.result()
	g.Expect(res).To(Equal(BatchResult{FailedListenerIDs: []string{"lbl-1", "lbl-2", "lbl-3"}, Message: "listener lbl-2 failed"}))
	g.Expect(IsRetriable(err)).To(BeTrue())

	var ok batchAccumulator
	ok.add(nil, "")
	res, err = ok.result()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res).To(Equal(BatchResult{}))
}
