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
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// Argo Rollouts in the sandbox (issue 19 items 2 and 6): the real Argo Rollouts v1.10.1
// controller, with the CLB traffic-router plugin, drives Rollouts whose ReplicaSets the sandbox's
// kube-controller-manager turns into pods that really listen, under load through clbsim's data
// plane. Each pod answers with its name, which carries its ReplicaSet's pod-template hash: the
// requests each revision answered are counted from the answers.
const (
	// arRequestEvery paces the load of these specs: 100 requests a second, each on a new
	// connection.
	arRequestEvery = 10 * time.Millisecond
	// arTolerance is how far, in percentage points, the measured canary share may be from the
	// step's weight.
	arTolerance = 3.0
	// arMinRequests is the fewest requests a step's split is measured over.
	arMinRequests = 1000
	// arCanaryReplicas is the canary Rollout's size: at setWeight 10 Argo Rollouts runs 1 canary
	// pod beside the 4 stable ones, at 50 two, at 100 four.
	arCanaryReplicas = 4
	// arScaleDownDelay is the canary Rollout's scaleDownDelaySeconds: how long the old ReplicaSet
	// keeps its pods after the Services moved to the new one (Argo Rollouts' default is 30). The
	// canary's new pods are healthy on the listener long before. The blueGreen Rollout keeps the
	// default: its new pods join the active listener only at the promotion, and the CLB's default
	// health check takes 15 s to find them healthy; old pods scaled down before that take the
	// listener's last serving backends with them (a delay of 10 s failed 137 of 2,482 requests).
	arScaleDownDelay = 10
	// arStepTimeout bounds a canary step: the canary pods start and turn Ready, the Service moves,
	// the plugin sets the shares and Argo Rollouts sees them verified (it asks again every 10 s).
	arStepTimeout = 2 * time.Minute
	// arFinishTimeout bounds the end of a Rollout after its last promotion: the Services move,
	// the scale-down delay, the old pods' preStop, the bindings' drain.
	arFinishTimeout = 3 * time.Minute
)

// requestsFor is how many requests measure a split of weight percent: enough that ±arTolerance
// is 4 standard deviations of the binomial count (clbsim picks each connection's backend at random
// by weight), and at least arMinRequests. 1,600 for 10%, 4,445 for 50%.
func requestsFor(weight int32) int {
	p := float64(weight) / 100
	sd := arTolerance / 4 / 100
	return max(arMinRequests, int(math.Ceil(p*(1-p)/(sd*sd))))
}

var _ = Describe("Argo Rollouts", Ordered, func() {
	var ar *sandbox.ArgoRollouts

	BeforeAll(func(ctx SpecContext) {
		dir := os.Getenv("E2E_ARGO_ROLLOUTS")
		if dir == "" {
			root, err := testenv.RepoRoot()
			Expect(err).NotTo(HaveOccurred())
			dir = filepath.Join(root, "bin", "argo-rollouts")
		}
		var err error
		ar, err = sb.StartArgoRollouts(ctx, dir)
		Expect(err).NotTo(HaveOccurred(), "starting the Argo Rollouts controller (make argo-rollouts argo-rollouts-plugin)")
		DeferCleanup(func() {
			if err := ar.Stop(); err != nil {
				logf("stopping the Argo Rollouts controller: %v", err)
			}
		})
	}, NodeTimeout(2*time.Minute))

	JustAfterEach(func() {
		if CurrentSpecReport().Failed() && ar != nil {
			_, _ = fmt.Fprintf(os.Stdout, "\n--- Argo Rollouts controller log: %s\n", ar.LogPath())
		}
		dumpOnFailure()
	})

	It("moves a canary 10% → 50% → 100% through the CLB plugin under load: the measured split within 3 points of each step's weight, no failed request", func(ctx SpecContext) {
		ro := newRolloutApp(ctx, ar, "e2e-argo-canary", "shop")
		ro.createService(ctx, "shop-stable")
		ro.createService(ctx, "shop-canary")
		l := ro.addListener(ctx, nil)
		ro.createBinding(ctx, "shop-stable", l, ptr.To[int32](100))
		ro.createBinding(ctx, "shop-canary", l, ptr.To[int32](0))
		steps := []int32{10, 50, 100}
		stepList := make([]any, 0, 2*len(steps))
		for _, w := range steps {
			stepList = append(stepList, map[string]any{"setWeight": int64(w)}, map[string]any{"pause": map[string]any{}})
		}
		ro.create(ctx, arCanaryReplicas, map[string]any{"canary": map[string]any{
			"stableService":         "shop-stable",
			"canaryService":         "shop-canary",
			"scaleDownDelaySeconds": int64(arScaleDownDelay),
			"trafficRouting":        map[string]any{"plugins": map[string]any{sandbox.ArgoRolloutsPlugin: map[string]any{}}},
			"steps":                 stepList,
		}})
		first := ro.waitStable(ctx, arCanaryReplicas, l)
		logf("%s: revision 1 (%s) stable, %d pods serving on %s", ro.ns, first, arCanaryReplicas, l.ID)

		traffic := sandbox.StartTraffic(ctx, l.DataPlane, arRequestEvery)
		DeferCleanup(traffic.Stop)
		waitFlowing(ctx, traffic, l)
		before := traffic.Stats()
		Expect(before.Failed).To(BeZero(), "requests failed before the update: %v", before.Failures)

		start := time.Now()
		ro.setImage(ctx, "v2")
		measured := make([]splitStep, 0, len(steps))
		for i, w := range steps {
			t := time.Now()
			st := ro.waitPaused(ctx, int32(2*i+1), arStepTimeout, fmt.Sprintf("the canary to pause after setWeight %d", w))
			reached := time.Since(t)
			Expect(st.StableRS).To(Equal(first), "the stable revision changed during the canary")
			Expect(st.CurrentPodHash).NotTo(Equal(first))
			s := ro.measureSplit(ctx, traffic, l, w, st.CurrentPodHash, st.StableRS)
			s.Reached = reached
			measured = append(measured, s)
			logf("%s: setWeight %d reached in %v; %d requests: canary %.2f%% (CLB weights give %.1f%%, binding says %s%%)",
				ro.ns, w, s.Reached.Round(100*time.Millisecond), s.Requests, s.Measured, s.Nominal, s.Achieved)
			ro.promote(ctx)
		}
		canary := measured[0].CanaryHash
		ro.waitFinished(ctx, canary, arCanaryReplicas, l)
		took := time.Since(start)
		st := traffic.Stop()
		sent, failed := st.Sent-before.Sent, st.Failed-before.Failed

		for _, s := range measured {
			result("argo-rollouts canary setWeight %d: canary answered %d of %d requests = %.2f%% (want %d ± %.0f; CLB weights %.1f%%, canary binding status.trafficShare.achieved %s%%), step reached %v after the previous promotion",
				s.Weight, s.Canary, s.Requests, s.Measured, s.Weight, arTolerance, s.Nominal, s.Achieved, s.Reached.Round(100*time.Millisecond))
		}
		result("argo-rollouts canary: failed=%d of %d requests (100 a second) from the update to the old pods gone, %v (%d → %d pods, scaleDownDelaySeconds %d)",
			failed, sent, took.Round(100*time.Millisecond), arCanaryReplicas, arCanaryReplicas, arScaleDownDelay)
		for _, f := range st.Failures {
			logf("argo-rollouts canary failure %s", f)
		}
		for _, s := range measured {
			Expect(s.Other).To(BeZero(), "setWeight %d: %d requests answered by pods of neither revision", s.Weight, s.Other)
			Expect(s.Measured).To(BeNumerically("~", float64(s.Weight), arTolerance),
				"setWeight %d: the canary answered %.2f%% of %d requests (CLB weights %.1f%%)", s.Weight, s.Measured, s.Requests, s.Nominal)
		}
		Expect(failed).To(BeZero(), "%d of %d requests failed during the canary: %s", failed, sent, strings.Join(st.Failures, "; "))
		// Argo Rollouts ends the canary with the weight back at 0: the stable binding, which now
		// selects the promoted pods, carries everything.
		Expect(ro.shares(ctx, "shop-stable", "shop-canary")).To(Equal([]int32{100, 0}))
	}, SpecTimeout(10*time.Minute))

	It("promotes a blueGreen Rollout under load with the CLB's default health check: the active Service moves to the new pods, no failed request, the old backends leave only once the new ones are healthy", func(ctx SpecContext) {
		ro := newRolloutApp(ctx, ar, "e2e-argo-bluegreen", "shop")
		ro.createService(ctx, "shop-active")
		ro.createService(ctx, "shop-preview")
		active := ro.addListener(ctx, cloudDefaultHealth)
		preview := ro.addListener(ctx, nil)
		ro.createBinding(ctx, "shop-active", active, nil)
		ro.createBinding(ctx, "shop-preview", preview, nil)
		ro.create(ctx, bgReplicas, map[string]any{"blueGreen": map[string]any{
			"activeService":        "shop-active",
			"previewService":       "shop-preview",
			"autoPromotionEnabled": false,
		}})
		blue := ro.waitStable(ctx, bgReplicas, active)
		logf("%s: revision 1 (%s) active, %d pods serving on %s", ro.ns, blue, bgReplicas, active.ID)

		traffic := sandbox.StartTraffic(ctx, active.DataPlane, arRequestEvery)
		DeferCleanup(traffic.Stop)
		waitFlowing(ctx, traffic, active)
		before := traffic.Stats()
		Expect(before.Failed).To(BeZero(), "requests failed before the update: %v", before.Failures)

		updated := time.Now()
		ro.setImage(ctx, "v2")
		st := ro.waitPaused(ctx, -1, arStepTimeout, "the blueGreen Rollout to pause before promotion")
		green := st.CurrentPodHash
		Expect(green).NotTo(Equal(blue))
		Expect(st.BlueGreen.ActiveSelector).To(Equal(blue), "the active Service moved before the promotion")
		Expect(st.BlueGreen.PreviewSelector).To(Equal(green))
		// The preview listener serves the new pods alone before the promotion.
		ro.waitServing(ctx, preview, green, bgReplicas)
		previewed := probeListener(ctx, preview, 100)
		Expect(previewed.Failed).To(BeZero(), "requests to the preview listener failed: %v", previewed.Failures)
		for pod := range previewed.ByPod {
			Expect(pod).To(HavePrefix(ro.name+"-"+green+"-"), "the preview listener answered from %s", pod)
		}
		paused := time.Since(updated)
		logf("%s: revision 2 (%s) in preview after %v, %d requests to the preview listener all answered by it", ro.ns, green, paused.Round(100*time.Millisecond), previewed.Sent)

		// Promote, and sample the active listener every 100 ms as the blue/green specs do.
		bg := &blueGreen{ns: ro.ns, listener: active, ips: ro.colors(ctx, map[string]string{blue: "blue", green: "green"})}
		Expect(bg.ips).To(HaveLen(2*bgReplicas), "pod addresses: %v", bg.ips)
		sw := bgSwitch{MinServing: -1}
		var mu sync.Mutex
		stop, sampled := make(chan struct{}), make(chan struct{})
		sw.start = time.Now()
		ro.promote(ctx)
		go func() {
			defer GinkgoRecover()
			defer close(sampled)
			tick := time.NewTicker(bgSampleEvery)
			defer tick.Stop()
			for {
				c := bg.sampleCLB()
				mu.Lock()
				sw.record(c, time.Since(sw.start))
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		ro.waitFinished(ctx, green, bgReplicas, active)
		close(stop)
		<-sampled
		sw.Took = time.Since(sw.start)
		tr := traffic.Stop()
		sent, failed := tr.Sent-before.Sent, tr.Failed-before.Failed

		result("argo-rollouts blueGreen: failed=%d of %d requests (100 a second) from the update to the old pods gone, %v (preview ready and paused after %v; %d blue → %d green pods, CLB health check every 5s x3, scaleDownDelaySeconds 30; after the promotion: green registered %s, green healthy %s, blue at weight 0 %s, blue gone %s; min serving backends %d over %d samples every %v)",
			failed, sent, time.Since(updated).Round(100*time.Millisecond), paused.Round(100*time.Millisecond), bgReplicas, bgReplicas,
			orNever(sw.GreenRegistered), orNever(sw.GreenHealthy), orNever(sw.BlueWeight0), orNever(sw.BlueGone), sw.MinServing, sw.Samples, bgSampleEvery)
		for _, f := range tr.Failures {
			logf("argo-rollouts blueGreen failure %s", f)
		}
		Expect(failed).To(BeZero(), "%d of %d requests failed during the promotion: %s", failed, sent, strings.Join(tr.Failures, "; "))
		Expect(sw.GreenHealthy).NotTo(BeZero(), "the green backends never were all healthy on the active listener")
		Expect(sw.BlueWeight0).NotTo(BeZero(), "the blue backends never went to weight 0")
		Expect(sw.BlueGone).NotTo(BeZero(), "the blue backends never left")
		Expect(sw.BlueWeight0).To(BeNumerically(">=", sw.GreenHealthy), "the blue backends were let go %v before green was healthy", sw.GreenHealthy-sw.BlueWeight0)
		Expect(sw.MinServing).To(BeNumerically(">=", bgReplicas), "the active listener had %d serving backends %v after the promotion", sw.MinServing, sw.MinServingAt.Round(time.Millisecond))
		for pod := range previewed.ByPod {
			Expect(tr.ByPod).To(HaveKey(pod), "green pod %s served no request through the active listener", pod)
		}
	}, SpecTimeout(8*time.Minute))
})

func orNever(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}

// waitFlowing waits until requests flow through the listener.
func waitFlowing(ctx context.Context, traffic *sandbox.Traffic, l sandbox.Listener) {
	GinkgoHelper()
	Expect(sb.WaitFor(ctx, 15*time.Second, "requests to flow through "+l.DataPlane, func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Served >= 20, fmt.Sprintf("%d served, %d failed: %v", st.Served, st.Failed, st.Failures), nil
	})).To(Succeed())
}

// probeListener sends n requests through the listener, 100 a second, and returns their counts.
func probeListener(ctx context.Context, l sandbox.Listener, n int) sandbox.TrafficStats {
	GinkgoHelper()
	traffic := sandbox.StartTraffic(ctx, l.DataPlane, arRequestEvery)
	defer traffic.Stop()
	Expect(sb.WaitFor(ctx, 30*time.Second, fmt.Sprintf("%d requests through %s", n, l.DataPlane), func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Sent >= n, fmt.Sprintf("%d sent", st.Sent), nil
	})).To(Succeed())
	return traffic.Stop()
}

// rolloutApp is one Rollout in a namespace of its own, its Services and bindings.
type rolloutApp struct {
	ar       *sandbox.ArgoRollouts
	ns, name string
	rollouts dynamic.ResourceInterface
	services []string
	bindings []string
	// listeners are the listeners of the bindings, for the cleanup.
	listeners []string
}

// newRolloutApp creates the namespace, opted in to gate injection and allowed to bind the
// sandbox's load balancer, and registers the cleanup of everything the app creates.
func newRolloutApp(ctx context.Context, ar *sandbox.ArgoRollouts, ns, name string) *rolloutApp {
	GinkgoHelper()
	allowNamespace(ctx, ns)
	Expect(client.IgnoreAlreadyExists(sb.Client().Create(ctx, sandbox.OptedInNamespace(ns)))).To(Succeed())
	dyn, err := dynamic.NewForConfig(sb.Config())
	Expect(err).NotTo(HaveOccurred())
	ro := &rolloutApp{ar: ar, ns: ns, name: name, rollouts: dyn.Resource(sandbox.RolloutResource).Namespace(ns)}
	DeferCleanup(ro.remove, NodeTimeout(cleanupTimeout+10*time.Second))
	return ro
}

// addListener adds a listener of its own, with health check hc (nil: the sandbox's).
func (ro *rolloutApp) addListener(ctx context.Context, hc *clb.HealthCheck) sandbox.Listener {
	GinkgoHelper()
	l, err := sb.AddListener(nextPort)
	nextPort++
	Expect(err).NotTo(HaveOccurred())
	if hc != nil {
		Expect(sb.CLB().ModifyListenerHealthCheck(ctx, sb.LoadBalancerID(), l.ID, *hc)).To(Succeed())
	}
	ro.listeners = append(ro.listeners, l.ID)
	return l
}

// createService creates a Service selecting the Rollout's pods (Argo Rollouts adds the
// pod-template hash to its selector).
func (ro *rolloutApp) createService(ctx context.Context, name string) {
	GinkgoHelper()
	Expect(sb.Client().Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ro.ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": ro.name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	})).To(Succeed())
	ro.services = append(ro.services, name)
}

// createBinding binds Service svc (the binding has its name) to listener l, with share (nil:
// none), drain 5 s and weight 10.
func (ro *rolloutApp) createBinding(ctx context.Context, svc string, l sandbox.Listener, share *int32) {
	GinkgoHelper()
	Expect(sb.CreateBinding(ctx, &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ro.ns, Name: svc},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: sb.LoadBalancerID(),
			Listener:       networkingv1alpha1.ListenerReference{ID: l.ID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: svc, Port: intstr.FromInt32(80)},
			Weight:         ptr.To[int32](10),
			Drain:          &networkingv1alpha1.DrainSpec{Seconds: 5},
			TrafficShare:   share,
		},
	}, 30*time.Second)).To(Succeed())
	ro.bindings = append(ro.bindings, svc)
}

// create creates the Rollout with replicas pods of the sandbox's web app (image v1) and the
// strategy, once the webhook injects the first binding's gate into its pods.
func (ro *rolloutApp) create(ctx context.Context, replicas int32, strategy map[string]any) {
	GinkgoHelper()
	Expect(sb.WaitGateInjection(ctx, ro.ns, map[string]string{"app": ro.name}, ro.bindings[0])).To(Succeed())
	dep := deploymentOf(sandbox.App{Namespace: ro.ns, Name: ro.name, Replicas: replicas})
	dep.Spec.Template.Spec.Containers[0].Image = "registry.example/clbind/echo-pod-name:v1"
	template, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&dep.Spec.Template)
	Expect(err).NotTo(HaveOccurred())
	_, err = ro.rollouts.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Rollout",
		"metadata":   map[string]any{"name": ro.name, "namespace": ro.ns},
		"spec": map[string]any{
			"replicas": int64(replicas),
			"selector": map[string]any{"matchLabels": map[string]any{"app": ro.name}},
			"template": template,
			"strategy": strategy,
		},
	}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
}

// setImage updates the Rollout's pod template: a new revision.
func (ro *rolloutApp) setImage(ctx context.Context, tag string) {
	GinkgoHelper()
	// A JSON patch: a merge patch of a custom resource would replace the whole container list.
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example/clbind/echo-pod-name:%s"}]`, tag)
	_, err := ro.rollouts.Patch(ctx, ro.name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	Expect(err).NotTo(HaveOccurred())
}

// promote does what `kubectl argo rollouts promote` does on a paused Rollout: it unpauses the spec
// if paused and clears the pause conditions through the status subresource.
func (ro *rolloutApp) promote(ctx context.Context) {
	GinkgoHelper()
	u, err := ro.rollouts.Get(ctx, ro.name, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
		_, err = ro.rollouts.Patch(ctx, ro.name, types.MergePatchType, []byte(`{"spec":{"paused":false}}`), metav1.PatchOptions{})
		Expect(err).NotTo(HaveOccurred())
	}
	_, err = ro.rollouts.Patch(ctx, ro.name, types.MergePatchType, []byte(`{"status":{"pauseConditions":null}}`), metav1.PatchOptions{}, "status")
	Expect(err).NotTo(HaveOccurred())
}

// rolloutStatus is what the specs read of a Rollout's status.
type rolloutStatus struct {
	Phase            string `json:"phase"`
	Message          string `json:"message"`
	CurrentStepIndex *int32 `json:"currentStepIndex"`
	CurrentPodHash   string `json:"currentPodHash"`
	StableRS         string `json:"stableRS"`
	PauseConditions  []struct {
		Reason string `json:"reason"`
	} `json:"pauseConditions"`
	BlueGreen struct {
		ActiveSelector  string `json:"activeSelector"`
		PreviewSelector string `json:"previewSelector"`
	} `json:"blueGreen"`
}

func (st rolloutStatus) String() string {
	step := "-"
	if st.CurrentStepIndex != nil {
		step = fmt.Sprint(*st.CurrentStepIndex)
	}
	reasons := make([]string, 0, len(st.PauseConditions))
	for _, c := range st.PauseConditions {
		reasons = append(reasons, c.Reason)
	}
	return fmt.Sprintf("phase %s (%s), step %s, current %s, stable %s, paused %v", st.Phase, st.Message, step, st.CurrentPodHash, st.StableRS, reasons)
}

func (ro *rolloutApp) status(ctx context.Context) (rolloutStatus, error) {
	var st rolloutStatus
	u, err := ro.rollouts.Get(ctx, ro.name, metav1.GetOptions{})
	if err != nil {
		return st, err
	}
	raw, _, _ := unstructured.NestedMap(u.Object, "status")
	err = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st)
	return st, err
}

// waitRollout polls the Rollout until cond holds, failing at once when the manager or the Argo
// Rollouts controller is gone.
func (ro *rolloutApp) waitRollout(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context, st rolloutStatus) (bool, string)) rolloutStatus {
	GinkgoHelper()
	var st rolloutStatus
	last := ""
	Expect(sb.WaitFor(ctx, timeout, what, func(ctx context.Context) (bool, string, error) {
		if err := sb.ManagerRunning(); err != nil {
			return false, "", err
		}
		if err := ro.ar.Running(); err != nil {
			return false, "", err
		}
		var err error
		if st, err = ro.status(ctx); err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		ok, msg := cond(ctx, st)
		if s := st.String(); s != last {
			logf("  %s/%s: %s", ro.ns, ro.name, s)
			last = s
		}
		return ok, st.String() + "; " + msg, nil
	})).To(Succeed())
	return st
}

// waitPaused waits until the Rollout pauses at canary step index step (a pause step), or, for a
// blueGreen Rollout (step < 0), before its promotion with its preview ReplicaSet ready.
func (ro *rolloutApp) waitPaused(ctx context.Context, step int32, timeout time.Duration, what string) rolloutStatus {
	GinkgoHelper()
	reason := "CanaryPauseStep"
	if step < 0 {
		reason = "BlueGreenPause"
	}
	return ro.waitRollout(ctx, timeout, what, func(_ context.Context, st rolloutStatus) (bool, string) {
		if step >= 0 && ptr.Deref(st.CurrentStepIndex, -1) != step {
			return false, ""
		}
		return slices.ContainsFunc(st.PauseConditions, func(c struct {
			Reason string `json:"reason"`
		}) bool {
			return c.Reason == reason
		}), ""
	})
}

// waitStable waits until the Rollout's first revision is stable and Healthy and the listener
// serves exactly its replicas pods, and returns the revision's pod-template hash.
func (ro *rolloutApp) waitStable(ctx context.Context, replicas int, l sandbox.Listener) string {
	GinkgoHelper()
	st := ro.waitRollout(ctx, settleTimeout, "the Rollout's first revision to be stable", func(_ context.Context, st rolloutStatus) (bool, string) {
		return st.Phase == "Healthy" && st.StableRS != "" && st.StableRS == st.CurrentPodHash, ""
	})
	ro.waitServing(ctx, l, st.StableRS, replicas)
	return st.StableRS
}

// waitFinished waits until the Rollout has made hash stable, is Healthy, no pod of another
// revision is left, and the listener serves exactly the replicas pods of hash.
func (ro *rolloutApp) waitFinished(ctx context.Context, hash string, replicas int, l sandbox.Listener) {
	GinkgoHelper()
	ro.waitRollout(ctx, arFinishTimeout, "the Rollout to finish", func(ctx context.Context, st rolloutStatus) (bool, string) {
		if st.Phase != "Healthy" || st.StableRS != hash || st.CurrentPodHash != hash {
			return false, ""
		}
		pods, err := ro.pods(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods {
			if p.Labels[rolloutHashLabel] != hash {
				return false, fmt.Sprintf("pod %s of revision %s still there", p.Name, p.Labels[rolloutHashLabel])
			}
		}
		return true, ""
	})
	ro.waitServing(ctx, l, hash, replicas)
}

// rolloutHashLabel is the label Argo Rollouts gives each revision's pods.
const rolloutHashLabel = "rollouts-pod-template-hash"

func (ro *rolloutApp) pods(ctx context.Context) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := sb.Client().List(ctx, &pods, client.InNamespace(ro.ns), client.MatchingLabels{"app": ro.name}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// waitServing waits until the listener's backends are exactly the replicas Ready pods of
// revision hash, all healthy with a weight.
func (ro *rolloutApp) waitServing(ctx context.Context, l sandbox.Listener, hash string, replicas int) {
	GinkgoHelper()
	Expect(sb.WaitFor(ctx, settleTimeout, fmt.Sprintf("listener %s to serve the %d pods of revision %s alone", l.ID, replicas, hash),
		func(ctx context.Context) (bool, string, error) {
			pods, err := ro.pods(ctx)
			if err != nil {
				return false, err.Error(), nil //nolint:nilerr // retried by the next poll
			}
			want := map[string]bool{}
			for _, p := range pods {
				if p.Labels[rolloutHashLabel] == hash && p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
					want[p.Status.PodIP] = true
				}
			}
			var desc []string
			serving := 0
			for _, t := range sb.Sim().TargetsHealth(sb.LoadBalancerID()) {
				if t.ListenerID != l.ID {
					continue
				}
				desc = append(desc, fmt.Sprintf("%s w=%d %s", t.EniIP, t.Weight, t.Health))
				if want[t.EniIP] && t.Weight > 0 && t.Health == "Alive" {
					serving++
				}
			}
			slices.Sort(desc)
			return len(want) == replicas && serving == replicas && len(desc) == replicas,
				fmt.Sprintf("%d Ready pods of %s; backends: %s", len(want), hash, strings.Join(desc, ", ")), nil
		})).To(Succeed())
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// colors maps the addresses of the pods of each revision in byHash to the revision's color.
func (ro *rolloutApp) colors(ctx context.Context, byHash map[string]string) map[string]string {
	GinkgoHelper()
	pods, err := ro.pods(ctx)
	Expect(err).NotTo(HaveOccurred())
	ips := map[string]string{}
	for _, p := range pods {
		if color, ok := byHash[p.Labels[rolloutHashLabel]]; ok && p.Status.PodIP != "" {
			ips[p.Status.PodIP] = color
		}
	}
	return ips
}

// shares are the bindings' spec.trafficShare (-1 for none).
func (ro *rolloutApp) shares(ctx context.Context, bindings ...string) []int32 {
	GinkgoHelper()
	out := make([]int32, 0, len(bindings))
	for _, name := range bindings {
		var b networkingv1alpha1.CLBBackendBinding
		Expect(sb.Client().Get(ctx, client.ObjectKey{Namespace: ro.ns, Name: name}, &b)).To(Succeed())
		out = append(out, ptr.Deref(b.Spec.TrafficShare, -1))
	}
	return out
}

// splitStep is the split measured at one canary step.
type splitStep struct {
	Weight     int32
	CanaryHash string
	// Reached is how long the step took from the previous promotion (or the update) to its pause.
	Reached time.Duration
	// Requests were answered, Canary and Stable of them by each revision, Other by neither.
	Requests, Canary, Stable, Other int
	// Measured is the canary's share of the requests, in percent.
	Measured float64
	// Nominal is the canary's share of the weight of the healthy backends on the CLB when the
	// measure started; Achieved the canary binding's status.trafficShare.achieved then.
	Nominal  float64
	Achieved string
}

// measureSplit counts which revision answers the next requestsFor(weight) requests.
func (ro *rolloutApp) measureSplit(ctx context.Context, traffic *sandbox.Traffic, l sandbox.Listener, weight int32, canary, stable string) splitStep {
	GinkgoHelper()
	s := splitStep{Weight: weight, CanaryHash: canary, Nominal: ro.nominalShare(ctx, l, canary)}
	var b networkingv1alpha1.CLBBackendBinding
	if err := sb.Client().Get(ctx, client.ObjectKey{Namespace: ro.ns, Name: ro.bindings[1]}, &b); err == nil && b.Status.TrafficShare != nil {
		s.Achieved = b.Status.TrafficShare.Achieved
	}
	n := requestsFor(weight)
	from := traffic.Stats()
	var to sandbox.TrafficStats
	Expect(sb.WaitFor(ctx, time.Duration(n)*arRequestEvery*3, fmt.Sprintf("%d requests at setWeight %d", n, weight), func(context.Context) (bool, string, error) {
		to = traffic.Stats()
		return to.Served-from.Served >= n, fmt.Sprintf("%d served, %d failed", to.Served-from.Served, to.Failed-from.Failed), nil
	})).To(Succeed())
	for pod, count := range to.ByPod {
		count -= from.ByPod[pod]
		switch {
		case strings.HasPrefix(pod, ro.name+"-"+canary+"-"):
			s.Canary += count
		case strings.HasPrefix(pod, ro.name+"-"+stable+"-"):
			s.Stable += count
		default:
			s.Other += count
		}
		s.Requests += count
	}
	s.Measured = 100 * float64(s.Canary) / float64(s.Requests)
	return s
}

// nominalShare is the canary's share of the weight of the healthy backends on the listener.
func (ro *rolloutApp) nominalShare(ctx context.Context, l sandbox.Listener, canary string) float64 {
	GinkgoHelper()
	ips := ro.colors(ctx, map[string]string{canary: "canary"})
	var canaryWeight, total int64
	for _, t := range sb.Sim().TargetsHealth(sb.LoadBalancerID()) {
		if t.ListenerID != l.ID || t.Health != "Alive" {
			continue
		}
		total += t.Weight
		if ips[t.EniIP] == "canary" {
			canaryWeight += t.Weight
		}
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(canaryWeight) / float64(total)
}

// remove deletes the Rollout, the bindings and the Services, and waits until no pod is left and
// the listeners have no backend.
func (ro *rolloutApp) remove(ctx SpecContext) {
	c := sb.Client()
	bg := metav1.DeletePropagationBackground
	err := ro.rollouts.Delete(ctx, ro.name, metav1.DeleteOptions{PropagationPolicy: &bg})
	Expect(client.IgnoreNotFound(err)).To(Succeed())
	for _, name := range ro.bindings {
		Expect(client.IgnoreNotFound(c.Delete(ctx, &networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ro.ns, Name: name}}))).To(Succeed())
	}
	Expect(sb.WaitFor(ctx, cleanupTimeout, ro.ns+" to be removed", func(ctx context.Context) (bool, string, error) {
		pods, err := ro.pods(ctx)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		backends := 0
		for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
			if slices.Contains(ro.listeners, t.ListenerID) {
				backends++
			}
		}
		return len(pods) == 0 && backends == 0, fmt.Sprintf("%d pods, %d backends", len(pods), backends), nil
	})).To(Succeed())
	for _, name := range ro.services {
		Expect(client.IgnoreNotFound(c.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ro.ns, Name: name}}))).To(Succeed())
	}
}
