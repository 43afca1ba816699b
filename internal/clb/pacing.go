package clb

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// A load balancer stays busy for a while after a synchronous batch write returns: the next write
// then meets FailedOperation.ResourceInOperating (tke-extend-network-controller backs off for it;
// bk-bcs waits on DescribeTaskStatus after every batch call). The client remembers the request of
// its last batch write to each load balancer and, before the next write to it, waits for that
// task rather than spending the write's retries on the busy answer.

// Polls of a pending task start fast, as most batches free the load balancer within a few
// hundred milliseconds, and slow down to Config.TaskPollInterval.
const firstPacingPoll = 50 * time.Millisecond

// pendingTasks maps a load balancer to the request ID of our last batch write to it.
type pendingTasks struct {
	mu   sync.Mutex
	byLB map[string]string
}

func (p *pendingTasks) set(lbID, requestID string) {
	if requestID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byLB == nil {
		p.byLB = map[string]string{}
	}
	p.byLB[lbID] = requestID
}

func (p *pendingTasks) take(lbID string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.byLB[lbID]
	delete(p.byLB, lbID)
	return id
}

// settle waits until the task of our last batch write to lbID no longer holds it. A task the
// cloud does not know (the write left none to wait on) counts as done; so does a failed read of
// its status, as the write that follows retries a busy answer anyway.
func (c *Client) settle(ctx context.Context, lbID string) error {
	id := c.pending.take(lbID)
	if id == "" {
		return nil
	}
	backoff := wait.Backoff{Duration: firstPacingPoll, Factor: 2, Cap: c.taskPoll, Steps: 1 << 20}
	ctx, cancel := context.WithTimeout(ctx, c.taskTimeout)
	defer cancel()
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		status, err := c.taskStatus(ctx, id)
		if err != nil {
			return false, err
		}
		return status != taskRunning, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return context.Cause(ctx)
	default:
		return nil
	}
}
