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
	"testing"
	"time"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// TestPodsBothSelectServeAtTheLargerShare: at rest a canary's stable and canary Services both
// select the stable pods. Their backends serve under the binding with the larger share, the
// stable one's 100%, even when the canary binding (at 0%) is the older: a manifest applied at
// once creates both in the same second, and then the canary's name sorts first. Under the
// canary's 0% they would all be at weight 0 and the listener would take no connection.
func TestPodsBothSelectServeAtTheLargerShare(t *testing.T) {
	e := &shareEnv{fidelityEnv: startFidelityEnv(t, clbsim.Options{})}
	e.listener = e.srv.Sim.AddListener(e.lbID, "TCP", 80)
	e.stable = e.binding("stable", lbsync.ListenerRef{ID: e.listener}, podIPs(1, 3)...)
	e.stable.Share = new(int32(100))
	e.canary = e.binding("canary", lbsync.ListenerRef{ID: e.listener}, podIPs(1, 3)...)
	e.canary.Share = new(int32(0))
	e.canary.CreatedAt = e.stable.CreatedAt.Add(-time.Second)
	e.syncer.Update(e.canary)
	e.syncer.Update(e.stable)
	e.await("the stable binding to serve the 3 pods both select", func() bool {
		ss, _ := e.syncer.Status(e.stable.Key)
		cs, _ := e.syncer.Status(e.canary.Key)
		w, n := e.weightOf(e.stable)
		return ss.Synced && cs.Synced && n == 3 && w > 0 && len(e.backends(e.listener)) == 3
	})
	if w, n := e.weightOf(e.canary); n != 0 || w != 0 {
		t.Errorf("the canary binding holds %d backends of weight %d, want none", n, w)
	}
	ss, _ := e.syncer.Status(e.stable.Key)
	if ss.Share.Reason != networkingv1alpha1.TrafficShareReachedReason || ss.Share.AchievedPermille != 1000 {
		t.Errorf("stable share status %+v, want Reached at 100%%", ss.Share)
	}
}
