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

// Command manager runs clb-binding-controller: the CLBBackendBinding and CLBHealth controllers
// and the admission webhooks.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"

	// Auth plugins for out-of-cluster kubeconfigs.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/controllers"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
	"github.com/clbind/clb-binding-controller/webhooks"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(networkingv1alpha1.AddToScheme(scheme))
}

func main() {
	var opts options
	opts.bindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(opts); err != nil {
		ctrl.Log.WithName("setup").Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(opts options) error {
	log := ctrl.Log.WithName("setup")
	// Under OLM the bundle's webhookdefinitions own certificates and webhook configurations.
	if os.Getenv("OPERATOR_CONDITION_NAME") != "" && opts.manageWebhookCerts {
		log.Info("Running under OLM: leaving webhook certificates and configurations to OLM")
		opts.manageWebhookCerts = false
	}
	if err := opts.validate(); err != nil {
		return fmt.Errorf("invalid flags: %w", err)
	}
	// The informers' memory grows with the cluster, and the GC lets the heap grow to twice what is
	// live: keep it under 90% of the container's memory limit instead of being OOM-killed at the
	// first burst. An explicit GOMEMLIMIT wins; without a cgroup limit nothing is set.
	if limit, err := memlimit.SetGoMemLimitWithOpts(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log)))); err == nil && limit > 0 {
		log.Info("Go memory limit set from the container's", "bytes", limit)
	}

	var tlsOpts []func(*tls.Config)
	// TLS 1.2 and 1.3 only, on the metrics and the webhook server (test/install/tls_test.go).
	tlsOpts = append(tlsOpts, requireTLS12)
	if !opts.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: opts.metricsAddr, SecureServing: opts.secureMetrics, TLSOpts: tlsOpts}
	if opts.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	wh := newWebhookWiring(opts)
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Cache:                   wh.cacheOptions(controllers.CacheOptions()),
		Metrics:                 metricsOpts,
		WebhookServer:           webhook.NewServer(wh.serverOptions(tlsOpts)),
		HealthProbeBindAddress:  opts.probeAddr,
		PprofBindAddress:        opts.pprofAddr,
		LeaderElection:          opts.leaderElect,
		LeaderElectionID:        opts.leaderElectionID,
		LeaderElectionNamespace: opts.leaderElectionNamespace,
		LeaseDuration:           &opts.leaseDuration,
		RenewDeadline:           &opts.renewDeadline,
		RetryPeriod:             &opts.retryPeriod,
		// The process exits right after the manager stops, so releasing the Lease early is safe and
		// lets a standby replica take over without waiting a whole lease duration.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	cloud, err := clb.New(clb.Config{
		Region: opts.region, Endpoint: opts.clbEndpoint, Scheme: opts.clbScheme,
		CredentialsDir: opts.credentialsDir, RateLimits: clb.RateLimitConfig{QPS: opts.clbQPS},
	})
	if err != nil {
		return fmt.Errorf("creating the CLB client: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Deps{
		Cloud: cloud, ClusterID: opts.clusterID,
		Sync:   lbsync.Options{Window: opts.coalesceWindow, VpcID: opts.vpcID, TargetsTTL: opts.driftCheck},
		Health: health.Options{Fast: opts.healthFastPoll, Slow: opts.healthSlowPoll},

		MaxConcurrentReconciles: opts.concurrency,
		EnforcePolicies:         opts.enforcePolicies,
	}); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	ready := healthz.Ping
	if opts.enableWebhooks {
		if ready, err = wh.setupWebhooks(ctx, mgr, webhooks.Options{EnforcePolicies: opts.enforcePolicies, Cloud: cloud}); err != nil {
			return err
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return fmt.Errorf("adding readyz check: %w", err)
	}

	if !opts.enforcePolicies {
		log.Info("Binding policies are not enforced: every namespace may bind every load balancer the credentials reach (--enforce-binding-policies=false)")
	}
	log.Info("Starting manager", "region", opts.region, "clusterID", opts.clusterID, "leaderElection", opts.leaderElect,
		"enforceBindingPolicies", opts.enforcePolicies)
	return mgr.Start(ctx)
}
