package clb

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	for errors.Is(r.err, errHandedOver) && ctx.Err() == nil {
		r = c.queueLoadBalancerRead(ctx, id)
	}
	switch {
	case errors.Is(r.err, errHandedOver): // only when ctx ended
		return LoadBalancer{}, fmt.Errorf("reading load balancer %s: %w", id, ctx.Err())
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
		c.readQueuedLoadBalancers(ctx, r)
	}
	select {
	case <-r.done:
		return r
	case <-ctx.Done():
		return &lbRead{id: id, err: fmt.Errorf("reading load balancer %s: %w", id, ctx.Err())}
	}
}

// errHandedOver answers a read whose caller is to make the calls now: the caller making them
// has its own answer, or gave up. GetLoadBalancer queues the read again and leads.
var errHandedOver = errors.New("the calls for the queued reads are handed over to this read's caller")

// readQueuedLoadBalancers makes the calls for the queued reads, up to 20 distinct IDs a call,
// until mine (its caller's read) is answered or ctx ends, then hands the queue over to the caller
// of the next read: no caller reads for others longer than it waits for itself.
func (c *Client) readQueuedLoadBalancers(ctx context.Context, mine *lbRead) {
	b := &c.lbBatch
	for {
		b.mu.Lock()
		if answered(mine) || ctx.Err() != nil {
			b.queue = slices.DeleteFunc(b.queue, func(r *lbRead) bool { return r == mine })
			var next *lbRead
			if len(b.queue) > 0 {
				next, b.queue = b.queue[0], b.queue[1:]
			}
			b.running = false
			b.mu.Unlock()
			if next != nil {
				next.err = errHandedOver
				close(next.done)
			}
			return
		}
		batch, ids := takeDistinct(&b.queue, maxDescribeLoadBalancers)
		b.mu.Unlock()
		lbs, err := c.DescribeLoadBalancers(ctx, ids...)
		if err != nil && ctx.Err() != nil {
			err = errHandedOver // the caller making the call gave up, not the cloud: the others read again
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

// answered reports whether r has its answer.
func answered(r *lbRead) bool {
	select {
	case <-r.done:
		return true
	default:
		return false
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
