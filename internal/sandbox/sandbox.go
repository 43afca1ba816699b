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

// Package sandbox runs the whole product on one machine: a Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler from bin/k8s), fake Nodes with a
// stand-in kubelet whose pods really listen inside a private network namespace, clbsim with a
// load balancer that really health-checks and forwards to those pods, and the manager binary.
// `make demo` and the e2e suite both start it with Start.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/proc"
	"github.com/clbind/clb-binding-controller/internal/testenv"
)

// Fixed names of the sandbox's cloud and cluster.
const (
	// ClusterID is the manager's --cluster-id.
	ClusterID = "cls-sandbox"
	// ManagerNamespace holds the manager's leader election Lease.
	ManagerNamespace = "kube-system"
	// ManagerLeaseName is the manager's leader election Lease.
	ManagerLeaseName = "clb-binding-controller.clbind.io"
)

// Options configure a sandbox. The zero value works.
type Options struct {
	// Dir holds the kubeconfig, credentials and the logs of every process. Empty: a temporary
	// directory, removed by Stop unless KeepDir.
	Dir     string
	KeepDir bool
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// ReadyDelay is how long after start a pod's containers turn ready (default 1s).
	ReadyDelay time.Duration
	// HealthInterval is clbsim's health-check interval (default 1s; 3 passing checks make a
	// backend healthy).
	HealthInterval time.Duration
	// MaxTargetsPerRule is clbsim's backend quota (TOTAL_TARGET_BIND_QUOTA) per L4 listener or
	// L7 rule (0: the cloud's default, 200).
	MaxTargetsPerRule int
	// ListenerPort is the port of the TCP listener of the load balancer (default 80).
	ListenerPort int64
	// NoDataPlane forces the fallback: no network namespace, scripted health, no traffic.
	NoDataPlane bool
	// ManagerBinary is the manager to run. Empty: build ./cmd/manager into Dir.
	ManagerBinary string
	// NoManager starts everything but the manager.
	NoManager bool
	// Webhooks runs the manager's admission webhooks as a local process (--webhook-host): it
	// creates its certificates and webhook configurations, and injects readiness gates.
	Webhooks bool
	// ManagerArgs are appended to the manager's flags.
	ManagerArgs []string
	// Logf receives progress lines (default: discarded).
	Logf func(format string, args ...any)
	// StartTimeout bounds Start (default 3m, building the manager included).
	StartTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.ReadyDelay <= 0 {
		o.ReadyDelay = time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = time.Second
	}
	if o.ListenerPort == 0 {
		o.ListenerPort = 80
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 3 * time.Minute
	}
}

// Sandbox is a running sandbox. Stop it with Stop.
type Sandbox struct {
	opts    Options
	dir     string
	tempDir bool
	start   time.Time

	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	client     client.Client
	clientset  kubernetes.Interface

	kcm, scheduler, manager *proc.Process
	managerBinary           string
	managerProbe            string
	managerMetrics          string
	managerArgs             []string
	managerStarts           int
	pastManagers            []*proc.Process // killed or crashed, for the state dump

	network podNetwork
	netns   *netNS
	kubelet *kubelet
	kcancel context.CancelFunc
	// procs runs the pods of mapped images as local binaries (podhost.go); nil in Start's sandbox.
	procs *procRunner

	cloud     *simtest.Server
	clb       *clb.Client
	admin     *httptest.Server
	lbID      string
	listener  string
	dataPlane string
	probeLog  *os.File
	// probeListener is where the injection probe's binding points (webhooks only).
	probeListener string

	// replicas are the standbys and the recorded cloud calls of every manager (replicas.go).
	replicas replicaSet

	stopOnce sync.Once
}

// Scheme knows the Kubernetes built-in types and this project's API.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(networkingv1alpha1.AddToScheme(Scheme))
}

// Start brings the whole sandbox up, or tears down what it started and returns why it could not.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	opts.defaults()
	s := &Sandbox{opts: opts, dir: opts.Dir, start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := s.startAll(ctx); err != nil {
		path := s.dumpToFile()
		s.Stop()
		if path != "" {
			return nil, fmt.Errorf("%w (state dumped to %s)", err, path)
		}
		return nil, err
	}
	s.logf("sandbox ready in %v: kubeconfig %s, logs in %s", s.since(s.start), s.kubeconfig, s.dir)
	return s, nil
}

func (s *Sandbox) logf(format string, args ...any) { s.opts.Logf(format, args...) }

func (s *Sandbox) since(t time.Time) time.Duration {
	return time.Since(t).Round(100 * time.Millisecond)
}

// step runs one start-up step and reports its duration.
func (s *Sandbox) step(name string, fn func() error) error {
	t := time.Now()
	s.logf("… %s", name)
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.logf("✓ %s (%v)", name, s.since(t))
	return nil
}

func (s *Sandbox) startAll(ctx context.Context) error {
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "clbind-sandbox-")
		if err != nil {
			return fmt.Errorf("creating the sandbox directory: %w", err)
		}
		s.dir, s.tempDir = dir, true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("creating the sandbox directory: %w", err)
	}
	if err := writeOwner(s.dir); err != nil {
		return fmt.Errorf("writing the sandbox's owner: %w", err)
	}
	cleanupStaleProcesses(s.logf)
	var managerBuild chan error
	if !s.opts.NoManager {
		// Build while the control plane starts: both take seconds.
		managerBuild = make(chan error, 1)
		go func() { managerBuild <- s.buildManager(ctx) }()
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"pod network", func() error { return s.startNetwork(ctx) }},
		{"control plane: etcd and kube-apiserver", func() error { return s.startAPIServer() }},
		{"control plane: kube-controller-manager and kube-scheduler", func() error { return s.startControllers(ctx) }},
		{fmt.Sprintf("%d nodes and the stand-in kubelet", s.opts.Nodes), func() error { return s.startKubelet(ctx) }},
		{"clbsim with a load balancer and a TCP listener", func() error { return s.startCloud(ctx) }},
	}
	if !s.opts.NoManager {
		steps = append(steps,
			struct {
				name string
				fn   func() error
			}{"manager binary", func() error { return <-managerBuild }},
			struct {
				name string
				fn   func() error
			}{"manager (leader election on)", func() error { return s.startManager(ctx) }},
		)
	}
	for _, st := range steps {
		if err := s.step(st.name, st.fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sandbox) startNetwork(ctx context.Context) error {
	if s.opts.NoDataPlane {
		s.logf("  no data plane (NoDataPlane): pod health is scripted by clbsim and no traffic flows")
		s.network = &noNetwork{}
		return nil
	}
	if err := netnsSupport(); err != nil {
		s.logf("  WARNING: no data plane: %v. Pod health is scripted by clbsim and no traffic flows.", err)
		s.network = &noNetwork{}
		return nil
	}
	n, err := newNetNS(ctx, s.logf)
	if err != nil {
		return err
	}
	s.netns, s.network = n, n
	s.logf("  network namespace %s, veth %s (%s) ↔ %s (%s), pods in %s", n.name, n.hostIf, n.hostIP, n.nsIf, n.nsIP, n.subnet)
	return nil
}

func (s *Sandbox) startAPIServer() error {
	env, err := testenv.New()
	if err != nil {
		return err
	}
	s.env = env
	// Both under the sandbox directory, so a later run finds them if this one crashes.
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(s.dir, "etcd")}
	env.ControlPlane.GetAPIServer().CertDir = filepath.Join(s.dir, "apiserver")
	for _, d := range []string{env.ControlPlane.Etcd.DataDir, env.ControlPlane.APIServer.CertDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	user, err := env.AddUser(envtest.User{Name: "sandbox-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	s.cfg = rest.CopyConfig(user.Config())
	s.cfg.QPS, s.cfg.Burst = 100, 200
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	s.kubeconfig = filepath.Join(s.dir, "kubeconfig")
	if err := os.WriteFile(s.kubeconfig, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	if s.client, err = client.New(s.cfg, client.Options{Scheme: Scheme}); err != nil {
		return fmt.Errorf("creating the client: %w", err)
	}
	if s.clientset, err = kubernetes.NewForConfig(s.cfg); err != nil {
		return fmt.Errorf("creating the clientset: %w", err)
	}
	s.logf("  kube-apiserver at %s", s.cfg.Host)
	return nil
}

func (s *Sandbox) startControllers(ctx context.Context) error {
	assets, err := testenv.BinaryAssetsDir()
	if err != nil {
		return err
	}
	common := []string{"--kubeconfig=" + s.kubeconfig, "--authentication-kubeconfig=" + s.kubeconfig,
		"--authorization-kubeconfig=" + s.kubeconfig, "--leader-elect=true", "--bind-address=127.0.0.1", "--secure-port=0"}
	kcmArgs := append([]string{
		"--controllers=*,-serviceaccount-token",
		"--use-service-account-credentials=false",
		"--node-monitor-period=2s",
		"--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5",
	}, common...)
	if s.kcm, err = startChild("kube-controller-manager", filepath.Join(s.dir, "kube-controller-manager.log"),
		filepath.Join(assets, "kube-controller-manager"), kcmArgs, nil); err != nil {
		return err
	}
	if s.scheduler, err = startChild("kube-scheduler", filepath.Join(s.dir, "kube-scheduler.log"),
		filepath.Join(assets, "kube-scheduler"), common, nil); err != nil {
		return err
	}
	// Each holds its leader Lease once it runs its controllers.
	return s.waitFor(ctx, 60*time.Second, "kube-controller-manager and kube-scheduler to take their leases", func(ctx context.Context) (bool, string, error) {
		for _, p := range []*proc.Process{s.kcm, s.scheduler} {
			if err := p.ErrExited(); err != nil {
				return false, "", err
			}
			var lease coordinationv1.Lease
			if err := s.client.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: p.Name()}, &lease); err != nil {
				return false, fmt.Sprintf("no lease %s yet: %v", p.Name(), err), nil
			}
		}
		return true, "", nil
	})
}

func (s *Sandbox) startKubelet(ctx context.Context) error {
	s.kubelet = &kubelet{cs: s.clientset, net: s.network, readyDelay: s.opts.ReadyDelay, logf: s.logf, procs: s.procs}
	if err := s.kubelet.registerNodes(ctx, s.opts.Nodes); err != nil {
		return err
	}
	kctx, cancel := context.WithCancel(context.Background())
	s.kcancel = cancel
	if err := s.kubelet.run(kctx); err != nil {
		return err
	}
	for _, n := range s.kubelet.nodes {
		s.logf("  node %s providerID %s", n.Name, n.Spec.ProviderID)
	}
	// The scheduler places pods only on Ready nodes without not-ready taints.
	return s.waitFor(ctx, 30*time.Second, "nodes to be schedulable", func(ctx context.Context) (bool, string, error) {
		var nodes corev1.NodeList
		if err := s.client.List(ctx, &nodes); err != nil {
			return false, err.Error(), nil //nolint:nilerr // a failed read is retried by the next poll
		}
		for _, n := range nodes.Items {
			if len(n.Spec.Taints) > 0 {
				return false, fmt.Sprintf("node %s has taints %v", n.Name, n.Spec.Taints), nil
			}
		}
		return len(nodes.Items) == s.opts.Nodes, fmt.Sprintf("%d nodes", len(nodes.Items)), nil
	})
}

func (s *Sandbox) startCloud(ctx context.Context) error {
	// The load balancer stays busy after each batch, as the real one does (clbsim.DefaultBusy).
	// Pod IPs come from 198.18.0.0/15, outside RFC 1918: the LB's VPC holds that range too, as
	// in a VPC-CNI cluster where pod IPs are ENI IPs of the VPC (nodes stay in 10.0.0.0/8).
	opts := clbsim.Options{
		HealthInterval: s.opts.HealthInterval, MaxTargetsPerRule: s.opts.MaxTargetsPerRule,
		Latency: clbsim.DefaultBusy(), VpcID: simtest.VpcID,
		VPCCIDRs: map[string][]netip.Prefix{simtest.VpcID: append(clbsim.DefaultVPCCIDRs(), benchRange)},
	}
	if s.netns != nil {
		opts.ProbeCIDRs = []netip.Prefix{s.netns.subnet}
		// Every real health probe goes to probes.log: when a backend is slow to turn healthy,
		// it shows which probes failed and when.
		probes, err := os.Create(filepath.Join(s.dir, "probes.log"))
		if err != nil {
			return fmt.Errorf("creating the probe log: %w", err)
		}
		s.probeLog = probes
		var mu sync.Mutex
		opts.OnProbe = func(ip string, port int64, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = fmt.Fprintf(probes, "%s %s:%d ok=%v\n", time.Now().Format("15:04:05.000"), ip, port, ok)
		}
	}
	credentials := filepath.Join(s.dir, "credentials")
	if err := os.MkdirAll(credentials, 0o700); err != nil {
		return fmt.Errorf("creating the credentials directory: %w", err)
	}
	cloud, err := simtest.Start(opts, credentials)
	if err != nil {
		return err
	}
	s.cloud = cloud
	cfg := cloud.ClientConfig(nil)
	cfg.RateLimits = clb.RateLimitConfig{QPS: 5}
	// This client is another actor on the load balancer (a console user, another tool): it does
	// not know the manager's writes, so it meets the load balancer busy after them and waits
	// its turn longer than the manager, which paces its own writes.
	cfg.Retry = clb.RetryConfig{MaxRetries: 20, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	if s.clb, err = clb.New(cfg); err != nil {
		return fmt.Errorf("creating the CLB client: %w", err)
	}
	s.admin = httptest.NewServer(cloud.Sim.AdminHandler())
	s.lbID = cloud.Sim.AddLoadBalancer("sandbox")
	s.listener = cloud.Sim.AddListener(s.lbID, "TCP", s.opts.ListenerPort)
	s.logf("  CLB API at %s (admin %s), load balancer %s, TCP listener %s on port %d",
		cloud.Endpoint, s.admin.URL, s.lbID, s.listener, s.opts.ListenerPort)
	if s.netns == nil {
		return nil
	}
	if s.dataPlane, err = cloud.Sim.ServeListener(s.lbID, s.listener); err != nil {
		return fmt.Errorf("serving the listener's data plane: %w", err)
	}
	s.logf("  data plane: %s forwards to healthy backends in %s (health checked every %v)", s.dataPlane, s.netns.subnet, s.opts.HealthInterval)
	_ = ctx
	return nil
}

// repoRoot is where ./cmd/manager builds from.
func (s *Sandbox) buildManager(ctx context.Context) error {
	if s.opts.ManagerBinary != "" {
		if _, err := os.Stat(s.opts.ManagerBinary); err != nil {
			return fmt.Errorf("manager binary: %w", err)
		}
		s.managerBinary = s.opts.ManagerBinary
		return nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	out := filepath.Join(s.dir, "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/manager: %w\n%s", err, b)
	}
	s.managerBinary = out
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Sandbox) startManager(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.managerProbe = "127.0.0.1:" + strconv.Itoa(port)
	if port, err = freePort(); err != nil {
		return err
	}
	s.managerMetrics = "127.0.0.1:" + strconv.Itoa(port)
	args := make([]string, 0, 16)
	args = append(args,
		"--region="+simtest.Region,
		"--cluster-id="+ClusterID,
		"--clb-scheme=HTTP",
		"--credentials-dir="+s.cloud.CredentialsDir,
		"--leader-elect=true",
		"--leader-election-namespace="+ManagerNamespace,
		"--health-probe-bind-address="+s.managerProbe,
		"--metrics-bind-address="+s.managerMetrics,
		"--metrics-secure=false",
		"--health-fast-poll=1s",
	)
	if s.opts.Webhooks {
		hookPort, err := freePort()
		if err != nil {
			return err
		}
		args = append(args, "--enable-webhooks=true", "--webhook-host=127.0.0.1", "--webhook-port="+strconv.Itoa(hookPort),
			"--webhook-namespace="+ManagerNamespace, "--webhook-cert-dir="+filepath.Join(s.dir, "webhook-certs"))
	} else {
		args = append(args, "--enable-webhooks=false")
	}
	s.managerArgs = append(args, s.opts.ManagerArgs...)
	return s.runManager(ctx, "")
}

// runManager starts the manager process with s.managerArgs and waits until it is ready, leads
// (holds the Lease under an identity other than previousHolder), and, with webhooks, until the
// API server really sends pod creations through its injector.
func (s *Sandbox) runManager(ctx context.Context, previousHolder string) error {
	s.managerStarts++
	if s.manager != nil {
		s.pastManagers = append(s.pastManagers, s.manager)
	}
	name := "manager" // its log is name.log
	if s.managerStarts > 1 {
		name = fmt.Sprintf("manager-%d", s.managerStarts)
	}
	// Each start reaches clbsim through a recording listener of its own (replicas.go).
	r := &Replica{Name: name, args: s.managerArgs}
	if err := s.startReplica(r); err != nil {
		return err
	}
	s.manager = r.proc
	// A manager killed without releasing its Lease blocks the next one for a lease duration (15s).
	err := s.waitFor(ctx, 90*time.Second, "the manager to be ready and lead", func(ctx context.Context) (bool, string, error) {
		if err := s.manager.ErrExited(); err != nil {
			return false, "", err
		}
		resp, err := proc.HTTPStatus(ctx, "http://"+s.managerProbe+"/readyz")
		if err != nil || resp != http.StatusOK {
			return false, fmt.Sprintf("readyz: %d %v", resp, err), nil
		}
		holder, err := s.leaseHolder(ctx)
		if err != nil {
			return false, fmt.Sprintf("no leader lease yet: %v", err), nil
		}
		if holder == "" {
			return false, "leader lease has no holder", nil
		}
		if holder == previousHolder {
			return false, fmt.Sprintf("leader lease still held by the previous manager %s", holder), nil
		}
		if s.opts.Webhooks {
			var hooks admissionregistrationv1.MutatingWebhookConfigurationList
			if err := s.client.List(ctx, &hooks); err != nil {
				return false, err.Error(), nil //nolint:nilerr // a failed read is retried by the next poll
			}
			for _, h := range hooks.Items {
				for _, w := range h.Webhooks {
					if len(w.ClientConfig.CABundle) == 0 {
						return false, "webhook configuration " + h.Name + " has no CA yet", nil
					}
				}
			}
			if len(hooks.Items) == 0 {
				return false, "no mutating webhook configuration yet", nil
			}
		}
		return true, "", nil
	})
	if err != nil || !s.opts.Webhooks {
		return err
	}
	return s.proveInjection(ctx)
}

// leaseHolder is the identity holding the manager's leader Lease ("" when none).
func (s *Sandbox) leaseHolder(ctx context.Context) (string, error) {
	lease, err := s.ManagerLease(ctx)
	if err != nil {
		return "", err
	}
	return ptr.Deref(lease.Spec.HolderIdentity, ""), nil
}

// ManagerLease reads the managers' leader election Lease.
func (s *Sandbox) ManagerLease(ctx context.Context) (*coordinationv1.Lease, error) {
	var lease coordinationv1.Lease
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ManagerNamespace, Name: ManagerLeaseName}, &lease); err != nil {
		return nil, fmt.Errorf("reading the leader Lease %s/%s: %w", ManagerNamespace, ManagerLeaseName, err)
	}
	return &lease, nil
}

// KillManager kills the manager with SIGKILL, as a node failure or an OOM kill would: it
// releases nothing (its Lease stays held until it expires) and finishes no call in flight.
func (s *Sandbox) KillManager() error {
	if s.manager == nil {
		return errors.New("the sandbox runs no manager")
	}
	if done, _ := s.manager.Exited(); done {
		return s.manager.ErrExited()
	}
	if err := s.manager.Kill(); err != nil { // returns once the process is gone
		return err
	}
	s.logf("manager (pid %d) killed with SIGKILL", s.manager.Pid())
	return nil
}

// RestartManager starts the manager again after KillManager (or a crash), with the same flags,
// and returns once it is ready, has taken over the leader Lease from its predecessor (up to a
// lease duration after a SIGKILL) and, with webhooks, injects readiness gates again.
func (s *Sandbox) RestartManager(ctx context.Context) error {
	if s.manager == nil {
		return errors.New("the sandbox runs no manager")
	}
	if done, _ := s.manager.Exited(); !done {
		return errors.New("the manager is still running: kill it first")
	}
	previous, err := s.leaseHolder(ctx)
	if err != nil {
		return fmt.Errorf("reading the leader lease: %w", err)
	}
	t := time.Now()
	// Each start takes free probe and metrics ports: another socket may have taken the old ones
	// since. A port taken between the check and the bind (the webhook port too) costs a retry.
	for attempt := 1; ; attempt++ {
		if err = s.freshManagerPorts(attempt > 1); err != nil {
			return err
		}
		err = s.runManager(ctx, previous)
		if err == nil || attempt == restartAttempts || !strings.Contains(s.manager.Tail(20), "address already in use") {
			break
		}
		s.logf("manager restart %d of %d found a port taken; retrying on other ports", attempt, restartAttempts)
	}
	if err != nil {
		if path := s.dumpToFile(); path != "" {
			return fmt.Errorf("restarting the manager: %w (state dumped to %s)", err, path)
		}
		return fmt.Errorf("restarting the manager: %w", err)
	}
	s.logf("manager restarted and leading in %v", s.since(t))
	return nil
}

// restartAttempts bounds the starts of RestartManager that find a port taken.
const restartAttempts = 3

// freshManagerPorts gives the manager's next start free probe and metrics ports, and a free
// webhook port too when webhookToo is set.
func (s *Sandbox) freshManagerPorts(webhookToo bool) error {
	for _, flag := range []string{"--health-probe-bind-address", "--metrics-bind-address", "--webhook-port"} {
		if flag == "--webhook-port" && (!webhookToo || flagValue(s.managerArgs, flag) == "") {
			continue
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		value := "127.0.0.1:" + strconv.Itoa(port)
		switch flag {
		case "--health-probe-bind-address":
			s.managerProbe = value
		case "--metrics-bind-address":
			s.managerMetrics = value
		default:
			value = strconv.Itoa(port)
		}
		s.managerArgs = setFlag(s.managerArgs, flag, value)
	}
	return nil
}

// EnsureManager restarts the manager if it is not running (it crashed, or a spec killed it and
// failed before starting it again), so that one failed spec does not fail every later one.
func (s *Sandbox) EnsureManager(ctx context.Context) error {
	if s.manager == nil {
		return nil
	}
	if done, _ := s.manager.Exited(); !done {
		return nil
	}
	s.logf("the manager is not running at the start of a spec: starting it again")
	return s.RestartManager(ctx)
}

// startChild runs a control-plane component or the manager with the sandbox's environment plus
// env, its output in logPath.
func startChild(name, logPath, bin string, args, env []string) (*proc.Process, error) {
	return proc.Start(proc.Options{Name: name, Bin: bin, Args: args, LogPath: logPath, Env: env, InheritEnv: true})
}

// WaitFor polls cond every 200ms until it holds, fails, or timeout passes. On timeout the error
// carries cond's last message and the path of a full state dump.
func (s *Sandbox) WaitFor(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) error {
	if err := s.waitFor(ctx, timeout, what, cond); err != nil {
		if path := s.dumpToFile(); path != "" {
			return fmt.Errorf("%w (state dumped to %s)", err, path)
		}
		return err
	}
	return nil
}

func (s *Sandbox) waitFor(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) error {
	var last string
	var condErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, msg, err := cond(ctx)
		last = msg
		condErr = err
		return ok, err
	})
	switch {
	case err == nil:
		return nil
	case condErr != nil:
		return condErr
	case last != "":
		return fmt.Errorf("timed out after %v waiting for %s: %s", timeout, what, last)
	default:
		return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what, err)
	}
}

// Stop stops the manager, the kubelet, clbsim, the control plane and removes the network
// namespace, in that order. It is safe to call twice.
func (s *Sandbox) Stop() {
	s.stopOnce.Do(func() {
		var errs []error
		if s.manager != nil {
			errs = append(errs, s.manager.Stop(15*time.Second))
		}
		errs = append(errs, s.stopReplicas())
		if s.kcancel != nil {
			s.kcancel()
		}
		if s.kubelet != nil && s.kubelet.queue != nil {
			s.kubelet.stop()
		}
		if s.admin != nil {
			s.admin.Close()
		}
		if s.cloud != nil {
			s.cloud.Close()
		}
		if s.probeLog != nil {
			_ = s.probeLog.Close()
		}
		errs = append(errs, s.scheduler.Stop(10*time.Second), s.kcm.Stop(10*time.Second))
		if s.env != nil {
			if err := s.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
			}
		}
		if s.netns != nil {
			s.netns.close()
		}
		if s.dir != "" {
			_ = os.RemoveAll(filepath.Join(s.dir, "etcd"))
			_ = os.Remove(filepath.Join(s.dir, ownerFile))
		}
		if err := errors.Join(errs...); err != nil {
			s.logf("warning: %v", err)
		}
		if s.tempDir && !s.opts.KeepDir {
			_ = os.RemoveAll(s.dir)
		}
	})
}

// Keep makes Stop leave the sandbox directory (logs, kubeconfig, state dumps) in place.
func (s *Sandbox) Keep() { s.opts.KeepDir = true }

// Config is the admin REST config of the API server.
func (s *Sandbox) Config() *rest.Config { return rest.CopyConfig(s.cfg) }

// Client is an admin client that knows this project's API (Scheme).
func (s *Sandbox) Client() client.Client { return s.client }

// Clientset is an admin client-go clientset.
func (s *Sandbox) Clientset() kubernetes.Interface { return s.clientset }

// Kubeconfig is the path of an admin kubeconfig for kubectl.
func (s *Sandbox) Kubeconfig() string { return s.kubeconfig }

// Dir holds the kubeconfig, credentials and every process's log.
func (s *Sandbox) Dir() string { return s.dir }

// Sim is the emulated cloud.
func (s *Sandbox) Sim() *clbsim.Sim { return s.cloud.Sim }

// CLB is a client of the emulated cloud through the real SDK (5 calls a second per action, so
// it leaves the manager its share of clbsim's rate limit).
func (s *Sandbox) CLB() *clb.Client { return s.clb }

// CLBEndpoint is host:port of the emulated CLB API; AdminURL its admin API.
func (s *Sandbox) CLBEndpoint() string { return s.cloud.Endpoint }

// AdminURL is the base URL of clbsim's admin API.
func (s *Sandbox) AdminURL() string { return s.admin.URL }

// LoadBalancerID and ListenerID name the load balancer and TCP listener the sandbox created.
func (s *Sandbox) LoadBalancerID() string { return s.lbID }

// ListenerID is the TCP listener on LoadBalancerID.
func (s *Sandbox) ListenerID() string { return s.listener }

// DataPlaneAddr is the local address forwarding to the listener's healthy backends, or "" in
// the fallback without a data plane.
func (s *Sandbox) DataPlaneAddr() string { return s.dataPlane }

// HasDataPlane reports whether pods really listen and clbsim really checks and forwards.
func (s *Sandbox) HasDataPlane() bool { return s.dataPlane != "" }

// PodNetwork is the range pod addresses come from (invalid in the fallback).
func (s *Sandbox) PodNetwork() netip.Prefix {
	if s.netns == nil {
		return netip.Prefix{}
	}
	return s.netns.subnet
}

// Webhooks reports whether the manager serves its admission webhooks (readiness gates are then
// injected into pods of opted-in namespaces).
func (s *Sandbox) Webhooks() bool { return s.opts.Webhooks && s.manager != nil }

// ManagerLog is the path of the current manager's log (manager.log, then manager-2.log after a
// restart, and so on).
func (s *Sandbox) ManagerLog() string {
	if s.manager == nil {
		return filepath.Join(s.dir, "manager.log")
	}
	return s.manager.LogPath()
}

// ManagerRunning reports an error if the manager process has exited.
func (s *Sandbox) ManagerRunning() error {
	if s.manager == nil {
		return errors.New("the sandbox runs no manager")
	}
	return s.manager.ErrExited()
}
