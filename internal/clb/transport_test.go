package clb

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSlimReadTransportSkipsThePreCheckOfSlimReadsOnly: the SDK's error pre-check is skipped
// (Content-Type octet-stream) for the two reads slimResponse checks itself, on successful HTTP
// answers only, and their bodies are handed to the slim response that asked, the SDK reading an
// empty object; every other action keeps the SDK's own handling.
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
		var a answer
		req = req.WithContext(withAnswer(req.Context(), &a))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		sdkBody, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Type"); got != tc.want {
			t.Errorf("%s (status %q): Content-Type %q, want %q", tc.action, tc.status, got, tc.want)
		}
		// The answers the slim responses read are handed to them; the SDK reads an empty object.
		handed, ok := a.take()
		wantHanded := tc.want == octetStream
		if ok != wantHanded {
			t.Fatalf("%s (status %q): body handed over %v, want %v", tc.action, tc.status, ok, wantHanded)
		}
		const body = `{"Response":{"RequestId":"r"}}`
		switch {
		case ok && (handed.String() != body || string(sdkBody) != handedOver):
			t.Errorf("%s: handed %q and the SDK read %q, want %q and %q", tc.action, handed.String(), sdkBody, body, handedOver)
		case !ok && string(sdkBody) != body:
			t.Errorf("%s (status %q): the SDK read %q, want the answer %q", tc.action, tc.status, sdkBody, body)
		}
	}
}
