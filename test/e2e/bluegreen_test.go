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
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// Blue/green by a switch of the Service's selector (issue 15): the blue and green Deployments
// both run and are Ready, the Service and its binding select blue, and the selector is switched to
// green under load, as a blue/green cut-over by hand or Argo Rollouts' blueGreen promotion does.
// The green pods were created while the Service selected blue, so the webhook gave them no gate:
// they were Ready long before the CLB ever checked them, and only make before break keeps the
// listener serving.
const (
	// bgReplicas is the size of each color's Deployment.
	bgReplicas = 2
	// bgDrain is the binding's spec.drain.seconds.
	bgDrain = 5 * time.Second
	// bgSampleEvery is how often the switch is sampled: clbsim's backends and health, and the
	// binding's status.
	bgSampleEvery = 100 * time.Millisecond
	// bgReleaseSlack is how long after the new backends are healthy on the CLB the old ones may
	// take to be let go (weight 0), on top of the drain before they are deregistered: the
	// manager learns the health by polling the CLB (--health-fast-poll=1s in the sandbox) and
	// looks again every 2 s while backends retire (targets.retireRecheck); then a weight write
	// and, a drain later, a deregister write, each after the 200 ms coalescing window and behind
	// the load balancer's busy time after the previous write; the samples are 100 ms apart.
	bgReleaseSlack = 4 * time.Second
	// bgTimeoutSlack is how long after the make-before-break bound the old backends may take to be
	// let go when the new ones never turn healthy: the bound counts from the first sync that saw
	// the switch (the EndpointSlice update comes first), then a weight write.
	bgTimeoutSlack = 3 * time.Second
	// bgEdgeSlack is how much shorter than the drain the time from weight 0 to deregistration may
	// look: each end is seen by a sample up to 100 ms (and a scheduling delay) late, and the
	// manager counts the drain from the sync that let blue go, while its weight write lands a few
	// hundred ms later (the 200 ms coalescing window, the load balancer's busy time after the
	// previous write): 4.8 s between the two writes in one run of the fail-open spec.
	bgEdgeSlack = 500 * time.Millisecond
	// bgBound is the spec.makeBeforeBreak.timeoutSeconds of the fail-open spec.
	bgBound = 5 * time.Second
	// bgHealthyStatusTimeout bounds how long status.healthy may count backends that left: a few
	// fast health polls (--health-fast-poll=1s in the sandbox) and a reconcile.
	bgHealthyStatusTimeout = 5 * time.Second
	// bgSwitchTimeout bounds a switch: the default bound (120 s) plus the drain and slack.
	bgSwitchTimeout = 150 * time.Second
)

var _ = Describe("blue/green", func() {
	JustAfterEach(dumpOnFailure)

	It("switches a Service's selector from blue to green under load with the CLB's default health check: no failed request, never 0 serving backends, blue gone a drain after green is healthy", func(ctx SpecContext) {
		bg := deployBlueGreen(ctx, "e2e-bluegreen", nil)
		sw := bg.switchUnderLoad(ctx)

		sw.report("make-before-break")
		Expect(sw.Samples).To(BeNumerically(">=", int(sw.Took/bgSampleEvery)/2), "too few samples of clbsim during the switch")
		Expect(sw.MaxRetiring).To(BeEquivalentTo(bgReplicas), "status.retiring never showed the %d blue backends", bgReplicas)
		Expect(sw.SwitchingSeen).To(BeTrue(), "the Ready reason never was %s during the switch", networkingv1alpha1.BindingSwitchingReason)
		Expect(sw.SwitchingMessage).To(ContainSubstring("switching pods: %d old backends keep serving until %d new ones are healthy on the CLB", bgReplicas, bgReplicas))
		Expect(sw.GreenHealthy).NotTo(BeZero(), "the green backends never were all healthy")
		Expect(sw.BlueWeight0).NotTo(BeZero(), "the blue backends never went to weight 0")
		Expect(sw.BlueGone).NotTo(BeZero(), "the blue backends never left")
		Expect(sw.Failed).To(BeZero(), "%d of %d requests failed during the switch: %s", sw.Failed, sw.Sent, strings.Join(sw.Failures, "; "))
		Expect(sw.MinServing).To(BeNumerically(">=", bgReplicas),
			"the listener had %d serving backends %v after the switch", sw.MinServing, sw.MinServingAt.Round(time.Millisecond))
		// Make before break: blue keeps its weight until green is healthy, then drains and leaves.
		Expect(sw.BlueWeight0).To(BeNumerically(">=", sw.GreenHealthy), "the blue backends were let go %v before green was healthy", sw.GreenHealthy-sw.BlueWeight0)
		Expect(sw.BlueWeight0-sw.GreenHealthy).To(BeNumerically("<=", bgReleaseSlack), "blue was let go %v after green was healthy", sw.BlueWeight0-sw.GreenHealthy)
		Expect(sw.BlueGone-sw.GreenHealthy).To(BeNumerically("<=", bgDrain+bgReleaseSlack),
			"blue left %v after green was healthy (drain %v)", sw.BlueGone-sw.GreenHealthy, bgDrain)
		Expect(sw.BlueGone-sw.BlueWeight0).To(BeNumerically(">=", bgDrain-bgEdgeSlack), "blue left %v after weight 0: shorter than the drain", sw.BlueGone-sw.BlueWeight0)
		for _, p := range bg.green {
			Expect(sw.ByPod).To(HaveKey(p), "green pod %s served no request", p)
		}
		Expect(bg.timedOutEvents(ctx, sw.start)).To(BeEmpty(), "a %s Event although green turned healthy", "MakeBeforeBreakTimedOut")
		bg.expectGreenOnly(ctx)
	}, SpecTimeout(6*time.Minute))

	It("lets blue go at the bound (spec.makeBeforeBreak.timeoutSeconds=5) when green never turns healthy, with a Warning Event MakeBeforeBreakTimedOut", func(ctx SpecContext) {
		bg := deployBlueGreen(ctx, "e2e-bluegreen-bound", ptr.To(int32(bgBound/time.Second)))
		// Green fails the CLB's health check, whatever its pods answer.
		for _, ip := range bg.greenIPs() {
			Expect(admin(ctx, http.MethodPost, "/health", map[string]any{"Selector": bg.greenSelector(ip), "State": "Dead"})).To(Succeed())
		}
		DeferCleanup(func(ctx SpecContext) {
			for _, ip := range bg.greenIPs() {
				Expect(admin(ctx, http.MethodPost, "/health", map[string]any{"Selector": bg.greenSelector(ip), "State": ""})).To(Succeed())
			}
		})
		sw := bg.switchUnderLoad(ctx)

		sw.report("bound-5s")
		Expect(sw.MaxRetiring).To(BeEquivalentTo(bgReplicas), "status.retiring never showed the %d blue backends", bgReplicas)
		Expect(sw.SwitchingSeen).To(BeTrue(), "the Ready reason never was %s during the switch", networkingv1alpha1.BindingSwitchingReason)
		Expect(sw.GreenHealthy).To(BeZero(), "green turned healthy although clbsim reports it Dead")
		Expect(sw.BlueWeight0).NotTo(BeZero(), "the blue backends never went to weight 0")
		Expect(sw.BlueGone).NotTo(BeZero(), "the blue backends never left")
		// Fail open: blue keeps serving for the bound, then drains and leaves all the same.
		Expect(sw.BlueWeight0).To(BeNumerically(">=", bgBound), "blue was let go %v after the switch, before the bound", sw.BlueWeight0)
		Expect(sw.BlueWeight0).To(BeNumerically("<=", bgBound+bgTimeoutSlack), "blue was let go %v after the switch (bound %v)", sw.BlueWeight0, bgBound)
		Expect(sw.BlueGone-sw.BlueWeight0).To(BeNumerically(">=", bgDrain-bgEdgeSlack), "blue left %v after weight 0: shorter than the drain", sw.BlueGone-sw.BlueWeight0)
		Expect(sw.BlueGone-sw.BlueWeight0).To(BeNumerically("<=", bgDrain+bgReleaseSlack), "blue left %v after weight 0 (drain %v)", sw.BlueGone-sw.BlueWeight0, bgDrain)
		// Until the bound, blue served every request: the first failure comes once blue is at
		// weight 0 (first seen by a sample up to 100 ms after the write).
		Expect(sw.Failed).To(BeNumerically(">", 0), "no request failed with green dead and blue gone")
		Expect(sw.FirstFailure).To(BeNumerically(">=", sw.BlueWeight0-bgSampleEvery), "requests failed before blue was let go: %s", strings.Join(sw.Failures, "; "))

		var events []string
		Eventually(func() []string {
			events = bg.timedOutEvents(ctx, sw.start)
			return events
		}).WithTimeout(10*time.Second).WithPolling(200*time.Millisecond).ShouldNot(BeEmpty(), "no Warning Event MakeBeforeBreakTimedOut on the binding")
		Expect(events[0]).To(ContainSubstring("%d backends of pods Service %s no longer selects waited %v", bgReplicas, bg.service, bgBound))
		Expect(bg.events(ctx, sw.start, "EndpointsVanished")).To(BeEmpty(), "EndpointsVanished although the Service selects the green pods")
		result("bluegreen bound-5s: event %q", events[0])
		var b networkingv1alpha1.CLBBackendBinding
		Expect(sb.Client().Get(ctx, client.ObjectKey{Namespace: bg.ns, Name: bg.service}, &b)).To(Succeed())
		Expect(b.Status.Retiring).To(BeZero())
		// status.healthy comes to 0: both registered backends (green) fail the health check.
		// Right after blue left it may still count blue from the last health poll; a binding
		// with failing backends is polled fast (every second in the sandbox), and each poll
		// that changes the health queues the binding.
		t := time.Now()
		healthyThen := b.Status.Healthy
		Eventually(func(g Gomega) {
			g.Expect(sb.Client().Get(ctx, client.ObjectKey{Namespace: bg.ns, Name: bg.service}, &b)).To(Succeed())
			g.Expect(b.Status.Registered).To(BeEquivalentTo(bgReplicas))
			g.Expect(b.Status.Healthy).To(BeZero())
		}).WithTimeout(bgHealthyStatusTimeout).WithPolling(200*time.Millisecond).Should(Succeed(), "status.healthy of the binding with green dead")
		result("bluegreen bound-5s: status.healthy %d when blue was gone, 0 (green dead) %v later", healthyThen, since(t))
		if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
			Expect(c.Reason).NotTo(Equal(networkingv1alpha1.BindingSwitchingReason), "still switching after the bound: %s", c.Message)
		}
	}, SpecTimeout(6*time.Minute))
})

// blueGreen is a namespace with a blue and a green Deployment (pods labelled app=blue and
// app=green), a Service that selects blue, and a binding of that Service on a listener of its own
// with the CLB's default health check.
type blueGreen struct {
	ns, service string
	listener    sandbox.Listener
	blueApp     sandbox.App
	greenApp    sandbox.App
	// blue and green are the pods' names; ips maps their addresses to "blue" or "green".
	blue, green []string
	ips         map[string]string
}

// deployBlueGreen creates the blue/green setup and waits until blue is bound and healthy and
// green is Ready. bound is the binding's spec.makeBeforeBreak.timeoutSeconds (nil: the default).
func deployBlueGreen(ctx context.Context, ns string, bound *int32) *blueGreen {
	GinkgoHelper()
	allowNamespace(ctx, ns)
	l, err := sb.AddListener(nextPort)
	nextPort++
	Expect(err).NotTo(HaveOccurred())
	// The sandbox's clbsim checks every second; a real CLB listener checks every 5 s and finds a
	// backend healthy after 3 passes. The switch is measured with the real one, set on the
	// listener through the CLB API (ModifyListenerHealthCheck), as a console user would.
	Expect(sb.CLB().ModifyListenerHealthCheck(ctx, sb.LoadBalancerID(), l.ID, *cloudDefaultHealth)).To(Succeed())

	bg := &blueGreen{ns: ns, service: "web", listener: l, ips: map[string]string{},
		blueApp:  sandbox.App{Namespace: ns, Name: "blue", Replicas: bgReplicas, ListenerID: l.ID, DrainSeconds: int32(bgDrain / time.Second)},
		greenApp: sandbox.App{Namespace: ns, Name: "green", Replicas: bgReplicas, ListenerID: l.ID, DrainSeconds: int32(bgDrain / time.Second)}}
	DeferCleanup(bg.remove, NodeTimeout(cleanupTimeout+10*time.Second))
	c := sb.Client()
	Expect(client.IgnoreAlreadyExists(c.Create(ctx, sandbox.OptedInNamespace(ns)))).To(Succeed())
	Expect(c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: bg.service},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "blue"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	})).To(Succeed())
	binding := &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: bg.service},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: sb.LoadBalancerID(),
			Listener:       networkingv1alpha1.ListenerReference{ID: l.ID},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: bg.service, Port: intstr.FromInt32(80)},
			Weight:         ptr.To[int32](10),
			Drain:          &networkingv1alpha1.DrainSpec{Seconds: int32(bgDrain / time.Second)},
		},
	}
	if bound != nil {
		binding.Spec.MakeBeforeBreak = &networkingv1alpha1.MakeBeforeBreakSpec{TimeoutSeconds: *bound}
	}
	Expect(sb.CreateBinding(ctx, binding, 30*time.Second)).To(Succeed())

	// Blue first, with the binding's gate injected by the webhook, as in any rollout.
	t := time.Now()
	Expect(sb.WaitGateInjection(ctx, ns, map[string]string{"app": "blue"}, bg.service)).To(Succeed())
	Expect(c.Create(ctx, deploymentOf(bg.blueApp))).To(Succeed())
	waitSettled(ctx, bg.blueApp)
	logf("%s: blue bound, %d pods Ready and healthy on the CLB (5 s × 3) in %v", ns, bgReplicas, since(t))

	// Then green, while the Service selects blue: no gate, Ready as soon as its containers are.
	t = time.Now()
	Expect(c.Create(ctx, deploymentOf(bg.greenApp))).To(Succeed())
	Expect(sb.WaitFor(ctx, settleTimeout, ns+"/green to be Ready", func(ctx context.Context) (bool, string, error) {
		v, err := sb.Look(ctx, bg.greenApp)
		if err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		ready := 0
		for _, p := range v.Pods {
			if p.Ready == corev1.ConditionTrue && !p.Terminating && p.IP != "" {
				ready++
			}
		}
		return v.RolledOut && ready == bgReplicas && len(v.Pods) == bgReplicas, describe(v), nil
	})).To(Succeed())
	logf("%s: green Ready in %v, not on the CLB", ns, since(t))

	for _, a := range []sandbox.App{bg.blueApp, bg.greenApp} {
		var pods corev1.PodList
		Expect(c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": a.Name})).To(Succeed())
		Expect(pods.Items).To(HaveLen(bgReplicas))
		for _, p := range pods.Items {
			gated := slices.ContainsFunc(p.Spec.ReadinessGates, func(g corev1.PodReadinessGate) bool {
				return string(g.ConditionType) == networkingv1alpha1.ReadinessGateConditionType(bg.service)
			})
			// Blue carries the gate (the Service selected it at admission), green none.
			Expect(gated).To(Equal(a.Name == "blue"), "pod %s: readiness gates %v", p.Name, p.Spec.ReadinessGates)
			bg.ips[p.Status.PodIP] = a.Name
			if a.Name == "blue" {
				bg.blue = append(bg.blue, p.Name)
			} else {
				bg.green = append(bg.green, p.Name)
			}
		}
	}
	return bg
}

// deploymentOf is the app's Deployment as sandbox.App builds it (preStop 5 s, maxSurge 1).
func deploymentOf(app sandbox.App) *appsv1.Deployment {
	for _, obj := range app.Objects(sb.LoadBalancerID(), app.ListenerID) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			return d
		}
	}
	Fail("sandbox.App builds no Deployment")
	return nil
}

func (bg *blueGreen) greenIPs() []string {
	var ips []string
	for ip, color := range bg.ips {
		if color == "green" {
			ips = append(ips, ip)
		}
	}
	slices.Sort(ips)
	return ips
}

func (bg *blueGreen) greenSelector(ip string) clbsim.HealthSelector {
	return clbsim.HealthSelector{LoadBalancerID: sb.LoadBalancerID(), ListenerID: bg.listener.ID, IP: ip}
}

// bgSwitch is what switchUnderLoad measured. Times are offsets from the selector switch.
type bgSwitch struct {
	start time.Time
	Took  time.Duration
	// GreenRegistered, GreenHealthy: the first sample with every green pod registered, and healthy
	// (Alive) on the CLB. BlueWeight0: the first with no blue backend at a weight above 0.
	// BlueGone: the first with no blue backend at all. Zero when never seen.
	GreenRegistered, GreenHealthy, BlueWeight0, BlueGone time.Duration
	// Samples counts the samples of clbsim; MinServing is the fewest backends serving (healthy,
	// weight > 0) in any of them, first seen MinServingAt.
	Samples      int
	MinServing   int
	MinServingAt time.Duration
	// MaxRetiring is the highest status.retiring of the binding; SwitchingSeen whether its Ready
	// reason was Switching, with the first such message.
	MaxRetiring      int32
	SwitchingSeen    bool
	SwitchingMessage string
	Sent, Failed     int
	// FirstFailure is when the first request failed after the switch (0 when none did).
	FirstFailure time.Duration
	Failures     []string
	ByPod        map[string]int
	// Writes are the manager's cloud writes on the listener after the switch.
	Writes []string
}

// clbCounts is one sample of the listener's backends.
type clbCounts struct {
	blue, blueWeighted, green, greenHealthy, serving int
	desc                                             string
}

// sampleCLB reads the listener's backends from clbsim (no API call, no fault).
func (bg *blueGreen) sampleCLB() clbCounts {
	var c clbCounts
	var desc []string
	for _, t := range sb.Sim().TargetsHealth(sb.LoadBalancerID()) {
		if t.ListenerID != bg.listener.ID {
			continue
		}
		color := bg.ips[t.EniIP]
		desc = append(desc, fmt.Sprintf("%s %s w=%d %s", color, t.EniIP, t.Weight, t.Health))
		if t.Health == "Alive" && t.Weight > 0 {
			c.serving++
		}
		switch color {
		case "blue":
			c.blue++
			if t.Weight > 0 {
				c.blueWeighted++
			}
		case "green":
			c.green++
			if t.Health == "Alive" {
				c.greenHealthy++
			}
		}
	}
	slices.Sort(desc)
	c.desc = strings.Join(desc, ", ")
	return c
}

// record notes one sample taken at (after the switch) into sw.
func (sw *bgSwitch) record(c clbCounts, at time.Duration) {
	sw.Samples++
	if sw.MinServing < 0 || c.serving < sw.MinServing {
		sw.MinServing, sw.MinServingAt = c.serving, at
	}
	if sw.GreenRegistered == 0 && c.green == bgReplicas {
		sw.GreenRegistered = at
	}
	if sw.GreenHealthy == 0 && c.greenHealthy == bgReplicas {
		sw.GreenHealthy = at
	}
	if sw.BlueWeight0 == 0 && c.blueWeighted == 0 {
		sw.BlueWeight0 = at
	}
	if sw.BlueGone == 0 && c.blue == 0 {
		sw.BlueGone = at
	}
}

// switchUnderLoad sends 50 requests a second through the listener, switches the Service's
// selector to green, and samples clbsim every 100 ms (and the binding every 200 ms) until blue is
// off the CLB and green serves alone.
func (bg *blueGreen) switchUnderLoad(ctx context.Context) bgSwitch {
	GinkgoHelper()
	trafficStart := time.Now()
	traffic := sandbox.StartTraffic(ctx, bg.listener.DataPlane, requestEvery)
	DeferCleanup(traffic.Stop)
	Expect(sb.WaitFor(ctx, 15*time.Second, "requests to flow through "+bg.listener.DataPlane, func(context.Context) (bool, string, error) {
		st := traffic.Stats()
		return st.Served >= 20, fmt.Sprintf("%d served, %d failed: %v", st.Served, st.Failed, st.Failures), nil
	})).To(Succeed())
	before := traffic.Stats()
	Expect(before.Failed).To(BeZero(), "requests failed before the switch: %v", before.Failures)
	first := bg.sampleCLB()
	Expect(first.serving).To(Equal(bgReplicas), "blue does not serve alone before the switch: %s", first.desc)

	sw := bgSwitch{MinServing: -1}
	var (
		mu   sync.Mutex
		last clbCounts
	)
	sw.start = time.Now()
	patch := []byte(`{"spec":{"selector":{"app":"green"}}}`)
	Expect(sb.Client().Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: bg.ns, Name: bg.service}},
		client.RawPatch(types.MergePatchType, patch))).To(Succeed())
	logf("%s: Service %s switched to app=green", bg.ns, bg.service)

	// clbsim every 100 ms, in the background.
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(sampled)
		tick := time.NewTicker(bgSampleEvery)
		defer tick.Stop()
		for {
			c := bg.sampleCLB()
			mu.Lock()
			sw.record(c, time.Since(sw.start))
			last = c
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	err := sb.WaitFor(ctx, bgSwitchTimeout, "blue to leave the CLB and green to serve alone", func(ctx context.Context) (bool, string, error) {
		if err := sb.ManagerRunning(); err != nil {
			return false, "", err
		}
		var b networkingv1alpha1.CLBBackendBinding
		if err := sb.Client().Get(ctx, client.ObjectKey{Namespace: bg.ns, Name: bg.service}, &b); err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		mu.Lock()
		defer mu.Unlock()
		at := time.Since(sw.start)
		sw.MaxRetiring = max(sw.MaxRetiring, b.Status.Retiring)
		reason := ""
		if c := meta.FindStatusCondition(b.Status.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
			reason = c.Reason
			if c.Reason == networkingv1alpha1.BindingSwitchingReason && !sw.SwitchingSeen {
				sw.SwitchingSeen, sw.SwitchingMessage = true, c.Message
				logf("%s: +%v Ready=%s %s: %s (status.retiring %d)", bg.ns, at.Round(100*time.Millisecond), c.Status, c.Reason, c.Message, b.Status.Retiring)
			}
		}
		done := last.blue == 0 && last.green == bgReplicas && b.Status.Retiring == 0 &&
			reason != networkingv1alpha1.BindingSwitchingReason
		return done, fmt.Sprintf("+%v binding %q retiring %d; backends: %s", at.Round(100*time.Millisecond), reason, b.Status.Retiring, last.desc), nil
	})
	close(stop)
	<-sampled
	Expect(err).NotTo(HaveOccurred())
	sw.Took = time.Since(sw.start)
	st := traffic.Stop()
	sw.Sent, sw.Failed = st.Sent-before.Sent, st.Failed-before.Failed
	sw.Failures, sw.ByPod = st.Failures, st.ByPod
	if len(st.Failures) > 0 {
		// Traffic stamps each failure with its offset from its start.
		sw.FirstFailure = slices.Min(failuresAfter(st.Failures, sw.start.Sub(trafficStart)))
	}
	for _, c := range callsSince(sw.start) {
		if c.IsWrite() && c.Touches(bg.listener.ID) {
			sw.Writes = append(sw.Writes, fmt.Sprintf("%s(%d targets) +%v", c.Action, len(c.TargetsOn(bg.listener.ID)), c.Start.Sub(sw.start).Round(100*time.Millisecond)))
		}
	}
	return sw
}

// report prints the figures of a switch.
func (sw bgSwitch) report(name string) {
	r := func(d time.Duration) string {
		if d == 0 {
			return "never"
		}
		return d.Round(100 * time.Millisecond).String()
	}
	after := func(from, to time.Duration) string {
		if from == 0 || to == 0 {
			return "n/a"
		}
		return (to - from).Round(100 * time.Millisecond).String()
	}
	result("bluegreen %s failed=%d of %d (%d blue → %d green pods, drain %v, CLB health check every 5s x3; after the switch: green registered %s, green healthy %s, blue at weight 0 %s, blue gone %s; "+
		"blue gone %s after green healthy; status.retiring up to %d, Ready reason Switching seen %v; min serving backends %d over %d samples every %v)",
		name, sw.Failed, sw.Sent, bgReplicas, bgReplicas, bgDrain, r(sw.GreenRegistered), r(sw.GreenHealthy), r(sw.BlueWeight0), r(sw.BlueGone),
		after(sw.GreenHealthy, sw.BlueGone), sw.MaxRetiring, sw.SwitchingSeen, sw.MinServing, sw.Samples, bgSampleEvery)
	result("bluegreen %s cloud writes on the listener after the switch: %s", name, strings.Join(sw.Writes, ", "))
	for _, f := range sw.Failures {
		logf("bluegreen %s failure %s", name, f)
	}
}

// events are the binding's Warning Events of reason since t, as their messages.
func (bg *blueGreen) events(ctx context.Context, t time.Time, reason string) []string {
	return bindingWarnings(ctx, bg.ns, bg.service, t, reason)
}

func (bg *blueGreen) timedOutEvents(ctx context.Context, t time.Time) []string {
	return bg.events(ctx, t, "MakeBeforeBreakTimedOut")
}

// expectGreenOnly checks that the listener holds exactly the green pods, healthy and at their
// weight, and that the blue pods still run: the switch never touched them.
func (bg *blueGreen) expectGreenOnly(ctx context.Context) {
	GinkgoHelper()
	var got []string
	for _, t := range sb.Sim().TargetsHealth(sb.LoadBalancerID()) {
		if t.ListenerID == bg.listener.ID {
			got = append(got, fmt.Sprintf("%s w=%d %s", bg.ips[t.EniIP], t.Weight, t.Health))
		}
	}
	Expect(got).To(ConsistOf(slices.Repeat([]string{"green w=10 Alive"}, bgReplicas)))
	v, err := sb.Look(ctx, bg.blueApp)
	Expect(err).NotTo(HaveOccurred())
	Expect(v.Pods).To(HaveLen(bgReplicas), "blue pods: %s", describe(v))
	for _, p := range v.Pods {
		Expect(p.Terminating).To(BeFalse(), "blue pod %s terminates", p.Name)
	}
}

// remove deletes the binding, the Deployments and the Service, and waits until the listener has
// no backend and no pod is left.
func (bg *blueGreen) remove(ctx SpecContext) {
	c := sb.Client()
	for _, obj := range []client.Object{
		&networkingv1alpha1.CLBBackendBinding{ObjectMeta: metav1.ObjectMeta{Namespace: bg.ns, Name: bg.service}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: bg.ns, Name: "blue"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: bg.ns, Name: "green"}},
	} {
		Expect(client.IgnoreNotFound(c.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)))).To(Succeed())
	}
	Expect(sb.WaitFor(ctx, cleanupTimeout, bg.ns+" to be removed", func(ctx context.Context) (bool, string, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(bg.ns)); err != nil {
			return false, err.Error(), nil //nolint:nilerr // retried by the next poll
		}
		backends := 0
		for _, t := range sb.Sim().Targets(sb.LoadBalancerID()) {
			if t.ListenerID == bg.listener.ID {
				backends++
			}
		}
		return len(pods.Items) == 0 && backends == 0, fmt.Sprintf("%d pods, %d backends", len(pods.Items), backends), nil
	})).To(Succeed())
	Expect(client.IgnoreNotFound(c.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: bg.ns, Name: bg.service}}))).To(Succeed())
}
