package clb

import (
	"context"
	"time"
)

// Attempt is one try of one API call.
type Attempt struct {
	Action string
	// Code is "OK", a cloud error code, "ClientError.NetworkError" for a dropped connection, or
	// "Canceled".
	Code string
	Took time.Duration
	// Unchanged is true for a read whose answer read as the last answer to the same request
	// (readmemo.go): whatever the caller built from that one still holds.
	Unchanged bool
}

type observerKey struct{}

// WithObserver returns a context whose calls report each attempt to observe, retried ones
// included: a caller sees what the retries hid from it (throttling, failures, slow answers).
// observe must be safe for concurrent use.
func WithObserver(ctx context.Context, observe func(Attempt)) context.Context {
	return context.WithValue(ctx, observerKey{}, observe)
}

func observe(ctx context.Context, a Attempt) {
	if fn, ok := ctx.Value(observerKey{}).(func(Attempt)); ok {
		fn(a)
	}
}
