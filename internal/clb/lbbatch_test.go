package clb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// TestGetLoadBalancerSharesCalls: reads of many load balancers made together go out 20 IDs a
// call (group commit: the first at once, the others gathered while it is in flight); each gets
// its own answer, a missing one its NotFoundError; a caller makes no call for the others once it
// has its own answer; a lone read is one call of its own.
func TestGetLoadBalancerSharesCalls(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	// Each call takes long enough (a second) for all the reads started meanwhile to queue behind
	// it, however busy the machine.
	e.sim.SetLatency(clbsim.Latency{PerCall: time.Second})
	const n = 61
	ids := make([]string, n)
	for i := range n - 1 {
		ids[i] = e.sim.AddLoadBalancer(fmt.Sprintf("lb-%02d", i))
	}
	ids[n-1] = "lb-missing0"
	type answer struct {
		lb  LoadBalancer
		err error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	before := e.sim.Calls()["DescribeLoadBalancers"]["OK"]
	// The first caller makes the first call; once it has its answer it makes no call for the others.
	var firstCallerCalls atomic.Int32
	firstCtx := WithObserver(t.Context(), func(Attempt) { firstCallerCalls.Add(1) })
	for i, id := range ids {
		wg.Go(func() {
			ctx := t.Context()
			if i == 0 {
				ctx = firstCtx
			}
			lb, err := e.c.GetLoadBalancer(ctx, id)
			answers[i] = answer{lb, err}
		})
		if i == 0 {
			time.Sleep(100 * time.Millisecond) // the first read is in flight; the rest queue
		}
	}
	wg.Wait()
	for i, a := range answers[:n-1] {
		g.Expect(a.err).NotTo(HaveOccurred())
		g.Expect(a.lb.ID).To(Equal(ids[i]))
		g.Expect(a.lb.Name).To(Equal(fmt.Sprintf("lb-%02d", i)))
	}
	g.Expect(IsNotFoundKind(answers[n-1].err, KindLoadBalancer)).To(BeTrue(), "%v", answers[n-1].err)
	calls := e.sim.Calls()["DescribeLoadBalancers"]
	// 1 call for the first read, ⌈60/20⌉ for the rest (a missing ID is simply absent).
	g.Expect(calls["OK"]-before).To(Equal(4), "calls: %v", calls)
	g.Expect(firstCallerCalls.Load()).To(BeEquivalentTo(1), "the first caller kept making calls for the others")

	alone := e.sim.Calls()["DescribeLoadBalancers"]["OK"]
	lb, err := e.c.GetLoadBalancer(t.Context(), ids[3])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lb.ID).To(Equal(ids[3]))
	g.Expect(e.sim.Calls()["DescribeLoadBalancers"]["OK"] - alone).To(Equal(1))
}

// TestGetLoadBalancerReadsAnnouncedOnesAhead: reads that come one at a time, as a starting
// manager's workers make them, share calls when they were announced (ReadSoon): each call with
// room reads announced load balancers too, whose reads are then answered without a call. A
// missing one is answered NotFound all the same, and an answer is used once: the next read calls.
func TestGetLoadBalancerReadsAnnouncedOnesAhead(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	const n = 45
	ids := make([]string, n)
	for i := range n - 1 {
		ids[i] = e.sim.AddLoadBalancer(fmt.Sprintf("lb-%02d", i))
	}
	ids[n-1] = "lb-missing0"
	e.c.ReadSoon(ids...)
	before := e.sim.Calls()["DescribeLoadBalancers"]["OK"]
	for i, id := range ids {
		lb, err := e.c.GetLoadBalancer(t.Context(), id)
		if i == n-1 {
			g.Expect(IsNotFoundKind(err, KindLoadBalancer)).To(BeTrue(), "%v", err)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(lb.ID).To(Equal(id))
		g.Expect(lb.Name).To(Equal(fmt.Sprintf("lb-%02d", i)))
	}
	// ⌈45/20⌉, not 45.
	g.Expect(e.sim.Calls()["DescribeLoadBalancers"]["OK"] - before).To(Equal(3))

	again := e.sim.Calls()["DescribeLoadBalancers"]["OK"]
	_, err := e.c.GetLoadBalancer(t.Context(), ids[3])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.sim.Calls()["DescribeLoadBalancers"]["OK"]-again).To(Equal(1), "an answer read ahead is used once")
}

// TestGetLoadBalancerWaitsForTheCallReadingItAhead: a read of a load balancer that a call in
// flight reads ahead waits for that call's answer rather than making a call of its own.
func TestGetLoadBalancerWaitsForTheCallReadingItAhead(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	e.sim.SetLatency(clbsim.Latency{PerCall: time.Second})
	first, second := e.sim.AddLoadBalancer("first"), e.sim.AddLoadBalancer("second")
	e.c.ReadSoon(first, second)
	before := e.sim.Calls()["DescribeLoadBalancers"]["OK"]
	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() { _, firstErr = e.c.GetLoadBalancer(t.Context(), first) })
	time.Sleep(100 * time.Millisecond) // the call reading both is in flight
	lb, err := e.c.GetLoadBalancer(t.Context(), second)
	wg.Wait()
	g.Expect(firstErr).NotTo(HaveOccurred())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lb.ID).To(Equal(second))
	g.Expect(e.sim.Calls()["DescribeLoadBalancers"]["OK"] - before).To(Equal(1))
}

func TestTakeDistinct(t *testing.T) {
	reads := func(ids ...string) []*lbRead {
		out := make([]*lbRead, len(ids))
		for i, id := range ids {
			out[i] = &lbRead{id: id}
		}
		return out
	}
	idsOf := func(rs []*lbRead) []string {
		if len(rs) == 0 {
			return nil
		}
		out := make([]string, 0, len(rs))
		for _, r := range rs {
			out = append(out, r.id)
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		queue            []string
		n                int
		batch, ids, rest []string
	}{
		{"all fit", []string{"a", "b"}, 3, []string{"a", "b"}, []string{"a", "b"}, nil},
		{"the rest waits", []string{"a", "b", "c"}, 2, []string{"a", "b"}, []string{"a", "b"}, []string{"c"}},
		{"a repeated ID rides along", []string{"a", "b", "c", "a"}, 2, []string{"a", "b", "a"}, []string{"a", "b"}, []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			q := reads(tc.queue...)
			batch, ids := takeDistinct(&q, tc.n)
			g.Expect(idsOf(batch)).To(Equal(tc.batch))
			g.Expect(ids).To(Equal(tc.ids))
			g.Expect(idsOf(q)).To(Equal(tc.rest))
		})
	}
}

// TestGetLoadBalancerOutlivesTheCallerMakingTheCall: a read queued behind a caller that gives up
// (its context ends during the call) is made again, not failed with that caller's error.
func TestGetLoadBalancerOutlivesTheCallerMakingTheCall(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	e.sim.SetLatency(clbsim.Latency{PerCall: time.Second})
	first, second := e.sim.AddLoadBalancer("first"), e.sim.AddLoadBalancer("second")

	impatient, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var firstErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, firstErr = e.c.GetLoadBalancer(impatient, first) })
	time.Sleep(100 * time.Millisecond) // the first caller's call is in flight: the second queues
	lb, err := e.c.GetLoadBalancer(t.Context(), second)
	wg.Wait()
	g.Expect(firstErr).To(MatchError(context.DeadlineExceeded))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(lb.ID).To(Equal(second))
}
