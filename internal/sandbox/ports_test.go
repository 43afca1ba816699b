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
	"net"
	"testing"
)

// TestRestartTakesFreePorts: a restart of the manager never binds a port it had before, which
// another socket may hold by then ("bind: address already in use" used to fail every later spec).
func TestRestartTakesFreePorts(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	addr := taken.Addr().String()
	port := addr[len("127.0.0.1:"):]
	s := &Sandbox{managerProbe: addr, managerMetrics: addr, managerArgs: []string{
		"--health-probe-bind-address=" + addr, "--metrics-bind-address=" + addr, "--webhook-port=" + port, "--zap-log-level=4"}}

	if err := s.freshManagerPorts(false); err != nil {
		t.Fatal(err)
	}
	if s.managerProbe == addr || s.managerMetrics == addr {
		t.Fatalf("probe %s, metrics %s: the taken %s was kept", s.managerProbe, s.managerMetrics, addr)
	}
	if got := flagValue(s.managerArgs, "--health-probe-bind-address"); got != s.managerProbe {
		t.Fatalf("--health-probe-bind-address=%s, want %s", got, s.managerProbe)
	}
	if got := flagValue(s.managerArgs, "--webhook-port"); got != port {
		t.Fatalf("--webhook-port changed to %s on a first attempt: the webhook configurations point at it", got)
	}
	if err := s.freshManagerPorts(true); err != nil {
		t.Fatal(err)
	}
	if got := flagValue(s.managerArgs, "--webhook-port"); got == port || got == "" {
		t.Fatalf("--webhook-port=%s after a retry, want a free port other than %s", got, port)
	}
	if got := flagValue(s.managerArgs, "--zap-log-level"); got != "4" {
		t.Fatalf("other flags lost: --zap-log-level=%q", got)
	}
}
