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
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

const (
	// nodeLeaseNamespace holds the kubelets' heartbeat Leases.
	nodeLeaseNamespace = "kube-node-lease"
	// heartbeat is how often the stand-in kubelet renews Leases and node status.
	heartbeat = 10 * time.Second
	// nodeLeaseSeconds is the Lease duration a real kubelet uses.
	nodeLeaseSeconds = 40
	// appShutdownTimeout bounds how long a pod's listener waits for in-flight requests on SIGTERM.
	appShutdownTimeout = 2 * time.Second
	// kubeletWorkers is the number of pods synced concurrently.
	kubeletWorkers = 4
)

// podNetwork gives pods addresses and listeners: the network namespace, or nothing at all in
// the fallback without a data plane.
type podNetwork interface {
	allocIP(ctx context.Context) (netip.Addr, error)
	releaseIP(ip netip.Addr)
	// listen returns nil, nil when pods get no real listener.
	listen(addr string) (net.Listener, error)
}

// listen implements podNetwork.
var _ podNetwork = (*netNS)(nil)

// noNetwork hands out addresses from 198.18.0.0/15 that nothing listens on: health is scripted.
type noNetwork struct {
	mu   sync.Mutex
	next netip.Addr
}

func (n *noNetwork) allocIP(context.Context) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.next.IsValid() {
		n.next = netip.MustParseAddr("198.19.1.1")
	}
	ip := n.next
	n.next = n.next.Next()
	return ip, nil
}

func (*noNetwork) releaseIP(netip.Addr)                {}
func (*noNetwork) listen(string) (net.Listener, error) { return nil, nil }

// podRuntime is what the stand-in kubelet runs for one pod.
type podRuntime struct {
	uid          types.UID
	ip           netip.Addr
	servers      []*http.Server
	started      time.Time
	readyAt      time.Time
	terminating  bool
	terminatedAt time.Time // zero while the app still serves
	// procs are the pod's containers run as local binaries (managerpod.go); nil for a pod of
	// listeners.
	procs *procPod
}

// kubelet stands in for the kubelets of the sandbox's fake nodes.
type kubelet struct {
	cs         kubernetes.Interface
	nodes      map[string]*corev1.Node // by name
	net        podNetwork
	readyDelay time.Duration
	logf       func(format string, args ...any)
	// procs runs the pods whose images it maps as local processes (nil: none).
	procs *procRunner

	queue workqueue.TypedRateLimitingInterface[string]
	pods  cache.Indexer

	mu   sync.Mutex
	runs map[string]*podRuntime // by namespace/name
	wg   sync.WaitGroup
}

// randomInstanceID returns a CVM instance id, ins- and 8 lowercase alphanumerics.
func randomInstanceID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ins-" + string(b)
}

// nodeStatus is the status a healthy node reports.
func nodeStatus(ip string, now metav1.Time) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "sandbox stand-in kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: "v1.37.0-sandbox", OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "sandbox://0.1", KernelVersion: "sandbox", OSImage: "clbind sandbox",
		},
	}
}

// registerNodes creates the fake nodes with Tencent-style providerIDs and reports them Ready.
func (k *kubelet) registerNodes(ctx context.Context, count int) error {
	k.nodes = map[string]*corev1.Node{}
	for i := range count {
		name := fmt.Sprintf("sandbox-node-%d", i+1)
		instance := randomInstanceID()
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
					corev1.LabelTopologyRegion: "ap-guangzhou", corev1.LabelTopologyZone: "ap-guangzhou-" + strconv.Itoa(3+i%3),
					corev1.LabelInstanceTypeStable: "S5.MEDIUM4",
				},
			},
			Spec: corev1.NodeSpec{ProviderID: "qcloud:///100003/" + instance},
		}
		created, err := k.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
		status := nodeStatus(fmt.Sprintf("10.0.%d.%d", 100+i/250, 10+i%250), metav1.Now())
		// The node lifecycle controller taints new nodes at once: retry on its writes.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			current, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			current.Status = status
			created, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, current, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("reporting node %s ready: %w", name, err)
		}
		k.nodes[name] = created
	}
	return k.heartbeatOnce(ctx)
}

// heartbeatOnce renews every node's Lease and Ready condition.
func (k *kubelet) heartbeatOnce(ctx context.Context) error {
	var errs []error
	now := metav1.NowMicro()
	for name := range k.nodes {
		leases := k.cs.CoordinationV1().Leases(nodeLeaseNamespace)
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			lease = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nodeLeaseNamespace},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: new(name), LeaseDurationSeconds: ptr.To[int32](nodeLeaseSeconds), RenewTime: &now,
				},
			}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("renewing the Lease of node %s: %w", name, err))
		}
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for i := range node.Status.Conditions {
				node.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
			}
			_, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("updating the status of node %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// run watches pods until ctx ends, then closes every pod listener.
func (k *kubelet) run(ctx context.Context) error {
	k.runs = map[string]*podRuntime{}
	k.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	factory := informers.NewSharedInformerFactory(k.cs, 0)
	informer := factory.Core().V1().Pods().Informer()
	k.pods = informer.GetIndexer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return errors.New("the stand-in kubelet's pod cache never synced")
	}
	for range kubeletWorkers {
		k.wg.Go(func() {
			for k.processNext(ctx) {
			}
		})
	}
	k.wg.Go(func() {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := k.heartbeatOnce(ctx); err != nil && ctx.Err() == nil {
					k.logf("kubelet: heartbeat: %v", err)
				}
			}
		}
	})
	go func() {
		<-ctx.Done()
		k.queue.ShutDown()
	}()
	return nil
}

// stop waits for the workers and closes every pod's listeners.
func (k *kubelet) stop() {
	if k.queue != nil {
		k.queue.ShutDown()
	}
	k.wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, r := range k.runs {
		for _, s := range r.servers {
			_ = s.Close()
		}
		if r.procs != nil {
			r.procs.stop(2 * time.Second)
		}
		if r.ip.IsValid() {
			k.net.releaseIP(r.ip)
		}
		delete(k.runs, key)
	}
}

func (k *kubelet) processNext(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	requeue, err := k.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		if !apierrors.IsConflict(err) {
			k.logf("kubelet: %s: %v", key, err)
		}
		k.queue.AddRateLimited(key)
	case requeue > 0:
		k.queue.Forget(key)
		k.queue.AddAfter(key, requeue)
	default:
		k.queue.Forget(key)
	}
	return true
}

// sync moves one pod along its life: start, ready, terminate, remove.
func (k *kubelet) sync(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := k.pods.GetByKey(key)
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	run := k.runs[key]
	k.mu.Unlock()
	if !exists {
		k.forget(key, nil)
		return 0, nil
	}
	pod := obj.(*corev1.Pod)
	if _, ours := k.nodes[pod.Spec.NodeName]; !ours {
		return 0, nil
	}
	if run != nil && run.uid != pod.UID {
		// A new pod with the name of an old one.
		k.forget(key, run)
		run = nil
	}
	if pod.DeletionTimestamp != nil {
		if run == nil {
			// Never started here: nothing to stop.
			return 0, k.remove(ctx, pod)
		}
		return k.terminate(ctx, key, pod, run)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, nil
	}
	if run == nil {
		if run, err = k.start(ctx, key, pod); err != nil {
			return 0, err
		}
	}
	return k.updateStatus(ctx, pod, run)
}

// start gives the pod an address and starts a listener on every TCP container port.
func (k *kubelet) start(ctx context.Context, key string, pod *corev1.Pod) (*podRuntime, error) {
	ip, err := k.net.allocIP(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocating an address: %w", err)
	}
	now := time.Now()
	run := &podRuntime{uid: pod.UID, ip: ip, started: now, readyAt: now.Add(k.readyDelay)}
	if k.procs.maps(pod) {
		if run.procs, err = k.procs.start(ctx, key, pod); err != nil {
			k.net.releaseIP(ip)
			return nil, fmt.Errorf("starting the containers: %w", err)
		}
		k.mu.Lock()
		k.runs[key] = run
		k.mu.Unlock()
		return run, nil
	}
	name := pod.Name
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			ln, err := k.net.listen(net.JoinHostPort(ip.String(), strconv.Itoa(int(p.ContainerPort))))
			if err != nil {
				k.forget(key, run)
				return nil, fmt.Errorf("listening on %s:%d: %w", ip, p.ContainerPort, err)
			}
			if ln == nil {
				continue
			}
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("X-Pod-Name", name)
					_, _ = fmt.Fprintln(w, name)
				}),
				ReadHeaderTimeout: 5 * time.Second,
			}
			go func() { _ = srv.Serve(ln) }()
			run.servers = append(run.servers, srv)
		}
	}
	k.mu.Lock()
	k.runs[key] = run
	k.mu.Unlock()
	return run, nil
}

// forget closes a pod's listeners and releases its address.
func (k *kubelet) forget(key string, run *podRuntime) {
	k.mu.Lock()
	if run == nil {
		run = k.runs[key]
	}
	if run != nil && k.runs[key] == run {
		delete(k.runs, key)
	}
	k.mu.Unlock()
	if run == nil {
		return
	}
	for _, s := range run.servers {
		_ = s.Close()
	}
	if run.procs != nil {
		go run.procs.stop(2 * time.Second)
	}
	if run.ip.IsValid() {
		k.net.releaseIP(run.ip)
	}
}

// preStopSleep is the preStop sleep of a container: a sleep action or a `sleep N` command.
func preStopSleep(c corev1.Container) time.Duration {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0
	}
	h := c.Lifecycle.PreStop
	if h.Sleep != nil {
		return time.Duration(h.Sleep.Seconds) * time.Second
	}
	if h.Exec != nil {
		words := strings.Fields(strings.Join(h.Exec.Command, " "))
		for i, w := range words {
			if (w == "sleep" || strings.HasSuffix(w, "/sleep")) && i+1 < len(words) {
				if s, err := strconv.ParseFloat(words[i+1], 64); err == nil {
					return time.Duration(s * float64(time.Second))
				}
			}
		}
	}
	return 0
}

// terminate runs preStop (the app keeps serving), then stops the app once, reports the
// containers terminated and removes the pod, all within the grace period.
func (k *kubelet) terminate(ctx context.Context, key string, pod *corev1.Pod, run *podRuntime) (time.Duration, error) {
	k.mu.Lock()
	first := !run.terminating
	run.terminating = true
	k.mu.Unlock()
	if first {
		grace := time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 30)) * time.Second
		var sleep time.Duration
		for _, c := range pod.Spec.Containers {
			sleep = max(sleep, preStopSleep(c))
		}
		sleep = min(sleep, grace)
		k.wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(sleep):
			}
			// SIGTERM: the app finishes in-flight requests and exits.
			shutdown, cancel := context.WithTimeout(ctx, appShutdownTimeout)
			defer cancel()
			for _, s := range run.servers {
				_ = s.Shutdown(shutdown)
			}
			if run.procs != nil {
				// SIGTERM, and SIGKILL once the grace period is over.
				run.procs.stop(max(grace-sleep, time.Second))
			}
			k.mu.Lock()
			run.terminatedAt = time.Now()
			k.mu.Unlock()
			k.queue.Add(key)
		})
		return 0, nil
	}
	k.mu.Lock()
	done := !run.terminatedAt.IsZero()
	k.mu.Unlock()
	if !done {
		return 0, nil
	}
	if pod.Status.Phase != corev1.PodSucceeded {
		updated := pod.DeepCopy()
		k.terminatedStatus(updated, run)
		if _, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				k.forget(key, run)
				return 0, nil
			}
			return 0, err
		}
	}
	if err := k.remove(ctx, pod); err != nil {
		return 0, err
	}
	k.forget(key, run)
	return 0, nil
}

// remove deletes the pod object for good, as the kubelet does once its containers are gone.
func (k *kubelet) remove(ctx context.Context, pod *corev1.Pod) error {
	err := k.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// setCondition sets a pod condition, keeping its transition time when the status is unchanged.
func setCondition(pod *corev1.Pod, c corev1.PodCondition) {
	now := metav1.Now()
	for i := range pod.Status.Conditions {
		old := &pod.Status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		*old = c
		return
	}
	c.LastTransitionTime = now
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// conditionStatus returns the status of a pod condition, or "" when it is missing.
func conditionStatus(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// readyCondition computes Ready as the kubelet's status manager does: ContainersReady and every
// readiness gate True.
func readyCondition(pod *corev1.Pod, containersReady bool) corev1.PodCondition {
	if !containersReady {
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
			Message: "containers with unready status: " + containerNames(pod)}
	}
	var missing, notTrue []string
	for _, g := range pod.Spec.ReadinessGates {
		switch conditionStatus(pod, g.ConditionType) {
		case "":
			missing = append(missing, string(g.ConditionType))
		case corev1.ConditionTrue:
		default:
			notTrue = append(notTrue, string(g.ConditionType))
		}
	}
	if len(missing)+len(notTrue) > 0 {
		var msgs []string
		if len(missing) > 0 {
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", strings.Join(missing, ", ")))
		}
		if len(notTrue) > 0 {
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\"", strings.Join(notTrue, ", ")))
		}
		return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady", Message: strings.Join(msgs, " ")}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}

func containerNames(pod *corev1.Pod) string {
	names := make([]string, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return "[" + strings.Join(names, " ") + "]"
}

// runningStatus fills the status of a running pod into pod.
func (k *kubelet) runningStatus(pod *corev1.Pod, run *podRuntime, containersReady bool) {
	started := metav1.NewTime(run.started)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = run.ip.String()
	pod.Status.PodIPs = []corev1.PodIP{{IP: run.ip.String()}}
	if node := k.nodes[pod.Spec.NodeName]; node != nil && len(node.Status.Addresses) > 0 {
		pod.Status.HostIP = node.Status.Addresses[0].Address
		pod.Status.HostIPs = []corev1.HostIP{{IP: pod.Status.HostIP}}
	}
	pod.Status.StartTime = &started
	if pod.Status.QOSClass == "" { // the API server sets it from the requests, once
		pod.Status.QOSClass = corev1.PodQOSBestEffort
	}
	statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		if pc := run.procs.container(c.Name); pc != nil {
			statuses = append(statuses, pc.status())
			continue
		}
		statuses = append(statuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "sandbox://" + c.Image,
			ContainerID: "sandbox://" + string(pod.UID) + "/" + c.Name,
			Ready:       containersReady, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		})
	}
	pod.Status.ContainerStatuses = statuses
	status := corev1.ConditionFalse
	if containersReady {
		status = corev1.ConditionTrue
	}
	setCondition(pod, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue})
	setCondition(pod, corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue})
	cr := corev1.PodCondition{Type: corev1.ContainersReady, Status: status}
	if !containersReady {
		cr.Reason, cr.Message = "ContainersNotReady", "containers with unready status: "+containerNames(pod)
	}
	setCondition(pod, cr)
	setCondition(pod, readyCondition(pod, containersReady))
}

// terminatedStatus reports every container exited 0 after SIGTERM.
func (k *kubelet) terminatedStatus(pod *corev1.Pod, run *podRuntime) {
	finished := metav1.NewTime(run.terminatedAt)
	pod.Status.Phase = corev1.PodSucceeded
	for i := range pod.Status.ContainerStatuses {
		cs := &pod.Status.ContainerStatuses[i]
		cs.Ready, cs.Started = false, new(false)
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: "Completed", StartedAt: metav1.NewTime(run.started), FinishedAt: finished,
			ContainerID: cs.ContainerID,
		}}
		if pc := run.procs.container(cs.Name); pc != nil {
			cs.State = pc.status().State
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				pod.Status.Phase = corev1.PodFailed
			}
		}
	}
	setCondition(pod, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse})
	setCondition(pod, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"})
	setCondition(pod, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"})
}

// updateStatus writes the running status when it changed, and asks to be called again when
// the containers are due to turn ready.
func (k *kubelet) updateStatus(ctx context.Context, pod *corev1.Pod, run *podRuntime) (time.Duration, error) {
	wait := time.Until(run.readyAt)
	containersReady := wait <= 0
	if run.procs != nil {
		// The probes decide, and tell the kubelet when their verdict changes.
		wait, containersReady = 0, run.procs.ready()
	}
	updated := pod.DeepCopy()
	k.runningStatus(updated, run, containersReady)
	if !statusChanged(pod, updated) {
		return max(wait, 0), nil
	}
	if _, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	return max(wait, 0), nil
}

// statusChanged compares what the stand-in kubelet owns in two pod statuses.
func statusChanged(old, updated *corev1.Pod) bool {
	if old.Status.Phase != updated.Status.Phase || old.Status.PodIP != updated.Status.PodIP ||
		len(old.Status.ContainerStatuses) != len(updated.Status.ContainerStatuses) {
		return true
	}
	for i := range old.Status.ContainerStatuses {
		o, u := old.Status.ContainerStatuses[i], updated.Status.ContainerStatuses[i]
		if o.Ready != u.Ready || o.RestartCount != u.RestartCount || stateOf(o.State) != stateOf(u.State) {
			return true
		}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodReadyToStartContainers} {
		if conditionStatus(old, t) != conditionStatus(updated, t) {
			return true
		}
	}
	for _, c := range updated.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		for _, o := range old.Status.Conditions {
			if o.Type == corev1.PodReady && o.Message != c.Message {
				return true
			}
		}
	}
	return false
}

// stateOf names a container state: running, terminated, or the waiting reason.
func stateOf(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return "terminated"
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason
	}
	return ""
}
