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

package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/clbind/clb-binding-controller/internal/clbsim"
	"github.com/clbind/clb-binding-controller/internal/proc"
)

// Replicas of the manager.
//
// The sandbox runs one manager. A spec about leader election adds standby replicas with
// StartStandby: the same binary and flags, with a probe, metrics and webhook port, a certificate
// directory and a log of its own. Every replica, the sandbox's own manager included, reaches
// clbsim through a loopback listener of its own that records each call (CloudCalls), so a spec
// can tell which process wrote to the cloud, and when.
//
// Webhooks with several replicas. The sandbox runs the manager outside the cluster, so its
// webhook configurations are in URL mode (--webhook-host): they point at
// https://localhost:<webhook-port>/..., and only one port fits. Every replica serves the
// webhooks and runs cert-controller's rotator (all share the certificate Secret, hence the CA
// and the serving certificate), but only the leader runs the configuration repair controller,
// which points both configurations at its own port. So the configurations follow the leader:
// a standby leaves them alone, and once it takes over it points them at itself. While no
// replica leads after a leader's death they point at a dead port: pods admitted meanwhile get
// no gate (the pod webhook's failurePolicy is Ignore) and bindings are refused (Fail). In a
// cluster the configurations name a Service in front of every replica, so this gap is the
// sandbox's, not the product's.

// CloudCall is one call a manager replica made to clbsim, as its recording listener saw it.
type CloudCall struct {
	// Replica is the replica's name (Replica.Name).
	Replica string
	// Action is the X-TC-Action of the call.
	Action string
	// Start is when the request reached clbsim; End is when clbsim had answered it. clbsim
	// finishes a call whose client died, so End may come after the caller was killed.
	Start, End time.Time
	// Result is "OK", the API error code, or "dropped" when clbsim cut the connection (a fault).
	Result string
	// LoadBalancerID, ListenerIDs and Targets are what the request names: its LoadBalancerId,
	// every ListenerId in it (its own, and its targets' in a batch call) once, and every target
	// with an EniIp, with the listener it is on. They tell which listeners a write changed, and
	// whose backends it carried there.
	LoadBalancerID string
	ListenerIDs    []string
	Targets        []CallTarget
}

// CallTarget is a target a call names: its address, on a listener.
type CallTarget struct {
	ListenerID, IP string
}

// Touches reports whether the call names the listener.
func (c CloudCall) Touches(listenerID string) bool { return slices.Contains(c.ListenerIDs, listenerID) }

// TargetsOn are the addresses of the call's targets on the listener.
func (c CloudCall) TargetsOn(listenerID string) []string {
	var ips []string
	for _, t := range c.Targets {
		if t.ListenerID == listenerID {
			ips = append(ips, t.IP)
		}
	}
	return ips
}

// IsWrite reports whether the call may change the cloud: every action but the Describe ones.
// In the sandbox clbsim applies a write's task before answering (no task latency), so a
// write's effect lies within [Start, End]; with task latency set, the load balancer stays
// locked until the task ends and clbsim refuses other writes to it (ResourceInOperating).
func (c CloudCall) IsWrite() bool { return clbsim.IsWrite(c.Action) }

// Replica is one manager process: the sandbox's manager (Manager) or a standby (StartStandby).
type Replica struct {
	// Name names the replica's log (Name.log in the sandbox directory) and its CloudCalls:
	// "manager", "manager-2" after a restart, "standby-1", ...
	Name string
	// WebhookPort is where it serves the admission webhooks (0 without webhooks).
	WebhookPort int

	proc           *proc.Process
	probe, metrics string
	// args are its flags but --clb-endpoint, which each start gets anew (its recording listener).
	args []string
}

// Pid is the replica's process id.
func (r *Replica) Pid() int { return r.proc.Pid() }

// LogPath is the replica's log.
func (r *Replica) LogPath() string { return r.proc.LogPath() }

// Running reports an error if the replica's process has exited.
func (r *Replica) Running() error { return r.proc.ErrExited() }

// Kill kills the replica with SIGKILL and returns once the process is gone: it releases nothing
// (its Lease, if it leads, stays held until it expires) and finishes no call in flight.
func (r *Replica) Kill() error {
	if done, _ := r.proc.Exited(); done {
		return r.proc.ErrExited()
	}
	return r.proc.Kill()
}

// Stop stops the replica with SIGTERM, as the kubelet does, and SIGKILL after grace: a leader
// releases its Lease on the way out (LeaderElectionReleaseOnCancel), so a standby takes over at
// its next attempt instead of a lease duration later.
func (r *Replica) Stop(grace time.Duration) error { return r.proc.Stop(grace) }

// Metrics scrapes the replica's /metrics endpoint (plain HTTP on loopback).
func (r *Replica) Metrics(ctx context.Context) (Metrics, error) { return ScrapeMetrics(ctx, r.metrics) }

// Leading reports whether the replica leads: controller-runtime's leader_election_master_status
// gauge for the manager's Lease is 1 from the moment it acquired the Lease (before it starts
// its controllers) until it loses it. A replica that never led does not export the series.
func (r *Replica) Leading(ctx context.Context) (bool, error) {
	if err := r.Running(); err != nil {
		return false, err
	}
	m, err := r.Metrics(ctx)
	if err != nil {
		return false, err
	}
	return m.Sum("leader_election_master_status", map[string]string{"name": ManagerLeaseName}) == 1, nil
}

// Ready reports whether the replica's /readyz answers 200. A standby is ready too: its webhook
// server and certificate rotator run without leading.
func (r *Replica) Ready(ctx context.Context) (bool, error) {
	if err := r.Running(); err != nil {
		return false, err
	}
	code, err := proc.HTTPStatus(ctx, "http://"+r.probe+"/readyz")
	return err == nil && code == http.StatusOK, nil
}

// replicaSet is the sandbox's bookkeeping of standbys and recorded cloud calls.
type replicaSet struct {
	mu       sync.Mutex
	calls    []CloudCall
	servers  []*httptest.Server
	standbys []*Replica
	started  int // standbys started so far, for their names
}

func (rs *replicaSet) record(c CloudCall) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.calls = append(rs.calls, c)
}

// CloudCalls returns every call the manager replicas made to clbsim since the sandbox started,
// in the order they ended. Calls of the sandbox's own clients (CLB, Look) are not in it.
func (s *Sandbox) CloudCalls() []CloudCall {
	s.replicas.mu.Lock()
	defer s.replicas.mu.Unlock()
	return slices.Clone(s.replicas.calls)
}

// CloudWrites returns the calls of CloudCalls that may change the cloud (CloudCall.IsWrite).
func (s *Sandbox) CloudWrites() []CloudCall {
	calls := s.CloudCalls()
	return slices.DeleteFunc(calls, func(c CloudCall) bool { return !c.IsWrite() })
}

// cloudEndpoint starts a loopback listener that serves clbsim and records every call under
// replica's name, and returns its host:port for --clb-endpoint. The SDK signs the Host it
// dials, and clbsim checks the signature against the Host it receives, so the listener needs
// no credentials of its own: the replica uses the sandbox's.
func (s *Sandbox) cloudEndpoint(replica string) (string, error) {
	srv := httptest.NewServer(&recordingHandler{replica: replica, next: s.cloud.Sim, set: &s.replicas})
	u, err := url.Parse(srv.URL)
	if err != nil {
		srv.Close()
		return "", fmt.Errorf("parsing the URL %q of the recording listener: %w", srv.URL, err)
	}
	s.replicas.mu.Lock()
	s.replicas.servers = append(s.replicas.servers, srv)
	s.replicas.mu.Unlock()
	return u.Host, nil
}

// recordingHandler serves clbsim and records each call.
type recordingHandler struct {
	replica string
	next    http.Handler
	set     *replicaSet
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := CloudCall{Replica: h.replica, Action: r.Header.Get("X-TC-Action"), Start: time.Now()}
	// The body is signed: clbsim gets the very bytes read here, and what a failed read left.
	body, err := io.ReadAll(r.Body)
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err == nil {
		c.LoadBalancerID, c.ListenerIDs, c.Targets = requestNames(body)
	}
	rw := &recordingWriter{ResponseWriter: w}
	defer func() {
		c.End, c.Result = time.Now(), rw.result()
		h.set.record(c)
	}()
	h.next.ServeHTTP(rw, r)
}

// requestNames finds the load balancer, listeners and targets a CLB API request names, wherever
// they sit in its JSON body. A target (an object with an EniIp) is on the listener its own object
// names, else on the one of the nearest object around it that names one: the request's, for the
// single-listener actions, or the entry's in a batch.
func requestNames(body []byte) (lbID string, listenerIDs []string, targets []CallTarget) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", nil, nil
	}
	var walk func(v any, listener string)
	walk = func(v any, listener string) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["ListenerId"].(string); ok {
				listener = id
				if !slices.Contains(listenerIDs, id) {
					listenerIDs = append(listenerIDs, id)
				}
			}
			if id, ok := v["LoadBalancerId"].(string); ok && lbID == "" {
				lbID = id
			}
			if ip, ok := v["EniIp"].(string); ok {
				targets = append(targets, CallTarget{ListenerID: listener, IP: ip})
			}
			for _, x := range v {
				walk(x, listener)
			}
		case []any:
			for _, x := range v {
				walk(x, listener)
			}
		}
	}
	walk(v, "")
	return lbID, listenerIDs, targets
}

// recordingWriter keeps the answer, for its error code.
type recordingWriter struct {
	http.ResponseWriter
	body     bytes.Buffer
	hijacked bool
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Hijack lets clbsim drop the connection, as its faults do.
func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	w.hijacked = true
	return hj.Hijack()
}

func (w *recordingWriter) result() string {
	if w.hijacked {
		return "dropped"
	}
	var answer struct {
		Response struct {
			Error *struct{ Code string }
		}
	}
	switch {
	case json.Unmarshal(w.body.Bytes(), &answer) != nil:
		return "unreadable answer"
	case answer.Response.Error != nil:
		return answer.Response.Error.Code
	default:
		return "OK"
	}
}

// Manager is the sandbox's manager as a Replica (nil when it runs none). After
// StopStandbys promoted a standby, it is that standby.
func (s *Sandbox) Manager() *Replica {
	if s.manager == nil {
		return nil
	}
	port, _ := strconv.Atoi(flagValue(s.managerArgs, "--webhook-port"))
	return &Replica{
		Name: strings.TrimSuffix(filepath.Base(s.manager.LogPath()), ".log"), WebhookPort: port,
		proc: s.manager, probe: s.managerProbe, metrics: s.managerMetrics, args: s.managerArgs,
	}
}

// Standbys are the standby replicas started and not yet stopped.
func (s *Sandbox) Standbys() []*Replica {
	s.replicas.mu.Lock()
	defer s.replicas.mu.Unlock()
	return slices.Clone(s.replicas.standbys)
}

// StartStandby starts another replica of the manager with the manager's flags, but its own
// probe, metrics and webhook ports, webhook certificate directory, recording cloud listener and
// log (standby-N.log), and returns once it is ready. With the manager leading, it waits for the
// Lease: it neither reconciles, nor calls the cloud, nor points the webhook configurations at
// itself. Stop it, or promote it once it leads, with StopStandbys.
func (s *Sandbox) StartStandby(ctx context.Context) (*Replica, error) {
	return s.StartStandbyWith(ctx)
}

// StartStandbyWith is StartStandby with flags ("--name=value") that replace the manager's own
// values of those flags in this replica only, for example another leader election timing.
func (s *Sandbox) StartStandbyWith(ctx context.Context, flags ...string) (*Replica, error) {
	if s.manager == nil {
		return nil, errors.New("the sandbox runs no manager to copy the flags of")
	}
	s.replicas.mu.Lock()
	s.replicas.started++
	name := fmt.Sprintf("standby-%d", s.replicas.started)
	s.replicas.mu.Unlock()

	r := &Replica{Name: name, args: slices.Clone(s.managerArgs)}
	for _, f := range flags {
		flag, value, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(flag, "--") {
			return nil, fmt.Errorf("flag %q is not --name=value", f)
		}
		r.args = setFlag(r.args, flag, value)
	}
	ports := make([]int, 3)
	for i := range ports {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	r.probe, r.metrics = "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	r.args = setFlag(r.args, "--health-probe-bind-address", r.probe)
	r.args = setFlag(r.args, "--metrics-bind-address", r.metrics)
	if s.opts.Webhooks {
		r.WebhookPort = ports[2]
		r.args = setFlag(r.args, "--webhook-port", strconv.Itoa(r.WebhookPort))
		r.args = setFlag(r.args, "--webhook-cert-dir", filepath.Join(s.dir, "webhook-certs-"+name))
	}
	if err := s.startReplica(r); err != nil {
		return nil, err
	}
	s.replicas.mu.Lock()
	s.replicas.standbys = append(s.replicas.standbys, r)
	s.replicas.mu.Unlock()
	t := time.Now()
	err := s.WaitFor(ctx, 90*time.Second, name+" to be ready", func(ctx context.Context) (bool, string, error) {
		ready, err := r.Ready(ctx)
		return ready, "readyz is not 200 yet", err
	})
	if err != nil {
		return r, err
	}
	s.logf("%s (pid %d) ready in %v: probe %s, metrics %s, webhooks on port %d, log %s",
		name, r.Pid(), s.since(t), r.probe, r.metrics, r.WebhookPort, r.LogPath())
	return r, nil
}

// startReplica runs r's process with a recording cloud listener of its own.
func (s *Sandbox) startReplica(r *Replica) error {
	endpoint, err := s.cloudEndpoint(r.Name)
	if err != nil {
		return err
	}
	args := append([]string{"--clb-endpoint=" + endpoint}, r.args...)
	s.logf("  %s: %s %v", r.Name, s.managerBinary, args)
	r.proc, err = startChild(r.Name, filepath.Join(s.dir, r.Name+".log"), s.managerBinary, args,
		[]string{"KUBECONFIG=" + s.kubeconfig})
	return err
}

// WaitLeading polls r's metrics every 50ms until it leads, and returns when it first saw it.
func (s *Sandbox) WaitLeading(ctx context.Context, r *Replica, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		leading, err := r.Leading(ctx)
		if leading {
			return time.Now(), nil
		}
		if err != nil {
			if exitErr := r.Running(); exitErr != nil {
				return time.Time{}, exitErr
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s did not lead within %v (last error: %v)", r.Name, timeout, last)
		case <-tick.C:
		}
	}
}

// StopStandbys leaves the sandbox as the other specs expect it: one manager, running and
// leading. It waits until one running replica (the manager or a standby) leads, which after
// a SIGKILL of the leader takes up to a lease duration, and stops the others with SIGTERM. A
// standby that leads is promoted: it becomes the sandbox's manager (Manager, ManagerLog,
// KillManager, RestartManager, ManagerMetrics), with its own ports and log. With no replica left
// running, it restarts the manager. With webhooks it returns once the configurations point at
// the remaining manager and it injects readiness gates. It is safe to call twice.
func (s *Sandbox) StopStandbys(ctx context.Context) error {
	s.replicas.mu.Lock()
	standbys := s.replicas.standbys
	s.replicas.standbys = nil
	s.replicas.mu.Unlock()
	if len(standbys) == 0 {
		return nil
	}
	var running []*Replica
	for _, r := range append([]*Replica{s.Manager()}, standbys...) {
		if r != nil && r.Running() == nil {
			running = append(running, r)
		}
	}
	if len(running) == 0 {
		return s.RestartManager(ctx)
	}
	var leader *Replica
	err := s.WaitFor(ctx, 60*time.Second, "one manager replica to lead", func(ctx context.Context) (bool, string, error) {
		for _, r := range running {
			if leading, _ := r.Leading(ctx); leading {
				leader = r
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("none of %d running replicas leads", len(running)), nil
	})
	if err != nil {
		for _, r := range standbys {
			_ = r.proc.Stop(15 * time.Second)
		}
		return err
	}
	var errs []error
	for _, r := range running {
		if r != leader {
			errs = append(errs, r.proc.Stop(15*time.Second))
			s.logf("%s (pid %d) stopped", r.Name, r.Pid())
		}
	}
	if leader.proc != s.manager {
		s.pastManagers = append(s.pastManagers, s.manager)
		s.manager, s.managerProbe, s.managerMetrics, s.managerArgs = leader.proc, leader.probe, leader.metrics, leader.args
		s.logf("%s (pid %d) leads and is now the sandbox's manager", leader.Name, leader.Pid())
	}
	if s.opts.Webhooks {
		errs = append(errs, s.waitWebhooksAt(ctx, leader.WebhookPort))
	}
	return errors.Join(errs...)
}

// waitWebhooksAt waits until both webhook configurations point at port, then until the pod
// webhook injects gates again.
func (s *Sandbox) waitWebhooksAt(ctx context.Context, port int) error {
	err := s.WaitFor(ctx, 60*time.Second, fmt.Sprintf("the webhook configurations to point at port %d", port),
		func(ctx context.Context) (bool, string, error) {
			got, err := s.WebhookConfigPort(ctx)
			return err == nil && got == port, fmt.Sprintf("port %d (%v)", got, err), nil
		})
	if err != nil {
		return err
	}
	return s.proveInjection(ctx)
}

// WebhookConfigPort is the port the webhook configurations' URLs name (URL mode), or an error
// when they name none or several.
func (s *Sandbox) WebhookConfigPort(ctx context.Context) (int, error) {
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	var validating admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := s.client.List(ctx, &mutating); err != nil {
		return 0, err
	}
	if err := s.client.List(ctx, &validating); err != nil {
		return 0, err
	}
	var configs []admissionregistrationv1.WebhookClientConfig
	for _, c := range mutating.Items {
		for _, w := range c.Webhooks {
			configs = append(configs, w.ClientConfig)
		}
	}
	for _, c := range validating.Items {
		for _, w := range c.Webhooks {
			configs = append(configs, w.ClientConfig)
		}
	}
	ports := map[int]bool{}
	for _, cc := range configs {
		if cc.URL == nil {
			return 0, errors.New("a webhook configuration names a Service, not a URL")
		}
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return 0, err
		}
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			return 0, fmt.Errorf("webhook URL %s: %w", *cc.URL, err)
		}
		ports[port] = true
	}
	if len(ports) != 1 {
		return 0, fmt.Errorf("the webhook configurations name ports %v", ports)
	}
	return slices.Collect(maps.Keys(ports))[0], nil
}

// WaitInjection waits until a pod of app would get its readiness gate from the webhook (a
// server-side dry run through the real admission chain). It fails at once if the sandbox's
// manager is dead: after killing it, promote the standby first (StopStandbys).
func (s *Sandbox) WaitInjection(ctx context.Context, app App) error {
	app.defaults()
	return s.waitAppInjection(ctx, app)
}

// stopReplicas stops the standbys and closes the recording listeners (Stop).
func (s *Sandbox) stopReplicas() error {
	s.replicas.mu.Lock()
	standbys, servers := s.replicas.standbys, s.replicas.servers
	s.replicas.standbys, s.replicas.servers = nil, nil
	s.replicas.mu.Unlock()
	errs := make([]error, 0, len(standbys))
	for _, r := range standbys {
		errs = append(errs, r.proc.Stop(15*time.Second))
	}
	for _, srv := range servers {
		srv.Close()
	}
	return errors.Join(errs...)
}

// setFlag sets --name=value in args, replacing every earlier value.
func setFlag(args []string, name, value string) []string {
	args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, name+"=") })
	return append(args, name+"="+value)
}

// flagValue is the last value of --name=value in args ("" when absent).
func flagValue(args []string, name string) string {
	v := ""
	for _, a := range args {
		if rest, ok := strings.CutPrefix(a, name+"="); ok {
			v = rest
		}
	}
	return v
}
