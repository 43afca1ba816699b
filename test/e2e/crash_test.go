//go:build e2e

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

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/targets"
)

// kills is how many times the crash spec SIGKILLs the manager.
const kills = 20

var _ = Describe("crashes", func() {
	JustAfterEach(dumpOnFailure)

	It("leaves exactly the desired backends after 20 SIGKILLs of the manager at random points of a sync, touching no foreign target", func(ctx SpecContext) {
		ch := deployChurn(ctx, "e2e-crash", 300, true)
		// Backends of another owner on the same (multiCluster) listener, and on a listener no
		// binding uses: neither may change.
		lonely, err := sb.AddListener(nextPort)
		nextPort++
		Expect(err).NotTo(HaveOccurred())
		foreign := make([]targets.Target, 0, 3)
		for i, listenerID := range []string{ch.Listener.ID, ch.Listener.ID, lonely.ID} {
			foreign = append(foreign, targets.Target{
				Key:    targets.Key{ListenerID: listenerID, EniIP: fmt.Sprintf("10.241.0.%d", i+1), Port: 9000},
				Weight: 7, Tag: foreignTag,
			})
		}
		res, err := sb.CLB().RegisterTargets(ctx, sb.LoadBalancerID(), foreign)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.FailedListenerIDs).To(BeEmpty())
		foreignBefore := foreignTargets()
		Expect(foreignBefore).To(HaveLen(len(foreign)))

		// Writes that take a while, so that kills land in the middle of them too: each Batch
		// call holds the load balancer for its task and answers when it is done.
		slow := clbsim.DefaultBusy() // the sandbox's post-write busy time stays on
		slow.TaskFixed, slow.TaskPerTarget, slow.BatchSync = 300*time.Millisecond, 2*time.Millisecond, true
		Expect(admin(ctx, http.MethodPut, "/latency", slow)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { _ = admin(ctx, http.MethodPut, "/latency", clbsim.DefaultBusy()) })

		rng := rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), kills))
		var longestTakeover time.Duration
		midWrite := 0
		for i := range kills {
			Expect(ch.step(ctx, 40)).To(Succeed())
			// A random point of the sync this change starts: the coalescing window, the reads,
			// a Batch call in flight, or between two of them.
			wait := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
			time.Sleep(wait)
			inFlight := sb.Sim().Busy(sb.LoadBalancerID())
			if inFlight {
				midWrite++
			}
			Expect(sb.KillManager()).To(Succeed())
			t := time.Now()
			Expect(sb.RestartManager(ctx)).To(Succeed(), "restart %d", i+1)
			longestTakeover = max(longestTakeover, time.Since(t))
			logf("kill %d/%d %v after a change (write in flight: %v); leading again %v later", i+1, kills, wait.Round(time.Millisecond), inFlight, since(t))
		}
		t := time.Now()
		ch.waitExact(ctx, settleTimeout)
		converged := time.Since(t)
		Expect(foreignTargets()).To(Equal(foreignBefore), "a foreign backend was changed")
		ok, msg := ch.exact(ctx)
		Expect(ok).To(BeTrue(), msg)
		result("crashes: %d SIGKILLs (%d with a Batch write in flight), %d churn steps of 40 on 300 endpoints; successor leading within %v of a kill (lease %v); exact %v after the last restart; foreign backends untouched: %d",
			kills, midWrite, kills, longestTakeover.Round(100*time.Millisecond), leaseDuration, converged.Round(100*time.Millisecond), len(foreignBefore))
	}, SpecTimeout(10*time.Minute))
})

// foreignTargets are the load balancer's backends of the foreign owner.
func foreignTargets() []clbsim.Target {
	var out []clbsim.Target
	for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
		if t.Tag == foreignTag {
			out = append(out, t)
		}
	}
	return out
}
