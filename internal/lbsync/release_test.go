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
	"maps"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// heldCloud holds every call of one action until the test lets them go, so that the test can
// act while a pass is inside that call.
type heldCloud struct {
	*clb.Client
	sim     *clbsim.Sim
	action  string
	entered chan struct{} // one value per held call
	release chan struct{} // closed to let the held calls go
}

func (c *heldCloud) hold(action string) {
	if action != c.action {
		return
	}
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
}

func (c *heldCloud) DescribeTargets(ctx context.Context, lbID string, listenerIDs []string) (clb.TargetsRead, error) {
	c.hold("DescribeTargets")
	return c.Client.DescribeTargets(ctx, lbID, listenerIDs)
}

func (c *heldCloud) RegisterTargets(ctx context.Context, lbID string, ts []targets.Target) (clb.BatchResult, error) {
	c.hold("RegisterTargets")
	return c.Client.RegisterTargets(ctx, lbID, ts)
}

func (c *heldCloud) ModifyListenerHealthCheck(ctx context.Context, lbID, listenerID string, hc clb.HealthCheck) error {
	c.hold("ModifyListenerHealthCheck")
	return c.Client.ModifyListenerHealthCheck(ctx, lbID, listenerID, hc)
}

// startHeld runs a Syncer whose calls of action are held; it returns the cloud, the Syncer and
// a load balancer with one TCP listener.
func startHeld(t *testing.T, action string, edit ...func(*lbsync.Options)) (*heldCloud, *lbsync.Syncer, string, string) {
	t.Helper()
	srv, err := simtest.Start(clbsim.Options{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	cloud := &heldCloud{Client: client, sim: srv.Sim, action: action, entered: make(chan struct{}, 16), release: make(chan struct{})}
	opts := lbsync.Options{Window: 5 * time.Millisecond, MaxWindow: 10 * time.Millisecond, StartupRecheck: time.Millisecond}
	for _, ed := range edit {
		ed(&opts)
	}
	syncer, err := lbsync.New(cloud, nopNotifier{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = syncer.Start(ctx) }()
	lbID := srv.Sim.AddLoadBalancer("held")
	return cloud, syncer, lbID, srv.Sim.AddListener(lbID, "TCP", 80)
}

// heldBinding is an exclusive binding named name on listenerID, without backends.
func heldBinding(lbID, listenerID, name string) lbsync.Binding {
	uid := types.UID("uid-" + name)
	return lbsync.Binding{Key: types.NamespacedName{Namespace: "ns", Name: name}, UID: uid, LoadBalancerID: lbID,
		Listener: lbsync.ListenerRef{ID: listenerID}, OwnerTag: targets.OwnerTag("cls-test", uid), Exclusive: true}
}

// awaitHeld waits until a pass is inside the held call.
func awaitHeld(t *testing.T, c *heldCloud) {
	t.Helper()
	select {
	case <-c.entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("no pass called %s within 10s", c.action)
	}
}

// expectNoState checks, once the reaped worker's last pass is over, that nothing of it is left.
func expectNoState(t *testing.T, syncer *lbsync.Syncer, lbID string) {
	t.Helper()
	awaitFor(t, "the reaped worker's goroutine to end", 10*time.Second, func() bool { return workerGoroutines() == 0 })
	want := map[string]int{"workers": 0, "bindings held": 0, "statuses": 0, "leftovers": 0, "health-check outcomes": 0,
		"worker bindings": 0, "worker health checks": 0, "metric series": 0}
	if counts := lbsync.StateCounts(syncer, lbID); !maps.Equal(counts, want) {
		t.Errorf("state left by a pass that outlived its worker: %v", counts)
	}
}

// TestBindingForgottenDuringAPassLeavesNothing: the controller forgets a deleted binding while
// its worker's pass is in a cloud call; the pass ends after the worker was reaped, and must
// store neither the binding's status nor its leftovers, nor the load balancer's metrics.
func TestBindingForgottenDuringAPassLeavesNothing(t *testing.T) {
	cloud, syncer, lbID, listenerID := startHeld(t, "DescribeTargets")
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	syncer.Update(withIPs(lbsync.Binding{Key: key, UID: "uid-1", LoadBalancerID: lbID,
		Listener: lbsync.ListenerRef{ID: listenerID}, OwnerTag: targets.OwnerTag("cls-test", "uid-1"),
		Exclusive: true, Deleting: true}, "10.0.0.1"))
	awaitHeld(t, cloud)
	syncer.Forget(key)
	close(cloud.release)
	expectNoState(t, syncer, lbID)
	if st, ok := syncer.Status(key); ok {
		t.Errorf("status of the forgotten binding kept: %+v", st)
	}
	if lo, ok := syncer.Leftovers(key); ok {
		t.Errorf("leftovers of the forgotten binding kept: %+v", lo)
	}
}

// TestHealthCheckClearedDuringItsWriteLeavesNothing: a CLBHealth's check is cleared while its
// worker writes it; the outcome of that write must not be kept.
func TestHealthCheckClearedDuringItsWriteLeavesNothing(t *testing.T) {
	cloud, syncer, lbID, listenerID := startHeld(t, "ModifyListenerHealthCheck")
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	syncer.SetHealthCheck(key, lbID, lbsync.HealthCheckRequest{ListenerID: listenerID, Generation: 1,
		Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP, IntervalSeconds: 7}})
	awaitHeld(t, cloud)
	syncer.ClearHealthCheck(key)
	close(cloud.release)
	expectNoState(t, syncer, lbID)
	if o, ok := syncer.HealthCheckResult(key); ok {
		t.Errorf("outcome of the cleared health check kept: %+v", o)
	}
}

// TestWorkerLeftByAMovedHealthCheckIsReaped: a CLBHealth whose check moves to another load
// balancer (its binding was re-created there) leaves a worker with nothing to do: it goes.
func TestWorkerLeftByAMovedHealthCheckIsReaped(t *testing.T) {
	srv, err := simtest.Start(clbsim.Options{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cloud, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Never started: the workers' lifecycle alone is under test.
	syncer, err := lbsync.New(cloud, nopNotifier{}, lbsync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	req := lbsync.HealthCheckRequest{ListenerID: "lbl-1", Check: clb.HealthCheck{Enabled: true, CheckType: clb.CheckTCP}}
	syncer.SetHealthCheck(key, "lb-old", req)
	syncer.SetHealthCheck(key, "lb-new", req)
	if n := syncer.Workers(); n != 1 {
		t.Errorf("%d workers after the health check moved to another load balancer, want 1", n)
	}
	syncer.ClearHealthCheck(key)
	if n := syncer.Workers(); n != 0 {
		t.Errorf("%d workers after the health check was cleared, want 0", n)
	}
}

// TestReleasedBindingKeepsWhatItLeftUntilForgotten: a deletion that skips the cloud cleanup
// releases its binding, then may have to retry removing the finalizer; until the controller
// forgets the binding, what it left behind stays known, and no pass writes for it.
func TestReleasedBindingKeepsWhatItLeftUntilForgotten(t *testing.T) {
	cloud, syncer, lbID, listenerID := startHeld(t, "")
	b := withIPs(heldBinding(lbID, listenerID, "web"), "10.0.0.1")
	syncer.Update(b)
	awaitFor(t, "the backend to be registered", 10*time.Second, func() bool {
		st, ok := syncer.Status(b.Key)
		return ok && st.Err == nil && st.Registered == 1
	})
	cloud.sim.InjectFault(clbsim.Fault{Action: "BatchDeregisterTargets", Code: "AuthFailure.UnauthorizedOperation", Rate: 1})
	b.Deleting = true
	syncer.Update(b)
	awaitFor(t, "the refused deregistration to leave the backend", 10*time.Second, func() bool {
		lo, ok := syncer.Leftovers(b.Key)
		return ok && lo.Known && len(lo.Backends) == 1
	})

	cloud.sim.ResetCalls()
	syncer.Release(b.Key)
	// Its only binding released, the worker is reaped: no pass is left to write for it.
	awaitFor(t, "the worker to be reaped", 10*time.Second, func() bool {
		return workerGoroutines() == 0 && lbsync.StateCounts(syncer, lbID)["workers"] == 0
	})
	if lo, ok := syncer.Leftovers(b.Key); !ok || len(lo.Backends) != 1 || lo.Backends[0] != "10.0.0.1:8080" {
		t.Errorf("leftovers after Release = %+v, %v; want the one backend left", lo, ok)
	}
	if _, ok := syncer.Status(b.Key); !ok {
		t.Error("status dropped by Release")
	}
	if n := cloud.sim.Calls()["BatchDeregisterTargets"]; len(n) != 0 {
		t.Errorf("a pass tried to deregister a released binding's backend: %v", n)
	}

	syncer.Forget(b.Key)
	if lo, ok := syncer.Leftovers(b.Key); ok {
		t.Errorf("leftovers kept after Forget: %+v", lo)
	}
}
