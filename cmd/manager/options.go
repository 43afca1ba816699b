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

package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"time"
)

// options are the manager's command-line settings.
type options struct {
	// Cloud.
	region         string
	vpcID          string
	clusterID      string
	clbEndpoint    string
	clbScheme      string
	credentialsDir string
	clbQPS         float64
	// enforcePolicies writes and admits bindings only while a CLBBindingPolicy allows them.
	enforcePolicies bool

	// Kubernetes plumbing.
	metricsAddr             string
	secureMetrics           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	leaderElectionID        string
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	enableHTTP2             bool
	pprofAddr               string

	// Webhooks.
	enableWebhooks     bool
	webhookPort        int
	webhookCertDir     string
	manageWebhookCerts bool
	// Self-managed webhook certificates and configurations.
	webhookNamespace            string
	webhookSecretName           string
	webhookServiceName          string
	webhookHost                 string
	mutatingWebhookConfigName   string
	validatingWebhookConfigName string

	// Sync tuning.
	coalesceWindow time.Duration
	// driftCheck is how often each listener's backends are read again to find changes made
	// outside the controller.
	driftCheck     time.Duration
	healthFastPoll time.Duration
	healthSlowPoll time.Duration
	concurrency    int
}

var (
	regionPattern    = regexp.MustCompile(`^[a-z]+-[a-z]+(-[a-z0-9]+)*$`)
	vpcIDPattern     = regexp.MustCompile(`^vpc-[a-z0-9]{8}$`)
	clusterIDPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)
)

func (o *options) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.region, "region", "", "Tencent Cloud region of the load balancers, for example ap-guangzhou. Required.")
	fs.StringVar(&o.vpcID, "vpc-id", "", "VPC of the cluster, for example vpc-1a2b3c4d. Bindings to load balancers in another VPC are refused.")
	fs.StringVar(&o.clusterID, "cluster-id", "", "Stable name of this cluster, for example cls-1a2b3c4d. "+
		"It goes into the tag of every backend this controller registers, so two clusters sharing a listener never touch each other's backends. Required.")
	fs.StringVar(&o.clbEndpoint, "clb-endpoint", "", "Host[:port] of the CLB API, overriding clb.tencentcloudapi.com (for example clbsim on 127.0.0.1:9000).")
	fs.StringVar(&o.clbScheme, "clb-scheme", "HTTPS", "Scheme of the CLB API: HTTPS, or HTTP for a local emulator.")
	fs.StringVar(&o.credentialsDir, "credentials-dir", "", "Directory with files secretId and secretKey (a mounted Secret). "+
		"Without it, credentials come from TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, the SDK profile file, or the CVM role.")
	fs.Float64Var(&o.clbQPS, "clb-qps", 20, "Calls per second allowed for each CLB API action (the cloud's default limit is 20 per account).")
	fs.BoolVar(&o.enforcePolicies, "enforce-binding-policies", true, "Admit bindings, and write them to the CLB, only while a CLBBindingPolicy "+
		"allows them. Use false for single-tenant clusters where every namespace may bind every load balancer the credentials reach.")

	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, :8443 for HTTPS or :8080 for HTTP; 0 disables it.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization. Use false for plain HTTP.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader with a Lease so only one replica writes to the CLB.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease; defaults to the pod's namespace.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "clb-binding-controller.clbind.io", "Name of the leader election Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second,
		"How long a standby waits after the leader's last renewal before it takes over; also the longest pause of the CLB writes when a leader dies.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew before it stops writing and exits; shorter than the lease duration, so two replicas never write at once.")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to acquire or renew the Lease.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address of the net/http/pprof endpoints, for example 127.0.0.1:6060; 0 disables them.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Serve HTTP/2 on the metrics and webhook servers (off because of the HTTP/2 rapid-reset CVEs).")

	fs.BoolVar(&o.enableWebhooks, "enable-webhooks", true, "Serve the pod readiness-gate injector and the binding validator.")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "Port of the webhook server.")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory with the webhook server's tls.crt and tls.key.")
	fs.BoolVar(&o.manageWebhookCerts, "manage-webhook-certs", true, "Create and rotate the webhook certificates and repair the webhook configurations. "+
		"Turn off where OLM or cert-manager owns the certificates; it is turned off automatically under OLM.")

	fs.DurationVar(&o.healthFastPoll, "health-fast-poll", 2*time.Second, "Health poll interval while a gated pod waits or a binding converges.")
	fs.DurationVar(&o.healthSlowPoll, "health-slow-poll", 30*time.Second, "Health poll interval when every binding is steady.")
	fs.StringVar(&o.webhookNamespace, "webhook-namespace", "", "Namespace of the webhook Service and of the certificate Secret; defaults to $POD_NAMESPACE.")
	fs.StringVar(&o.webhookSecretName, "webhook-secret-name", "clb-binding-controller-webhook-server-cert",
		"Secret in --webhook-namespace that holds the self-managed webhook CA and serving certificate (ca.crt, ca.key, tls.crt, tls.key).")
	fs.StringVar(&o.webhookServiceName, "webhook-service-name", "clb-binding-controller-webhook-service", "Service in front of the webhook server.")
	fs.StringVar(&o.webhookHost, "webhook-host", "", "For a manager running outside the cluster: the webhook configurations point at "+
		"https://<host>:<webhook-port>/<path> instead of the Service, and the certificate names this host. A loopback IP becomes localhost "+
		"(the certificates carry DNS names only); other IPs are refused.")
	fs.StringVar(&o.mutatingWebhookConfigName, "mutating-webhook-configuration", "clb-binding-controller-mutating-webhook-configuration",
		"MutatingWebhookConfiguration that receives the CA and is recreated or repaired when deleted or changed.")
	fs.StringVar(&o.validatingWebhookConfigName, "validating-webhook-configuration", "clb-binding-controller-validating-webhook-configuration",
		"ValidatingWebhookConfiguration that receives the CA and is recreated or repaired when deleted or changed.")

	fs.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "Bindings reconciled in parallel; they only read the cache and write status, the cloud calls are batched per load balancer.")
	fs.DurationVar(&o.coalesceWindow, "coalesce-window", 0, "A fixed time a load balancer's worker gathers changes before writing them in one batch. "+
		"With 0 (the default) a worker writes a change at once, gathering only the changes queued for a reconcile and those made while its previous write was in flight.")
	fs.DurationVar(&o.driftCheck, "drift-check-interval", time.Minute, "How often the backends of each bound listener are read again "+
		"(one DescribeTargets per 20 listeners of a load balancer) to find and repair changes made outside the controller: a backend "+
		"removed, added or re-weighted by hand, a listener deleted or re-created. Backends removed or added are usually found sooner, "+
		"by the health poller, at no extra call.")
}

// validate reports every bad flag at once, so a user fixes them in one go.
func (o *options) validate() error {
	var errs []error
	if !regionPattern.MatchString(o.region) {
		errs = append(errs, fmt.Errorf("--region %q is not a Tencent Cloud region such as ap-guangzhou", o.region))
	}
	if o.vpcID != "" && !vpcIDPattern.MatchString(o.vpcID) {
		errs = append(errs, fmt.Errorf("--vpc-id %q is not a VPC id such as vpc-1a2b3c4d", o.vpcID))
	}
	if !clusterIDPattern.MatchString(o.clusterID) {
		errs = append(errs, fmt.Errorf("--cluster-id %q must be 1-40 lowercase alphanumerics or '-', for example cls-1a2b3c4d", o.clusterID))
	}
	if o.clbScheme != "HTTPS" && o.clbScheme != "HTTP" {
		errs = append(errs, fmt.Errorf("--clb-scheme %q must be HTTPS or HTTP", o.clbScheme))
	}
	if o.clbQPS <= 0 {
		errs = append(errs, fmt.Errorf("--clb-qps %v must be positive", o.clbQPS))
	}
	if o.coalesceWindow < 0 || o.coalesceWindow > 10*time.Second {
		errs = append(errs, fmt.Errorf("--coalesce-window %v must be between 0 and 10s", o.coalesceWindow))
	}
	if o.driftCheck < 5*time.Second || o.driftCheck > time.Hour {
		errs = append(errs, fmt.Errorf("--drift-check-interval %v must be between 5s and 1h", o.driftCheck))
	}
	if o.concurrency < 1 || o.concurrency > 64 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles %d must be between 1 and 64", o.concurrency))
	}
	if o.healthFastPoll < 500*time.Millisecond || o.healthSlowPoll < o.healthFastPoll {
		errs = append(errs, fmt.Errorf("--health-fast-poll %v must be at least 500ms and --health-slow-poll %v at least as long", o.healthFastPoll, o.healthSlowPoll))
	}
	// A standby may take over up to a second before the lease expires (client-go compares Lease
	// records cut to whole seconds), and the leader stops writing at the renew deadline: the
	// second between them is what keeps two replicas from writing at once.
	if o.leaderElect && (o.retryPeriod <= 0 || o.renewDeadline <= o.retryPeriod*6/5 || o.leaseDuration < o.renewDeadline+time.Second) {
		errs = append(errs, fmt.Errorf("leader election needs --leader-election-lease-duration %v ≥ --leader-election-renew-deadline %v + 1s, "+
			"and the renew deadline > 1.2 × --leader-election-retry-period %v", o.leaseDuration, o.renewDeadline, o.retryPeriod))
	}
	if o.enableWebhooks && o.manageWebhookCerts {
		errs = append(errs, o.validateWebhooks()...)
	}
	return errors.Join(errs...)
}

func (o *options) validateWebhooks() []error {
	var errs []error
	if o.webhookNamespaceOrEnv() == "" {
		errs = append(errs, errors.New("--webhook-namespace is empty and $POD_NAMESPACE is not set: the certificate Secret needs a namespace"))
	}
	if o.webhookSecretName == "" || o.mutatingWebhookConfigName == "" || o.validatingWebhookConfigName == "" {
		errs = append(errs, errors.New("--webhook-secret-name, --mutating-webhook-configuration and --validating-webhook-configuration must not be empty"))
	}
	if o.webhookHost == "" && o.webhookServiceName == "" {
		errs = append(errs, errors.New("--webhook-service-name must not be empty without --webhook-host"))
	}
	if ip := net.ParseIP(o.webhookHost); ip != nil && !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("--webhook-host %s: the self-managed certificate carries DNS names only; give a DNS name that resolves to it", o.webhookHost))
	}
	return errs
}

// webhookNamespaceOrEnv is --webhook-namespace, or the pod's namespace from $POD_NAMESPACE.
func (o *options) webhookNamespaceOrEnv() string {
	if o.webhookNamespace != "" {
		return o.webhookNamespace
	}
	return os.Getenv("POD_NAMESPACE")
}

// webhookURLHost is the host of URL mode, or "" for Service mode. cert-controller writes DNS SANs
// only, so a loopback IP is replaced by localhost.
func (o *options) webhookURLHost() string {
	if ip := net.ParseIP(o.webhookHost); ip != nil && ip.IsLoopback() {
		return "localhost"
	}
	return o.webhookHost
}
