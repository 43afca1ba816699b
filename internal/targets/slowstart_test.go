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

package targets

import (
	"testing"
	"time"
)

func TestRampWeight(t *testing.T) {
	const window = 60 * time.Second // ticks every 15 s on the epoch grid
	grid := time.Unix(1_800_000_000, 0).Truncate(15 * time.Second)
	tests := []struct {
		name       string
		full       int64
		since, now time.Time
		window     time.Duration
		want       int64
		next       time.Time
	}{
		{"no slow start", 50, grid, grid, 0, 50, time.Time{}},
		{"unknown start", 50, time.Time{}, grid, window, 50, time.Time{}},
		{"weight 0 stays 0", 0, grid, grid, window, 0, time.Time{}},
		{"just ready: a fifth", 50, grid.Add(time.Second), grid.Add(2 * time.Second), window, 10, grid.Add(15 * time.Second)},
		{"one grid point later: two fifths", 50, grid.Add(time.Second), grid.Add(15 * time.Second), window, 20, grid.Add(30 * time.Second)},
		{"three points: four fifths", 50, grid.Add(time.Second), grid.Add(45 * time.Second), window, 40, grid.Add(60 * time.Second)},
		{"four points: full, no more steps", 50, grid.Add(time.Second), grid.Add(60 * time.Second), window, 50, time.Time{}},
		{"ready just before a point: full after three quarters of the window", 50, grid.Add(14 * time.Second), grid.Add(60 * time.Second), window, 50, time.Time{}},
		{"a small weight never ramps to 0", 1, grid, grid, window, 1, grid.Add(15 * time.Second)},
		{"rounded to the nearest", 10, grid, grid.Add(15 * time.Second), window, 4, grid.Add(30 * time.Second)},
		{"a start in the future (clock skew) starts at a fifth", 50, grid.Add(time.Hour), grid, window, 10, grid.Add(15 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := RampWeight(tt.full, tt.since, tt.now, tt.window)
			if got != tt.want || !next.Equal(tt.next) {
				t.Errorf("RampWeight = %d, next %v; want %d, next %v", got, next, tt.want, tt.next)
			}
		})
	}
}

// TestRampStepsTogether: backends that became ready at different times within one grid interval
// change weight at the same instants, so a load balancer's ramp costs one write per step.
func TestRampStepsTogether(t *testing.T) {
	const window = 40 * time.Second
	base := time.Unix(1_800_000_000, 0).Truncate(10 * time.Second)
	nexts := map[time.Time]bool{}
	for offset := time.Duration(0); offset < 10*time.Second; offset += 700 * time.Millisecond {
		_, next := RampWeight(100, base.Add(offset), base.Add(9*time.Second+900*time.Millisecond), window)
		nexts[next] = true
	}
	if len(nexts) != 1 {
		t.Errorf("backends ready within one interval step at %d different times, want 1: %v", len(nexts), nexts)
	}
}
