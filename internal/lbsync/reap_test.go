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

package lbsync_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// TestNoStateOutlivesItsBindings: 1,000 bindings over 100 load balancers, created, synced,
// deleted and forgotten, leave no worker, no goroutine and no status behind.
func TestNoStateOutlivesItsBindings(t *testing.T) {
	e := startFidelityEnv(t, clbsim.Options{DefaultQPS: 1000})
	e.srv.Sim.SetLatency(clbsim.Latency{})

	all := make([]lbsync.Binding, 0, 1000)
	for i := range 100 {
		lb := e.srv.Sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i))
		lis := e.srv.Sim.AddListener(lb, "TCP", 80)
		for j := range 10 {
			b := e.binding(fmt.Sprintf("b-%d-%d", i, j), lbsync.ListenerRef{ID: lis})
			b.LoadBalancerID = lb
			b.Key = types.NamespacedName{Namespace: "ns", Name: b.Key.Name}
			b.Exclusive = false // ten bindings share each listener
			all = append(all, b)
			e.syncer.Update(b)
		}
	}
	e.awaitFor("every binding synced", 30*time.Second, func() bool {
		for _, b := range all {
			if st, _ := e.syncer.Status(b.Key); !st.Synced {
				return false
			}
		}
		return true
	})
	if n, g := e.syncer.Workers(), workerGoroutines(); n != 100 || g != 100 {
		t.Fatalf("%d workers (%d goroutines) for 100 load balancers", n, g)
	}
	for _, b := range all {
		b.Deleting = true
		e.syncer.Update(b)
	}
	e.awaitFor("every binding cleaned", 30*time.Second, func() bool {
		for _, b := range all {
			if st, _ := e.syncer.Status(b.Key); !st.Cleaned {
				return false
			}
		}
		return true
	})
	for _, b := range all {
		e.syncer.Forget(b.Key)
	}
	if n := e.syncer.Workers(); n != 0 {
		t.Fatalf("%d workers left after every binding was forgotten", n)
	}
	for _, b := range all {
		if _, ok := e.syncer.Status(b.Key); ok {
			t.Fatalf("status of %s kept after Forget", b.Key)
		}
	}
	e.awaitFor("the workers' goroutines to end", 5*time.Second, func() bool { return workerGoroutines() == 0 })
}

// workerGoroutines counts the goroutines running a load balancer worker. (The HTTP client keeps
// its idle connections' goroutines, so the total count says nothing.)
func workerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "lbsync.(*worker).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
