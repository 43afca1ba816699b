/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package webhooks

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/policy"
)

// cloudLookupTTL is how long a load balancer's tags and listeners read for admission are reused.
// A burst of bindings to one load balancer then costs one read of each, and a tag added in the
// console is seen within half a minute. The workers check again before every write, so a stale
// answer here never lets a write through.
const cloudLookupTTL = 30 * time.Second

// PolicyCloud is what the policy check reads from the cloud; *clb.Client satisfies it.
type PolicyCloud interface {
	// GetLoadBalancer returns the load balancer with its tags, or a NotFoundError of kind
	// LoadBalancer.
	GetLoadBalancer(ctx context.Context, id string) (clb.LoadBalancer, error)
	// DescribeListeners returns the listeners of a load balancer, all of them without IDs.
	DescribeListeners(ctx context.Context, lbID string, listenerIDs ...string) ([]clb.Listener, error)
}

var _ PolicyCloud = (*clb.Client)(nil)

// PolicyChecker decides at admission whether a CLBBindingPolicy allows a binding. It gathers what
// policy.Evaluate needs (policies, namespace labels, and only when a policy asks for them the
// load balancer's tags and the resolved listener) and leaves the decision to internal/policy.
type PolicyChecker struct {
	// reader is the manager's cache-backed client.
	reader client.Reader
	// live, when set, reads the API server directly: a refusal is checked again through it, so
	// that a policy created a moment before its binding (one kubectl apply) is not missed by a
	// cache that has not seen it yet.
	live      client.Reader
	cloud     PolicyCloud
	tags      ttlCache[map[string]string]
	listeners ttlCache[[]clb.Listener]
}

// NewPolicyChecker returns a checker that reads policies and namespaces through reader and load
// balancers through cloud, reusing cloud answers for cloudLookupTTL as clk measures it.
func NewPolicyChecker(reader client.Reader, cloud PolicyCloud, clk clock.PassiveClock) *PolicyChecker {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &PolicyChecker{
		reader: reader, cloud: cloud,
		tags:      ttlCache[map[string]string]{clock: clk, ttl: cloudLookupTTL},
		listeners: ttlCache[[]clb.Listener]{clock: clk, ttl: cloudLookupTTL},
	}
}

// CloudError is a cloud read that kept the policies from being checked.
type CloudError struct {
	LoadBalancerID string
	// What was being read.
	What string
	Err  error
}

func (e *CloudError) Error() string {
	return fmt.Sprintf("reading the %s of load balancer %s: %v", e.What, e.LoadBalancerID, e.Err)
}

func (e *CloudError) Unwrap() error { return e.Err }

// Check decides whether a policy allows b, alongside neighbors: the multiCluster bindings of
// other namespaces already on its listener or rule. A CloudError means the policies could not be
// checked; other errors come from the cache.
func (c *PolicyChecker) Check(ctx context.Context, b *networkingv1alpha1.CLBBackendBinding,
	neighbors []*networkingv1alpha1.CLBBackendBinding) (policy.Decision, error) {
	d, err := c.check(ctx, c.reader, b, neighbors)
	if err == nil && !d.Allowed && c.live != nil {
		return c.check(ctx, c.live, b, neighbors)
	}
	return d, err
}

// WithLiveReader has refusals checked again through reader, which reads the API server directly.
func (c *PolicyChecker) WithLiveReader(reader client.Reader) *PolicyChecker {
	c.live = reader
	return c
}

func (c *PolicyChecker) check(ctx context.Context, reader client.Reader, b *networkingv1alpha1.CLBBackendBinding,
	neighbors []*networkingv1alpha1.CLBBackendBinding) (policy.Decision, error) {
	var list networkingv1alpha1.CLBBindingPolicyList
	if err := reader.List(ctx, &list); err != nil {
		return policy.Decision{}, fmt.Errorf("listing CLBBindingPolicies: %w", err)
	}
	policies := policy.Compile(list.Items)
	labels := namespaceLabels{reader: reader}

	self, err := c.facts(ctx, &labels, b)
	if err != nil {
		return policy.Decision{}, err
	}
	d, err := c.decide(ctx, policies, self)
	if err != nil || !d.Allowed || len(neighbors) == 0 {
		return d, err
	}
	// Each neighbor is judged by its own namespace's policies: sharing needs both sides' consent.
	for _, n := range neighbors {
		nf, err := c.facts(ctx, &labels, n)
		if err != nil {
			return policy.Decision{}, err
		}
		shareable, err := c.shareable(ctx, policies, nf)
		if err != nil {
			return policy.Decision{}, err
		}
		self.req.Neighbors = append(self.req.Neighbors, policy.Neighbor{Namespace: n.Namespace, Name: n.Name, Shareable: shareable})
	}
	return c.decide(ctx, policies, self)
}

// facts is a binding as the policies see it, and what has been read from the cloud for it.
type facts struct {
	req          policy.Request
	listenerRead bool
}

// facts builds the request of a binding; the listener ID is the one in the spec, or the one the
// controller resolved into status.
func (c *PolicyChecker) facts(ctx context.Context, labels *namespaceLabels, b *networkingv1alpha1.CLBBackendBinding) (*facts, error) {
	nsLabels, err := labels.get(ctx, b.Namespace)
	if err != nil {
		return nil, err
	}
	return &facts{req: policy.Request{
		Namespace: b.Namespace, NamespaceLabels: nsLabels, LoadBalancerID: b.Spec.LoadBalancerID,
		Listener:  policy.Listener{ID: listenerID(b), Port: int64(b.Spec.Listener.Port), Protocol: string(b.Spec.Listener.Protocol)},
		Exclusive: !b.Spec.MultiCluster,
	}}, nil
}

// decide evaluates f, reading the tags and the listener only when a refusal says that knowing
// them could allow it; f keeps what was read.
func (c *PolicyChecker) decide(ctx context.Context, policies []policy.Policy, f *facts) (policy.Decision, error) {
	for {
		d := policy.Evaluate(policies, f.req)
		var err error
		switch {
		case d.Allowed:
			return d, nil
		case d.NeedTags && !f.req.TagsKnown:
			err = c.learnTags(ctx, f)
		case d.NeedListener && !f.listenerRead:
			err = c.learnListener(ctx, f)
		default:
			return d, nil
		}
		if err != nil {
			return d, err
		}
	}
}

// shareable reports whether the policies allow f and let other namespaces share its listener.
// A policy allowing it without sharing ends Evaluate's search early, so a sharing policy that
// matches by tag or by listener gets what it needs read before the last look.
func (c *PolicyChecker) shareable(ctx context.Context, policies []policy.Policy, f *facts) (bool, error) {
	d, err := c.decide(ctx, policies, f)
	if err != nil || !d.Allowed || d.Shareable {
		return d.Shareable, err
	}
	tags, listener := sharingNeeds(policies)
	if tags && !f.req.TagsKnown {
		if err := c.learnTags(ctx, f); err != nil {
			return false, err
		}
	}
	if listener && !f.listenerRead {
		if err := c.learnListener(ctx, f); err != nil {
			return false, err
		}
	}
	return policy.Evaluate(policies, f.req).Shareable, nil
}

// sharingNeeds reports whether a policy that sets sharedAcrossNamespaces matches load balancers
// by tag, or restricts listeners.
func sharingNeeds(policies []policy.Policy) (tags, listener bool) {
	for i := range policies {
		spec := &policies[i].Spec
		if !spec.SharedAcrossNamespaces {
			continue
		}
		listener = listener || len(spec.Listeners) > 0
		for _, m := range spec.LoadBalancers {
			tags = tags || m.Tag != nil
		}
	}
	return tags, listener
}

func (c *PolicyChecker) learnTags(ctx context.Context, f *facts) error {
	tags, err := c.readTags(ctx, f.req.LoadBalancerID)
	if err != nil {
		return err
	}
	f.req.Tags, f.req.TagsKnown = tags, true
	return nil
}

func (c *PolicyChecker) learnListener(ctx context.Context, f *facts) error {
	ls, err := c.readListeners(ctx, f.req.LoadBalancerID)
	if err != nil {
		return err
	}
	f.req.Listener, f.listenerRead = resolveListener(ls, f.req.Listener), true
	return nil
}

// readTags returns the load balancer's tags; a load balancer that does not exist has none (the
// controller reports it missing, admission only needs to know no tag matches).
func (c *PolicyChecker) readTags(ctx context.Context, lbID string) (map[string]string, error) {
	return c.tags.get(ctx, lbID, func(ctx context.Context) (map[string]string, error) {
		lb, err := c.cloud.GetLoadBalancer(ctx, lbID)
		if clb.IsNotFoundKind(err, clb.KindLoadBalancer) {
			return nil, nil
		}
		if err != nil {
			return nil, &CloudError{LoadBalancerID: lbID, What: "tags", Err: err}
		}
		return lb.Tags, nil
	})
}

// readListeners returns every listener of the load balancer: one call per load balancer answers
// every binding to it, by port or by ID.
func (c *PolicyChecker) readListeners(ctx context.Context, lbID string) ([]clb.Listener, error) {
	return c.listeners.get(ctx, lbID, func(ctx context.Context) ([]clb.Listener, error) {
		ls, err := c.cloud.DescribeListeners(ctx, lbID)
		if clb.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, &CloudError{LoadBalancerID: lbID, What: "listeners", Err: err}
		}
		return ls, nil
	})
}

// resolveListener fills the ID, port and protocol of l from the load balancer's listeners. A
// listener that is not there stays as given: the policies then refuse it with their message.
func resolveListener(ls []clb.Listener, l policy.Listener) policy.Listener {
	for _, x := range ls {
		byID := l.ID != "" && x.ID == l.ID
		byPort := l.ID == "" && l.Port != 0 && x.Port == l.Port && (l.Protocol == "" || strings.EqualFold(x.Protocol, l.Protocol))
		if byID || byPort {
			return policy.Listener{ID: x.ID, Port: x.Port, Protocol: x.Protocol}
		}
	}
	return l
}

// namespaceLabels reads namespaces' labels once per admission.
type namespaceLabels struct {
	reader client.Reader
	seen   map[string]map[string]string
}

// get returns the namespace's labels: never nil for a namespace that exists, so that an empty
// selector selects it; nil for one the cache does not know, which no selector selects.
func (n *namespaceLabels) get(ctx context.Context, name string) (map[string]string, error) {
	if l, ok := n.seen[name]; ok {
		return l, nil
	}
	var ns corev1.Namespace
	var out map[string]string
	switch err := n.reader.Get(ctx, types.NamespacedName{Name: name}, &ns); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	default:
		out = map[string]string{}
		maps.Copy(out, ns.Labels)
	}
	if n.seen == nil {
		n.seen = map[string]map[string]string{}
	}
	n.seen[name] = out
	return out, nil
}

// ttlCache keeps one answer per load balancer for ttl. Concurrent callers for the same load
// balancer wait for the first one's read instead of reading again; errors are not kept, so the
// next admission retries.
type ttlCache[T any] struct {
	clock   clock.PassiveClock
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]*ttlEntry[T]
}

type ttlEntry[T any] struct {
	done chan struct{} // closed once val and err are set
	at   time.Time
	val  T
	err  error
}

func (c *ttlCache[T]) get(ctx context.Context, key string, read func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		select {
		case <-e.done:
			if e.err == nil && c.clock.Since(e.at) < c.ttl {
				c.mu.Unlock()
				return e.val, nil
			}
		default:
			c.mu.Unlock()
			select {
			case <-e.done:
				return e.val, e.err
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
	}
	c.sweep()
	e := &ttlEntry[T]{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	e.val, e.err = read(ctx)
	e.at = c.clock.Now()
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.val, e.err
}

// sweep drops expired answers, so that load balancers bound once do not stay in memory; c.mu
// must be held.
func (c *ttlCache[T]) sweep() {
	if c.entries == nil {
		c.entries = map[string]*ttlEntry[T]{}
	}
	for k, e := range c.entries {
		select {
		case <-e.done:
			if c.clock.Since(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		default:
		}
	}
}
