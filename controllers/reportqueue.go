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

package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// reportQueue hands reports from outside the API server (a worker's pass, a health poll) to a
// controller's queue. The queue deduplicates and never drops, so no report is lost in a burst
// (10,000 bindings synced at a cold start): there is no periodic resync to catch up with a
// dropped one. Reports made before the controller starts wait for it, each key once.
type reportQueue struct {
	// low queues reports below the API server's events (priority queue only): a status follows
	// its change, it must not hold one up.
	low bool

	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	waiting map[types.NamespacedName]bool
}

// source is the controller's end of the queue.
func (r *reportQueue) source() source.TypedSource[reconcile.Request] {
	return source.TypedFunc[reconcile.Request](func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.queue = q
		for key := range r.waiting {
			r.addLocked(key)
		}
		r.waiting = nil
		return nil
	})
}

// add queues a reconcile of key; a controller not set up (nil queue) has nothing to queue.
func (r *reportQueue) add(key types.NamespacedName) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queue == nil {
		if r.waiting == nil {
			r.waiting = map[types.NamespacedName]bool{}
		}
		r.waiting[key] = true
		return
	}
	r.addLocked(key)
}

func (r *reportQueue) addLocked(key types.NamespacedName) {
	req := reconcile.Request{NamespacedName: key}
	if pq, ok := r.queue.(priorityqueue.PriorityQueue[reconcile.Request]); ok && r.low {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: new(handler.LowPriority)}, req)
		return
	}
	r.queue.Add(req)
}
