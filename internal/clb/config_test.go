package clb

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
)

func writeCredentials(t testing.TB, id, key string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{secretIDFile: id, secretKeyFile: key} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestConfigValidation(t *testing.T) {
	dir := writeCredentials(t, "AKIDtest", "secret")
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{Region: "ap-guangzhou", CredentialsDir: dir}, ""},
		{"no region", Config{CredentialsDir: dir}, "region is required"},
		{"scheme in endpoint", Config{Region: "r", Endpoint: "http://127.0.0.1:1", CredentialsDir: dir}, "without a scheme"},
		{"bad scheme", Config{Region: "r", Scheme: "ftp", CredentialsDir: dir}, `scheme "ftp" is not supported`},
		{"lower-case scheme", Config{Region: "r", Scheme: "http", Endpoint: "127.0.0.1:1", CredentialsDir: dir}, ""},
		{"missing credentials dir", Config{Region: "r", CredentialsDir: filepath.Join(dir, "nope")}, "reading CLB credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			tt.cfg.Registerer = prometheus.NewRegistry()
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.Region()).To(Equal(tt.cfg.Region))
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	g := NewWithT(t)
	var cfg Config
	cfg.setDefaults()
	g.Expect(cfg.Scheme).To(Equal("HTTPS"))
	g.Expect(cfg.RateLimits.QPS).To(BeNumerically("==", DefaultQPS))
	g.Expect(cfg.Retry).To(Equal(RetryConfig{MaxRetries: DefaultMaxRetries, BaseDelay: DefaultRetryBaseDelay, MaxDelay: DefaultRetryMaxDelay}))
	g.Expect(cfg.TaskTimeout).To(Equal(DefaultTaskTimeout))
	// The rate limits built from RateLimitConfig are tested in ratelimit_test.go.
}

func TestFileCredential(t *testing.T) {
	g := NewWithT(t)
	dir := writeCredentials(t, "AKIDone", "key-one")
	cred, err := (&Config{CredentialsDir: dir}).credential()
	g.Expect(err).NotTo(HaveOccurred())
	id, key, token := cred.GetCredential()
	g.Expect([]string{id, key, token}).To(Equal([]string{"AKIDone", "key-one", ""}), "whitespace trimmed")
	g.Expect(cred.(*fileCredential).String()).NotTo(ContainSubstring("key-one"))

	// A rotated Secret is picked up once the cached pair is stale; a broken
	// rewrite keeps the last good pair.
	fc := cred.(*fileCredential)
	g.Expect(os.WriteFile(filepath.Join(dir, secretKeyFile), []byte("key-two"), 0o600)).To(Succeed())
	fc.loadedAt = time.Now().Add(-2 * credentialReload)
	g.Expect(fc.GetSecretKey()).To(Equal("key-two"))
	g.Expect(os.WriteFile(filepath.Join(dir, secretKeyFile), nil, 0o600)).To(Succeed())
	fc.loadedAt = time.Now().Add(-2 * credentialReload)
	g.Expect(fc.GetSecretKey()).To(Equal("key-two"))
	g.Expect(fc.GetSecretId()).To(Equal("AKIDone"))

	_, err = (&Config{CredentialsDir: dir}).credential()
	g.Expect(err).To(MatchError(ContainSubstring("is empty")))
}

func TestProviderChainFromEnv(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv")
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "key-env")
	c, err := New(Config{Region: "ap-guangzhou", Registerer: prometheus.NewRegistry()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.api.GetCredential().GetSecretId()).To(Equal("AKIDenv"))
}
