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
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile in a sandbox directory holds the pid of the process that runs the sandbox.
const ownerFile = "owner.pid"

// writeOwner marks dir as belonging to this process.
func writeOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// cleanupStaleProcesses stops what a crashed sandbox left running. Every process a sandbox
// starts names the sandbox directory on its command line (etcd's data dir, the API server's
// certificate dir, the kubeconfig), so only processes naming the directory of a dead owner are
// killed. The directories themselves stay for their logs, but etcd's data goes.
func cleanupStaleProcesses(logf func(string, ...any)) {
	owners, _ := filepath.Glob(filepath.Join(os.TempDir(), "clbind-sandbox-*", ownerFile))
	for _, owner := range owners {
		b, err := os.ReadFile(owner)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		dir := filepath.Dir(owner)
		for _, p := range processesNaming(dir + string(filepath.Separator)) {
			if err := syscall.Kill(p, syscall.SIGKILL); err == nil {
				logf("killed pid %d left running by a previous sandbox in %s", p, dir)
			}
		}
		_ = os.RemoveAll(filepath.Join(dir, "etcd"))
		_ = os.Remove(owner)
	}
}

// processesNaming returns the pids whose command line contains s.
func processesNaming(s string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
