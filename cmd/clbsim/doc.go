// Command clbsim serves the emulated Tencent Cloud CLB API on --addr and its
// admin API (faults, latency, health, quick setup, counters, /metrics) on
// --admin-addr. Point the SDK at it with HttpProfile.Endpoint = the --addr
// host:port and HttpProfile.Scheme = "HTTP".
package main
