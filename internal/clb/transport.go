package clb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The SDK checks every answer for an API error before parsing it (tchttp.TryReadErr): it decodes
// the whole body twice into error shapes, then the response decodes it again. For the full reads
// (a health poll answer holds every backend of 30 load balancers, over a megabyte at 200 backends
// each) that check cost more CPU than anything else a steady manager does. slimResponse checks the
// error itself, in its one decode, so for the actions it answers the SDK's check is skipped: the
// SDK leaves alone an answer whose Content-Type is not JSON, and parses it as JSON all the same.

//
// The SDK then still reads the body with io.ReadAll (a buffer grown by doubling) and scans it twice
// with its JSON decoder before handing it to slimResponse, which for a steady answer only hashes
// it. So the transport hands the body of these answers to the slimResponse waiting for it (its
// answer, carried by the request's context) in a pooled buffer, and gives the SDK an empty object.

// octetStream is the Content-Type under which the SDK skips its error pre-check.
const octetStream = "application/octet-stream"

// handedOver is the body the SDK gets in place of an answer handed to its slimResponse.
const handedOver = "{}"

// answer receives the body of one successful read from the transport.
type answer struct {
	body *bytes.Buffer
}

type answerKey struct{}

// withAnswer asks the transport to hand the body of the request's answer to a.
func withAnswer(ctx context.Context, a *answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// answerBuffers keeps the buffers of handed-over bodies: a steady answer is hashed and dropped,
// so its buffer serves the next read.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// take returns the handed-over body and forgets it; release returns its buffer once the body is
// no longer read.
func (a *answer) take() (*bytes.Buffer, bool) {
	if a == nil || a.body == nil {
		return nil, false
	}
	b := a.body
	a.body = nil
	return b, true
}

func release(b *bytes.Buffer) {
	b.Reset()
	answerBuffers.Put(b)
}

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
	default:
		return resp, nil
	}
	a, _ := req.Context().Value(answerKey{}).(*answer)
	if a == nil {
		return resp, nil
	}
	buf := answerBuffers.Get().(*bytes.Buffer)
	_, err = buf.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		release(buf)
		return nil, fmt.Errorf("reading the %s answer: %w", req.Header.Get("X-TC-Action"), err)
	}
	a.body = buf
	resp.Body = io.NopCloser(strings.NewReader(handedOver))
	resp.ContentLength = int64(len(handedOver))
	return resp, nil
}
