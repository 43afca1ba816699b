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

import "time"

// SlowStartTicks is how many steps a new backend's weight takes to reach its full weight under
// slow start: it starts at a fifth of it and gains a fifth at each step (20, 40, 60, 80, 100%).
const SlowStartTicks = 4

// RampWeight is the weight of a backend ready since since, whose full weight is full, under slow
// start over window, at now; next is when it changes again (zero once the ramp is over). The
// steps fall on a grid of window/SlowStartTicks counted from the Unix epoch, the same for every
// backend with that window, so that the backends ramping on one load balancer step together, in
// one write, rather than each at its own time. The full weight comes after SlowStartTicks grid
// points: between three quarters of window and window after since. A weight above 0 never ramps
// to 0.
func RampWeight(full int64, since, now time.Time, window time.Duration) (weight int64, next time.Time) {
	if window <= 0 || full <= 0 || since.IsZero() {
		return full, time.Time{}
	}
	tick := window / SlowStartTicks
	if tick <= 0 {
		return full, time.Time{}
	}
	nowTick, sinceTick := now.UnixNano()/int64(tick), since.UnixNano()/int64(tick)
	passed := max(nowTick-sinceTick, 0)
	if passed >= SlowStartTicks {
		return full, time.Time{}
	}
	weight = max(1, (full*(passed+1)+(SlowStartTicks+1)/2)/(SlowStartTicks+1))
	return weight, time.Unix(0, (nowTick+1)*int64(tick))
}
