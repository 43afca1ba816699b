// Command clbsim serves the emulated Tencent Cloud CLB API on --addr and its
// admin API (faults, latency, health, quick setup, VPC CIDRs, cross-VPC
// binding, target shape, counters, /metrics) on --admin-addr. Point the SDK at
// it with HttpProfile.Endpoint = the --addr host:port and HttpProfile.Scheme =
// "HTTP".
//
// Unlike the library's zero Options, the binary behaves like the real cloud
// by default: after a synchronous batch the load balancer stays busy for
// --busy-fixed (100ms) + --busy-per-target (1ms) per target, so 500 targets
// hold it 0.6 s; set both to 0 to turn that off. EniIp targets must lie in
// their load balancer's VPC: --vpc-cidr vpc-x=10.0.0.0/16 (repeatable) sets a
// VPC's CIDRs, and a VPC without the flag has the RFC 1918 ranges. The
// backend quota (TOTAL_TARGET_BIND_QUOTA) is --max-targets-per-rule per L4
// listener or L7 rule.
package main
