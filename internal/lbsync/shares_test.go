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
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// Traffic shares: bindings on one listener, each with spec.trafficShare, split its new
// connections by the weights the worker gives their backends. What a user would check on the
// CLB is checked on clbsim: the weights each binding's backends carry, and the calls it took.

// shareEnv is two bindings on one TCP listener, stable (older) and canary, with the given pods.
type shareEnv struct {
	*fidelityEnv
	listener       string
	stable, canary lbsync.Binding
}

func startShares(t *testing.T, stablePods, canaryPods int, stableShare, canaryShare int32) *shareEnv {
	t.Helper()
	e := &shareEnv{fidelityEnv: startFidelityEnv(t, clbsim.Options{MaxTargetsPerRule: 5000})}
	e.listener = e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.stable = e.binding("stable", lbsync.ListenerRef{ID: e.listener}, podIPs(1, stablePods)...)
	e.stable.Share = new(stableShare)
	e.canary = e.binding("canary", lbsync.ListenerRef{ID: e.listener}, podIPs(2, canaryPods)...)
	e.canary.Share = new(canaryShare)
	e.canary.CreatedAt = e.stable.CreatedAt.Add(time.Second)
	e.syncer.Update(e.stable)
	e.syncer.Update(e.canary)
	e.awaitShares(stableShare, canaryShare)
	return e
}

func podIPs(subnet, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.%d", subnet, i/250, i%250+1)
	}
	return out
}

// weightOf sums the weights of the backends on the CLB that carry b's tag.
func (e *shareEnv) weightOf(b lbsync.Binding) (weight int64, backends int) {
	for _, t := range e.srv.Sim.Targets(e.lbID) {
		if t.ListenerID == e.listener && t.Tag == b.OwnerTag {
			weight += t.Weight
			backends++
		}
	}
	return weight, backends
}

// measured is b's share of the listener's new connections on the CLB, in percent.
func (e *shareEnv) measured(b lbsync.Binding) float64 {
	s, _ := e.weightOf(e.stable)
	c, _ := e.weightOf(e.canary)
	mine, _ := e.weightOf(b)
	if s+c == 0 {
		return 0
	}
	return 100 * float64(mine) / float64(s+c)
}

// awaitShares waits until both bindings are synced with their shares in effect on the CLB.
func (e *shareEnv) awaitShares(stable, canary int32) {
	e.t.Helper()
	e.await(fmt.Sprintf("shares %d/%d on the CLB", stable, canary), func() bool {
		ss, _ := e.syncer.Status(e.stable.Key)
		cs, _ := e.syncer.Status(e.canary.Key)
		return ss.Synced && cs.Synced && ss.Share.Wanted == stable && cs.Share.Wanted == canary &&
			math.Abs(e.measured(e.canary)-float64(canary)) <= 1
	})
}

func (e *shareEnv) writes() map[string]int {
	out := map[string]int{}
	for action, results := range e.srv.Sim.Calls() {
		if clbsim.IsWrite(action) {
			out[action] = results["OK"]
		}
	}
	return out
}

// TestSharesSplitTheListener: a 10% canary of 1 pod beside 9 stable pods gets 10% of the
// weight on the CLB; moving to 50/50 is one BatchModifyTargetWeight, no backend comes or goes,
// and status reports the share achieved.
func TestSharesSplitTheListener(t *testing.T) {
	e := startShares(t, 9, 1, 90, 10)
	cs, _ := e.syncer.Status(e.canary.Key)
	if cs.Share.Reason != networkingv1alpha1.TrafficShareReachedReason || math.Abs(float64(cs.Share.AchievedPermille)/10-e.measured(e.canary)) > 0.05 {
		t.Errorf("canary share status %+v, measured %.1f%% on the CLB", cs.Share, e.measured(e.canary))
	}
	if _, n := e.weightOf(e.canary); n != 1 {
		t.Errorf("canary has %d backends on the CLB, want 1", n)
	}

	before := e.writes()
	e.stable.Share, e.canary.Share = new(int32(50)), new(int32(50))
	e.syncer.Update(e.canary)
	e.syncer.Update(e.stable)
	e.awaitShares(50, 50)
	after := e.writes()
	if d := after["BatchModifyTargetWeight"] - before["BatchModifyTargetWeight"]; d != 1 {
		t.Errorf("BatchModifyTargetWeight calls for the share change = %d, want 1 (10 backends)", d)
	}
	for _, action := range []string{"BatchRegisterTargets", "BatchDeregisterTargets"} {
		if after[action] != before[action] {
			t.Errorf("%s called %d times by a share change", action, after[action]-before[action])
		}
	}
	// The stable binding's weights moved with the canary's share: a change, not a repair.
	if r := e.notifier.repairs(); len(r) > 0 {
		t.Errorf("a share change was reported as a repair of changes made outside the controller: %+v", r)
	}
}

// TestShareChangeOnAThousandBackendsIsTwoCalls: 700 stable and 300 canary backends move from
// 70/30 to 20/80 in ⌈1000/500⌉ BatchModifyTargetWeight calls.
func TestShareChangeOnAThousandBackendsIsTwoCalls(t *testing.T) {
	e := startShares(t, 700, 300, 70, 30)
	before := e.writes()
	e.stable.Share, e.canary.Share = new(int32(20)), new(int32(80))
	e.syncer.Update(e.stable)
	e.syncer.Update(e.canary)
	e.awaitShares(20, 80)
	if d := e.writes()["BatchModifyTargetWeight"] - before["BatchModifyTargetWeight"]; d > 2 {
		t.Errorf("BatchModifyTargetWeight calls = %d, want at most 2 for 1000 backends", d)
	}
}

// TestSharesThatDoNotAddUpKeepTheWeights: halfway through a two-object update (canary set to
// 50 while stable still says 90) nothing moves on the CLB, a new stable pod waits at weight 0,
// and both bindings say why; once stable says 50 the new split is written.
func TestSharesThatDoNotAddUpKeepTheWeights(t *testing.T) {
	e := startShares(t, 9, 1, 90, 10)
	before := e.writes()
	e.canary.Share = new(int32(50))
	e.syncer.Update(e.canary)
	e.stable = withIPs(e.stable, podIPs(1, 10)...)
	e.syncer.Update(e.stable)
	e.await("both bindings to report SharesDoNotAddUp", func() bool {
		ss, _ := e.syncer.Status(e.stable.Key)
		cs, _ := e.syncer.Status(e.canary.Key)
		return ss.Share.Reason == networkingv1alpha1.TrafficShareDoNotAddUpReason && cs.Share.Reason == networkingv1alpha1.TrafficShareDoNotAddUpReason
	})
	cs, _ := e.syncer.Status(e.canary.Key)
	if !strings.Contains(cs.Share.Message, "140%") {
		t.Errorf("message %q does not give the sum", cs.Share.Message)
	}
	if d := e.writes()["BatchModifyTargetWeight"] - before["BatchModifyTargetWeight"]; d != 0 {
		t.Errorf("%d weight writes while the shares did not add up", d)
	}
	if got := e.measured(e.canary); math.Abs(got-10) > 1 {
		t.Errorf("canary share moved to %.1f%% while the shares did not add up", got)
	}
	newPod := fmt.Sprintf("%s:8080@0", podIPs(1, 10)[9])
	if !strings.Contains(strings.Join(e.backends(e.listener), " "), newPod) {
		t.Errorf("the new stable pod is not waiting at weight 0: %v", e.backends(e.listener))
	}

	e.stable.Share = new(int32(50))
	e.syncer.Update(e.stable)
	e.awaitShares(50, 50)
}

// TestUnreachableShareSaysWhatToChange: 50% for 1 canary pod against 300 stable pods cannot be
// had with weights of 1 to 100: the canary gets what it can and says what to change.
func TestUnreachableShareSaysWhatToChange(t *testing.T) {
	e := &shareEnv{fidelityEnv: startFidelityEnv(t, clbsim.Options{MaxTargetsPerRule: 5000})}
	e.listener = e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.stable = e.binding("stable", lbsync.ListenerRef{ID: e.listener}, podIPs(1, 300)...)
	e.stable.Share = new(int32(50))
	e.canary = e.binding("canary", lbsync.ListenerRef{ID: e.listener}, podIPs(2, 1)...)
	e.canary.Share = new(int32(50))
	e.syncer.Update(e.stable)
	e.syncer.Update(e.canary)
	e.await("the canary to report its share unreachable", func() bool {
		cs, _ := e.syncer.Status(e.canary.Key)
		return cs.Synced && cs.Share.Reason == networkingv1alpha1.TrafficShareUnreachableReason
	})
	cs, _ := e.syncer.Status(e.canary.Key)
	if got := e.measured(e.canary); got > 25.01 || got < 24 {
		t.Errorf("canary gets %.1f%%, want the most it can: 25%%", got)
	}
	if cs.Share.Message == "" || cs.Share.AchievedPermille != 250 {
		t.Errorf("canary share status %+v", cs.Share)
	}
}

// TestBindingWithoutAShareStillConflicts: a binding without spec.trafficShare may not join a
// listener shared by traffic share, and is told how to.
func TestBindingWithoutAShareStillConflicts(t *testing.T) {
	e := startShares(t, 2, 1, 90, 10)
	intruder := e.binding("intruder", lbsync.ListenerRef{ID: e.listener}, "10.9.0.1")
	intruder.CreatedAt = e.canary.CreatedAt.Add(time.Second)
	e.syncer.Update(intruder)
	e.await("the intruder to report a conflict", func() bool {
		st, _ := e.syncer.Status(intruder.Key)
		return st.Reason == networkingv1alpha1.BindingConflictReason && strings.Contains(st.Message, "spec.trafficShare")
	})
	for _, b := range e.backends(e.listener) {
		if strings.HasPrefix(b, "10.9.") {
			t.Errorf("the intruder's backend %s was registered", b)
		}
	}
}

// TestPromotionAdoptsTheCanaryBackends: when the stable Service moves to the canary's pods (the
// end of a canary), the stable binding takes them over in place: re-tagged, never deregistered,
// and the canary binding no longer counts them.
func TestPromotionAdoptsTheCanaryBackends(t *testing.T) {
	e := startShares(t, 3, 3, 90, 10)
	before := e.writes()
	e.stable.Share, e.canary.Share = new(int32(100)), new(int32(0))
	e.stable = withIPs(e.stable, podIPs(2, 3)...)
	e.syncer.Update(e.canary)
	e.syncer.Update(e.stable)
	e.await("the stable binding to hold the canary's pods", func() bool {
		ss, _ := e.syncer.Status(e.stable.Key)
		w, n := e.weightOf(e.stable)
		return ss.Synced && n == 3 && w > 0 && len(e.backends(e.listener)) == 3
	})
	after := e.writes()
	if d := after["BatchRegisterTargets"] - before["BatchRegisterTargets"]; d != 0 {
		t.Errorf("%d registrations: the canary's backends were not adopted in place", d)
	}
	for _, b := range e.backends(e.listener) {
		if !strings.HasPrefix(b, "10.2.") {
			t.Errorf("backend %s left after the promotion", b)
		}
	}
}

// TestDeletingAShareMemberKeepsTheOthers: deleting the canary removes its own backends only,
// and the stable binding, alone again, gets all the traffic.
func TestDeletingAShareMemberKeepsTheOthers(t *testing.T) {
	e := startShares(t, 3, 2, 80, 20)
	e.canary.Deleting = true
	e.syncer.Update(e.canary)
	e.await("the canary's backends to leave", func() bool {
		cs, _ := e.syncer.Status(e.canary.Key)
		_, n := e.weightOf(e.canary)
		return cs.Cleaned && n == 0
	})
	e.await("the stable binding to be alone on the listener", func() bool {
		ss, _ := e.syncer.Status(e.stable.Key)
		return ss.Synced && ss.Share.Reason == networkingv1alpha1.TrafficShareNotSharedReason
	})
	if _, n := e.weightOf(e.stable); n != 3 {
		t.Errorf("stable has %d backends after the canary left, want 3: %v", n, e.backends(e.listener))
	}
}

// TestANeighborsChangeIsNotARepair: at 50/50, a second canary pod lets the stable binding's
// weights rise; they change although the stable binding did not, and that is a change of the
// split, not a repair of changes made outside the controller.
func TestANeighborsChangeIsNotARepair(t *testing.T) {
	e := startShares(t, 9, 1, 50, 50)
	stableBefore, _ := e.weightOf(e.stable)
	e.canary = withIPs(e.canary, podIPs(2, 2)...)
	e.syncer.Update(e.canary)
	e.await("the canary's second pod and the stable binding's new weights", func() bool {
		w, _ := e.weightOf(e.stable)
		_, n := e.weightOf(e.canary)
		return n == 2 && w != stableBefore && math.Abs(e.measured(e.canary)-50) <= 1
	})
	if r := e.notifier.repairs(); len(r) > 0 {
		t.Errorf("the stable binding's new weights were reported as a repair: %+v", r)
	}
}
