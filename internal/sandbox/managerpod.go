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
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/clbind/clb-binding-controller/internal/proc"
)

// Pods whose image is the manager's, run as the manager binary.
//
// The stand-in kubelet runs a container whose image is in its image map as that local binary,
// the way a container runtime would run the image: with the pod's command and args ($(VAR)
// expanded), its env and envFrom (ConfigMap, Secret and downward API references resolved when
// the container starts, so a restart sees an edited ConfigMap), a hostname that is the pod's
// name (a UTS namespace: the leader election identity is the hostname), and its volumes written
// as files under the pod's directory: Secret, ConfigMap, downward API, emptyDir and projected
// ones, the ServiceAccount token among them (a TokenRequest bound to the pod, as the kubelet
// asks for).
//
// A process shares the host's network and file system, so what the container would see at a
// fixed place reaches it only through flags the manager already has, appended after the pod's
// own (the last value of a flag wins); the manifest is never edited:
//   - an argument --flag=/path names the same path under the pod's root directory
//     (<pod dir>/rootfs/path), where its volumes are mounted: the webhook certificate directory,
//     a credentials directory;
//   - the in-cluster configuration (the token and CA under /var/run/secrets/kubernetes.io/
//     serviceaccount, read at a fixed path) becomes --kubeconfig, a file naming those mounted
//     files (tokenFile, so a renewed token is read again), and the namespace file
//     --leader-election-namespace;
//   - every address the manager listens on (managerListenFlags, their defaults included) moves to
//     a free loopback port; probes and Addr follow it;
//   - the webhook Service becomes --webhook-host=127.0.0.1 (URL mode): the API server reaches the
//     webhooks of whichever replica leads (replicas.go explains why only one port fits).
//
// The kubelet runs the pod's probes (HTTP GET and TCP) on the mapped ports with their timing
// and thresholds: the container is ready only while its readiness probe passes, a failed
// liveness probe restarts it, and a container that exits is restarted after the kubelet's
// back-off (10s, doubling, at most 5m) and shows CrashLoopBackOff meanwhile, with its last exit
// in lastState. Deleting the pod runs preStop, sends SIGTERM and SIGKILL after the grace period.

// managerListenFlags are the manager's flags that name an address its container listens on,
// with their defaults in cmd/manager: a process on the host gets a free loopback port for each
// one that is on.
var managerListenFlags = []struct {
	name, def string
	portOnly  bool
}{
	{flagProbeAddr, ":8081", false},
	{flagMetricsAddr, "0", false},
	{"--pprof-bind-address", "0", false},
	{flagWebhookPort, "9443", true},
}

// The manager's flags of its listening addresses.
const (
	flagProbeAddr   = "--health-probe-bind-address"
	flagMetricsAddr = "--metrics-bind-address"
	flagWebhookPort = "--webhook-port"
)

// serviceAccountDir is where a container finds its ServiceAccount token, CA and namespace.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// procRunner runs the containers whose image is in images as local processes.
type procRunner struct {
	cs     kubernetes.Interface
	images map[string]string // image → binary
	args   []string          // appended to every mapped container's arguments
	dir    string            // one directory per pod under it
	// apiHost and apiCA reach the API server (the kubeconfig a pod's process gets).
	apiHost string
	apiCA   []byte
	logf    func(format string, args ...any)
	// notify asks the kubelet to sync the pod again (a container turned ready, exited, ...).
	notify func(key string)
	// backoff is the first restart delay, doubled at each restart up to 5m (0: the kubelet's
	// 10s).
	backoff time.Duration

	mu     sync.Mutex
	byName map[string]*procPod // namespace/name → the pod's latest run
}

// maps reports whether any container of the pod has a mapped image.
func (r *procRunner) maps(pod *corev1.Pod) bool {
	if r == nil {
		return false
	}
	return slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return r.images[c.Image] != "" })
}

// procPod is one pod's processes.
type procPod struct {
	key        string
	namespace  string
	name       string
	dir        string
	containers []*procContainer // the mapped containers
	others     []string         // containers run as nothing (not mapped): reported ready
}

// procContainer is one mapped container: its process, restarted as the pod's restartPolicy says.
type procContainer struct {
	pod        *procPod
	runner     *procRunner
	spec       corev1.Container
	podSpec    *corev1.Pod // the pod as first seen, for env and args
	bin        string
	hostname   string
	ports      map[int32]int // container port → loopback port
	extraArgs  []string      // the mapped flags
	restartAll bool          // restartPolicy Always (else OnFailure; Never does not restart)
	never      bool

	mu        sync.Mutex
	proc      *proc.Process
	started   time.Time
	ready     bool
	restarts  int32
	last      *corev1.ContainerStateTerminated
	waiting   string // CrashLoopBackOff during the back-off, or why it cannot start
	waitMsg   string
	stopping  bool
	exited    bool // the last process ended and will not be restarted
	stopCh    chan struct{}
	runDone   chan struct{}
	logPath   string
	procIndex int
}

// start prepares the pod's directory and starts its mapped containers.
func (r *procRunner) start(ctx context.Context, key string, pod *corev1.Pod) (*procPod, error) {
	uid := string(pod.UID)
	dir := filepath.Join(r.dir, pod.Namespace+"_"+pod.Name+"_"+uid[:min(len(uid), 8)])
	p := &procPod{key: key, namespace: pod.Namespace, name: pod.Name, dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		return nil, fmt.Errorf("creating the pod's directory: %w", err)
	}
	if err := r.writeVolumes(ctx, pod, p.rootfs()); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := r.writeKubeconfig(kubeconfig, p.rootfs()+serviceAccountDir); err != nil {
		return nil, err
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	for _, c := range pod.Spec.Containers {
		bin := r.images[c.Image]
		if bin == "" {
			p.others = append(p.others, c.Name)
			continue
		}
		pc := &procContainer{
			pod: p, runner: r, spec: c, podSpec: pod.DeepCopy(), bin: bin, hostname: hostname,
			ports:      map[int32]int{},
			restartAll: pod.Spec.RestartPolicy == "" || pod.Spec.RestartPolicy == corev1.RestartPolicyAlways,
			never:      pod.Spec.RestartPolicy == corev1.RestartPolicyNever,
			stopCh:     make(chan struct{}), runDone: make(chan struct{}),
		}
		var err error
		if pc.extraArgs, err = pc.mapFlags(kubeconfig); err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		p.containers = append(p.containers, pc)
	}
	r.mu.Lock()
	if r.byName == nil {
		r.byName = map[string]*procPod{}
	}
	r.byName[key] = p
	r.mu.Unlock()
	for _, c := range p.containers {
		go c.run(ctx)
	}
	return p, nil
}

func (p *procPod) rootfs() string { return filepath.Join(p.dir, "rootfs") }

// hostPath is where a path inside the container is on the host.
func (p *procPod) hostPath(containerPath string) string {
	return filepath.Join(p.rootfs(), filepath.Clean("/"+containerPath))
}

// ready reports whether every container is ready.
func (p *procPod) ready() bool {
	for _, c := range p.containers {
		c.mu.Lock()
		ready := c.ready
		c.mu.Unlock()
		if !ready {
			return false
		}
	}
	return true
}

// stop runs the termination of every container: SIGTERM after preStop (the kubelet's caller
// sleeps it), SIGKILL after grace; it returns once every process is gone.
func (p *procPod) stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, c := range p.containers {
		wg.Go(func() { c.stop(grace) })
	}
	wg.Wait()
}

// exitCodes are the last exit codes of the containers (0 for ones never run).
func (p *procPod) exitCodes() map[string]int32 {
	out := map[string]int32{}
	for _, c := range p.containers {
		c.mu.Lock()
		if c.last != nil {
			out[c.spec.Name] = c.last.ExitCode
		}
		c.mu.Unlock()
	}
	return out
}

// mapFlags are the flags appended to the container's own: its paths, addresses and the
// in-cluster configuration, mapped to the process on the host (see the top of this file).
func (c *procContainer) mapFlags(kubeconfig string) ([]string, error) {
	own := slices.Concat(c.spec.Command, c.spec.Args)
	if len(c.spec.Command) > 0 {
		own = slices.Concat(c.spec.Command[1:], c.spec.Args)
	}
	var out []string
	for _, a := range own {
		name, value, ok := strings.Cut(a, "=")
		if ok && strings.HasPrefix(name, "-") && strings.HasPrefix(value, "/") {
			out = append(out, name+"="+c.pod.hostPath(value))
		}
	}
	for _, f := range managerListenFlags {
		value := lastFlag(own, f.name, f.def)
		if value == "0" || value == "" {
			continue
		}
		portText := value
		if !f.portOnly {
			_, p, err := net.SplitHostPort(value)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %w", f.name, value, err)
			}
			portText = p
		}
		port, err := strconv.ParseInt(portText, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", f.name, value, err)
		}
		free, err := freePort()
		if err != nil {
			return nil, err
		}
		c.ports[int32(port)] = free
		if f.portOnly {
			out = append(out, f.name+"="+strconv.Itoa(free))
		} else {
			out = append(out, f.name+"=127.0.0.1:"+strconv.Itoa(free))
		}
	}
	out = append(out, "--kubeconfig="+kubeconfig)
	if lastFlag(own, "--leader-election-namespace", "") == "" {
		out = append(out, "--leader-election-namespace="+c.pod.namespace)
	}
	if lastFlag(own, "--webhook-host", "") == "" {
		out = append(out, "--webhook-host=127.0.0.1")
	}
	return append(out, c.runner.args...), nil
}

// lastFlag is the last value of --name=value (or -name=value) in args, else def.
func lastFlag(args []string, name, def string) string {
	v := def
	single := strings.TrimPrefix(name, "-")
	for _, a := range args {
		if rest, ok := strings.CutPrefix(a, name+"="); ok {
			v = rest
		} else if rest, ok := strings.CutPrefix(a, single+"="); ok {
			v = rest
		}
	}
	return v
}

// run starts the process and restarts it as the restart policy says, until stop.
func (c *procContainer) run(ctx context.Context) {
	defer close(c.runDone)
	first := c.runner.backoff
	if first <= 0 {
		first = 10 * time.Second
	}
	backoff := first
	for {
		exit, ranFor, err := c.runOnce(ctx)
		if err != nil {
			c.setWaiting("CreateContainerConfigError", err.Error())
		}
		c.runner.notify(c.pod.key)
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping || ctx.Err() != nil || c.never || (!c.restartAll && exit == 0 && err == nil) {
			c.mu.Lock()
			c.exited = true
			c.mu.Unlock()
			return
		}
		if ranFor > 10*time.Minute {
			backoff = first
		}
		if err == nil {
			c.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %v restarting failed container=%s pod=%s", backoff, c.spec.Name, c.pod.name))
		}
		c.runner.notify(c.pod.key)
		select {
		case <-ctx.Done():
			return
		case <-c.stopCh:
			c.mu.Lock()
			c.exited = true
			c.mu.Unlock()
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Minute)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

func (c *procContainer) setWaiting(reason, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting, c.waitMsg = reason, msg
}

// runOnce runs the process once with its probes, and returns its exit code.
func (c *procContainer) runOnce(ctx context.Context) (exit int32, ranFor time.Duration, err error) {
	args, env, err := c.commandLine(ctx)
	if err != nil {
		return 0, 0, err
	}
	c.mu.Lock()
	c.procIndex++
	c.logPath = filepath.Join(c.pod.dir, fmt.Sprintf("%s-%d.log", c.spec.Name, c.procIndex))
	c.mu.Unlock()
	// A UTS namespace gives the process the pod's hostname, as the container runtime does.
	bin, argv := c.bin, args
	if uts := utsNamespace(c.runner.logf); len(uts) > 0 {
		bin = uts[0]
		argv = slices.Concat(uts[1:], []string{"sh", "-c", `printf %s "$0" > /proc/sys/kernel/hostname && exec "$@"`, c.hostname, c.bin}, args)
	}
	p, err := proc.Start(proc.Options{Name: c.pod.name + "/" + c.spec.Name, Bin: bin, Args: argv, Env: env, LogPath: c.logPath})
	if err != nil {
		return 0, 0, err
	}
	started := time.Now()
	c.mu.Lock()
	c.proc, c.started, c.ready, c.waiting, c.waitMsg = p, started, false, "", ""
	stopping := c.stopping
	c.mu.Unlock()
	if stopping { // stop came while it started
		_ = p.Stop(time.Second)
	}
	c.runner.notify(c.pod.key)
	probeCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.probe(probeCtx, p) })
	for {
		if done, _ := p.Exited(); done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	_, werr := p.Exited()
	code := int32(0)
	if exitErr, ok := errors.AsType[*exec.ExitError](werr); ok {
		code = int32(exitErr.ExitCode())
		if code < 0 { // killed by a signal
			code = 137
		}
	} else if werr != nil {
		code = 128
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	c.mu.Lock()
	c.ready = false
	c.last = &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, StartedAt: metav1.NewTime(started), FinishedAt: metav1.Now(),
		ContainerID: containerID(c.podSpec, c.spec.Name),
	}
	if code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		c.last.Message = lastLines(c.logPath, 80)
	}
	c.mu.Unlock()
	c.runner.logf("kubelet: %s/%s container %s exited with %d", c.pod.namespace, c.pod.name, c.spec.Name, code)
	return code, time.Since(started), nil
}

var (
	utsOnce sync.Once
	utsCmd  []string
)

// utsNamespace is the command that runs a process in a UTS namespace of its own (unshare, as
// root or in a user namespace), or nil where none can be made: the process then has the host's
// hostname, and its leader election identity does not name its pod.
func utsNamespace(logf func(string, ...any)) []string {
	utsOnce.Do(func() {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			logf("kubelet: WARNING: no unshare (%v): processes keep the host's hostname, not their pod's name", err)
			return
		}
		for _, flags := range [][]string{{"--uts"}, {"--user", "--map-root-user", "--uts"}} {
			cmd := slices.Concat([]string{unshare}, flags)
			if exec.Command(cmd[0], slices.Concat(cmd[1:], []string{"true"})...).Run() == nil { //nolint:gosec // our own command
				utsCmd = cmd
				return
			}
		}
		logf("kubelet: WARNING: unshare cannot make a UTS namespace here: processes keep the host's hostname, not their pod's name")
	})
	return utsCmd
}

// probe runs the container's probes while the process runs: startup first, then readiness
// (sets ready) and liveness (kills the process after failureThreshold failures).
func (c *procContainer) probe(ctx context.Context, p *proc.Process) {
	if s := c.spec.StartupProbe; s != nil {
		if !c.probeLoop(ctx, s, func(bool) bool { return false }, true) {
			return
		}
	}
	var wg sync.WaitGroup
	if r := c.spec.ReadinessProbe; r != nil {
		wg.Go(func() {
			c.probeLoop(ctx, r, func(ok bool) bool {
				c.mu.Lock()
				changed := c.ready != ok
				c.ready = ok
				c.mu.Unlock()
				if changed {
					c.runner.notify(c.pod.key)
				}
				return true
			}, false)
		})
	} else {
		c.mu.Lock()
		c.ready = true
		c.mu.Unlock()
		c.runner.notify(c.pod.key)
	}
	if l := c.spec.LivenessProbe; l != nil {
		wg.Go(func() {
			c.probeLoop(ctx, l, func(ok bool) bool {
				if ok {
					return true
				}
				c.runner.logf("kubelet: %s/%s container %s failed its liveness probe: restarting it", c.pod.namespace, c.pod.name, c.spec.Name)
				_ = p.Stop(time.Duration(ptr.Deref(c.podSpec.Spec.TerminationGracePeriodSeconds, 30)) * time.Second)
				return false
			}, false)
		})
	}
	wg.Wait()
}

// probeLoop probes after the initial delay, every period, and calls result with the probe's
// state each time it crosses a threshold (successThreshold successes or failureThreshold
// failures in a row), until result returns false or ctx ends. With untilSuccess it returns true
// at the first success state instead.
func (c *procContainer) probeLoop(ctx context.Context, pr *corev1.Probe, result func(ok bool) bool, untilSuccess bool) bool {
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	success, failure := max(pr.SuccessThreshold, 1), max(pr.FailureThreshold, 1)
	if pr.FailureThreshold == 0 {
		failure = 3
	}
	wait := time.Duration(pr.InitialDelaySeconds) * time.Second
	var okRun, failRun int32
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = period
		err := c.probeOnce(ctx, pr, timeout)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
		}
		switch {
		case okRun == success:
			if untilSuccess {
				return true
			}
			if !result(true) {
				return false
			}
		case failRun == failure || (failRun > failure && untilSuccess):
			if !result(false) {
				return false
			}
		}
	}
}

// probeOnce runs one probe against the container's mapped port.
func (c *procContainer) probeOnce(ctx context.Context, pr *corev1.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch h := pr.ProbeHandler; {
	case h.HTTPGet != nil:
		addr, err := c.addr(h.HTTPGet.Port)
		if err != nil {
			return err
		}
		scheme := "http"
		if h.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/"+strings.TrimPrefix(h.HTTPGet.Path, "/"), nil)
		if err != nil {
			return err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Set(hd.Name, hd.Value)
		}
		// The kubelet does not verify a probe's certificate.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // as the kubelet
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil:
		addr, err := c.addr(h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	default:
		return errors.New("only httpGet and tcpSocket probes are run by the stand-in kubelet")
	}
}

// addr is the loopback address where the container's port (a number or a port name) is served.
func (c *procContainer) addr(port intstr.IntOrString) (string, error) {
	number := port.IntVal
	if port.Type == intstr.String {
		number = 0
		for _, p := range c.spec.Ports {
			if p.Name == port.StrVal {
				number = p.ContainerPort
			}
		}
		if number == 0 {
			return "", fmt.Errorf("container %s has no port named %s", c.spec.Name, port.StrVal)
		}
	}
	if mapped, ok := c.ports[number]; ok {
		return "127.0.0.1:" + strconv.Itoa(mapped), nil
	}
	return "127.0.0.1:" + strconv.Itoa(int(number)), nil
}

// stop stops the container for good: SIGTERM, SIGKILL after grace.
func (c *procContainer) stop(grace time.Duration) {
	c.mu.Lock()
	already := c.stopping
	c.stopping = true
	p := c.proc
	c.mu.Unlock()
	if !already {
		close(c.stopCh)
	}
	if p != nil {
		_ = p.Stop(grace)
	}
	<-c.runDone
}

// status is the container's status as the kubelet reports it.
func (c *procContainer) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "sandbox://" + c.spec.Image,
		ContainerID: containerID(c.podSpec, c.spec.Name), RestartCount: c.restarts, Ready: c.ready,
	}
	if c.last != nil {
		s.LastTerminationState = corev1.ContainerState{Terminated: c.last.DeepCopy()}
	}
	running := c.proc != nil && c.waiting == ""
	if running {
		if done, _ := c.proc.Exited(); done {
			running = false
		}
	}
	switch {
	case running:
		s.Started = new(true)
		s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started)}}
	case c.exited && c.last != nil:
		s.Started = new(false)
		s.State = corev1.ContainerState{Terminated: c.last.DeepCopy()}
		s.LastTerminationState = corev1.ContainerState{}
	default:
		s.Started = new(false)
		reason := c.waiting
		if reason == "" {
			reason = "ContainerCreating"
		}
		s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitMsg}}
	}
	return s
}

func containerID(pod *corev1.Pod, name string) string {
	return "sandbox://" + string(pod.UID) + "/" + name
}

// lastLines are the last n lines of a file.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// container is the pod's mapped container of that name (nil when none, or p is nil).
func (p *procPod) container(name string) *procContainer {
	if p == nil {
		return nil
	}
	for _, c := range p.containers {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}
