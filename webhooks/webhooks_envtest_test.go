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
	"crypto/rand"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/webhooks"
	"github.com/clbind/clb-binding-controller/webhooks/certs"
)

// randomID is 8 lowercase alphanumerics, the shape of CLB resource IDs.
func randomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newNamespace creates a fresh namespace that openPolicy allows, opted in to gate injection or not.
func newNamespace(optIn bool) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wh-", Labels: map[string]string{openLabel: "true"}}}
	if optIn {
		ns.Labels[networkingv1alpha1.InjectReadinessGateLabel] = networkingv1alpha1.InjectReadinessGateEnabled
	}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	Eventually(func() error { return cached.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{}) }).Should(Succeed())
	return ns.Name
}

func createService(ns, name string, selector map[string]string, clusterIP string) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, ClusterIP: clusterIP, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	Expect(k8sClient.Create(ctx, svc)).To(Succeed())
	Eventually(func() error { return cached.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{}) }).Should(Succeed())
}

func newBinding(ns, name, lb, service string, port int32) *networkingv1alpha1.CLBBackendBinding {
	return &networkingv1alpha1.CLBBackendBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1alpha1.CLBBackendBindingSpec{
			LoadBalancerID: lb,
			Listener:       networkingv1alpha1.ListenerReference{Port: port, Protocol: networkingv1alpha1.ProtocolTCP},
			ServiceRef:     networkingv1alpha1.ServiceReference{Name: service, Port: intstr.FromInt32(80)},
		},
	}
}

// createBinding creates b and waits until the webhooks' cache sees it.
func createBinding(b *networkingv1alpha1.CLBBackendBinding) {
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	waitCached(b)
}

func waitCached(b *networkingv1alpha1.CLBBackendBinding) {
	Eventually(func(g Gomega) {
		var got networkingv1alpha1.CLBBackendBinding
		g.Expect(cached.Get(ctx, client.ObjectKeyFromObject(b), &got)).To(Succeed())
		g.Expect(got.ResourceVersion).To(Equal(b.ResourceVersion))
	}).Should(Succeed())
}

func createPod(ns, name string, labels map[string]string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	return pod
}

func gateTypes(pod *corev1.Pod) []string {
	out := make([]string, 0, len(pod.Spec.ReadinessGates))
	for _, g := range pod.Spec.ReadinessGates {
		out = append(out, string(g.ConditionType))
	}
	return out
}

var _ = Describe("Pod readiness gate injection", func() {
	It("gives a pod exactly the gates of the bindings whose Service selects it, only in opted-in namespaces", func() {
		setUp := func(ns string) {
			lb := newLB()
			createService(ns, "web", map[string]string{"app": "web"}, "")
			createService(ns, "api", map[string]string{"app": "api"}, "")
			createBinding(newBinding(ns, "web-a", lb, "web", 80))
			createBinding(newBinding(ns, "web-b", lb, "web", 81))
			createBinding(newBinding(ns, "api", lb, "api", 82))
			off := newBinding(ns, "web-off", lb, "web", 83)
			off.Spec.ReadinessGate = new(false)
			createBinding(off)
		}
		optedIn := newNamespace(true)
		setUp(optedIn)

		web := createPod(optedIn, "web-0", map[string]string{"app": "web"})
		Expect(gateTypes(web)).To(ConsistOf("health.clbind.io/web-a", "health.clbind.io/web-b"))

		api := createPod(optedIn, "api-0", map[string]string{"app": "api"})
		Expect(gateTypes(api)).To(ConsistOf("health.clbind.io/api"))

		other := createPod(optedIn, "other-0", map[string]string{"app": "other"})
		Expect(other.Spec.ReadinessGates).To(BeEmpty())

		By("never touching this project's own pods")
		own := createPod(optedIn, "manager-0", map[string]string{"app": "web", webhooks.ComponentLabel: webhooks.ComponentName})
		Expect(own.Spec.ReadinessGates).To(BeEmpty())

		By("keeping a gate the pod already has, without duplicating it")
		pre := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: optedIn, Name: "web-1", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				Containers:     []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "health.clbind.io/web-a"}},
			},
		}
		Expect(k8sClient.Create(ctx, pre)).To(Succeed())
		Expect(gateTypes(pre)).To(Equal([]string{"health.clbind.io/web-a", "health.clbind.io/web-b"}))

		By("leaving pods in namespaces that did not opt in alone")
		plain := newNamespace(false)
		setUp(plain)
		untouched := createPod(plain, "web-0", map[string]string{"app": "web"})
		Expect(untouched.Spec.ReadinessGates).To(BeEmpty())
	})
})

var _ = Describe("CLBBackendBinding validation", func() {
	It("refuses a second binding on the same listener, naming the first, unless both are multiCluster", func() {
		ns := newNamespace(false)
		createService(ns, "web", map[string]string{"app": "web"}, "")
		lb := newLB()
		first := newBinding(ns, "first", lb, "web", 80)
		createBinding(first)

		err := k8sClient.Create(ctx, newBinding(ns, "second", lb, "web", 80))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(And(ContainSubstring("spec.listener"), ContainSubstring(ns+"/first"), ContainSubstring("TCP:80"))))

		By("allowing another port on the same load balancer, and the same port on another one")
		createBinding(newBinding(ns, "other-port", lb, "web", 8080))
		createBinding(newBinding(ns, "other-lb", newLB(), "web", 80))

		By("allowing a shared listener when both bindings are multiCluster")
		shared := newBinding(ns, "shared-a", lb, "web", 90)
		shared.Spec.MultiCluster = true
		createBinding(shared)
		sharedToo := newBinding(ns, "shared-b", lb, "web", 90)
		sharedToo.Spec.MultiCluster = true
		createBinding(sharedToo)
		notShared := newBinding(ns, "not-shared", lb, "web", 90)
		Expect(k8sClient.Create(ctx, notShared)).To(MatchError(ContainSubstring(ns + "/shared-")))

		By("refusing to turn multiCluster off while another binding shares the listener")
		sharedToo.Spec.MultiCluster = false
		Expect(k8sClient.Update(ctx, sharedToo)).To(MatchError(ContainSubstring(ns + "/shared-a")))
	})

	It("compares a listener given by id with one given by port once the port is resolved", func() {
		ns := newNamespace(false)
		createService(ns, "web", map[string]string{"app": "web"}, "")
		lb, listener := newLB(), "lbl-"+randomID()
		byPort := newBinding(ns, "by-port", lb, "web", 80)
		Expect(k8sClient.Create(ctx, byPort)).To(Succeed())
		byPort.Status.ListenerID = listener
		Expect(k8sClient.Status().Update(ctx, byPort)).To(Succeed())
		waitCached(byPort)

		byID := newBinding(ns, "by-id", lb, "web", 0)
		byID.Spec.Listener = networkingv1alpha1.ListenerReference{ID: listener}
		Expect(k8sClient.Create(ctx, byID)).To(MatchError(And(ContainSubstring(ns+"/by-port"), ContainSubstring(listener))))

		By("and refusing the same L7 rule across bindings in different namespaces")
		other := newNamespace(false)
		rule := &networkingv1alpha1.RuleReference{Domain: "www.example.com", URL: "/"}
		l7 := newBinding(ns, "l7", lb, "web", 443)
		l7.Spec.Listener.Protocol, l7.Spec.Rule = networkingv1alpha1.ProtocolHTTPS, rule
		createBinding(l7)
		l7Dup := newBinding(other, "l7", lb, "web", 443)
		l7Dup.Spec.Listener.Protocol, l7Dup.Spec.Rule = networkingv1alpha1.ProtocolHTTPS, rule
		Expect(warnClient.Create(ctx, l7Dup)).To(MatchError(And(ContainSubstring("spec.rule"), ContainSubstring(ns+"/l7"))))
		l7Other := newBinding(other, "l7-api", lb, "web", 443)
		l7Other.Spec.Listener.Protocol, l7Other.Spec.Rule = networkingv1alpha1.ProtocolHTTPS, &networkingv1alpha1.RuleReference{Domain: "www.example.com", URL: "/api"}
		Expect(warnClient.Create(ctx, l7Other)).To(Succeed())
	})

	It("warns, without refusing, about a missing Service and Services that cannot give pod targets gates", func() {
		ns := newNamespace(false)
		lb := newLB()
		warnings.take()
		Expect(warnClient.Create(ctx, newBinding(ns, "no-service", lb, "missing", 80))).To(Succeed())
		Expect(warnings.take()).To(ContainElement(ContainSubstring("Service " + ns + "/missing does not exist")))

		createService(ns, "headless", nil, corev1.ClusterIPNone)
		Expect(warnClient.Create(ctx, newBinding(ns, "headless", lb, "headless", 81))).To(Succeed())
		Expect(warnings.take()).To(ConsistOf(ContainSubstring("is headless"), ContainSubstring("has no selector")))

		createService(ns, "web", map[string]string{"app": "web"}, "")
		Expect(warnClient.Create(ctx, newBinding(ns, "fine", lb, "web", 82))).To(Succeed())
		Expect(warnings.take()).To(BeEmpty())
	})
})

var _ = Describe("Self-managed webhook configuration and certificates", Ordered, func() {
	var ns, lb string
	BeforeAll(func() {
		ns = newNamespace(true)
		lb = newLB()
		createService(ns, "web", map[string]string{"app": "web"}, "")
		createBinding(newBinding(ns, "web", lb, "web", 80))
	})

	// repairTime waits until everything is back and reports how long it took.
	repairTime := func(what string, start time.Time) {
		Eventually(expectRepaired).WithTimeout(15 * time.Second).Should(Succeed())
		took := time.Since(start).Round(time.Millisecond)
		AddReportEntry("repair: "+what, took.String())
		_, _ = fmt.Fprintf(GinkgoWriter, "REPAIR %s: %v\n", what, took)
		Expect(took).To(BeNumerically("<", 10*time.Second))
	}
	expectGates := func(name string) {
		pod := createPod(ns, name, map[string]string{"app": "web"})
		Expect(gateTypes(pod)).To(Equal([]string{"health.clbind.io/web"}))
	}

	It("recreates a deleted MutatingWebhookConfiguration", func() {
		start := time.Now()
		Expect(k8sClient.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}})).To(Succeed())
		repairTime("MutatingWebhookConfiguration deleted", start)
		expectGates("after-mwc-delete")
	})

	It("recreates a deleted ValidatingWebhookConfiguration", func() {
		start := time.Now()
		Expect(k8sClient.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}})).To(Succeed())
		repairTime("ValidatingWebhookConfiguration deleted", start)
		Expect(k8sClient.Create(ctx, newBinding(ns, "dup", lb, "web", 80))).To(MatchError(ContainSubstring(ns + "/web")))
	})

	It("restores changed rules, clientConfig and caBundle", func() {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: mutatingName}, &mwc)).To(Succeed())
		mwc.Webhooks[0].ClientConfig.URL = new("https://localhost:1/elsewhere")
		mwc.Webhooks[0].ClientConfig.CABundle = nil
		mwc.Webhooks[0].Rules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
		mwc.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{}
		start := time.Now()
		Expect(k8sClient.Update(ctx, &mwc)).To(Succeed())
		repairTime("MutatingWebhookConfiguration changed", start)

		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: validatingName}, &vwc)).To(Succeed())
		vwc.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
		vwc.Webhooks[0].ClientConfig.CABundle = []byte("not a CA")
		start = time.Now()
		Expect(k8sClient.Update(ctx, &vwc)).To(Succeed())
		repairTime("ValidatingWebhookConfiguration changed", start)
		expectGates("after-change")
	})

	It("generates new certificates and injects the new CA when the Secret is deleted", func() {
		var old corev1.Secret
		Expect(k8sClient.Get(ctx, secretKey, &old)).To(Succeed())
		start := time.Now()
		Expect(k8sClient.Delete(ctx, &old)).To(Succeed())
		Eventually(func(g Gomega) {
			var secret corev1.Secret
			g.Expect(k8sClient.Get(ctx, secretKey, &secret)).To(Succeed())
			g.Expect(secret.UID).NotTo(Equal(old.UID))
			g.Expect(secret.Data[certs.CACertKey]).NotTo(BeEmpty())
			g.Expect(secret.Data[certs.CACertKey]).NotTo(Equal(old.Data[certs.CACertKey]))
		}).Should(Succeed())
		repairTime("certificate Secret deleted (new CA injected and new certificate served)", start)
		expectGates("after-secret-delete")
		Expect(k8sClient.Create(ctx, newBinding(ns, "dup", lb, "web", 80))).To(MatchError(ContainSubstring(ns + "/web")))
	})

	It("repairs everything deleted at once", func() {
		start := time.Now()
		Expect(k8sClient.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingName}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: validatingName}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secretKey.Namespace, Name: secretKey.Name}})).To(Succeed())
		repairTime("both configurations and the Secret deleted", start)
		expectGates("after-all-delete")
	})
})
