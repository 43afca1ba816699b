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
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Names of everything the sandbox creates in the host's network stack. The process id in them
// lets a later run tell a crashed run's leftovers from a live sandbox's.
const (
	netnsPrefix = "clbind-sbx-"
	vethPrefix  = "cbs"
)

var (
	netnsName = regexp.MustCompile(`^` + netnsPrefix + `(\d+)-(\d+)$`)
	vethName  = regexp.MustCompile(`^` + vethPrefix + `(\d+)-(\d+)h$`)
	// benchRange is 198.18.0.0/15, reserved for benchmarking (RFC 2544): nothing real lives there.
	benchRange = netip.MustParsePrefix("198.18.0.0/15")
	netnsSeq   atomic.Int32
)

// netNS is a network namespace joined to the host by a veth pair. Pods get /32 addresses on the
// namespace's end and their listeners run inside it; the host reaches them through the veth.
type netNS struct {
	name         string
	hostIf, nsIf string
	subnet       netip.Prefix // a /20 of 198.18.0.0/15, routed to the veth
	hostIP, nsIP netip.Addr
	mu           sync.Mutex
	next         netip.Addr // next pod address
	logf         func(format string, args ...any)
}

// netnsSupport reports why the sandbox cannot build its network namespace, or nil if it can.
func netnsSupport() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("iproute2 ('ip') is not installed; install it with 'apt-get install -y iproute2'")
	}
	return nil
}

// ipCmd runs ip(8) with a timeout and returns its combined output in the error.
func ipCmd(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// processAlive reports whether pid is a running process.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// cleanupStaleNetNS removes the namespaces and veth links of sandboxes whose process is gone,
// for example after a crash. It never touches those of a live process.
func cleanupStaleNetNS(ctx context.Context, logf func(string, ...any)) {
	if out, err := ipCmd(ctx, "netns", "list"); err == nil {
		for line := range strings.SplitSeq(out, "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			m := netnsName.FindStringSubmatch(fields[0])
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && !processAlive(pid) {
				if _, err := ipCmd(ctx, "netns", "del", fields[0]); err == nil {
					logf("removed network namespace %s left by a previous run (pid %d)", fields[0], pid)
				}
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return
	}
	for _, ifc := range ifaces {
		m := vethName.FindStringSubmatch(ifc.Name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && !processAlive(pid) {
			if _, err := ipCmd(ctx, "link", "del", ifc.Name); err == nil {
				logf("removed veth %s left by a previous run (pid %d)", ifc.Name, pid)
			}
		}
	}
}

// freeSubnet picks a /20 of 198.18.0.0/15 that no host interface uses yet, so several sandboxes
// (a demo and a test run) can live side by side.
func freeSubnet() (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing host addresses: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			used = append(used, p.Masked())
		}
	}
	base := benchRange.Addr().As4()
	for k := range 32 {
		third := 16 * k
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1] + byte(third/256), byte(third % 256), 0}), 20)
		free := true
		for _, u := range used {
			if u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, errors.New("every /20 of 198.18.0.0/15 is in use on this host")
}

// newNetNS creates the namespace, the veth pair and their addresses.
func newNetNS(ctx context.Context, logf func(string, ...any)) (*netNS, error) {
	cleanupStaleNetNS(ctx, logf)
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	seq := netnsSeq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid(), seq)
	n := &netNS{
		name:   netnsPrefix + id,
		hostIf: vethPrefix + id + "h",
		nsIf:   vethPrefix + id + "p",
		subnet: subnet,
		hostIP: subnet.Addr().Next(),
		logf:   logf,
	}
	n.nsIP = n.hostIP.Next()
	// Pods start at the second /24 of the subnet: x.y.(z+1).1.
	b := subnet.Addr().As4()
	n.next = netip.AddrFrom4([4]byte{b[0], b[1], b[2] + 1, 1})
	if len(n.hostIf) > 15 {
		return nil, fmt.Errorf("veth name %q is longer than 15 characters", n.hostIf)
	}
	const add, link, set = "add", "link", "set"
	steps := [][]string{
		{"netns", add, n.name},
		{link, add, n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", n.name},
		{"addr", add, netip.PrefixFrom(n.hostIP, subnet.Bits()).String(), "dev", n.hostIf},
		{link, set, n.hostIf, "up"},
		{"-n", n.name, "addr", add, netip.PrefixFrom(n.nsIP, subnet.Bits()).String(), "dev", n.nsIf},
		{"-n", n.name, link, set, n.nsIf, "up"},
		{"-n", n.name, link, set, "lo", "up"},
	}
	for _, s := range steps {
		if _, err := ipCmd(ctx, s...); err != nil {
			n.close()
			return nil, fmt.Errorf("creating the pod network namespace: %w", err)
		}
	}
	return n, nil
}

// allocIP returns a fresh pod address (never reused during the sandbox's life, so the CLB's
// health history of an old pod never leaks into a new one) and adds it inside the namespace.
func (n *netNS) allocIP(ctx context.Context) (netip.Addr, error) {
	n.mu.Lock()
	ip := n.next
	n.next = n.next.Next()
	n.mu.Unlock()
	if !n.subnet.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("pod addresses of %s are exhausted", n.subnet)
	}
	if _, err := ipCmd(ctx, "-n", n.name, "addr", "add", ip.String()+"/32", "dev", n.nsIf); err != nil {
		return netip.Addr{}, err
	}
	return ip, nil
}

// releaseIP keeps the address of a gone pod in the namespace, where nothing listens on it any
// more: connections to it are refused at once. Removing it would make every connection attempt
// wait for ARP to give up (3s), and clbsim runs the due health probes of all its backends one
// after another, each bounded by the probe timeout (2s): a few backends of gone pods, still
// registered for their drain, would hold up every other backend's checks for seconds (tens of
// seconds after a scale-down), and new pods would wait that long to turn healthy. Addresses are
// never reused, and the namespace and all its addresses go with the sandbox.
func (n *netNS) releaseIP(netip.Addr) {}

// listen opens a TCP listener inside the namespace. The socket belongs to the namespace it was
// created in, so everything that later accepts on it needs no special thread.
func (n *netNS) listen(addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is never unlocked: when this goroutine ends the runtime throws the thread
		// away, so its namespace never leaks into other goroutines.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			ch <- result{err: fmt.Errorf("opening network namespace %s: %w", n.name, err)}
			return
		}
		defer func() { _ = f.Close() }()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering network namespace %s: %w", n.name, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln: ln, err: err}
	}()
	r := <-ch
	return r.ln, r.err
}

// close removes the namespace, which also destroys both ends of the veth pair.
func (n *netNS) close() {
	ctx := context.Background()
	if _, err := ipCmd(ctx, "netns", "del", n.name); err != nil {
		n.logf("warning: %v", err)
	}
	if _, err := net.InterfaceByName(n.hostIf); err == nil {
		_, _ = ipCmd(ctx, "link", "del", n.hostIf)
	}
}
