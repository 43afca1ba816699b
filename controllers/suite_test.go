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

package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/controllers"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const (
	// testClusterID goes into every owner tag; a restarted manager keeps it, as a real one does.
	testClusterID = "cls-envtest"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	env       *envtest.Environment
	restCfg   *rest.Config
	scheme    = runtime.NewScheme()
	k8sClient client.Client

	// sim is the cloud; every It gets its own load balancer in it.
	simServer *simtest.Server
	sim       *clbsim.Sim
	// cloud is the tests' own client, for backends "added by hand": it speaks the real SDK to
	// clbsim, as the console would.
	cloud *clb.Client

	// mgr is the running controller; restartManager replaces it.
	mgr *testManager
	// enforcePolicies and targetsTTL are read by startManager: the binding policy specs run a
	// manager that enforces policies and reads backends every few seconds.
	enforcePolicies bool
	targetsTTL      time.Duration
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers suite")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(networkingv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	restCfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The per-LB quota is raised above the documented 200 so that the batching test can need
	// more than one 500-target call; everything else is clbsim's default (20 QPS per action).
	simServer, err = simtest.Start(clbsim.Options{MaxTargetsPerRule: 5000}, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	sim = simServer.Sim
	cloud, err = simServer.Client()
	Expect(err).NotTo(HaveOccurred())

	mgr = startManager()
})

var _ = AfterSuite(func() {
	if mgr != nil {
		mgr.stop()
	}
	if cancel != nil {
		cancel()
	}
	if simServer != nil {
		simServer.Close()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// testManager is one run of the controller: a manager with the controllers and fresh load
// balancer workers, wired by controllers.SetupWithManager as in cmd/manager.
type testManager struct {
	cancel context.CancelFunc
	done   chan error
}

// startManager starts a new controller in the background.
func startManager() *testManager {
	m, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		// A restarted manager registers the same controller name again in this process.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	Expect(err).NotTo(HaveOccurred())

	// The controller's client keeps the production rate limits (20 QPS per action) and tries
	// again quickly.
	cfg := simServer.ClientConfig(nil)
	cfg.RateLimits = clb.RateLimitConfig{}
	cloudClient, err := clb.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	// The wiring of the manager binary: the binding and health controllers on one set of load
	// balancer workers, with its default coalescing (group commit, no fixed window). Short retries, so a binding waiting for its listener sees it within a
	// second; a startup recheck longer than the 2 s writes of the restart spec.
	Expect(controllers.SetupWithManager(m, controllers.Deps{
		Cloud:     cloudClient,
		ClusterID: testClusterID,
		Sync: lbsync.Options{
			RetryBase: 100 * time.Millisecond, RetryMax: time.Second,
			StartupRecheck: 3 * time.Second,
			// The VPC of clbsim's load balancers, so the VPC check runs on every spec's load balancer.
			VpcID:      simtest.VpcID,
			TargetsTTL: targetsTTL,
		},
		EnforcePolicies: enforcePolicies,
	})).To(Succeed())

	mctx, mcancel := context.WithCancel(ctx)
	tm := &testManager{cancel: mcancel, done: make(chan error, 1)}
	go func() {
		defer GinkgoRecover()
		tm.done <- m.Start(mctx)
	}()
	return tm
}

// stop stops the controller and waits until its workers have returned.
func (tm *testManager) stop() {
	tm.cancel()
	Eventually(tm.done).Should(Receive(Not(HaveOccurred())), "the manager did not stop")
}

// restartManager stops the running controller; while it is down, whileDown runs; then a new
// controller, with empty caches and a new Syncer, takes over.
func restartManager(whileDown func()) {
	mgr.stop()
	// Start again even if whileDown fails, so that the following specs have a controller.
	defer func() { mgr = startManager() }()
	if whileDown != nil {
		whileDown()
	}
}
