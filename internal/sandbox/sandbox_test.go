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

package sandbox_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// TestRollingUpdateWithoutFailedRequests starts the whole sandbox, rolls a 2-replica Deployment
// once under a steady stream of requests through the CLB, and expects every request served.
func TestRollingUpdateWithoutFailedRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, clbsim and the manager: skipped with -short")
	}
	// Generous bounds: under `make test` this runs beside the envtest suites on two shared cores.
	// A run here takes about 30s.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	sb, err := sandbox.Start(ctx, sandbox.Options{Nodes: 2, Logf: t.Logf, ManagerBinary: os.Getenv("SANDBOX_MANAGER")})
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	defer sb.Stop()
	if !sb.HasDataPlane() {
		t.Skip("no data plane here (needs root and iproute2): nothing to send requests to")
	}
	// The default preStop and drain (5s each) leave the manager seconds to set a terminating
	// pod's weight to 0 before the pod stops serving, even on a busy machine.
	app := sandbox.App{Namespace: "smoke", Name: "web", Replicas: 2, InjectGate: true}
	// The manager enforces binding policies: without this one it writes nothing for the binding.
	if _, err := sb.AllowNamespaces(ctx, "smoke", []string{sb.LoadBalancerID()}, app.Namespace); err != nil {
		t.Fatal(err)
	}
	if err := sb.Deploy(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitSettled(ctx, app, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("2 pods Ready and healthy on the CLB after %v", time.Since(start).Round(100*time.Millisecond))

	traffic := sandbox.StartTraffic(ctx, sb.DataPlaneAddr(), 20*time.Millisecond)
	before, err := sb.Look(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	rollout := time.Now()
	if err := sb.Restart(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitSettled(ctx, app, 2*time.Minute); err != nil {
		traffic.Stop()
		t.Fatal(err)
	}
	stats := traffic.Stop()
	t.Logf("rollout took %v: %d requests, %d served, %d failed, by pod %v",
		time.Since(rollout).Round(100*time.Millisecond), stats.Sent, stats.Served, stats.Failed, stats.ByPod)
	if stats.Failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling update: %s", stats.Failed, stats.Sent, strings.Join(stats.Failures, "; "))
	}
	after, err := sb.Look(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range after.Pods {
		for _, old := range before.Pods {
			if p.Name == old.Name {
				t.Errorf("pod %s survived the rollout", p.Name)
			}
		}
		if stats.ByPod[p.Name] == 0 {
			t.Errorf("new pod %s served no request", p.Name)
		}
	}
}
