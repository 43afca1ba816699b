package clb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// API action names, used for rate limits, metrics and RateLimitConfig.PerAction.
const (
	actionDescribeLoadBalancers   = "DescribeLoadBalancers"
	actionDescribeListeners       = "DescribeListeners"
	actionDescribeTargets         = "DescribeTargets"
	actionDescribeTargetHealth    = "DescribeTargetHealth"
	actionDescribeTaskStatus      = "DescribeTaskStatus"
	actionBatchRegisterTargets    = "BatchRegisterTargets"
	actionBatchDeregisterTargets  = "BatchDeregisterTargets"
	actionBatchModifyTargetWeight = "BatchModifyTargetWeight"
	actionBatchModifyTargetTag    = "BatchModifyTargetTag"
	actionDescribeQuota           = "DescribeQuota"
	actionModifyListener          = "ModifyListener"
	actionModifyRule              = "ModifyRule"
)

// DescribeTargetsListeners is how many listeners one DescribeTargets call reads (reference §1.4).
const DescribeTargetsListeners = 20

// Per-call limits documented by the SDK (reference §1.4).
const (
	maxBatchTargets          = 500 // BatchRegisterTargets, BatchDeregisterTargets, BatchModifyTargetTag
	maxWeightTargets         = 500 // BatchModifyTargetWeight, all rules together
	maxWeightRules           = 100 // BatchModifyTargetWeight.ModifyList
	maxWeightTargetsPerRule  = 50  // RsWeightRule.Targets
	maxDescribeTargetsLBLs   = DescribeTargetsListeners
	maxDescribeListenersIDs  = 100 // DescribeListeners.ListenerIds
	maxDescribeHealthLBs     = 30  // DescribeTargetHealth.LoadBalancerIds
	maxDescribeLoadBalancers = 20  // DescribeLoadBalancers.LoadBalancerIds
)

// requestClient is appended to X-TC-RequestClient so cloud-side logs show who called.
const requestClient = "clb-binding-controller"

// Client calls the CLB API of one region. It is safe for concurrent use.
type Client struct {
	api         *clbapi.Client
	region      string
	limiters    *limiters
	metrics     *clientMetrics
	retry       RetryConfig
	taskPoll    time.Duration
	taskTimeout time.Duration
	pending     pendingTasks // the last batch write's task per load balancer (pacing.go)
	// The last answers of the full reads, not decoded again while they read the same (readmemo.go).
	targetsMemo readMemo[TargetsRead]
	healthMemo  readMemo[map[string][]TargetHealth]
	// lbBatch shares DescribeLoadBalancers calls between GetLoadBalancer reads (lbbatch.go).
	lbBatch lbBatcher
}

// New builds a Client from cfg; zero fields get the Default* values.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuring the CLB client: %w", err)
	}
	cred, err := cfg.credential()
	if err != nil {
		return nil, err
	}

	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = cfg.Endpoint
	prof.HttpProfile.Scheme = strings.ToUpper(cfg.Scheme)
	prof.HttpProfile.ReqTimeout = int(math.Ceil(cfg.RequestTimeout.Seconds()))
	prof.Language = "en-US" // messages end up in conditions and events
	// Ours are the only retries: the SDK's sleep without watching ctx, bypass
	// our rate limiter and hide attempts from our metrics.
	prof.RateLimitExceededMaxRetries = 0
	prof.NetworkFailureMaxRetries = 0
	prof.UnsafeRetryOnConnectionFailure = false
	prof.DisableRegionBreaker = true
	prof.Debug = false // debug dumps would log signed requests

	api, err := clbapi.NewClient(cred, cfg.Region, prof)
	if err != nil {
		return nil, fmt.Errorf("creating the CLB SDK client: %w", err)
	}
	api.WithRequestClient(requestClient)
	api.WithHttpTransport(newSlimReadTransport())

	reg := cfg.Registerer
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering CLB client metrics: %w", err)
	}
	return &Client{
		api:         api,
		region:      cfg.Region,
		limiters:    newLimiters(cfg.RateLimits, clock.RealClock{}, m.rateLimit),
		metrics:     m,
		retry:       cfg.Retry,
		taskPoll:    cfg.TaskPollInterval,
		taskTimeout: cfg.TaskTimeout,
		pending:     pendingTasks{maxAge: cfg.TaskTimeout},
	}, nil
}

// Region returns the region the client calls.
func (c *Client) Region() string { return c.region }

// do runs one API call: it waits for the action's token bucket, sends, maps
// the error to our types, records metrics, and retries retriable errors until
// Retry.MaxRetries or ctx ends. A throttled call lowers the action's rate and
// is retried as soon as the lowered rate allows; other errors (and throttling
// of an unlimited action) wait a jittered exponential backoff.
// send must be safe to call again.
func (c *Client) do(ctx context.Context, action string, send func(context.Context) error) error {
	return c.doRead(ctx, action, nil, send)
}

// doRead is do for a read whose answer may read as the last one (readmemo.go): *unchanged, set by
// send, is reported with the attempt.
func (c *Client) doRead(ctx context.Context, action string, unchanged *bool, send func(context.Context) error) error {
	backoff := wait.Backoff{Duration: c.retry.BaseDelay, Factor: 2, Jitter: 0.5, Steps: math.MaxInt32}
	for attempt := 0; ; attempt++ {
		if err := c.limiters.wait(ctx, action); err != nil {
			return fmt.Errorf("waiting for the %s rate limit: %w", action, err)
		}
		start := time.Now()
		err := send(ctx)
		if err != nil && ctx.Err() != nil {
			// The SDK reports a canceled request as a network error; it is ours.
			c.record(ctx, Attempt{Action: action, Code: codeCanceled, Took: time.Since(start)})
			return fmt.Errorf("calling %s: %w", action, context.Cause(ctx))
		}
		err = mapError(err)
		c.record(ctx, Attempt{Action: action, Code: metricCode(err), Took: time.Since(start),
			Unchanged: err == nil && unchanged != nil && *unchanged})
		_, throttled := errors.AsType[*ThrottledError](err)
		paced := throttled && c.limiters.throttled(action, start)
		if err == nil || !IsRetriable(err) || attempt >= c.retry.MaxRetries {
			return err
		}
		if paced {
			ctrllog.FromContext(ctx).V(4).Info("Retrying throttled CLB API call at a lower rate", "action", action, "attempt", attempt+1, "qps", c.limiters.qps(action))
			continue
		}

		delay := min(backoff.Step(), c.retry.MaxDelay)
		ctrllog.FromContext(ctx).V(4).Info("Retrying CLB API call", "action", action, "code", Code(err), "attempt", attempt+1, "delay", delay)
		if werr := sleep(ctx, delay); werr != nil {
			return fmt.Errorf("retrying %s: %w (last error: %v)", action, werr, err)
		}
	}
}

// record reports one attempt to the metrics and to the context's observer (WithObserver).
func (c *Client) record(ctx context.Context, a Attempt) {
	c.metrics.observe(a.Action, a.Code, a.Took)
	observe(ctx, a)
}

func metricCode(err error) string {
	if err == nil {
		return codeOK
	}
	if code := Code(err); code != "" {
		return code
	}
	return codeUnknown
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
