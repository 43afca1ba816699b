package main

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.Latency != clbsim.DefaultBusy() || c.opts.MaxTargetsPerRule != 200 || len(c.opts.VPCCIDRs) != 0 {
		t.Fatalf("defaults: %+v", c.opts)
	}
	c, err = parseFlags([]string{"--vpc-cidr", "vpc-a=10.0.0.0/16", "--vpc-cidr", "vpc-a=198.18.0.0/15,172.16.0.0/12",
		"--vpc-cidr", "vpc-b=192.168.0.0/16", "--busy-fixed", "0", "--busy-per-target", "0", "--max-targets-per-rule", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("172.16.0.0/12")}
	if !slices.Equal(c.opts.VPCCIDRs["vpc-a"], want) || len(c.opts.VPCCIDRs["vpc-b"]) != 1 {
		t.Fatalf("VPCCIDRs = %v", c.opts.VPCCIDRs)
	}
	if c.opts.Latency.BusyFixed != 0 || c.opts.Latency.BusyPerTarget != time.Duration(0) || c.opts.MaxTargetsPerRule != 7 {
		t.Fatalf("options = %+v", c.opts)
	}
	for _, bad := range []string{"10.0.0.0/16", "vpc-a=", "vpc-a=10.0.0.0/33", "=10.0.0.0/8"} {
		if _, err := parseFlags([]string{"--vpc-cidr", bad}); err == nil {
			t.Fatalf("--vpc-cidr %q accepted", bad)
		}
	}
}
