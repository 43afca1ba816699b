package clb

import (
	"context"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func TestObserverSeesEveryAttempt(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, nil)
	lb := e.sim.AddLoadBalancer("observed")
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeListeners", Code: "RequestLimitExceeded", Count: 1})
	e.sim.InjectFault(clbsim.Fault{Action: "DescribeListeners", Drop: true, Count: 1})

	var mu sync.Mutex
	var codes []string
	ctx := WithObserver(t.Context(), func(a Attempt) {
		mu.Lock()
		defer mu.Unlock()
		g.Expect(a.Action).To(Equal("DescribeListeners"))
		codes = append(codes, a.Code)
	})
	_, err := e.c.DescribeListeners(ctx, lb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(codes).To(Equal([]string{"RequestLimitExceeded", "ClientError.NetworkError", "OK"}),
		"the retries hid two failures from the caller; the observer must see them")

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = e.c.DescribeListeners(canceled, lb)
	g.Expect(codes).To(HaveLen(3), "a call never sent is not an attempt")
}
