package clb

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group commit of GetLoadBalancer. Every load balancer worker reads its load balancer (VPC,
// tags) when it starts and again every few minutes, so a starting manager with 500 of them made
// 500 DescribeLoadBalancers calls for what 25 carry (20 IDs a call). Reads asked for while a call
// is in flight wait for it to end and go out together in the next one; a read asked for when
// none is in flight goes out at once, so no read waits for a window that may bring nothing.

// lbBatcher queues GetLoadBalancer reads; one caller at a time makes the calls for all.
type lbBatcher struct {
	mu      sync.Mutex
	queue   []*lbRead
	running bool
}

// lbRead is one GetLoadBalancer waiting for its answer.
type lbRead struct {
	id    string
	done  chan struct{}
	lb    LoadBalancer
	found bool
	err   error
}

// GetLoadBalancer returns one load balancer, or a NotFoundError of kind LoadBalancer if it does
// not exist in the client's region. Reads made together share DescribeLoadBalancers calls.
func (c *Client) GetLoadBalancer(ctx context.Context, id string) (LoadBalancer, error) {
	r := c.queueLoadBalancerRead(ctx, id)
	// A read left behind by a caller that stopped waiting is queued again, its own caller then
	// making the calls if no one else does: another caller's end is not this one's error.
	for errors.Is(r.err, errLeaderGone) && ctx.Err() == nil {
		r = c.queueLoadBalancerRead(ctx, id)
	}
	switch {
	case r.err != nil:
		return LoadBalancer{}, r.err
	case !r.found:
		return LoadBalancer{}, &NotFoundError{
			Kind:    KindLoadBalancer,
			Message: fmt.Sprintf("load balancer %s does not exist in region %s; check the ID and the controller's region", id, c.region),
		}
	}
	return r.lb, nil
}

// queueLoadBalancerRead queues a read of id, makes the calls if no caller does, and waits for
// the answer or the end of ctx.
func (c *Client) queueLoadBalancerRead(ctx context.Context, id string) *lbRead {
	r := &lbRead{id: id, done: make(chan struct{})}
	b := &c.lbBatch
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		c.readQueuedLoadBalancers(ctx)
	}
	select {
	case <-r.done:
		return r
	case <-ctx.Done():
		return &lbRead{id: id, err: fmt.Errorf("reading load balancer %s: %w", id, ctx.Err())}
	}
}

// errLeaderGone answers the reads still queued when the caller making the calls gave up (its
// context ended): their passes fail and try again.
var errLeaderGone = errors.New("the read was queued behind a caller that stopped waiting; it is tried again")

// readQueuedLoadBalancers makes the calls for the queued reads, up to 20 distinct IDs a call,
// until the queue is empty, then hands the next read back to its own caller.
func (c *Client) readQueuedLoadBalancers(ctx context.Context) {
	b := &c.lbBatch
	for {
		b.mu.Lock()
		if len(b.queue) == 0 || ctx.Err() != nil {
			rest := b.queue
			b.queue, b.running = nil, false
			b.mu.Unlock()
			for _, r := range rest {
				r.err = fmt.Errorf("reading load balancer %s: %w", r.id, errLeaderGone)
				close(r.done)
			}
			return
		}
		batch, ids := takeDistinct(&b.queue, maxDescribeLoadBalancers)
		b.mu.Unlock()
		lbs, err := c.DescribeLoadBalancers(ctx, ids...)
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errLeaderGone, err) // the caller making the call gave up, not the cloud
		}
		byID := make(map[string]LoadBalancer, len(lbs))
		for _, lb := range lbs {
			byID[lb.ID] = lb
		}
		for _, r := range batch {
			r.lb, r.found = byID[r.id]
			r.err = err
			close(r.done)
		}
	}
}

// takeDistinct removes from the head of queue the reads of up to n distinct IDs (a read of an ID
// already taken goes with it) and returns them with their IDs.
func takeDistinct(queue *[]*lbRead, n int) ([]*lbRead, []string) {
	var batch, rest []*lbRead
	var ids []string
	seen := map[string]bool{}
	for _, r := range *queue {
		switch {
		case seen[r.id]:
			batch = append(batch, r)
		case len(ids) < n:
			seen[r.id] = true
			ids = append(ids, r.id)
			batch = append(batch, r)
		default:
			rest = append(rest, r)
		}
	}
	*queue = rest
	return batch, ids
}
