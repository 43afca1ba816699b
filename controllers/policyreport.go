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
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// forbiddenBindings is the number of bindings no policy allows, after an upgrade to enforced
// policies above all: they keep their backends but get no cloud write.
var forbiddenBindings = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: metricsNamespace, Name: "bindings_forbidden",
	Help: "Bindings that no CLBBindingPolicy allows (Ready reason Forbidden): their backends stay, but nothing is written for them.",
})

func init() { metrics.Registry.MustRegister(forbiddenBindings) }

// forbiddenSet tracks which bindings the workers last found forbidden; the gauge follows it.
type forbiddenSet struct {
	mu   sync.Mutex
	keys map[types.NamespacedName]bool
}

func (f *forbiddenSet) set(key types.NamespacedName, forbidden bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[types.NamespacedName]bool{}
	}
	if forbidden {
		f.keys[key] = true
	} else {
		delete(f.keys, key)
	}
	forbiddenBindings.Set(float64(len(f.keys)))
}

// statusReader is what the report needs from internal/lbsync.
type statusReader interface {
	Status(key types.NamespacedName) (lbsync.Status, bool)
}

// forbiddenReport logs once, after the workers have judged every binding (or after
// reportDeadline), how many existing bindings no policy allows: after an upgrade that turns
// enforcement on, that is the list of policies to create.
type forbiddenReport struct {
	reader   client.Reader
	statuses statusReader
	log      logr.Logger
}

const (
	reportPoll     = 2 * time.Second
	reportDeadline = 3 * time.Minute
	// reportExamples bounds the bindings named in the log line.
	reportExamples = 20
)

// NeedLeaderElection: the statuses come from the workers, which run on the leader only.
func (r *forbiddenReport) NeedLeaderElection() bool { return true }

// Start waits for the first verdicts and logs them.
func (r *forbiddenReport) Start(ctx context.Context) error {
	var total int
	var forbidden []string
	judged := func(ctx context.Context) (bool, error) {
		var list networkingv1alpha1.CLBBackendBindingList
		if err := r.reader.List(ctx, &list); err != nil {
			return false, nil //nolint:nilerr // the cache is starting: try again
		}
		total, forbidden = len(list.Items), nil
		all := true
		for i := range list.Items {
			key := client.ObjectKeyFromObject(&list.Items[i])
			st, seen := r.statuses.Status(key)
			all = all && seen
			if seen && st.Reason == networkingv1alpha1.BindingForbiddenReason {
				forbidden = append(forbidden, key.String())
			}
		}
		return all, nil
	}
	complete := wait.PollUntilContextTimeout(ctx, reportPoll, reportDeadline, true, judged) == nil
	if ctx.Err() != nil {
		return nil //nolint:nilerr // the manager is stopping: nothing to report
	}
	slices.Sort(forbidden)
	kv := make([]any, 0, 8)
	kv = append(kv, "bindings", total, "forbidden", len(forbidden), "complete", complete)
	if len(forbidden) == 0 {
		r.log.Info("Binding policies checked: every binding is allowed by a CLBBindingPolicy", kv...)
		return nil
	}
	kv = append(kv, "examples", forbidden[:min(len(forbidden), reportExamples)])
	r.log.Info("Binding policies checked: some bindings are allowed by no CLBBindingPolicy; they keep their backends, "+
		"but nothing is written for them until a policy allows them (kubectl get cbb -A shows reason Forbidden; "+
		"metric clbind_bindings_forbidden)", kv...)
	return nil
}
