package clb

import (
	"net/http"
	"time"
)

// The SDK checks every answer for an API error before parsing it (tchttp.TryReadErr): it decodes
// the whole body twice into error shapes, then the response decodes it again. For the full reads
// (a health poll answer holds every backend of 30 load balancers, over a megabyte at 200 backends
// each) that check cost more CPU than anything else a steady manager does. slimResponse checks the
// error itself, in its one decode, so for the actions it answers the SDK's check is skipped: the
// SDK leaves alone an answer whose Content-Type is not JSON, and parses it as JSON all the same.

// octetStream is the Content-Type under which the SDK skips its error pre-check.
const octetStream = "application/octet-stream"

// slimReadTransport is the SDK client's transport: base, with the pre-check skipped for the
// actions slimResponse decodes.
type slimReadTransport struct {
	base http.RoundTripper
}

func newSlimReadTransport() slimReadTransport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.IdleConnTimeout = 30 * time.Second // the SDK's own setting
	return slimReadTransport{base: base}
}

func (t slimReadTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	switch req.Header.Get("X-TC-Action") {
	case actionDescribeTargets, actionDescribeTargetHealth:
		resp.Header.Set("Content-Type", octetStream)
	}
	return resp, nil
}
