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
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestReportQueueLosesNoReport: a burst of 10,000 reports (a cold start's passes), some made
// before the controller started, all reach the controller's queue, each binding once.
func TestReportQueueLosesNoReport(t *testing.T) {
	var r reportQueue
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("b-%d", i)}
	}
	for i := range 3000 {
		r.add(key(i))
		r.add(key(i)) // reported twice before the start: queued once
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	if err := r.source().Start(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	for i := 3000; i < 10000; i++ {
		r.add(key(i))
	}
	if n := q.Len(); n != 10000 {
		t.Fatalf("%d bindings queued after 10,000 reports, want 10000", n)
	}
	var none *reportQueue
	none.add(key(0)) // a controller that was never set up has nothing to queue
}
