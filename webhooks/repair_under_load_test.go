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

package webhooks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// Self-repair under load: pods keep arriving while both webhook configurations and the
// certificate Secret are deleted and tampered with, round after round.
const (
	// loadInterval is how often the load generator creates a pod.
	loadInterval = 75 * time.Millisecond
	// tamperRounds bursts of tamperBurst each, one action every tamperPause; after each burst
	// the spec waits for the repair, then lets the load run healthy for healthyPause.
	tamperRounds = 4
	tamperBurst  = 1500 * time.Millisecond
	tamperPause  = 100 * time.Millisecond
	healthyPause = time.Second
	// podsAfterRepair are created one by one once the last round is repaired.
	podsAfterRepair = 20
)

// loadPod is one pod create the load generator made.
type loadPod struct {
	name       string
	sent, done time.Time
	gates      []string
	err        error
}

// podLoad creates a pod selected by the binding's Service every loadInterval until stopped.
type podLoad struct {
	ns   string
	mu   sync.Mutex
	pods []loadPod
	stop context.CancelFunc
	done chan struct{}
}

func startPodLoad(ns string) *podLoad {
	loadCtx, stop := context.WithCancel(ctx)
	l := &podLoad{ns: ns, stop: stop, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(l.done)
		tick := time.NewTicker(loadInterval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			l.create(fmt.Sprintf("load-%03d", i))
		}
	}()
	return l
}

// create creates one pod with the suite's context, so stopping the load never cuts a request short.
func (l *podLoad) create(name string) loadPod {
	pod := webPod(l.ns, name)
	p := loadPod{name: name, sent: time.Now()}
	p.err = k8sClient.Create(ctx, pod)
	p.done = time.Now()
	p.gates = gateTypes(pod)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pods = append(l.pods, p)
	return p
}

// finish stops the load and returns every pod it created.
func (l *podLoad) finish() []loadPod {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pods)
}

func webPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
}

// outage runs from the first tamper action of a round until the webhook answered again.
type outage struct{ from, to time.Time }

// overlaps reports whether the pod's create request was in flight at any time of the outage.
func (o outage) overlaps(p loadPod) bool { return p.sent.Before(o.to) && p.done.After(o.from) }

// tamper is one way to break the webhooks; do returns NotFound or Conflict when the repair
// controller or the rotator got there first (the object is gone or just changed).
type tamper struct {
	name string
	do   func() error
}

func tamperActions() []tamper {
	garbage := func() []byte {
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		return b
	}
	return []tamper{
		{"delete MutatingWebhookConfiguration", func() error {
			return k8sClient.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}})
		}},
		{"garbage caBundle", func() error {
			return editConfigurations(
				func(w *admissionregistrationv1.MutatingWebhook) { w.ClientConfig.CABundle = garbage() },
				func(w *admissionregistrationv1.ValidatingWebhook) { w.ClientConfig.CABundle = garbage() })
		}},
		{"delete ValidatingWebhookConfiguration", func() error {
			return k8sClient.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}})
		}},
		{"clientConfig pointed elsewhere", func() error {
			return editConfigurations(
				func(w *admissionregistrationv1.MutatingWebhook) {
					w.ClientConfig.URL = new("https://localhost:1/elsewhere")
				},
				func(w *admissionregistrationv1.ValidatingWebhook) {
					w.ClientConfig.URL = new("https://localhost:1/elsewhere")
				})
		}},
		{"delete certificate Secret", func() error {
			return k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretKey.Namespace, Name: secretKey.Name}})
		}},
		{"rules changed", func() error {
			return editConfigurations(
				func(w *admissionregistrationv1.MutatingWebhook) {
					w.Rules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
				},
				func(w *admissionregistrationv1.ValidatingWebhook) {
					w.Rules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Delete}
				})
		}},
	}
}

// editConfigurations edits every webhook of both configurations, the mutating one first.
func editConfigurations(mutating func(*admissionregistrationv1.MutatingWebhook), validating func(*admissionregistrationv1.ValidatingWebhook)) error {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	mErr := k8sClient.Get(ctx, types.NamespacedName{Name: mutatingName}, &mwc)
	if mErr == nil {
		for i := range mwc.Webhooks {
			mutating(&mwc.Webhooks[i])
		}
		mErr = k8sClient.Update(ctx, &mwc)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	vErr := k8sClient.Get(ctx, types.NamespacedName{Name: validatingName}, &vwc)
	if vErr == nil {
		for i := range vwc.Webhooks {
			validating(&vwc.Webhooks[i])
		}
		vErr = k8sClient.Update(ctx, &vwc)
	}
	if mErr == nil || vErr == nil {
		return nil // at least one of them was tampered with
	}
	return mErr
}

// expectProbeGated passes once the pod webhook really answers: a dry-run pod gets the gate.
func expectProbeGated(g Gomega, ns, gate string) {
	pod := webPod(ns, "probe")
	g.Expect(k8sClient.Create(ctx, pod, client.DryRunAll)).To(Succeed())
	g.Expect(gateTypes(pod)).To(Equal([]string{gate}), "the pod webhook did not answer the probe")
}

var _ = Describe("Self-repair while pods are being created", Serial, func() {
	It("repairs configurations, caBundle and Secret tampered with for rounds, and gates every pod created after the repair", func() {
		ns := newNamespace(true)
		lb := newLB()
		createService(ns, "web", map[string]string{"app": "web"}, "")
		createBinding(newBinding(ns, "web", lb, "web", 80))
		gate := networkingv1alpha1.ReadinessGateConditionType("web")
		Eventually(func(g Gomega) { expectRepaired(g); expectProbeGated(g, ns, gate) }).Should(Succeed())

		load := startPodLoad(ns)
		DeferCleanup(func() { load.finish() })

		applied, skipped := map[string]int{}, map[string]int{}
		actions := tamperActions()
		outages := make([]outage, 0, tamperRounds)
		repairs := make([]time.Duration, 0, tamperRounds)
		for round := range tamperRounds {
			By(fmt.Sprintf("round %d: tampering for %v while pods are created", round+1, tamperBurst))
			from := time.Now()
			var stopped time.Time
			var last string
			for i := round; ; i++ {
				a := actions[i%len(actions)]
				err := a.do()
				stopped, last = time.Now(), a.name
				switch {
				case err == nil:
					applied[a.name]++
				case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
					skipped[a.name]++
				default:
					Fail(fmt.Sprintf("%s: %v", a.name, err))
				}
				if time.Since(from) >= tamperBurst {
					break
				}
				time.Sleep(tamperPause)
			}

			Eventually(func(g Gomega) {
				expectRepaired(g)
				expectProbeGated(g, ns, gate)
			}).WithTimeout(30 * time.Second).Should(Succeed())
			repaired := time.Now()
			took := repaired.Sub(stopped).Round(time.Millisecond)
			outages = append(outages, outage{from: from, to: repaired})
			repairs = append(repairs, took)
			AddReportEntry(fmt.Sprintf("repair under load, round %d", round+1),
				fmt.Sprintf("repaired %v after tampering stopped (last action: %s)", took, last))
			_, _ = fmt.Fprintf(GinkgoWriter, "REPAIR round %d: %v after tampering stopped (last action: %s)\n", round+1, took, last)

			time.Sleep(healthyPause)
		}

		By(fmt.Sprintf("creating %d more pods after the last repair", podsAfterRepair))
		for i := range podsAfterRepair {
			p := load.create(fmt.Sprintf("after-%02d", i))
			Expect(p.err).NotTo(HaveOccurred())
			Expect(p.gates).To(Equal([]string{gate}), "pod %s created after the repair", p.name)
		}
		Expect(k8sClient.Create(ctx, newBinding(ns, "dup", lb, "web", 80))).To(MatchError(ContainSubstring(ns+"/web")),
			"the validating webhook does not refuse a duplicate after the repair")
		pods := load.finish()

		By("every pod created outside an outage has its gate; those created during one are counted")
		var healthy, gatedInOutage int
		var ungatedInOutage, failed, wrongGates []string
		for _, p := range pods {
			switch {
			case p.err != nil:
				failed = append(failed, fmt.Sprintf("%s: %v", p.name, p.err))
			case slices.ContainsFunc(outages, func(o outage) bool { return o.overlaps(p) }):
				switch {
				case slices.Equal(p.gates, []string{gate}):
					gatedInOutage++
				case len(p.gates) == 0:
					ungatedInOutage = append(ungatedInOutage, p.name)
				default:
					wrongGates = append(wrongGates, fmt.Sprintf("%s: %v", p.name, p.gates))
				}
			default:
				healthy++
				if !slices.Equal(p.gates, []string{gate}) {
					wrongGates = append(wrongGates, fmt.Sprintf("%s (created after a repair): %v", p.name, p.gates))
				}
			}
		}
		longest := slices.Max(repairs)
		summary := fmt.Sprintf("%d pods created: %d outside the outages, all gated; %d during the outages, %d gated and %d without the gate (failurePolicy Ignore let them through: expected). Longest repair %v (rounds %v). Tamper actions applied %v, lost to a concurrent repair %v",
			len(pods), healthy, gatedInOutage+len(ungatedInOutage), gatedInOutage, len(ungatedInOutage), longest, repairs, applied, skipped)
		AddReportEntry("repair under load", summary)
		_, _ = fmt.Fprintf(GinkgoWriter, "REPAIR UNDER LOAD: %s\nungated during the outages: %v\n", summary, ungatedInOutage)

		Expect(failed).To(BeEmpty(), "pod creates failed; failurePolicy Ignore should let every pod through")
		Expect(wrongGates).To(BeEmpty())
		Expect(healthy).To(BeNumerically(">=", podsAfterRepair+tamperRounds), "too few pods created outside the outages to check")
		Expect(gatedInOutage+len(ungatedInOutage)).To(BeNumerically(">", 0), "no pod was created during an outage")
		for _, a := range actions {
			Expect(applied).To(HaveKeyWithValue(a.name, BeNumerically(">", 0)), "tamper action %q never took effect", a.name)
		}
		Expect(longest).To(BeNumerically("<", 10*time.Second))
	})
})

// Our CRDs serve one version with conversion strategy None: there is no conversion webhook and no
// CRD caBundle for the manager to repair. These specs pin that, and show that even a conversion
// webhook that cannot answer, set on the installed CRD, is never called.
var _ = Describe("CRD conversion", Serial, func() {
	It("ships CRDs that serve one version and have no conversion webhook", func() {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(yaml.UnmarshalStrict(data, &crd)).To(Succeed(), f)
			if conv := crd.Spec.Conversion; conv != nil {
				Expect(conv.Strategy).To(Equal(apiextensionsv1.NoneConverter), f)
				Expect(conv.Webhook).To(BeNil(), f)
			}
			served := slices.DeleteFunc(slices.Clone(crd.Spec.Versions), func(v apiextensionsv1.CustomResourceDefinitionVersion) bool { return !v.Served })
			Expect(served).To(HaveLen(1), "%s: a second served version needs a conversion webhook, and its caBundle repair", f)
		}
	})

	It("keeps serving and validating bindings when the installed CRD is given a conversion webhook that cannot answer", func() {
		crdClient := newCRDClient()
		crdKey := types.NamespacedName{Name: "clbbackendbindings.networking.clbind.io"}
		ns := newNamespace(false)
		lb := newLB()
		createService(ns, "web", map[string]string{"app": "web"}, "")
		first := newBinding(ns, "first", lb, "web", 80)
		createBinding(first)

		var crd apiextensionsv1.CustomResourceDefinition
		Expect(crdClient.Get(ctx, crdKey, &crd)).To(Succeed())
		Expect(crd.Spec.Conversion.Strategy).To(Equal(apiextensionsv1.NoneConverter))
		original := crd.Spec.Conversion.DeepCopy()
		setConversion := func(conv *apiextensionsv1.CustomResourceConversion) error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var live apiextensionsv1.CustomResourceDefinition
				if err := crdClient.Get(ctx, crdKey, &live); err != nil {
					return err
				}
				live.Spec.Conversion = conv
				return crdClient.Update(ctx, &live)
			})
		}
		DeferCleanup(func() { Expect(setConversion(original)).To(Succeed()) })

		By("the API server itself refuses garbage bytes as the conversion caBundle of an Established CRD")
		err := setConversion(webhookConversion([]byte("junk, not a certificate")))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(ContainSubstring("caBundle")))
		AddReportEntry("CRD conversion tamper: garbage caBundle", err.Error())

		By("setting strategy Webhook with a CA nobody signs with and a Service that does not exist")
		Expect(setConversion(webhookConversion(untrustedCA()))).To(Succeed())
		Expect(crdClient.Get(ctx, crdKey, &crd)).To(Succeed())
		Expect(crd.Spec.Conversion.Strategy).To(Equal(apiextensionsv1.WebhookConverter))

		i := 0
		var last *networkingv1alpha1.CLBBackendBinding
		Consistently(func(g Gomega) {
			i++
			b := newBinding(ns, fmt.Sprintf("tampered-%d", i), lb, "web", int32(1000+i))
			g.Expect(k8sClient.Create(ctx, b)).To(Succeed())
			var got networkingv1alpha1.CLBBackendBinding
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), &got)).To(Succeed())
			g.Expect(got.Spec).To(Equal(b.Spec))
			got.Labels = map[string]string{"updated": "yes"}
			g.Expect(k8sClient.Update(ctx, &got)).To(Succeed())
			var list networkingv1alpha1.CLBBackendBindingList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(HaveField("Name", b.Name)))
			g.Expect(k8sClient.Create(ctx, newBinding(ns, "dup", lb, "web", 80))).To(MatchError(ContainSubstring(ns+"/first")),
				"the validating webhook does not refuse a duplicate")
			last = &got
		}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		By("the manager's watch still delivers bindings")
		waitCached(last)
		AddReportEntry("CRD conversion tamper: Webhook strategy, untrusted CA, missing Service",
			fmt.Sprintf("%d bindings created, read, updated and listed, and a duplicate refused each time, over 3s", i))

		By("restoring strategy None")
		Expect(setConversion(original)).To(Succeed())
		Expect(crdClient.Get(ctx, crdKey, &crd)).To(Succeed())
		Expect(crd.Spec.Conversion.Strategy).To(Equal(apiextensionsv1.NoneConverter))
		createBinding(newBinding(ns, "restored", lb, "web", 999))
	})
})

// newCRDClient is a client that also knows CustomResourceDefinitions.
func newCRDClient() client.Client {
	s := runtime.NewScheme()
	Expect(apiextensionsv1.AddToScheme(s)).To(Succeed())
	c, err := client.New(env.Config, client.Options{Scheme: s})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// webhookConversion is a conversion webhook at a Service that does not exist: were the API server
// to call it, the Service lookup would fail before any connection is made.
func webhookConversion(caBundle []byte) *apiextensionsv1.CustomResourceConversion {
	return &apiextensionsv1.CustomResourceConversion{
		Strategy: apiextensionsv1.WebhookConverter,
		Webhook: &apiextensionsv1.WebhookConversion{
			ClientConfig: &apiextensionsv1.WebhookClientConfig{
				Service:  &apiextensionsv1.ServiceReference{Namespace: systemNamespace, Name: "no-such-conversion-service", Path: new("/convert"), Port: new(int32(443))},
				CABundle: caBundle,
			},
			ConversionReviewVersions: []string{"v1"},
		},
	}
}

// untrustedCA is a well-formed, self-signed CA certificate whose key is thrown away.
func untrustedCA() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "untrusted"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
