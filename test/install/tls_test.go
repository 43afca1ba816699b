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

package install

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// tlsVersions are the handshakes each server of the manager is offered: TLS 1.0 and 1.1 must be
// refused, 1.2 and 1.3 accepted.
var tlsVersions = []struct {
	name     string
	min, max uint16
	accept   bool
}{
	{name: "TLS 1.0", min: tls.VersionTLS10, max: tls.VersionTLS10},
	{name: "TLS 1.1", min: tls.VersionTLS11, max: tls.VersionTLS11},
	{name: "up to TLS 1.1", min: tls.VersionTLS10, max: tls.VersionTLS11},
	{name: "TLS 1.2", min: tls.VersionTLS12, max: tls.VersionTLS12, accept: true},
	{name: "TLS 1.3", min: tls.VersionTLS13, max: tls.VersionTLS13, accept: true},
}

// checkTLSVersions: the running manager's webhook server and secure metrics server refuse TLS
// 1.0 and 1.1 (the server answers with a protocol_version alert) and accept TLS 1.2 and 1.3.
func checkTLSVersions(ctx context.Context, t *testing.T, c client.Client, webhookPort, metricsPort int) {
	t.Helper()
	legacyClientWorks(ctx, t)

	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: certSecretName}, &secret); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatalf("Secret %s holds no CA", certSecretName)
	}
	servers := []struct {
		name string
		port int
		base *tls.Config
	}{
		// The webhook server is verified as the API server does: the Secret's CA, for localhost.
		{name: "webhook", port: webhookPort, base: &tls.Config{RootCAs: pool, ServerName: "localhost"}},
		// The metrics server serves a certificate controller-runtime generates and self-signs in
		// memory at start, with no CA anyone could verify it against. Only the protocol version is
		// under test here, not the server's identity, so verification is skipped for this handshake.
		{name: "metrics", port: metricsPort, base: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // handshake-only check, see above
	}
	for _, s := range servers {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		// The metrics server may start a moment after readyz passes.
		waitFor(ctx, t, 20*time.Second, s.name+" server to accept a TLS 1.2 handshake", func() (bool, string, error) {
			_, err := handshake(ctx, addr, s.base, tls.VersionTLS12, tls.VersionTLS12)
			return err == nil, errString(err), nil
		})
		for _, v := range tlsVersions {
			t.Run(s.name+"/"+v.name, func(t *testing.T) {
				got, err := handshake(ctx, addr, s.base, v.min, v.max)
				switch {
				case v.accept && err != nil:
					t.Errorf("%s server refused %s: %v", s.name, v.name, err)
				case v.accept && (got < v.min || got > v.max):
					t.Errorf("%s server negotiated %s, want %s", s.name, tls.VersionName(got), v.name)
				case !v.accept && err == nil:
					t.Errorf("%s server accepted %s (negotiated %s); want TLS 1.2 or newer only", s.name, v.name, tls.VersionName(got))
				case !v.accept && !strings.Contains(err.Error(), "protocol version"):
					t.Errorf("%s server: %s failed, but not with the server's protocol_version alert: %v", s.name, v.name, err)
				}
			})
		}
	}
}

// legacyClientWorks is the control: the TLS 1.0 and 1.1 clients above do complete a handshake
// with a local server that allows those versions, so a failure against the manager is the
// manager's refusal, not this client's (Go's client defaults to TLS 1.2 as its minimum).
func legacyClientWorks(ctx context.Context, t *testing.T) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10} //nolint:gosec // the control server must allow TLS 1.0
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for _, v := range tlsVersions {
		if v.accept {
			continue
		}
		got, err := handshake(ctx, srv.Listener.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "example.com"}, v.min, v.max)
		if err != nil || got != v.max {
			t.Fatalf("control: a %s client cannot complete a handshake with a server that allows it (negotiated %s, %v); the refusals below would prove nothing",
				v.name, tls.VersionName(got), err)
		}
	}
}

// handshake dials addr, completes a TLS handshake offering versions min to max, and returns the
// negotiated version.
func handshake(ctx context.Context, addr string, base *tls.Config, minVersion, maxVersion uint16) (uint16, error) {
	cfg := base.Clone()
	cfg.MinVersion, cfg.MaxVersion = minVersion, maxVersion
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close() }()
	return conn.(*tls.Conn).ConnectionState().Version, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
