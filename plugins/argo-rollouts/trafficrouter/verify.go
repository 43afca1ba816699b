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

package trafficrouter

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stuckAfter is how long a TrafficShare condition Unreachable or NotShared must have held before
// VerifyWeight reports it as an error. Argo Rollouts records the error as an Event on the Rollout
// but, unlike a weight not yet verified, does not ask again after its verify retry interval: the
// Rollout waits for its next change or resync (15 minutes by default). A share that is
// unreachable only for a moment, such as while the canary's endpoints reach the controller, is
// therefore reported as not yet verified.
const stuckAfter = 30 * time.Second

// verdict is what one binding's status says about the share the plugin set on it.
type verdict struct {
	// reached is true when the weights on the CLB give the binding the wanted share.
	reached bool
	// waiting says what is not there yet, when reached is false and stuck is empty.
	waiting string
	// stuck says why the share cannot be reached without a change by the user (a TrafficShare
	// condition Unreachable or NotShared for the binding's current generation).
	stuck string
}

// verifyShare says whether binding b has the share want in effect on the CLB. That takes:
// spec.trafficShare is want; the TrafficShare condition, for the current generation, has reason
// Reached; the Ready condition, for the current generation, is True; and status.trafficShare.applied
// (the share the weights on the CLB were computed for) is want. Unreachable and NotShared for the
// current generation make the verdict stuck once they have held for stuckAfter at now; anything
// else only not there yet.
func verifyShare(b *binding, want int32, now time.Time) verdict {
	if b.share == nil {
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s has no spec.trafficShare yet (want %d)", b, want)}
	}
	if *b.share != want {
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s has spec.trafficShare %d, want %d", b, *b.share, want)}
	}
	share := current(b, trafficShareCondition)
	if share == nil {
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s: the controller has not reported condition TrafficShare for generation %d yet", b, b.generation)}
	}
	switch share.Reason {
	case reachedReason:
	case unreachableReason, notSharedReason:
		msg := fmt.Sprintf("CLBBackendBinding %s cannot get a traffic share of %d%%: TrafficShare %s: %s", b, want, share.Reason, share.Message)
		if now.Sub(share.LastTransitionTime.Time) < stuckAfter {
			return verdict{waiting: msg}
		}
		return verdict{stuck: msg}
	default:
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s: TrafficShare is %s: %s", b, share.Reason, share.Message)}
	}
	ready := current(b, readyCondition)
	if ready == nil {
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s: the controller has not reported condition Ready for generation %d yet", b, b.generation)}
	}
	if ready.Status != metav1.ConditionTrue {
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s is not Ready (%s): %s", b, ready.Reason, ready.Message)}
	}
	if b.applied == nil || *b.applied != want {
		applied := "none"
		if b.applied != nil {
			applied = fmt.Sprint(*b.applied)
		}
		return verdict{waiting: fmt.Sprintf("CLBBackendBinding %s: the weights on the CLB are for share %s, want %d", b, applied, want)}
	}
	return verdict{reached: true}
}

// current is condition t of b if the controller set it for b's current generation, else nil.
func current(b *binding, t string) *metav1.Condition {
	c := meta.FindStatusCondition(b.conditions, t)
	if c == nil || c.ObservedGeneration != b.generation {
		return nil
	}
	return c
}
