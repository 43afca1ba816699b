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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// faultCase is one kind of cloud fault, injected through clbsim's admin API while a
// Deployment rolls and a Service's endpoints churn.
type faultCase struct {
	faults []clbsim.Fault
	// refuseChurnListener adds a fault that makes half the batch writes refuse the churn
	// binding's listener (FailListenerIdSet) while the rollout's listener goes through.
	refuseChurnListener bool
	// outage: every write fails while the fault lasts; the churn binding must show CloudError
	// and the manager must retry on its backoff.
	outage bool
	// lasts is how long the faults stay after the rollout started; 0 = until it completes.
	lasts time.Duration
	// seen tells whether the manager saw the fault, from the metrics before and after and
	// clbsim's call counts; it returns what it counted.
	seen func(before, after sandbox.Metrics, sim map[string]map[string]int) (int, bool)
	// event is what a Warning Event of a binding says about it.
	event string
}

const (
	apiCalls    = "clbind_clb_api_calls_total"
	failedPass  = "clbind_lbsync_failed_passes_total"
	callSeconds = "clbind_clb_api_call_duration_seconds"
)

// codeSeen counts the manager's attempts answered with code, as its metrics report them.
func codeSeen(code string) func(before, after sandbox.Metrics, _ map[string]map[string]int) (int, bool) {
	return func(before, after sandbox.Metrics, _ map[string]map[string]int) (int, bool) {
		n := int(after.Sum(apiCalls, map[string]string{"code": code}) - before.Sum(apiCalls, map[string]string{"code": code}))
		return n, n > 0
	}
}

// recovery is the longest time from the end of a fault to the desired state, over all cases.
var longestRecovery time.Duration

var _ = Describe("cloud faults during a 20-pod rollout and 500-target churn", Ordered, func() {
	JustAfterEach(dumpOnFailure)

	var (
		app   sandbox.App
		l     sandbox.Listener
		lost  int
		cases int
	)
	BeforeAll(func(ctx SpecContext) {
		app, l = deployApp(ctx, sandbox.App{Namespace: "e2e-faults", Name: "web", Replicas: 20, MaxSurge: 10}, nil)
	}, NodeTimeout(4*time.Minute))

	DescribeTable("converges to exactly the desired backends, shows the fault in metrics and Events, and retries on a bounded backoff",
		func(ctx SpecContext, fc faultCase) {
			// A churn binding of its own per case: the Events recorder folds repeated Events of
			// one object and reason into a series that keeps the first message, so a binding
			// shared by the cases would show only the first case's fault.
			cases++
			ch := deployChurn(ctx, fmt.Sprintf("e2e-churn-%d", cases), 500, false)
			sb.Sim().ResetCalls()
			before, err := sb.ManagerMetrics(ctx)
			Expect(err).NotTo(HaveOccurred())
			start := time.Now()
			faults := fc.faults
			if fc.refuseChurnListener {
				faults = append(faults, clbsim.Fault{FailListenerIDs: []string{ch.Listener.ID}, Rate: 0.5})
			}
			for _, f := range faults {
				Expect(admin(ctx, http.MethodPost, "/faults", f)).To(Succeed())
			}
			var outageWrites int
			cleared := time.Time{}
			clear := func() {
				if cleared.IsZero() {
					Expect(admin(ctx, http.MethodDelete, "/faults", nil)).To(Succeed())
					cleared = time.Now()
				}
			}
			DeferCleanup(func(ctx SpecContext) { _ = admin(ctx, http.MethodDelete, "/faults", nil) })

			churnCtx, stopChurn := context.WithCancel(ctx)
			steps := ch.run(churnCtx, time.Second, 50)
			reasons := map[string]bool{}
			r := rollUnderLoad(ctx, app, l, func(ctx context.Context, _ sandbox.View) error {
				reasons[readyReason(ctx, ch.Namespace, ch.Name)] = true
				if fc.lasts > 0 && time.Since(start) > fc.lasts && cleared.IsZero() {
					outageWrites = writes(sb.Sim().Calls())
					clear()
				}
				return sb.ManagerRunning()
			})
			stopChurn()
			churned := <-steps
			clear()

			// Recovery: from the end of the faults until both bindings hold exactly what they want.
			waitSettled(ctx, app)
			exactBackends(ctx, app)
			ch.waitExact(ctx, settleTimeout)
			recovered := time.Since(cleared)
			longestRecovery = max(longestRecovery, recovered)
			for _, name := range []string{app.Name, ch.Name} {
				ns := map[string]string{app.Name: app.Namespace, ch.Name: ch.Namespace}[name]
				Eventually(ctx, func(ctx context.Context) string { return readyReason(ctx, ns, name) }).
					WithTimeout(30*time.Second).Should(Equal(networkingv1alpha1.BindingSyncedReason), "binding %s/%s after the faults", ns, name)
			}

			after, err := sb.ManagerMetrics(ctx)
			Expect(err).NotTo(HaveOccurred())
			simCalls := sb.Sim().Calls()
			injected, seen := fc.seen(before, after, simCalls)
			total := 0
			for _, results := range simCalls {
				for _, n := range results {
					total += n
				}
			}
			// Events reach the API server asynchronously, batched by the recorder.
			var events []string
			Eventually(ctx, func(ctx context.Context) []string {
				events = warnings(ctx, start, fc.event, ch.Namespace, ch.Name)
				return events
			}).WithTimeout(20*time.Second).Should(Not(BeEmpty()), "no Warning Event of the churn binding says %q", fc.event)
			result("fault %s: %d seen by the manager, %d CLB calls in all, %d Warning Events naming it; rollout %v (failed requests %d of %d, min serving %d), %d churn steps of 50; binding reasons seen %v; recovered %v after the fault ended",
				CurrentSpecReport().LeafNodeText, injected, total, len(events), r.Took.Round(100*time.Millisecond), r.Failed, r.Sent, r.MinServing,
				churned, keys(reasons), recovered.Round(100*time.Millisecond))
			for _, f := range r.Failures {
				logf("  failure %s", f)
			}
			Expect(seen).To(BeTrue(), "the manager's metrics do not show the fault (%d)", injected)
			// The sync backs off to 30 s at most, and a call retries for about 3.5 s.
			Expect(recovered).To(BeNumerically("<", 45*time.Second), "recovery must be bounded by the backoff's cap")
			if fc.outage {
				// One load balancer, so one worker: each failed pass costs at most 6 attempts of a
				// write (MaxRetries 5, 0.5 s to 8 s apart), and the next pass waits its backoff or a
				// change of a binding (a churn step a second). A retry loop would make thousands.
				logf("writes attempted during the %v outage: %d", fc.lasts, outageWrites)
				Expect(outageWrites).To(BeNumerically("<=", 6*int(fc.lasts/time.Second)), "writes attempted during the outage")
				Expect(reasons).To(HaveKey(networkingv1alpha1.BindingCloudErrorReason), "the churn binding never showed Ready=False CloudError during the outage")
			}
			if ok, msg := ch.exact(ctx); !ok {
				lost++
				Fail("churn listener: " + msg)
			}
		},
		Entry("RequestLimitExceeded storm", faultCase{
			faults: []clbsim.Fault{{Code: "RequestLimitExceeded", Rate: 0.5}},
			seen:   codeSeen("RequestLimitExceeded"), event: "RequestLimitExceeded",
		}, SpecTimeout(6*time.Minute)),
		Entry("ResourceInOperating on every second write", faultCase{
			faults: []clbsim.Fault{{Writes: true, Every: 2, Code: "FailedOperation.ResourceInOperating"}},
			seen:   codeSeen("FailedOperation.ResourceInOperating"), event: "ResourceInOperating",
		}, SpecTimeout(6*time.Minute)),
		Entry("10% InternalError", faultCase{
			faults: []clbsim.Fault{{Code: "InternalError", Rate: 0.1}},
			seen:   codeSeen("InternalError"), event: "InternalError",
		}, SpecTimeout(6*time.Minute)),
		Entry("dropped connections", faultCase{
			faults: []clbsim.Fault{{Drop: true, Rate: 0.2}},
			seen:   codeSeen("ClientError.NetworkError"), event: "NetworkError",
		}, SpecTimeout(6*time.Minute)),
		Entry("5 s responses", faultCase{
			faults: []clbsim.Fault{{Delay: 5 * time.Second, Rate: 0.3}},
			seen: func(before, after sandbox.Metrics, _ map[string]map[string]int) (int, bool) {
				slow := func(m sandbox.Metrics) float64 {
					return m.HistogramCount(callSeconds, nil) - m.HistogramBucket(callSeconds, nil, 2.5)
				}
				n := int(slow(after) - slow(before))
				return n, n > 0
			},
			event: "took",
		}, SpecTimeout(6*time.Minute)),
		Entry("partial FailListenerIdSet", faultCase{
			refuseChurnListener: true,
			seen: func(before, after sandbox.Metrics, _ map[string]map[string]int) (int, bool) {
				n := int(after.Sum(failedPass, map[string]string{"cause": "FailListenerIdSet"}) - before.Sum(failedPass, map[string]string{"cause": "FailListenerIdSet"}))
				return n, n > 0
			},
			event: "FailListenerIdSet",
		}, SpecTimeout(6*time.Minute)),
		Entry("a 20 s outage of every write", faultCase{
			faults: []clbsim.Fault{{Writes: true, Code: "InternalError", Rate: 1}},
			lasts:  20 * time.Second,
			outage: true,
			seen: func(before, after sandbox.Metrics, _ map[string]map[string]int) (int, bool) {
				n := int(after.Sum(failedPass, map[string]string{"cause": "InternalError"}) - before.Sum(failedPass, map[string]string{"cause": "InternalError"}))
				return n, n > 0
			},
			event: "InternalError",
		}, SpecTimeout(6*time.Minute)),
	)

	AfterAll(func() {
		result("cloud faults: longest recovery %v after a fault ended; targets lost or leaked: %d", longestRecovery.Round(100*time.Millisecond), lost)
	})
})

// writes counts the write calls clbsim answered.
func writes(calls map[string]map[string]int) int {
	n := 0
	for action, results := range calls {
		if !clbsim.IsWrite(action) {
			continue
		}
		for _, c := range results {
			n += c
		}
	}
	return n
}

// admin calls clbsim's admin API.
func admin(ctx context.Context, method, path string, body any) error {
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, sb.AdminURL()+path, &buf)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("clbsim admin %s %s: %s", method, path, resp.Status)
	}
	return nil
}

// readyReason is the reason of the binding's Ready condition ("" when unknown).
func readyReason(ctx context.Context, ns, name string) string {
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
		return ""
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// warnings are the Warning Events of a binding since since whose message has text.
func warnings(ctx context.Context, since time.Time, text, ns, name string) []string {
	var list corev1.EventList
	if err := sb.Client().List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind != "CLBBackendBinding" || e.InvolvedObject.Name != name || e.Type != corev1.EventTypeWarning {
			continue
		}
		if e.CreationTimestamp.Before(&metav1.Time{Time: since.Add(-time.Second)}) || !strings.Contains(e.Message, text) {
			continue
		}
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
