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
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clbind/clb-binding-controller/internal/clb"
)

// slowCall is how long a CLB API call may take before a pass reports it as slow.
const slowCall = 2 * time.Second

// callLog collects the API call attempts of one pass, the ones the client retried included,
// so the bindings the pass wrote for can tell what the cloud put them through.
type callLog struct {
	mu    sync.Mutex
	calls int
	// unchanged counts the reads whose answer read as the last one: they changed no cache.
	unchanged int
	failed    map[string]int // error code → attempts
	slow      int
	longest   time.Duration
}

// mayHaveChanged is the number of attempts so far that may have changed what the worker knows:
// writes, failures and reads with a new answer.
func (l *callLog) mayHaveChanged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls - l.unchanged
}

// count is the number of attempts so far.
func (l *callLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// sameAnswers records that the last n attempts, reads the client could not compare with the last
// answer itself, found what the worker knew.
func (l *callLog) sameAnswers(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unchanged = min(l.calls, l.unchanged+n)
}

func (l *callLog) add(a clb.Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if a.Unchanged {
		l.unchanged++
	}
	// Only what the client retried: a refusal (a backend gone, an address not routable) is
	// handled by the pass and reported by its own status, not as a flaky cloud.
	if a.Code != "OK" && clb.RetriableCode(a.Code) {
		if l.failed == nil {
			l.failed = map[string]int{}
		}
		l.failed[a.Code]++
	}
	if a.Took >= slowCall {
		l.slow++
	}
	l.longest = max(l.longest, a.Took)
}

// summary describes the failed and slow attempts, or is empty when every call went through
// at once and fast.
func (l *callLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	if len(l.failed) > 0 {
		n := 0
		codes := make([]string, 0, len(l.failed))
		for _, code := range slices.Sorted(maps.Keys(l.failed)) {
			n += l.failed[code]
			codes = append(codes, fmt.Sprintf("%s ×%d", code, l.failed[code]))
		}
		parts = append(parts, fmt.Sprintf("%d of %d CLB API attempts failed and were retried (%s)", n, l.calls, strings.Join(codes, ", ")))
	}
	if l.slow > 0 {
		parts = append(parts, fmt.Sprintf("%d took %v or longer (longest %v)", l.slow, slowCall, l.longest.Round(100*time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}

// refusedError is a listener the cloud reported in a batch call's FailListenerIdSet.
type refusedError struct {
	listenerID, message string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("the cloud refused the change on listener %s (FailListenerIdSet): %s", e.listenerID, e.message)
}

// failureCause names what made a pass fail, for the failed_passes_total metric.
func failureCause(err error) string {
	if _, ok := errors.AsType[*refusedError](err); ok {
		return "FailListenerIdSet"
	}
	if code := clb.Code(err); code != "" {
		return code
	}
	return "Unknown"
}
