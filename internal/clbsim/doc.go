// Package clbsim emulates the Tencent Cloud CLB API (version 2018-03-17) in memory.
//
// The real tencentcloud-sdk-go talks to a Sim over HTTP: point
// HttpProfile.Endpoint at the Sim's address and set Scheme to "HTTP". The Sim
// verifies TC3-HMAC-SHA256 signatures, enforces the documented limits and error
// codes, runs writes as asynchronous tasks that lock their load balancer, rate
// limits per action, injects faults and latency on request, scripts (or, inside
// Options.ProbeCIDRs only, really performs) health checks, and can forward TCP
// traffic from a local port to healthy backends.
//
// It refuses what the real CLB refuses, where a source says so:
//   - deregistering (Batch or not) a target that is not bound fails the whole
//     request with InvalidParameter, naming each "<ip-or-instance>:<port>" and
//     its listener or rule; so do re-weighting and re-tagging one;
//   - registering an EniIp outside the load balancer's VPC (Options.VPCCIDRs,
//     RFC 1918 by default), unless the load balancer has SnatPro and a route
//     to it (SetCrossVPC), fails the whole request with InvalidParameterValue,
//     naming each refused address as "EniIp <ip>";
//   - TOTAL_TARGET_BIND_QUOTA (Options.MaxTargetsPerRule, DescribeQuota)
//     counts per L4 listener or L7 rule; past it, LimitExceeded;
//   - after a synchronous BatchRegisterTargets, BatchDeregisterTargets or
//     BatchModifyTargetTag the load balancer stays busy for
//     Latency.BusyFixed + n×BusyPerTarget (FailedOperation.ResourceInOperating,
//     DescribeTaskStatus 2), when set.
//
// It reports what the real CLB reports: DescribeTargets leaves unknown
// listener IDs out; an L4 listener's health rule has a LocationId; and
// SetTargetShape makes Backend.Type and TargetId take the real API's other
// shapes (cvm, GLOBALROUTE, an ins- TargetId for an ENI IP).
//
// Where the reference is silent, clbsim chooses:
//   - registering a target that is already bound succeeds without change;
//   - an array longer than its documented limit fails with
//     InvalidParameterValue.Length;
//   - Batch(De)RegisterTargets fail as a whole for malformed targets, unknown
//     listeners and repeated targets, and per listener (FailListenerIdSet) for
//     L7 listeners without a usable LocationId;
//   - DescribeLoadBalancers skips unknown IDs; DescribeTargetHealth refuses
//     them with InvalidParameter.LBIdNotFound.
//
// Time comes from Options.Clock so tests can drive tasks and health checks with
// a fake clock. State lives in memory behind one mutex; correctness comes first.
package clbsim
