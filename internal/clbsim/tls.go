package clbsim

import "crypto/tls"

// insecureTLS is for HTTPS health probes: like the real CLB, the probe does
// not verify backend certificates.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // health probes do not verify backends
}
