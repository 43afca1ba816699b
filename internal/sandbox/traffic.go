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

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxFailureSamples is how many failed requests Traffic remembers in detail.
const maxFailureSamples = 10

// Traffic is a steady stream of HTTP requests through the load balancer, each on a new
// connection, as independent clients would send them.
type Traffic struct {
	mu       sync.Mutex
	sent     int
	failed   int
	byPod    map[string]int
	failures []string
	cancel   context.CancelFunc
	done     chan struct{}
	start    time.Time
}

// TrafficStats is a snapshot of a Traffic.
type TrafficStats struct {
	Sent, Served, Failed int
	// ByPod counts the requests each pod answered.
	ByPod map[string]int
	// Failures describes the first failed requests.
	Failures []string
}

// StartTraffic sends a GET to addr every interval until Stop.
func StartTraffic(ctx context.Context, addr string, interval time.Duration) *Traffic {
	ctx, cancel := context.WithCancel(ctx)
	t := &Traffic{byPod: map[string]int{}, cancel: cancel, done: make(chan struct{}), start: time.Now()}
	httpClient := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   3 * time.Second,
	}
	go func() {
		defer close(t.done)
		defer httpClient.CloseIdleConnections()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Requests run concurrently so one slow request never thins the stream.
			wg.Go(func() { t.record(request(ctx, httpClient, "http://"+addr+"/")) })
		}
	}()
	return t
}

func request(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	pod := strings.TrimSpace(string(body))
	if pod == "" {
		return "", errors.New("empty answer")
	}
	return pod, nil
}

func (t *Traffic) record(pod string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		return // stopped, not failed
	}
	t.sent++
	if err != nil {
		t.failed++
		if len(t.failures) < maxFailureSamples {
			t.failures = append(t.failures, fmt.Sprintf("+%v: %v", time.Since(t.start).Round(time.Millisecond), err))
		}
		return
	}
	t.byPod[pod]++
}

// Stats returns the counts so far.
func (t *Traffic) Stats() TrafficStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TrafficStats{Sent: t.sent, Served: t.sent - t.failed, Failed: t.failed, ByPod: maps.Clone(t.byPod), Failures: slices.Clone(t.failures)}
	return st
}

// Stop ends the stream, waits for requests in flight, and returns the final counts.
func (t *Traffic) Stop() TrafficStats {
	t.cancel()
	<-t.done
	return t.Stats()
}
