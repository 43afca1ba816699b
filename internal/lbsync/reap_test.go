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
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// forgettingNotifier forgets a binding as soon as a pass reports it cleaned up, as the controller
// does once the finalizer is gone; it does so from within the report, so the pass that reaps the
// worker is still running.
type forgettingNotifier struct{ syncer *lbsync.Syncer }

func (n *forgettingNotifier) Synced(key types.NamespacedName, _ types.UID, st lbsync.Status, _ lbsync.Changes) {
	if st.Cleaned {
		n.syncer.Forget(key)
	}
}

// TestNoStateOutlivesItsBindings: 1,000 bindings over 100 load balancers, and a health check on
// each load balancer, created, synced, then deleted and forgotten, leave no worker, no goroutine,
// no map entry and no metric series behind.
func TestNoStateOutlivesItsBindings(t *testing.T) {
	srv, httpSrv := startClosableSim(t, clbsim.Options{DefaultQPS: 1000})
	cloud, err := clb.New(srv.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	notifier := &forgettingNotifier{}
	syncer, err := lbsync.New(cloud, notifier, lbsync.Options{
		Window: 20 * time.Millisecond, MaxWindow: 100 * time.Millisecond, RetryBase: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		StartupRecheck: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	notifier.syncer = syncer
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = syncer.Start(ctx) }()
	goroutinesBefore := runtime.NumGoroutine()

	all := make([]lbsync.Binding, 0, 1000)
	lbIDs := make([]string, 0, 100)
	checks := map[types.NamespacedName]lbsync.HealthCheckRequest{}
	for i := range 100 {
		lb := srv.Sim.AddLoadBalancer(fmt.Sprintf("lb-%d", i))
		lbIDs = append(lbIDs, lb)
		lis := srv.Sim.AddListener(lb, "TCP", 80)
		for j := range 10 {
			uid := types.UID(fmt.Sprintf("uid-%d-%d", i, j))
			b := withIPs(lbsync.Binding{
				Key: types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("b-%d-%d", i, j)}, UID: uid, LoadBalancerID: lb,
				Listener: lbsync.ListenerRef{ID: lis}, OwnerTag: targets.OwnerTag("cls-test", uid),
				Exclusive: false, // ten bindings share each listener
			}, fmt.Sprintf("10.%d.%d.1", i, j), fmt.Sprintf("10.%d.%d.2", i, j))
			all = append(all, b)
			syncer.Update(b)
		}
		// The CLBHealth of the first binding asks for a health check the listener does not have.
		req := lbsync.HealthCheckRequest{ListenerID: lis, Generation: 1,
			Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP, IntervalSeconds: 7}}
		checks[all[len(all)-10].Key] = req
		syncer.SetHealthCheck(all[len(all)-10].Key, lb, req)
	}
	awaitFor(t, "every binding synced and every health check applied", 60*time.Second, func() bool {
		for _, b := range all {
			if st, _ := syncer.Status(b.Key); !st.Synced {
				return false
			}
		}
		for key, req := range checks {
			if o, _ := syncer.HealthCheckResult(key); !o.For(req) || !o.Applied {
				return false
			}
		}
		return true
	})
	// The counts see the state they must later see gone.
	counts := lbsync.StateCounts(syncer, lbIDs...)
	if series := counts["metric series"]; series < 100 {
		t.Errorf("%d metric series of 100 busy load balancers", series)
	}
	delete(counts, "metric series")
	want := map[string]int{"workers": 100, "bindings held": 1000, "statuses": 1000, "leftovers": 0, "health-check outcomes": 100,
		"worker bindings": 1000, "worker health checks": 100}
	if !maps.Equal(counts, want) {
		t.Fatalf("state of 1,000 synced bindings = %v, want %v", counts, want)
	}
	if g := workerGoroutines(); g != 100 {
		t.Fatalf("%d worker goroutines for 100 load balancers", g)
	}

	// Deleted: the CLBHealth's check goes at once, the binding once its backends are off.
	for _, b := range all {
		if _, ok := checks[b.Key]; ok {
			syncer.ClearHealthCheck(b.Key)
		}
		b.Deleting = true
		syncer.Update(b)
	}
	awaitFor(t, "every worker reaped", 60*time.Second, func() bool { return syncer.Workers() == 0 })
	for _, lb := range lbIDs {
		if n := len(srv.Sim.Targets(lb)); n != 0 {
			t.Fatalf("%d backends left on %s after its bindings were cleaned up", n, lb)
		}
	}
	// A reaped worker's last pass may still be finishing: wait for its goroutine, then count.
	awaitFor(t, "the workers' goroutines to end", 5*time.Second, func() bool { return workerGoroutines() == 0 })
	want = map[string]int{"workers": 0, "bindings held": 0, "statuses": 0, "leftovers": 0, "health-check outcomes": 0,
		"worker bindings": 0, "worker health checks": 0, "metric series": 0}
	if counts := lbsync.StateCounts(syncer, lbIDs...); !maps.Equal(counts, want) {
		t.Errorf("state left after every binding was forgotten: %v", counts)
	}
	for _, b := range all {
		if _, ok := syncer.Status(b.Key); ok {
			t.Fatalf("status of %s kept after Forget", b.Key)
		}
	}
	// The HTTP client's idle connections hold goroutines of their own: close them, then every
	// goroutine started since the Syncer was must end.
	httpSrv.CloseClientConnections()
	awaitFor(t, fmt.Sprintf("the goroutine count back to %d", goroutinesBefore), 5*time.Second, func() bool {
		return runtime.NumGoroutine() <= goroutinesBefore
	})
}

// startClosableSim starts clbsim on an HTTP server of the test's own, whose client connections
// the test can close (simtest.Start keeps its server to itself).
func startClosableSim(t *testing.T, opts clbsim.Options) (*simtest.Server, *httptest.Server) {
	t.Helper()
	opts.SecretID, opts.SecretKey, opts.Region, opts.VpcID = simtest.SecretID, simtest.SecretKey, simtest.Region, simtest.VpcID
	sim := clbsim.New(opts)
	sim.SetLatency(clbsim.Latency{})
	httpSrv := httptest.NewServer(sim)
	t.Cleanup(func() {
		httpSrv.Close()
		sim.Close()
	})
	dir := t.TempDir()
	for name, value := range map[string]string{"secretId": simtest.SecretID, "secretKey": simtest.SecretKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &simtest.Server{Sim: sim, Endpoint: strings.TrimPrefix(httpSrv.URL, "http://"), CredentialsDir: dir}, httpSrv
}

// awaitFor polls until cond holds, for timeout at most.
func awaitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// workerGoroutines counts the goroutines running a load balancer worker. (The HTTP client keeps
// its idle connections' goroutines, so the total count says nothing until they are closed.)
func workerGoroutines() int {
	return strings.Count(goroutineStacks(), "lbsync.(*worker).run(")
}

// goroutineStacks returns the stacks of all goroutines.
func goroutineStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
