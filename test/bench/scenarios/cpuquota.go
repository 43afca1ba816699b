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
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuPeriod is the CFS period written to a cgroup v2 cpu.max (the kernel's default period).
const cpuPeriod = 100_000 // µs

// cpuQuota is a child CPU cgroup with a CFS bandwidth limit of cores × period, for the manager
// process: cgroup v1 (cpu.cfs_quota_us in the cpu hierarchy) or cgroup v2 (cpu.max in the
// unified hierarchy). It needs root.
type cpuQuota struct {
	dir    string
	v2     bool
	cores  float64
	quota  int64 // µs per period
	period int64 // µs
}

// quotaStats is the cgroup's cpu.stat: how often the quota bit.
type quotaStats struct {
	Periods, Throttled int64
	ThrottledTime      time.Duration
}

// newCPUQuota creates the cgroup and writes its quota. It tries the cgroup v1 cpu hierarchy,
// then a cgroup v2 mount whose root offers the cpu controller.
func newCPUQuota(cores float64) (*cpuQuota, error) {
	if cores <= 0 {
		return nil, fmt.Errorf("CPU quota %g: want > 0 cores", cores)
	}
	v1, v2, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("clb-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	var errs []error
	if v1 != "" {
		q, err := newCPUQuotaIn(filepath.Join(v1, name), false, cores)
		if err == nil {
			return q, nil
		}
		errs = append(errs, fmt.Errorf("cgroup v1 (%s): %w", v1, err))
	}
	if v2 != "" {
		q, err := newCPUQuotaIn(filepath.Join(v2, name), true, cores)
		if err == nil {
			return q, nil
		}
		errs = append(errs, fmt.Errorf("cgroup v2 (%s): %w", v2, err))
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("neither a cgroup v1 cpu hierarchy nor a cgroup v2 mount is in /proc/self/mounts"))
	}
	return nil, fmt.Errorf("a CPU quota needs a writable CPU cgroup (run as root): %w", errors.Join(errs...))
}

// cgroupMounts finds the mount point of the cgroup v1 hierarchy holding the cpu controller and
// that of the cgroup v2 (unified) hierarchy, either possibly empty.
func cgroupMounts() (v1, v2 string, err error) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", "", err
	}
	for line := range strings.SplitSeq(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		switch f[2] {
		case "cgroup":
			if v1 == "" && slices.Contains(strings.Split(f[3], ","), "cpu") {
				v1 = f[1]
			}
		case "cgroup2":
			if v2 == "" {
				v2 = f[1]
			}
		}
	}
	return v1, v2, nil
}

// newCPUQuotaIn creates the cgroup dir, a child of a hierarchy's root, and writes its quota.
func newCPUQuotaIn(dir string, v2 bool, cores float64) (*cpuQuota, error) {
	root := filepath.Dir(dir)
	q := &cpuQuota{dir: dir, v2: v2, cores: cores, period: cpuPeriod}
	if v2 {
		// The root's children get the cpu controller only when the root offers it and
		// enables it for them (allowed at the root whatever processes it holds).
		ctrls, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(strings.Fields(string(ctrls)), "cpu") {
			return nil, fmt.Errorf("the cpu controller is not available in %s (it is bound to a cgroup v1 hierarchy, or not delegated)", root)
		}
		if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
			return nil, fmt.Errorf("enabling the cpu controller for %s's children: %w", root, err)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if !v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
		if err != nil {
			q.remove()
			return nil, err
		}
		if q.period, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
			q.remove()
			return nil, fmt.Errorf("cpu.cfs_period_us: %w", err)
		}
	}
	q.quota = max(1000, int64(math.Round(cores*float64(q.period)))) // the kernel's least quota is 1 ms
	file, value := "cpu.cfs_quota_us", strconv.FormatInt(q.quota, 10)
	if v2 {
		file, value = "cpu.max", fmt.Sprintf("%d %d", q.quota, q.period)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		q.remove()
		return nil, fmt.Errorf("writing %s: %w", file, err)
	}
	return q, nil
}

func (q *cpuQuota) String() string {
	v := "v1"
	if q.v2 {
		v = "v2"
	}
	return fmt.Sprintf("cgroup %s %s, quota %d µs per %d µs period (%g core)", v, q.dir, q.quota, q.period, q.cores)
}

// add moves a process, every thread of it, into the cgroup. Called right after the process
// starts, it leaves the process a few milliseconds of its start-up outside the quota.
func (q *cpuQuota) add(pid int) error {
	if err := os.WriteFile(filepath.Join(q.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("moving pid %d into %s: %w", pid, q.dir, err)
	}
	return nil
}

// stats reads the cgroup's cpu.stat.
func (q *cpuQuota) stats() (quotaStats, error) {
	var st quotaStats
	b, err := os.ReadFile(filepath.Join(q.dir, "cpu.stat"))
	if err != nil {
		return st, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "nr_periods":
			st.Periods = n
		case "nr_throttled":
			st.Throttled = n
		case "throttled_time": // v1, ns
			st.ThrottledTime = time.Duration(n)
		case "throttled_usec": // v2
			st.ThrottledTime = time.Duration(n) * time.Microsecond
		}
	}
	return st, nil
}

// remove deletes the cgroup once its processes have exited (an exited process may linger in it
// for a moment).
func (q *cpuQuota) remove() {
	var err error
	for range 50 {
		if err = os.Remove(q.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("removing the cgroup %s: %v", q.dir, err)
}
