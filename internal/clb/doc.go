// Package clb is the controller's only client of the Tencent Cloud CLB API.
//
// It wraps tencentcloud-sdk-go (clb v20180317) behind a small domain-level API
// in our own types (Listener, TargetHealth, BatchResult, and the backends as
// internal/targets defines them, targets.Key and targets.Target, which the
// diff uses as they are) and adds what every caller needs and none should
// re-implement:
//
//   - typed errors: every SDK error is mapped, in one table (errors.go), to
//     NotFoundError, ThrottledError, ConflictError, UnavailableError,
//     InvalidConfigError or TaskFailedError; callers switch on these types or
//     use IsNotFound, IsRetriable and Code, never on SDK codes;
//   - one token bucket per API action (20 QPS by default, the cloud's limit),
//     whose rate halves on RequestLimitExceeded and climbs back while calls
//     pass, since other clients of the account spend the same limit;
//   - bounded retries of retriable errors, honouring ctx: a throttled call
//     waits for its lowered rate, others a jittered exponential backoff;
//     the SDK's own retries are switched off so these are the only ones;
//   - chunking of every list argument to the action's documented limit, using
//     the minimal number of calls;
//   - bounded DescribeTaskStatus polling for the asynchronous actions;
//   - Prometheus metrics on controller-runtime's registry.
//
// Nothing else in the module imports the SDK. Consumers declare the narrow
// interface they need in their own package and are given a *Client.
package clb
