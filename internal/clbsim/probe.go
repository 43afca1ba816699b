package clbsim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// probeTick is how often the prober looks for due probes.
const probeTick = time.Second

// probeState is the outcome of real health probes of one backend.
type probeState struct {
	status              string // "" until a threshold is reached
	successes, failures int64  // consecutive
	next                time.Time
}

// probeJob is one probe to run outside the lock.
type probeJob struct {
	b      *backend
	params healthParams
	addr   string
}

// probeLoop runs real probes for targets inside ProbeCIDRs until Close.
func (s *Sim) probeLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.clock.After(probeTick):
		}
		s.runProbes(s.dueProbes())
	}
}

// probeWorkers bounds the probes in flight. They run in parallel, as on a real CLB, so a few
// unreachable backends (each waiting for its probe timeout) do not delay everyone else's checks.
const probeWorkers = 32

// runProbes runs one tick's probes, a few at a time, and waits for all of them.
func (s *Sim) runProbes(jobs []probeJob) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, probeWorkers)
	for _, job := range jobs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s.recordProbe(job, s.probe(job))
		})
	}
	wg.Wait()
}

// dueProbes collects the probes whose time has come.
func (s *Sim) dueProbes() []probeJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	now := s.now()
	var jobs []probeJob
	add := func(hcParams healthParams, list []*backend) {
		for _, b := range list {
			if !hcParams.on || !s.probes(b, hcParams) || now.Before(b.probe.next) {
				continue
			}
			b.probe.next = now.Add(hcParams.interval)
			port := b.port
			if hcParams.checkPort > 0 {
				port = hcParams.checkPort
			}
			jobs = append(jobs, probeJob{b: b, params: hcParams, addr: net.JoinHostPort(b.ip(), strconv.FormatInt(port, 10))})
		}
	}
	for _, lb := range s.lbs {
		for _, l := range lb.listeners {
			add(s.effectiveHealth(l.health, l.protocol), l.backends)
			for _, r := range l.rules {
				add(s.effectiveHealth(r.health, l.protocol), r.backends)
			}
		}
	}
	return jobs
}

// recordProbe updates the consecutive counters and the status thresholds.
func (s *Sim) recordProbe(job probeJob, ok bool) {
	s.mu.Lock()
	st := &job.b.probe
	if ok {
		st.successes, st.failures = st.successes+1, 0
		if st.successes >= job.params.healthNum {
			st.status = healthAlive
		}
	} else {
		st.successes, st.failures = 0, st.failures+1
		if st.failures >= job.params.unhealthNum {
			st.status = healthDead
		}
	}
	s.mu.Unlock()
	if s.opts.OnProbe != nil {
		host, port, _ := net.SplitHostPort(job.addr)
		p, _ := strconv.ParseInt(port, 10, 64)
		s.opts.OnProbe(host, p, ok)
	}
}

// probe runs one TCP connect or HTTP request with the check's timeout.
func (s *Sim) probe(job probeJob) bool {
	ctx, cancel := context.WithTimeout(context.Background(), job.params.timeout)
	defer cancel()
	if job.params.checkType == protoTCP {
		conn, err := s.dial(ctx, "tcp", job.addr)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}
	return s.probeHTTP(ctx, job)
}

func (s *Sim) probeHTTP(ctx context.Context, job probeJob) bool {
	scheme := "http"
	transport := &http.Transport{DialContext: s.dial, DisableKeepAlives: true}
	if job.params.checkType == protoHTTPS {
		scheme = "https"
		transport.TLSClientConfig = insecureTLS()
	}
	defer transport.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, job.params.method, scheme+"://"+job.addr+job.params.path, nil)
	if err != nil {
		return false
	}
	if job.params.domain != "" {
		req.Host = job.params.domain
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	class := resp.StatusCode / 100
	return class >= 1 && class <= 5 && job.params.httpCode&(1<<(class-1)) != 0
}

// dial is the only way clbsim opens connections: it refuses every address
// outside Options.ProbeCIDRs before any hook or socket is involved.
func (s *Sim) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if !s.inProbeCIDRs(host) {
		return nil, fmt.Errorf("dial %s: address outside the probe CIDRs", addr)
	}
	if s.opts.Dial != nil {
		return s.opts.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
