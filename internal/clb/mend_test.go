package clb

import (
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// TestWritesMendBackendsGoneOutOfBand: the CLB refuses a whole write naming a backend it no
// longer has. Only the chunk that named one is read again and sent once more without it; the
// other chunk goes through untouched, and the gone backends are reported.
func TestWritesMendBackendsGoneOutOfBand(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Retry.MaxRetries = 0 })
	e.sim.SetLatency(clbsim.DefaultBusy())
	lb := e.sim.AddLoadBalancer("mend")
	ls := e.listeners(lb, 2)
	ts := podTargets(ls, 300) // 600 targets: two chunks
	g := NewWithT(t)
	_, err := e.c.RegisterTargets(t.Context(), lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	gone := map[string]bool{"10.0.0.7": true, "10.0.0.9": true}
	g.Expect(e.sim.RemoveBackends(lb, func(t clbsim.Target) bool { return t.ListenerID == ls[0] && gone[t.EniIP] })).To(Equal(2))

	for i := range ts {
		ts[i].Weight = 20
	}
	res, err := e.c.ModifyTargetWeights(t.Context(), lb, ts[:100])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Gone).To(HaveLen(2))
	g.Expect(e.sim.Calls()["BatchModifyTargetWeight"]["InvalidParameter"]).To(Equal(1))

	e.sim.ResetCalls()
	res, err = e.c.DeregisterTargets(t.Context(), lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.FailedListenerIDs).To(BeEmpty())
	g.Expect(res.Gone).To(ConsistOf(
		HaveField("EniIP", "10.0.0.7"), HaveField("EniIP", "10.0.0.9")))
	g.Expect(e.sim.Targets(lb)).To(BeEmpty())
	g.Expect(e.sim.Calls()["BatchDeregisterTargets"]).To(Equal(map[string]int{"InvalidParameter": 1, "OK": 2}))
	g.Expect(e.sim.Calls()["DescribeTargets"]["OK"]).To(Equal(1), "only the refused chunk's listeners are read")
	g.Expect(e.sim.Calls()["BatchDeregisterTargets"]["FailedOperation.ResourceInOperating"]).To(BeZero())
}

// TestRegisterLeavesOutUnroutableAddresses: a registration naming addresses the load balancer
// cannot route is refused whole; the refused addresses are dropped and the rest registered.
func TestRegisterLeavesOutUnroutableAddresses(t *testing.T) {
	e := newEnv(t, nil)
	lb := e.sim.AddLoadBalancer("route")
	l := e.listeners(lb, 1)[0]
	g := NewWithT(t)
	ts := []targets.Target{
		{Key: targets.Key{ListenerID: l, EniIP: "10.0.0.1", Port: 80}, Weight: 10},
		{Key: targets.Key{ListenerID: l, EniIP: "198.19.0.1", Port: 80}, Weight: 10},
		{Key: targets.Key{ListenerID: l, EniIP: "198.19.0.2", Port: 80}, Weight: 10},
	}
	res, err := e.c.RegisterTargets(t.Context(), lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Refused).To(ConsistOf(ts[1], ts[2]))
	g.Expect(e.sim.Targets(lb)).To(ConsistOf(HaveField("EniIP", "10.0.0.1")))

	// With the cross-VPC binding and a route, they are accepted.
	g.Expect(e.sim.SetCrossVPC(lb, true, []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")})).To(Succeed())
	res, err = e.c.RegisterTargets(t.Context(), lb, ts[1:])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Refused).To(BeEmpty())
	g.Expect(e.sim.Targets(lb)).To(HaveLen(3))
}

func TestTargetQuotaAndRetag(t *testing.T) {
	e := newEnv(t, nil)
	g := NewWithT(t)
	quota, err := e.c.TargetQuota(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(quota).To(Equal(100000), "TOTAL_TARGET_BIND_QUOTA as the cloud reports it")

	lb := e.sim.AddLoadBalancer("tags")
	ls := e.listeners(lb, 2)
	ts := podTargets(ls, 30)
	_, err = e.c.RegisterTargets(t.Context(), lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	for i := range ts {
		ts[i].Tag = "cbb-new"
	}
	res, err := e.c.ModifyTargetTags(t.Context(), lb, ts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.FailedListenerIDs).To(BeEmpty())
	g.Expect(e.ok("BatchModifyTargetTag")).To(Equal(1))
	for _, st := range e.sim.Targets(lb) {
		g.Expect(st.Tag).To(Equal("cbb-new"))
	}
}
