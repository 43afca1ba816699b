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

package lbsync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// audit logs one cloud write of backends at the default level: the load balancer, the action,
// how many targets on which listeners, and the bindings it serves. It is the record of what the
// controller did to the CLB and for whom; it holds no credential.
func (w *worker) audit(ctx context.Context, step writeStep, batch []targets.Target, plans []*plan, err error) {
	perScope := map[string]int{}
	for _, t := range batch {
		perScope[scopeID(t.ListenerID, t.LocationID)]++
	}
	var bindings []string
	for _, p := range plans {
		if p.active && len(step.pick(p.diff)) > 0 {
			bindings = append(bindings, p.b.Key.String())
		}
	}
	slices.Sort(bindings)
	kv := []any{"loadBalancer", w.lbID, "action", step.action, "targets", len(batch),
		"listeners", countsByScope(perScope), "bindings", strings.Join(bindings, ",")}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	ctrllog.FromContext(ctx).WithName("audit").Info("CLB write", kv...)
}

// auditHealthCheck logs one health-check write of a CLBHealth.
func (w *worker) auditHealthCheck(ctx context.Context, action string, health fmt.Stringer, req HealthCheckRequest, err error) {
	kv := []any{"loadBalancer", w.lbID, "action", action, "targets", 0,
		"listeners", scopeID(req.ListenerID, req.LocationID), "clbhealth", health.String()}
	if err != nil {
		kv = append(kv, "error", err.Error())
	}
	ctrllog.FromContext(ctx).WithName("audit").Info("CLB write", kv...)
}

// scopeID is listener[/location].
func scopeID(listenerID, locationID string) string {
	if locationID == "" {
		return listenerID
	}
	return listenerID + "/" + locationID
}

// countsByScope renders "lbl-a:3,lbl-b/loc-c:1".
func countsByScope(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
