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
