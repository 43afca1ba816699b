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
	"strings"
	"syscall"
	"time"

	"github.com/clbind/clb-binding-controller/test/clbsim"
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
	c := &config{}
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
	fs.StringVar(&probeCIDRs, "probe-cidrs", "", "comma-separated CIDRs that real health probes and the data plane may connect to; empty = never connect anywhere")
	fs.IntVar(&c.opts.MaxTargetsPerLB, "max-targets-per-lb", 200, "backend quota per load balancer (LimitExceeded past it)")
	fs.DurationVar(&c.opts.HealthInterval, "health-interval", 5*time.Second, "health-check interval of listeners and rules that do not set IntervalTime")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("parse flags: %w", err)
	}
	prefixes, err := parsePrefixes(probeCIDRs)
	if err != nil {
		return nil, err
	}
	c.opts.ProbeCIDRs = prefixes
	return c, nil
}

func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("parse --probe-cidrs: %w", err)
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
	log.Printf("clbsim: API on %s, admin on %s, region %q, probe CIDRs %v", c.addr, c.adminAddr, c.opts.Region, c.opts.ProbeCIDRs)
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
