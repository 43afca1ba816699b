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
// Where the reference is silent, clbsim chooses:
//   - registering a target that is already bound, or deregistering one that
//     is not, succeeds without change; changing the weight of an unbound
//     target fails with InvalidParameter;
//   - an array longer than its documented limit fails with
//     InvalidParameterValue.Length; the per-LB backend quota fails with LimitExceeded;
//   - Batch(De)RegisterTargets fail as a whole for malformed targets, unknown
//     listeners and repeated targets, and per listener (FailListenerIdSet) for
//     L7 listeners without a usable LocationId;
//   - DescribeLoadBalancers skips unknown IDs; DescribeTargetHealth refuses
//     them with InvalidParameter.LBIdNotFound.
//
// Time comes from Options.Clock so tests can drive tasks and health checks with
// a fake clock. State lives in memory behind one mutex; correctness comes first.
package clbsim
