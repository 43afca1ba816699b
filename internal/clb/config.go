package clb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// File names inside Config.CredentialsDir, as the keys of a mounted Secret.
const (
	secretIDFile  = "secretId"
	secretKeyFile = "secretKey"
)

// Schemes accepted in Config.Scheme.
const (
	schemeHTTP  = "HTTP"
	schemeHTTPS = "HTTPS"
)

// Defaults applied by New for zero fields of Config.
const (
	DefaultQPS = 20 // the cloud's documented per-action limit
	// DefaultMaxRetries keeps a call's retries to about 3.5 s (0.5 s, 1 s, 2 s apart): a
	// longer outage fails the pass, shows on the binding as CloudError, and is retried on the
	// sync's own backoff instead of hiding inside one call.
	DefaultMaxRetries       = 3
	DefaultRetryBaseDelay   = 500 * time.Millisecond
	DefaultRetryMaxDelay    = 10 * time.Second
	DefaultTaskPollInterval = 500 * time.Millisecond
	DefaultTaskTimeout      = 2 * time.Minute
	DefaultRequestTimeout   = 30 * time.Second

	// credentialReload bounds how stale credentials read from files may be, so
	// a rotated Secret is picked up without a restart.
	credentialReload = time.Minute
)

// Config configures a Client. Only Region is required.
type Config struct {
	// Region is the CLB region, e.g. "ap-guangzhou".
	Region string
	// Endpoint overrides the API host as "host[:port]" without a scheme, e.g.
	// "127.0.0.1:8080" for clbsim. Empty means clb.tencentcloudapi.com.
	Endpoint string
	// Scheme is "HTTPS" (default) or "HTTP".
	Scheme string

	// CredentialsDir is a directory holding the files secretId and secretKey,
	// typically a mounted Secret; they are re-read at most once a minute.
	// Empty means the SDK's provider chain: the environment variables
	// TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, then the profile file,
	// then the CVM role.
	CredentialsDir string

	// RateLimits sets the client-side token buckets.
	RateLimits RateLimitConfig
	// Retry bounds the retries of retriable errors.
	Retry RetryConfig

	// TaskPollInterval is the pause between DescribeTaskStatus polls.
	TaskPollInterval time.Duration
	// TaskTimeout bounds the wait for one asynchronous task.
	TaskTimeout time.Duration
	// RequestTimeout bounds one HTTP attempt; it is rounded up to seconds.
	RequestTimeout time.Duration

	// Registerer receives the metrics; nil means controller-runtime's
	// metrics.Registry.
	Registerer prometheus.Registerer
}

// RateLimitConfig sets one token bucket per API action.
type RateLimitConfig struct {
	// QPS is the default rate per action; 0 means DefaultQPS, negative means
	// unlimited.
	QPS float64
	// Burst is the bucket size; 0 means QPS rounded up (at least 1).
	Burst int
	// PerAction overrides QPS for an action, keyed by the API action name
	// (e.g. "DescribeTargetHealth"); same conventions as QPS.
	PerAction map[string]float64
}

// RetryConfig bounds the retries of retriable errors (throttling, a busy load
// balancer, server and network failures). Delays double from BaseDelay up to
// MaxDelay, each with up to 50% random jitter.
type RetryConfig struct {
	// MaxRetries after the first attempt; 0 means DefaultMaxRetries, negative
	// disables retries.
	MaxRetries int
	BaseDelay  time.Duration
	MaxDelay   time.Duration
}

func (c *Config) setDefaults() {
	if c.Scheme == "" {
		c.Scheme = schemeHTTPS
	}
	if c.RateLimits.QPS == 0 {
		c.RateLimits.QPS = DefaultQPS
	}
	if c.Retry.MaxRetries == 0 {
		c.Retry.MaxRetries = DefaultMaxRetries
	}
	if c.Retry.BaseDelay <= 0 {
		c.Retry.BaseDelay = DefaultRetryBaseDelay
	}
	if c.Retry.MaxDelay <= 0 {
		c.Retry.MaxDelay = DefaultRetryMaxDelay
	}
	if c.TaskPollInterval <= 0 {
		c.TaskPollInterval = DefaultTaskPollInterval
	}
	if c.TaskTimeout <= 0 {
		c.TaskTimeout = DefaultTaskTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("region is required"))
	}
	if strings.Contains(c.Endpoint, "://") {
		errs = append(errs, fmt.Errorf("endpoint %q must be host[:port] without a scheme; set the scheme separately", c.Endpoint))
	}
	switch strings.ToUpper(c.Scheme) {
	case schemeHTTP, schemeHTTPS:
	default:
		errs = append(errs, fmt.Errorf("scheme %q is not supported: use HTTP or HTTPS", c.Scheme))
	}
	return errors.Join(errs...)
}

// credential returns the credential the SDK signs requests with.
func (c *Config) credential() (common.CredentialIface, error) {
	if c.CredentialsDir == "" {
		cred, err := common.DefaultProviderChain().GetCredential()
		if err != nil {
			return nil, fmt.Errorf("finding CLB credentials (env TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, profile or CVM role): %w", err)
		}
		return cred, nil
	}
	fc := &fileCredential{dir: c.CredentialsDir, loadedAt: time.Now()}
	if err := fc.load(); err != nil {
		return nil, err
	}
	return fc, nil
}

// fileCredential reads the secret id and key from files and re-reads them
// periodically. If a reload fails, the last good pair is kept: a Secret being
// rewritten must not break signing.
type fileCredential struct {
	dir string

	mu       sync.Mutex
	id, key  string
	loadedAt time.Time
}

func (f *fileCredential) load() error {
	id, err := readSecretFile(filepath.Join(f.dir, secretIDFile))
	if err != nil {
		return err
	}
	key, err := readSecretFile(filepath.Join(f.dir, secretKeyFile))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.id, f.key = id, key
	f.mu.Unlock()
	return nil
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading CLB credentials file %s: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("reading CLB credentials file %s: file is empty", path)
	}
	return v, nil
}

// GetCredential implements common.CredentialIface.
func (f *fileCredential) GetCredential() (secretID, secretKey, token string) {
	f.mu.Lock()
	stale := time.Since(f.loadedAt) > credentialReload
	if stale {
		f.loadedAt = time.Now() // also after a failed read: retry in a minute, not on every call
	}
	f.mu.Unlock()
	if stale {
		_ = f.load() // keep the last good pair on error; see the type comment
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id, f.key, ""
}

// GetSecretId implements common.CredentialIface.
func (f *fileCredential) GetSecretId() string { id, _, _ := f.GetCredential(); return id }

// GetSecretKey implements common.CredentialIface.
func (f *fileCredential) GetSecretKey() string { _, key, _ := f.GetCredential(); return key }

// GetToken implements common.CredentialIface.
func (f *fileCredential) GetToken() string { return "" }

// String never shows the secret.
func (f *fileCredential) String() string { return "clb file credential from " + f.dir }

var _ common.CredentialIface = (*fileCredential)(nil)
