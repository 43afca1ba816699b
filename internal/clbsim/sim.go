package clbsim

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults taken from the reference (§1.3, §1.4, §1.5).
const (
	defaultMaxTargetsPerRule = 200 // TOTAL_TARGET_BIND_QUOTA of a real account (tke-extend quota.go)
	defaultQPS               = 20
	defaultHealthInterval    = 5 * time.Second
	defaultHealthNum         = 3
	defaultUnHealthNum       = 3
	defaultProbeTimeout      = 2 * time.Second
	maxTimestampSkew         = 5 * time.Minute
)

// Default post-write busy time of DefaultBusy: 500 targets keep the load
// balancer busy for 0.6 s. The real figure is not published; this is a guess
// in the range where tke-extend-network-controller saw ResourceInOperating.
const (
	DefaultBusyFixed     = 100 * time.Millisecond
	DefaultBusyPerTarget = time.Millisecond
)

// DefaultBusy is a Latency with only the default post-write busy time: what
// the clbsim binary, the sandbox and the bench run with.
func DefaultBusy() Latency {
	return Latency{BusyFixed: DefaultBusyFixed, BusyPerTarget: DefaultBusyPerTarget}
}

// Options configure a Sim.
type Options struct {
	SecretID, SecretKey string // TC3 signature is verified against these; empty SecretKey disables the check
	Region              string // requests for another X-TC-Region get UnsupportedRegion; empty = any region
	VpcID               string // default VPC of created LBs
	// MaxTargetsPerRule is TOTAL_TARGET_BIND_QUOTA: the backends one L4
	// listener or one L7 rule may hold (LimitExceeded past it); 0 = 200.
	MaxTargetsPerRule int
	DefaultQPS        float64
	// ForeignQPS is what other clients of the account spend of every action's
	// rate limit; only DefaultQPS minus it is left (SetForeignQPS). 0 = none.
	ForeignQPS float64
	// VPCCIDRs are the CIDRs of each VPC (VPC ID → CIDRs). A VPC without an
	// entry has the RFC 1918 ranges (DefaultVPCCIDRs). An EniIp target outside
	// its load balancer's VPC is refused unless routed to it (SetCrossVPC).
	VPCCIDRs   map[string][]netip.Prefix
	Latency    Latency        // zero value = no artificial latency (what unit tests want)
	ProbeCIDRs []netip.Prefix // real health probes / data plane only inside these; empty = never dial anything
	Clock      clock.Clock    // nil = real clock

	// HealthInterval replaces the default 5 s health-check interval of
	// listeners and rules that do not set IntervalTime; 0 = 5 s.
	HealthInterval time.Duration
	// Dial, if set, replaces net.Dialer for health probes and the data plane.
	// It is only ever called for addresses inside ProbeCIDRs.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnProbe, if set, is called after every real health probe.
	OnProbe func(ip string, port int64, ok bool)
}

// Latency is the artificial latency model.
type Latency struct {
	PerCall       time.Duration // added to every API call
	TaskFixed     time.Duration // async task duration, fixed part
	TaskPerTarget time.Duration // async task duration, per target touched
	BatchSync     bool          // Batch* calls hold the LB for their task duration, then answer
	// BusyFixed and BusyPerTarget keep the LB busy after a successful
	// BatchRegisterTargets, BatchDeregisterTargets or BatchModifyTargetTag, for
	// BusyFixed + n×BusyPerTarget (n targets in the call): writes meanwhile get
	// FailedOperation.ResourceInOperating and DescribeTaskStatus on the call's
	// RequestId reports 2 (running). Zero = no busy time.
	BusyFixed     time.Duration
	BusyPerTarget time.Duration
}

// Sim is an in-memory CLB API server. Create it with New and stop it with Close.
type Sim struct {
	opts  Options
	clock clock.Clock

	mu        sync.Mutex // guards the cloud state below
	lbs       map[string]*loadBalancer
	tasks     map[string]*task
	deals     map[string]string // DealName → task ID
	pending   []*task
	overrides []healthOverride
	applyAt   time.Time // end time of the task being applied, so targets register when their task ends
	vpcCIDRs  map[string][]netip.Prefix
	shape     TargetShape
	// held are the load balancers whose Batch* writes wait, applied but unanswered, until the
	// test lets them go (HoldWrites).
	held map[string]*WriteHold

	ctl ctlState  // faults, latency and rate limits
	obs observer  // call counters and metrics
	dp  dataPlane // forwarding listeners

	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New returns a Sim configured by opts. It starts the prober only when
// opts.ProbeCIDRs is not empty.
func New(opts Options) *Sim {
	if opts.MaxTargetsPerRule == 0 {
		opts.MaxTargetsPerRule = defaultMaxTargetsPerRule
	}
	if opts.DefaultQPS == 0 {
		opts.DefaultQPS = defaultQPS
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = defaultHealthInterval
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	s := &Sim{
		opts:  opts,
		clock: clk,
		lbs:   map[string]*loadBalancer{},
		tasks: map[string]*task{},
		deals: map[string]string{},
		stop:  make(chan struct{}),

		vpcCIDRs: map[string][]netip.Prefix{},
	}
	for vpc, cidrs := range opts.VPCCIDRs {
		s.vpcCIDRs[vpc] = slices.Clone(cidrs)
	}
	s.ctl.init(opts)
	s.obs.init()
	s.dp.init()
	if len(opts.ProbeCIDRs) > 0 {
		s.wg.Add(1)
		go s.probeLoop()
	}
	return s
}

// Close stops the prober and every data-plane listener. It is safe to call twice.
func (s *Sim) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.dp.closeAll()
	})
	s.wg.Wait()
}

// now returns the current time on the injected clock.
func (s *Sim) now() time.Time { return s.clock.Now() }

// wait blocks for d on the injected clock, or until the Sim closes or cancelled is closed.
func (s *Sim) wait(cancelled <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-s.clock.After(d):
	case <-s.stop:
	case <-cancelled:
	}
}

// inProbeCIDRs reports whether clbsim may open connections to ip.
func (s *Sim) inProbeCIDRs(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.opts.ProbeCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
