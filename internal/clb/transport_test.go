package clb

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSlimReadTransportSkipsThePreCheckOfSlimReadsOnly: the SDK's error pre-check is skipped
// (Content-Type octet-stream) for the two reads slimResponse checks itself, on successful HTTP
// answers only; every other action keeps the SDK's own handling.
func TestSlimReadTransportSkipsThePreCheckOfSlimReadsOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Status") == "500" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write([]byte(`{"Response":{"RequestId":"r"}}`))
	}))
	t.Cleanup(srv.Close)
	tr := newSlimReadTransport()
	for _, tc := range []struct {
		action, status, want string
	}{
		{actionDescribeTargets, "", octetStream},
		{actionDescribeTargetHealth, "", octetStream},
		{actionDescribeTargetHealth, "500", "application/json"},
		{"BatchRegisterTargets", "", "application/json"},
		{"DescribeListeners", "", "application/json"},
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-TC-Action", tc.action)
		req.Header.Set("X-Status", tc.status)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); got != tc.want {
			t.Errorf("%s (status %q): Content-Type %q, want %q", tc.action, tc.status, got, tc.want)
		}
	}
}
