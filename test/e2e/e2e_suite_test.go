//go:build e2e

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

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/clbind/clb-binding-controller/internal/clbsim/simtest"
	"github.com/clbind/clb-binding-controller/internal/sandbox"
)

// sb is the sandbox every spec runs in: started once, with the manager's webhooks on.
var sb *sandbox.Sandbox

// suiteStart is when the suite started, for the timings of the E2E-RESULT lines.
var suiteStart = time.Now()

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	// The specs share one sandbox on a small machine: never in parallel, and in the order written.
	suiteConfig.ParallelTotal = 1
	if testing.Verbose() {
		reporterConfig.Verbose = true
	}
	RunSpecs(t, "clb-binding-controller end-to-end", suiteConfig, reporterConfig)
}

func logf(format string, args ...any) {
	GinkgoWriter.Printf("[%6.1fs] %s\n", time.Since(suiteStart).Seconds(), fmt.Sprintf(format, args...))
}

// result prints one measured outcome on a line of its own, whatever the verbosity: the lines
// `make test-e2e` is read for.
func result(format string, args ...any) {
	line := "E2E-RESULT " + fmt.Sprintf(format, args...)
	_, _ = fmt.Fprintln(os.Stdout, line)
	AddReportEntry(line)
}

// Leader election timing of every manager replica in the suite.
const (
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

var leaseArgs = []string{
	"--leader-election-lease-duration=" + leaseDuration.String(),
	"--leader-election-renew-deadline=" + renewDeadline.String(),
	"--leader-election-retry-period=" + retryPeriod.String(),
	// Verbose, retries included, so the check that no log holds the secret key sees everything.
	"--zap-log-level=4",
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	// E2E_MANAGER is the manager binary (make test-e2e builds bin/manager); empty builds it.
	sb, err = sandbox.Start(ctx, sandbox.Options{
		Nodes:         3,
		Webhooks:      true,
		ManagerBinary: os.Getenv("E2E_MANAGER"),
		Logf:          logf,
		StartTimeout:  4 * time.Minute,
		// A short lease: the crash and failover specs kill the leader many times, and each
		// successor waits a lease duration for the killed one's Lease to expire.
		ManagerArgs: leaseArgs,
		// The fault and crash specs churn 500 and 300 targets on the sandbox's load balancer,
		// beyond the cloud's default quota of 200 backends (raised on request in real accounts).
		MaxTargetsPerRule: 2000,
	})
	Expect(err).NotTo(HaveOccurred(), "starting the sandbox")
	if !sb.HasDataPlane() {
		// Without root and iproute2 no pod really listens: nothing to send requests to, and the
		// health checks are scripted. The suite is about real traffic, so it refuses to pass.
		Fail("the sandbox has no data plane (needs root and iproute2, see the sandbox's log above)")
	}
	result("sandbox started in %v (control plane, 3 nodes, clbsim, manager with webhooks, injection proven)",
		time.Since(suiteStart).Round(100*time.Millisecond))
}, NodeTimeout(5*time.Minute))

// Every spec starts from a running manager: a spec that failed while its manager was down must
// not fail the ones after it.
var _ = BeforeEach(func(ctx SpecContext) {
	if sb != nil {
		Expect(sb.EnsureManager(ctx)).To(Succeed(), "starting the manager again before the spec")
	}
}, NodeTimeout(3*time.Minute))

// failed is set once a spec fails: the sandbox directory is then kept.
var failed bool

var _ = AfterSuite(func() {
	if sb == nil {
		return
	}
	defer sb.Stop()
	if failed || os.Getenv("E2E_KEEP") != "" {
		sb.Keep()
		logf("logs and state dumps kept in %s", sb.Dir())
	}
	// The credentials are the manager's secret: no log of any process of the run may hold the
	// key (the manager reads it from --credentials-dir; the file itself is not a log).
	logs, err := filepath.Glob(filepath.Join(sb.Dir(), "*.log"))
	Expect(err).NotTo(HaveOccurred())
	Expect(logs).To(ContainElement(ContainSubstring("manager")), "no manager log to check")
	size := 0
	for _, path := range logs {
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		size += len(b)
		Expect(bytes.Contains(b, []byte(simtest.SecretKey))).To(BeFalse(), "%s holds the CLB secret key", path)
	}
	result("secret key found in none of %d logs (%d KiB, manager at log level 4)", len(logs), size/1024)
})

// dumpOnFailure writes the whole state into the spec's output and keeps the sandbox directory
// (every process's log). Specs call it from a JustAfterEach, before their cleanups run.
func dumpOnFailure() {
	if !CurrentSpecReport().Failed() || sb == nil {
		return
	}
	failed = true
	sb.Keep()
	var buf bytes.Buffer
	sb.DumpState(context.Background(), &buf)
	_, _ = fmt.Fprintf(os.Stdout, "\n--- state after the failed spec %q (logs kept in %s)\n%s\n",
		CurrentSpecReport().LeafNodeText, sb.Dir(), buf.String())
}
