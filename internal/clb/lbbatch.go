package clb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Group commit of GetLoadBalancer. Every load balancer worker reads its load balancer (VPC,
// tags) when it starts and again every few minutes, so a starting manager with 500 of them made
// 500 DescribeLoadBalancers calls for what 25 carry (20 IDs a call). Reads asked for while a call
// is in flight wait for it to end and go out together in the next one; a read asked for when
// none is in flight goes out at once, so no read waits for a window that may bring nothing.
//
// The first read of a start has no company, and nor do the reads that come one at a time while
// the manager's reconciles start the workers: a call with room to spare also reads the load
// balancers announced to be read soon (ReadSoon), and keeps those answers for their reads. A
// starting manager then makes ⌈load balancers / 20⌉ calls.

// lbBatcher queues GetLoadBalancer reads; one caller at a time makes the calls for all.
type lbBatcher struct {
	mu      sync.Mutex
	queue   []*lbRead
	running bool
	// soon are the load balancers announced to be read before long and not read yet; ahead are
	// those in a call now, closed when it ends; early holds the answers read ahead of their reads.
	soon  map[string]bool
	ahead map[string]chan struct{}
	early map[string]earlyAnswer
}

// earlyAnswer is a load balancer read ahead of its GetLoadBalancer.
type earlyAnswer struct {
	lb    LoadBalancer
	found bool
	at    time.Time
}

// earlyTTL bounds how long an answer read ahead waits for its read: one that comes later (its
// binding was deleted meanwhile, say) reads again.
const earlyTTL = 30 * time.Second

// ReadSoon announces that the load balancers ids will be read with GetLoadBalancer before long:
// a DescribeLoadBalancers call with room to spare reads them too.
func (c *Client) ReadSoon(ids ...string) {
	b := &c.lbBatch
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.soon == nil {
		b.soon = map[string]bool{}
	}
	for _, id := range ids {
		_, read := b.early[id]
		if _, reading := b.ahead[id]; !read && !reading {
			b.soon[id] = true
		}
	}
}

// takeEarly returns, and forgets, the answer read ahead for id, if fresh; when the call reading
// id ahead is still in flight, it returns a channel closed once the call ends.
func (b *lbBatcher) takeEarly(id string, now time.Time) (earlyAnswer, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if wait, ok := b.ahead[id]; ok {
		return earlyAnswer{}, false, wait
	}
	a, ok := b.early[id]
	delete(b.early, id)
	return a, ok && now.Sub(a.at) < earlyTTL, nil
}

// fillSoon returns up to room announced IDs that are not in ids, no longer announced but in
// flight until the call ends (endAhead).
func (b *lbBatcher) fillSoon(ids []string, room int) []string {
	var out []string
	for id := range b.soon {
		if len(out) == room {
			break
		}
		if !slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if b.ahead == nil {
		b.ahead = map[string]chan struct{}{}
	}
	inFlight := make(chan struct{})
	for _, id := range out {
		delete(b.soon, id)
		b.ahead[id] = inFlight
	}
	return out
}

// endAhead ends the call that read ahead: it keeps its answers when it succeeded, drops those
// kept too long, and wakes the reads waiting for it.
func (b *lbBatcher) endAhead(ahead []string, byID map[string]LoadBalancer, err error, now time.Time) {
	if len(ahead) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.early == nil {
		b.early = map[string]earlyAnswer{}
	}
	for id, a := range b.early {
		if now.Sub(a.at) >= earlyTTL {
			delete(b.early, id)
		}
	}
	inFlight := b.ahead[ahead[0]]
	for _, id := range ahead {
		delete(b.ahead, id)
		if err == nil {
			lb, found := byID[id]
			b.early[id] = earlyAnswer{lb: lb, found: found, at: now}
		}
	}
	close(inFlight)
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
	for {
		a, ok, inFlight := c.lbBatch.takeEarly(id, time.Now())
		if ok {
			return c.loadBalancerAnswer(id, &lbRead{lb: a.lb, found: a.found})
		}
		if inFlight == nil {
			break
		}
		select {
		case <-inFlight:
		case <-ctx.Done():
			return LoadBalancer{}, fmt.Errorf("reading load balancer %s: %w", id, ctx.Err())
		}
	}
	r := c.queueLoadBalancerRead(ctx, id)
	for errors.Is(r.err, errHandedOver) && ctx.Err() == nil {
		r = c.queueLoadBalancerRead(ctx, id)
	}
	if errors.Is(r.err, errHandedOver) { // only when ctx ended
		return LoadBalancer{}, fmt.Errorf("reading load balancer %s: %w", id, ctx.Err())
	}
	return c.loadBalancerAnswer(id, r)
}

// loadBalancerAnswer is GetLoadBalancer's answer to r.
func (c *Client) loadBalancerAnswer(id string, r *lbRead) (LoadBalancer, error) {
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
	delete(b.soon, id)
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
		ahead := b.fillSoon(ids, maxDescribeLoadBalancers-len(ids))
		b.mu.Unlock()
		lbs, err := c.DescribeLoadBalancers(ctx, append(ids, ahead...)...)
		if err != nil && ctx.Err() != nil {
			err = errHandedOver // the caller making the call gave up, not the cloud: the others read again
		}
		byID := make(map[string]LoadBalancer, len(lbs))
		for _, lb := range lbs {
			byID[lb.ID] = lb
		}
		c.lbBatch.endAhead(ahead, byID, err, time.Now())
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
