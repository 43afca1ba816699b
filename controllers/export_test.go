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
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// The envtest suite (package controllers_test) looks inside the controllers of the running
// manager, the last one SetupWithManager wired.
var (
	wiredMu sync.Mutex
	wired   wiring
)

func init() {
	onSetup = func(w wiring) {
		wiredMu.Lock()
		defer wiredMu.Unlock()
		wired = w
	}
}

func running() wiring {
	wiredMu.Lock()
	defer wiredMu.Unlock()
	return wired
}

// StateCounts counts the entries the running controllers keep for the bindings and pods of
// namespace.
func StateCounts(namespace string) map[string]int {
	w := running()
	out := map[string]int{"binding memory": 0, "registeredSince bindings": 0, "registeredSince pods": 0, "forbidden": 0}
	w.bindings.memory.Range(func(k, _ any) bool {
		if k.(types.NamespacedName).Namespace == namespace {
			out["binding memory"]++
		}
		return true
	})
	w.gates.registeredSince.Range(func(k, v any) bool {
		if k.(types.NamespacedName).Namespace == namespace {
			out["registeredSince bindings"]++
			out["registeredSince pods"] += len(v.(map[types.UID]registration))
		}
		return true
	})
	w.bindings.forbidden.mu.Lock()
	defer w.bindings.forbidden.mu.Unlock()
	for k := range w.bindings.forbidden.keys {
		if k.Namespace == namespace {
			out["forbidden"]++
		}
	}
	return out
}

// RunningSyncer is the load balancer workers of the running manager.
func RunningSyncer() *lbsync.Syncer { return running().syncer }

// RunningPoller is the health poller of the running manager.
func RunningPoller() *health.Poller { return running().poller }
