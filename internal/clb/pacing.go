package clb

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"
)

// A load balancer stays busy for a while after a synchronous batch write returns: the next write
// then meets FailedOperation.ResourceInOperating (tke-extend-network-controller backs off for it;
// bk-bcs waits on DescribeTaskStatus after every batch call). The client remembers the request of
// its last batch write to each load balancer and, before the next write to it, waits for that
// task rather than spending the write's retries on the busy answer.

// Polls of a pending task start fast, as most batches free the load balancer within a few
// hundred milliseconds, and slow down to Config.TaskPollInterval.
const firstPacingPoll = 50 * time.Millisecond

// pendingTasks maps a load balancer to the request ID of our last batch write to it. An entry
// older than the longest task wait is dropped by the next write to any load balancer, so load
// balancers written once and never again (deleted, unbound) leave nothing behind.
type pendingTasks struct {
	mu     sync.Mutex
	maxAge time.Duration
	now    func() time.Time // time.Now when nil
	byLB   map[string]pendingTask
}

type pendingTask struct {
	requestID string
	at        time.Time
}

func (p *pendingTasks) set(lbID, requestID string) {
	if requestID == "" {
		return
	}
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byLB == nil {
		p.byLB = map[string]pendingTask{}
	}
	maps.DeleteFunc(p.byLB, func(_ string, t pendingTask) bool { return now.Sub(t.at) > p.maxAge })
	p.byLB[lbID] = pendingTask{requestID: requestID, at: now}
}

func (p *pendingTasks) take(lbID string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.byLB[lbID]
	delete(p.byLB, lbID)
	return t.requestID
}

// len counts the entries, for tests.
func (p *pendingTasks) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byLB)
}

// settle waits until the task of our last batch write to lbID no longer holds it. A task the
// cloud does not know (the write left none to wait on) counts as done; so does a failed read of
// its status, as the write that follows retries a busy answer anyway.
func (c *Client) settle(ctx context.Context, lbID string) error {
	id := c.pending.take(lbID)
	if id == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.taskTimeout)
	defer cancel()
	for delay := firstPacingPoll; ; delay = min(2*delay, c.taskPoll) {
		status, err := c.taskStatus(ctx, id)
		if err != nil || status != taskRunning {
			return nil
		}
		if err := sleep(ctx, delay); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil // waited long enough: the write retries a busy answer
			}
			return err
		}
	}
}
