package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("clbsim: %v", err)
	}
}

// config holds the parsed flags.
type config struct {
	addr, adminAddr string
	opts            clbsim.Options
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("clbsim", flag.ContinueOnError)
	c := &config{opts: clbsim.Options{VPCCIDRs: map[string][]netip.Prefix{}}}
	var probeCIDRs string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address of the CLB API (POST /, Tencent Cloud API v3)")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:8081", "listen address of the admin API (faults, latency, health, setup, /metrics)")
	fs.StringVar(&c.opts.SecretID, "secret-id", "AKIDclbsim", "SecretId that requests must be signed with")
	fs.StringVar(&c.opts.SecretKey, "secret-key", "clbsim-secret", "SecretKey the TC3-HMAC-SHA256 signature is verified against; empty disables verification")
	fs.StringVar(&c.opts.Region, "region", "ap-guangzhou", "the only X-TC-Region served; empty accepts any region")
	fs.StringVar(&c.opts.VpcID, "vpc-id", "vpc-clbsim0", "VPC of load balancers created without VpcId")
	fs.Float64Var(&c.opts.DefaultQPS, "qps", 20, "per-action request rate limit (RequestLimitExceeded past it); negative = unlimited")
	fs.DurationVar(&c.opts.Latency.PerCall, "latency-per-call", 0, "latency added to every API call")
	fs.DurationVar(&c.opts.Latency.TaskFixed, "task-fixed", 0, "fixed duration of every async task (the LB is locked meanwhile)")
	fs.DurationVar(&c.opts.Latency.TaskPerTarget, "task-per-target", 0, "extra task duration per target touched")
	fs.BoolVar(&c.opts.Latency.BatchSync, "batch-sync", false, "Batch(De)RegisterTargets hold the LB for their task duration before answering")
	fs.DurationVar(&c.opts.Latency.BusyFixed, "busy-fixed", clbsim.DefaultBusyFixed,
		"after a BatchRegisterTargets, BatchDeregisterTargets or BatchModifyTargetTag the LB stays busy (ResourceInOperating) this long, plus --busy-per-target per target; 0 = off")
	fs.DurationVar(&c.opts.Latency.BusyPerTarget, "busy-per-target", clbsim.DefaultBusyPerTarget, "extra busy time per target of the batch; 0 = off")
	fs.Var(vpcFlag(c.opts.VPCCIDRs), "vpc-cidr",
		"VPC CIDRs as vpc-x=10.0.0.0/16[,cidr...]; repeatable. EniIp targets outside their load balancer's VPC are refused; a VPC without this flag has the RFC 1918 ranges")
	fs.StringVar(&probeCIDRs, "probe-cidrs", "", "comma-separated CIDRs that real health probes and the data plane may connect to; empty = never connect anywhere")
	fs.IntVar(&c.opts.MaxTargetsPerRule, "max-targets-per-rule", 200, "TOTAL_TARGET_BIND_QUOTA: backends per L4 listener or L7 rule (LimitExceeded past it)")
	fs.DurationVar(&c.opts.HealthInterval, "health-interval", 5*time.Second, "health-check interval of listeners and rules that do not set IntervalTime")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("parse flags: %w", err)
	}
	prefixes, err := parsePrefixes(probeCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--probe-cidrs: %w", err)
	}
	c.opts.ProbeCIDRs = prefixes
	return c, nil
}

// vpcFlag collects --vpc-cidr vpc-x=cidr[,cidr...]; a VPC named again gets more CIDRs.
type vpcFlag map[string][]netip.Prefix

func (v vpcFlag) String() string {
	parts := make([]string, 0, len(v))
	for vpc, cidrs := range v {
		for _, p := range cidrs {
			parts = append(parts, vpc+"="+p.String())
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func (v vpcFlag) Set(s string) error {
	vpc, list, ok := strings.Cut(s, "=")
	if !ok || vpc == "" {
		return fmt.Errorf("--vpc-cidr %q: want vpc-id=cidr[,cidr...]", s)
	}
	cidrs, err := parsePrefixes(list)
	if err != nil {
		return fmt.Errorf("--vpc-cidr %q: %w", s, err)
	}
	if len(cidrs) == 0 {
		return fmt.Errorf("--vpc-cidr %q: no CIDR", s)
	}
	v[vpc] = append(v[vpc], cidrs...)
	return nil
}

func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("parse CIDR: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func run(args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	sim := clbsim.New(c.opts)
	defer sim.Close()
	api := &http.Server{Addr: c.addr, Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	admin := &http.Server{Addr: c.adminAddr, Handler: sim.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	for _, srv := range []*http.Server{api, admin} {
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serve %s: %w", srv.Addr, err)
			}
		}()
	}
	log.Printf("clbsim: API on %s, admin on %s, region %q, probe CIDRs %v, VPC CIDRs %v (others RFC 1918), busy %v + %v/target",
		c.addr, c.adminAddr, c.opts.Region, c.opts.ProbeCIDRs, vpcFlag(c.opts.VPCCIDRs), c.opts.Latency.BusyFixed, c.opts.Latency.BusyPerTarget)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err = <-errs:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = api.Shutdown(shutdown)
	_ = admin.Shutdown(shutdown)
	return err
}
