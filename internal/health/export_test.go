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

package health

// StateCounts counts the poller's entries per watcher and per load balancer, so tests can check
// that none outlives what uses it.
func StateCounts(p *Poller) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return map[string]int{"interests": len(p.interests), "watchers": len(p.watchers), "views": len(p.views)}
}

// SameHealth exposes sameHealth to the tests.
var SameHealth = sameHealth
