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

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Rollout scenario parameters (-rollout-replicas changes the replicas).
const (
	rolloutSurgePct    = 25 // maxSurge 25%, maxUnavailable 0: four waves of a quarter
	rolloutHealthNum   = 3  // clbsim's default healthy threshold
	rolloutHealthEvery = time.Second
	rolloutReadyDelay  = time.Second // the stand-in kubelet's container start
)

type rolloutResult struct {
	Replicas      int32
	Waves         int
	Settle        time.Duration // first deployment: created → settled
	Wall          time.Duration
	Floor         time.Duration
	Sent, Failed  int
	DataPlane     bool
	Started, Done time.Time
}

func runRollout(ctx context.Context, managerBin string, replicas int32) (rolloutResult, error) {
	res := rolloutResult{Replicas: replicas}
	sb, err := sandbox.Start(ctx, sandbox.Options{
		ManagerBinary: managerBin, HealthInterval: rolloutHealthEvery, ReadyDelay: rolloutReadyDelay,
		Logf: func(format string, args ...any) { logf("rollout: sandbox: "+format, args...) },
	})
	if err != nil {
		return res, err
	}
	defer sb.Stop()
	res.DataPlane = sb.HasDataPlane()
	app := sandbox.App{Namespace: "bench", Name: "web", Replicas: replicas, InjectGate: !sb.Webhooks()}
	// The manager enforces binding policies (its default): the namespace needs one first.
	if _, err := sb.AllowNamespaces(ctx, app.Namespace, []string{sb.LoadBalancerID()}, app.Namespace); err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := sb.Deploy(ctx, app); err != nil {
		return res, err
	}
	// The sandbox's Deployment rolls with maxSurge 1; the bench rolls in waves of 25%.
	patch := fmt.Sprintf(`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"%d%%","maxUnavailable":0}}}}`, rolloutSurgePct)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	if err := sb.Client().Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		return res, fmt.Errorf("setting the rollout strategy: %w", err)
	}
	if err := sb.WaitSettled(ctx, app, 4*time.Minute); err != nil {
		return res, err
	}
	res.Settle = time.Since(t0)
	logf("rollout: %d replicas settled in %v", replicas, res.Settle.Round(100*time.Millisecond))
	var traffic *sandbox.Traffic
	if res.DataPlane {
		traffic = sandbox.StartTraffic(ctx, sb.DataPlaneAddr(), 20*time.Millisecond)
	}
	t1 := time.Now()
	if err := sb.Restart(ctx, app); err != nil {
		return res, err
	}
	// Settled: rolled out, every pod Ready and alone on the CLB, all healthy.
	waitErr := sb.WaitFor(ctx, 5*time.Minute, "the rollout to settle", func(ctx context.Context) (bool, string, error) {
		v, err := sb.Look(ctx, app)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		if time.Since(t1) < 2*time.Second {
			return false, "just restarted", nil
		}
		return v.Settled(int(replicas)) && allNewRevision(v), v.Summary(), nil
	})
	res.Wall = time.Since(t1)
	if traffic != nil {
		st := traffic.Stop()
		res.Sent, res.Failed = st.Sent, st.Failed
	}
	if waitErr != nil {
		return res, waitErr
	}
	surge := (int(replicas)*rolloutSurgePct + 99) / 100
	res.Waves = ceilDiv(int(replicas), surge)
	res.Floor = time.Duration(res.Waves) * (rolloutReadyDelay + rolloutHealthNum*rolloutHealthEvery)
	logf("rollout: %d replicas rolled in %v (floor %v over %d waves); traffic %d sent, %d failed",
		replicas, res.Wall.Round(100*time.Millisecond), res.Floor, res.Waves, res.Sent, res.Failed)
	return res, nil
}

// allNewRevision reports whether every pod carries the same pod-template hash.
func allNewRevision(v sandbox.View) bool {
	rev := ""
	for _, p := range v.Pods {
		if rev == "" {
			rev = p.Revision
		}
		if p.Revision != rev {
			return false
		}
	}
	return true
}

func runRolloutScenario(ctx context.Context, o options) error {
	started := time.Now()
	res, err := runRollout(ctx, o.managerBin, o.rolloutReplicas)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if err := writeSection(filepath.Join(o.out, "results.md"), scenarioRollout, rolloutMarkdown(res, started, time.Since(started))); err != nil {
		return err
	}
	return writeChart(o.out, chartFile(scenarioRollout), rolloutFigure(res))
}

func rolloutMarkdown(res rolloutResult, started time.Time, took time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Rolling update: %d replicas in the sandbox\n\n", res.Replicas)
	w("%s\n\n", machineLine(started, took))
	w("- **Setup.** internal/sandbox (`make demo`'s cluster): envtest's API server, kube-controller-manager, kube-scheduler, 3 nodes with the stand-in kubelet "+
		"(containers ready %v after start), clbsim with health checks every %v (%d passing checks make a target Alive; real TCP probes when the data plane is up: %v), "+
		"`bin/manager` with webhooks off (the Deployment carries the gate) and the sandbox's `--health-fast-poll=1s`. Deployment of %d replicas, **maxSurge %d%%, maxUnavailable 0**, preStop 5 s, binding drain 5 s. "+
		"Time: `rollout restart` → rolled out, every pod Ready, only new pods on the CLB, all Alive.\n",
		rolloutReadyDelay, rolloutHealthEvery, rolloutHealthNum, res.DataPlane, res.Replicas, rolloutSurgePct)
	w("- **Floor**: waves × (container start %v + healthy threshold %d × interval %v); it leaves out scheduling, the controller's registration and its health poll (the sandbox runs the manager with `--health-fast-poll=1s`).\n\n",
		rolloutReadyDelay, rolloutHealthNum, rolloutHealthEvery)
	w("| replicas | waves | rollout (s) | floor (s) | rollout / floor | first deploy settled (s) | requests sent / failed during the rollout |\n|---|---|---|---|---|---|---|\n")
	traffic := "no data plane"
	if res.DataPlane {
		traffic = fmt.Sprintf("%d / %d", res.Sent, res.Failed)
	}
	w("| %d | %d | %.1f | %.1f | %.2f× | %.1f | %s |\n", res.Replicas, res.Waves, res.Wall.Seconds(), res.Floor.Seconds(),
		res.Wall.Seconds()/res.Floor.Seconds(), res.Settle.Seconds(), traffic)
	w("\n%s\n", chartLink("Rolling update: rollout time against its floor, and requests sent and failed", chartFile(scenarioRollout)))
	return b.String()
}
