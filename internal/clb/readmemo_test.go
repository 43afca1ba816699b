package clb

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

func TestAnswerDigestLeavesOutTheRequestID(t *testing.T) {
	cases := []struct {
		name string
		a, b string
		same bool
	}{
		{"only the RequestId differs", `{"Response":{"Listeners":[],"RequestId":"a-1"}}`, `{"Response":{"Listeners":[],"RequestId":"b-2"}}`, true},
		{"spaces around the colon", `{"Response":{"RequestId" : "a-1","X":1}}`, `{"Response":{"RequestId" : "zz","X":1}}`, true},
		{"an escaped quote in the id", `{"Response":{"X":1,"RequestId":"a\"1"}}`, `{"Response":{"X":1,"RequestId":"b"}}`, true},
		{"the content differs", `{"Response":{"Listeners":[1],"RequestId":"a"}}`, `{"Response":{"Listeners":[2],"RequestId":"a"}}`, false},
		{"a tag quoting RequestId is content", `{"Response":{"Tag":"\"RequestId\":\"x\"","RequestId":"a"}}`, `{"Response":{"Tag":"\"RequestId\":\"y\"","RequestId":"a"}}`, false},
		{"no RequestId", `{"Response":{"X":1}}`, `{"Response":{"X":2}}`, false},
		{"an unterminated id is all content", `{"Response":{"RequestId":"a`, `{"Response":{"RequestId":"b`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := answerDigest([]byte(tc.a)) == answerDigest([]byte(tc.b)); got != tc.same {
				t.Errorf("same digest = %v, want %v", got, tc.same)
			}
		})
	}
}

// TestUnchangedAnswersAreNotDecodedAgain: a read that gets the answer it got last time returns
// what was converted then; a change in the cloud (a weight, a backend, a health verdict) is seen
// at the next read; an unchanged answer shares what was converted then, copying nothing.
func TestUnchangedAnswersAreNotDecodedAgain(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	lb := e.sim.AddLoadBalancer("memo")
	lis := e.sim.AddListener(lb, "TCP", 80)
	g.Expect(e.sim.AddBackend(lb, clbsim.Target{ListenerID: lis, EniIP: "10.0.0.1", Port: 8080, Weight: 10})).To(BeTrue())

	first, err := e.c.DescribeTargets(ctx, lb, []string{lis})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first.Targets).To(HaveLen(1))
	g.Expect(e.c.targetsMemo.size()).To(Equal(1))

	var attempts []Attempt
	observed := WithObserver(ctx, func(a Attempt) { attempts = append(attempts, a) })
	again, err := e.c.DescribeTargets(observed, lb, []string{lis})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attempts).To(ConsistOf(HaveField("Unchanged", true)), "the same answer was not recognised")
	g.Expect(again.Targets).To(HaveLen(1))
	g.Expect(&again.Targets[0]).To(BeIdenticalTo(&first.Targets[0]), "an unchanged answer was copied, not shared")
	g.Expect(again.Digest).To(Equal(first.Digest))

	g.Expect(e.sim.AddBackend(lb, clbsim.Target{ListenerID: lis, EniIP: "10.0.0.2", Port: 8080, Weight: 20})).To(BeTrue())
	attempts = nil
	changed, err := e.c.DescribeTargets(observed, lb, []string{lis})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attempts).To(ConsistOf(HaveField("Unchanged", false)))
	g.Expect(changed.Targets).To(ConsistOf(
		HaveField("Key", targets.Key{ListenerID: lis, EniIP: "10.0.0.1", Port: 8080}),
		HaveField("Key", targets.Key{ListenerID: lis, EniIP: "10.0.0.2", Port: 8080})))
	g.Expect(first.Targets).To(HaveLen(1), "a new answer changed an earlier list")

	health, err := e.c.DescribeTargetHealth(ctx, []string{lb})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(health[lb]).To(HaveLen(2))
	attempts = nil
	same, err := e.c.DescribeTargetHealth(observed, []string{lb})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attempts).To(ConsistOf(HaveField("Unchanged", true)), "the same health answer was not recognised")
	// Health lists are shared, read-only: the same answer is the very same list, which the
	// poller recognises without comparing 100,000 backends.
	g.Expect(&same[lb][0]).To(BeIdenticalTo(&health[lb][0]), "an unchanged health answer was copied")
	e.sim.SetHealth(clbsim.HealthSelector{LoadBalancerID: lb, IP: "10.0.0.2"}, HealthDead)
	changedHealth, err := e.c.DescribeTargetHealth(ctx, []string{lb})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(&changedHealth[lb][0]).NotTo(BeIdenticalTo(&health[lb][0]))
	g.Expect(changedHealth[lb]).To(ContainElement(And(HaveField("EniIP", "10.0.0.2"), HaveField("Detail", HealthDead))))
	g.Expect(health[lb]).NotTo(ContainElement(HaveField("Detail", HealthDead)), "a new answer changed an earlier list")
}

func TestReadMemoForgetsRequestsNoLongerMade(t *testing.T) {
	var m readMemo[int]
	m.store("gone", [32]byte{1}, 1)
	m.store("kept", [32]byte{2}, 2)
	for range 2 * memoRotateEvery {
		if _, ok := m.lookup("kept"); !ok {
			t.Fatal("an entry in use was dropped")
		}
	}
	if _, ok := m.lookup("gone"); ok {
		t.Error("an entry not used for two generations is still remembered")
	}
	if n := m.size(); n != 1 {
		t.Errorf("memo holds %d entries, want 1", n)
	}
}
