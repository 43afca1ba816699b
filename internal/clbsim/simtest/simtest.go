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

// Package simtest starts clbsim on a loopback port and builds an internal/clb client for it, the
// way every test, benchmark and the sandbox talk to the emulated cloud: through the real SDK.
package simtest

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/clbsim"
)

// Credentials and region every simtest server accepts.
const (
	Region    = "ap-guangzhou"
	SecretID  = "AKIDsimtest"
	SecretKey = "simtest-secret-key"
	VpcID     = "vpc-simtest0" // a well-formed VPC id, so --vpc-id accepts it
)

// Server is clbsim listening on loopback.
type Server struct {
	Sim *clbsim.Sim
	// Endpoint is host:port for clb.Config.Endpoint.
	Endpoint       string
	CredentialsDir string
	http           *httptest.Server
}

// Start runs a clbsim with opts (credentials and region are filled in) on a loopback port;
// credentials for it are written under dir.
func Start(opts clbsim.Options, dir string) (*Server, error) {
	opts.SecretID, opts.SecretKey, opts.Region = SecretID, SecretKey, Region
	if opts.VpcID == "" {
		opts.VpcID = VpcID
	}
	sim := clbsim.New(opts)
	srv := httptest.NewServer(sim)
	u, err := url.Parse(srv.URL)
	if err != nil {
		srv.Close()
		sim.Close()
		return nil, fmt.Errorf("parsing the clbsim URL %q: %w", srv.URL, err)
	}
	for name, value := range map[string]string{"secretId": SecretID, "secretKey": SecretKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
			srv.Close()
			sim.Close()
			return nil, fmt.Errorf("writing clbsim credentials: %w", err)
		}
	}
	return &Server{Sim: sim, Endpoint: u.Host, CredentialsDir: dir, http: srv}, nil
}

// ClientConfig is a clb.Config for this server with quick retries, suited to tests. A nil
// registerer gets a private registry, so many clients can live in one process.
func (s *Server) ClientConfig(reg prometheus.Registerer) clb.Config {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return clb.Config{
		Region: Region, Endpoint: s.Endpoint, Scheme: "HTTP", CredentialsDir: s.CredentialsDir,
		RateLimits:       clb.RateLimitConfig{QPS: -1},
		Retry:            clb.RetryConfig{MaxRetries: 5, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		TaskPollInterval: 5 * time.Millisecond,
		TaskTimeout:      10 * time.Second,
		RequestTimeout:   10 * time.Second,
		Registerer:       reg,
	}
}

// Client returns a clb client for this server.
func (s *Server) Client() (*clb.Client, error) { return clb.New(s.ClientConfig(nil)) }

// Close stops the server and the emulator.
func (s *Server) Close() {
	s.http.Close()
	s.Sim.Close()
}
