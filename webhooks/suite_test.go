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
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	webhookmanifests "github.com/clbind/clb-binding-controller/config/webhook"
	"github.com/clbind/clb-binding-controller/controllers"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/testenv"
	"github.com/clbind/clb-binding-controller/webhooks"
	"github.com/clbind/clb-binding-controller/webhooks/certs"
)

// The suite runs the manager as a local process would (cmd/manager --webhook-host=127.0.0.1):
// self-managed certificates (cert-controller's rotator and the certificate provider), the
// webhook configuration repair controller, and the webhook server on real TLS, reached by the
// envtest API server through https://localhost:<port>. Nothing is installed up front: the
// configurations and the Secret are created by the manager itself. Binding policies are enforced,
// as by default, against clbsim through the real SDK; the specs that are not about policies bind
// in namespaces and load balancers the suite's openPolicy allows (newNamespace, newLB).
const (
	systemNamespace = "clb-binding-controller-system"
	mutatingName    = "clb-binding-controller-mutating-webhook-configuration"
	validatingName  = "clb-binding-controller-validating-webhook-configuration"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	env       *envtest.Environment
	k8sClient client.Client
	// cached is the manager's client: tests wait on it so the webhooks' cache has seen their objects.
	cached      client.Client
	warnings    *warningRecorder
	warnClient  client.Client
	provider    *certs.Provider
	webhookPort int
	secretKey   = types.NamespacedName{Namespace: systemNamespace, Name: "clb-binding-controller-webhook-server-cert"}
	scheme      = runtime.NewScheme()
	// simServer is the cloud the policy check reads tags and listeners from.
	simServer *simtest.Server
	// policyClock times the webhook's reuse of cloud reads; specs step it.
	policyClock = clocktesting.NewFakeClock(time.Now())
)

func TestWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest suite: needs the control plane binaries")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhooks Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	ctx, cancel = context.WithCancel(context.Background())
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(networkingv1alpha1.AddToScheme(scheme))

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	warnings = &warningRecorder{}
	warnCfg := rest.CopyConfig(cfg)
	warnCfg.WarningHandlerWithContext = warnings
	warnClient, err = client.New(warnCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}})).To(Succeed())
	simServer, err = simtest.Start(clbsim.Options{}, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, openPolicy())).To(Succeed())

	webhookPort = freePort()
	start := time.Now()
	startManager(cfg)

	By("waiting for the manager to create both configurations, the Secret, and to serve the certificate")
	Eventually(expectRepaired).Should(Succeed())
	Eventually(func() error { return provider.ReadyCheck(nil) }).WithTimeout(30 * time.Second).Should(Succeed())
	AddReportEntry("bootstrap", fmt.Sprintf("configurations created, CA injected and certificate served %v after the manager started (readyz passing)", time.Since(start).Round(time.Millisecond)))
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if simServer != nil {
		simServer.Close()
	}
})

// startManager wires the manager as cmd/manager/webhooks.go does in URL mode.
func startManager(cfg *rest.Config) {
	target := webhookmanifests.Target{MutatingName: mutatingName, ValidatingName: validatingName, Host: "localhost", Port: webhookPort}
	provider = certs.NewProvider(certs.Options{
		SecretKey: secretKey, CertDir: GinkgoT().TempDir(), DNSName: "localhost",
		MutatingName: mutatingName, ValidatingName: validatingName,
	})
	cacheOpts := controllers.CacheOptions()
	obj, byObject := certs.SecretCacheConfig(secretKey)
	cacheOpts.ByObject[obj] = byObject

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Port: webhookPort, TLSOpts: []func(*tls.Config){provider.TLSOpt},
		}),
	})
	Expect(err).NotTo(HaveOccurred())
	cached = mgr.GetClient()

	cloud, err := simServer.Client()
	Expect(err).NotTo(HaveOccurred())
	Expect(webhooks.SetupWithManager(mgr, webhooks.Options{EnforcePolicies: true, Cloud: cloud, Clock: policyClock})).To(Succeed())
	created, err := certs.EnsureSecret(ctx, k8sClient, secretKey)
	Expect(err).NotTo(HaveOccurred())
	Expect(created).To(BeTrue())
	Expect(provider.SetupWithManager(mgr)).To(Succeed())
	Expect((&certs.WebhookConfigReconciler{Client: mgr.GetClient(), Target: target, SecretKey: secretKey}).SetupWithManager(mgr)).To(Succeed())

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// expectRepaired passes once both configurations exist pointed at the webhook server with the
// Secret's CA, and the server serves the Secret's certificate.
func expectRepaired(g Gomega) {
	var secret corev1.Secret
	g.Expect(k8sClient.Get(ctx, secretKey, &secret)).To(Succeed())
	ca := secret.Data[certs.CACertKey]
	g.Expect(ca).NotTo(BeEmpty(), "the rotator has not filled the Secret yet")

	want, _, err := webhookmanifests.Render(webhookmanifests.Target{
		MutatingName: mutatingName, ValidatingName: validatingName, Host: "localhost", Port: webhookPort, CABundle: ca,
	})
	g.Expect(err).NotTo(HaveOccurred())
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: mutatingName}, &mwc)).To(Succeed())
	g.Expect(mwc.Webhooks).To(Equal(want.Webhooks))
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: validatingName}, &vwc)).To(Succeed())
	g.Expect(vwc.Webhooks).To(HaveLen(2))
	g.Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(ca))
	g.Expect(*vwc.Webhooks[0].ClientConfig.URL).To(Equal("https://localhost:" + strconv.Itoa(webhookPort) + "/validate-networking-clbind-io-v1alpha1-clbbackendbinding"))
	g.Expect(vwc.Webhooks[1].ClientConfig.CABundle).To(Equal(ca))
	g.Expect(*vwc.Webhooks[1].ClientConfig.URL).To(Equal("https://localhost:" + strconv.Itoa(webhookPort) + "/validate-networking-clbind-io-v1alpha1-clbhealth"))

	g.Expect(servedCertificate(ca)).To(Equal(pemBlock(secret.Data[certs.CertKey])), "the server serves another certificate")
}

// servedCertificate dials the webhook server the way the API server does (trusting ca, for
// the name localhost) and returns the certificate it serves.
func servedCertificate(ca []byte) ([]byte, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no CA in %q", ca)
	}
	dialer := &net.Dialer{Timeout: time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", net.JoinHostPort("localhost", strconv.Itoa(webhookPort)),
		&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0].Raw, nil
}

func pemBlock(data []byte) []byte {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil
	}
	return block.Bytes
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// warningRecorder keeps the API server's warnings (admission webhook warnings among them).
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, message)
}

// take returns the warnings seen since the last call.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}
