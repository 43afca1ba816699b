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
	"fmt"
	"slices"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// switchWorld is a binding whose Service moves from pods blue-* to green-* (or elsewhere), called
// again and again as the controller would, with the CLB's health of each backend.
type switchWorld struct {
	t       *testing.T
	binding Binding
	pods    map[string]PodInfo
	healthy map[string]bool
	mem     Memory
	since   map[Key]time.Time
	now     time.Time
}

func newSwitchWorld(t *testing.T, bound time.Duration) *switchWorld {
	b := binding()
	b.MakeBeforeBreak = bound
	return &switchWorld{t: t, binding: b, pods: map[string]PodInfo{}, healthy: map[string]bool{}, now: now}
}

// run computes the desired targets for the endpoints and returns them as "ip@weight" with a
// suffix for draining (-) and retiring (~) targets.
func (w *switchWorld) run(eps ...discoveryv1.Endpoint) ([]string, Result) {
	w.t.Helper()
	in := Input{
		Binding: w.binding, Service: service(""), EndpointSlices: []discoveryv1.EndpointSlice{slice(eps...)},
		Pods: w.pods, DrainingSince: w.since, Now: w.now, Memory: w.mem,
		LookupPod: func(name string) (PodInfo, bool) { p, ok := w.pods[name]; return p, ok },
		Healthy:   func(ip string, _ int64) bool { return w.healthy[ip] },
	}
	res, err := Desired(in)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mem, w.since = res.Memory, res.DrainingSince
	out := make([]string, 0, len(res.Targets))
	for _, t := range res.Targets {
		s := fmt.Sprintf("%s@%d", t.EniIP, t.Weight)
		switch {
		case t.Draining:
			s += "-"
		case t.Retiring:
			s += "~"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out, res
}

func (w *switchWorld) addPods(names ...string) {
	for _, n := range names {
		w.pods[n] = pod(n, nil)
	}
}

func (w *switchWorld) expect(got []string, want ...string) {
	w.t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		w.t.Fatalf("at +%s: targets = %v, want %v", w.now.Sub(now), got, want)
	}
}

var (
	blue  = []discoveryv1.Endpoint{endpoint("10.0.0.1", "blue-1"), endpoint("10.0.0.2", "blue-2")}
	green = []discoveryv1.Endpoint{endpoint("10.0.1.1", "green-1"), endpoint("10.0.1.2", "green-2")}
)

// TestSelectorSwitchIsMadeBeforeBroken: the old backends keep their weight until as many new ones
// are healthy on the CLB, then drain at weight 0 for the drain time, then leave.
func TestSelectorSwitchIsMadeBeforeBroken(t *testing.T) {
	w := newSwitchWorld(t, 2*time.Minute)
	w.addPods("blue-1", "blue-2", "green-1", "green-2")
	got, _ := w.run(blue...)
	w.expect(got, "10.0.0.1@10", "10.0.0.2@10")

	got, res := w.run(green...)
	w.expect(got, "10.0.0.1@10~", "10.0.0.2@10~", "10.0.1.1@10", "10.0.1.2@10")
	if sw := res.Switch; sw.Retiring != 2 || sw.Needed != 2 || sw.Healthy != 0 || sw.NoEndpoints || !sw.Deadline.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("switch = %+v", sw)
	}
	if !res.RequeueAt.Equal(w.now.Add(retireRecheck)) {
		t.Fatalf("RequeueAt = %v, want a recheck in %s", res.RequeueAt, retireRecheck)
	}

	w.now = w.now.Add(10 * time.Second)
	w.healthy["10.0.1.1"] = true
	got, _ = w.run(green...)
	w.expect(got, "10.0.0.1@10~", "10.0.0.2@10~", "10.0.1.1@10", "10.0.1.2@10") // 1 of 2 is not enough

	w.now = w.now.Add(5 * time.Second)
	w.healthy["10.0.1.2"] = true
	got, res = w.run(green...)
	w.expect(got, "10.0.0.1@0-", "10.0.0.2@0-", "10.0.1.1@10", "10.0.1.2@10")
	if res.Switch.Released != 2 || res.Switch.TimedOut || res.Switch.Retiring != 0 {
		t.Fatalf("switch = %+v, want 2 released in time", res.Switch)
	}
	if !res.RequeueAt.Equal(w.now.Add(30 * time.Second)) {
		t.Fatalf("RequeueAt = %v, want the end of the drain", res.RequeueAt)
	}

	w.now = w.now.Add(29 * time.Second)
	got, _ = w.run(green...)
	w.expect(got, "10.0.0.1@0-", "10.0.0.2@0-", "10.0.1.1@10", "10.0.1.2@10")
	w.now = w.now.Add(time.Second)
	got, _ = w.run(green...)
	w.expect(got, "10.0.1.1@10", "10.0.1.2@10")
	got, _ = w.run(green...)
	w.expect(got, "10.0.1.1@10", "10.0.1.2@10")
}

func TestMakeBeforeBreak(t *testing.T) {
	tests := []struct {
		name  string
		bound time.Duration
		// arrange runs after blue served; it may change pods and health.
		arrange func(w *switchWorld)
		// next are the endpoints after the change, after is how long after the change the call runs.
		next  []discoveryv1.Endpoint
		after time.Duration
		want  []string
		check func(t *testing.T, sw Switch)
	}{
		{name: "fewer new backends: all of them healthy is enough",
			bound: time.Minute, arrange: func(w *switchWorld) { w.healthy["10.0.1.1"] = true },
			next: green[:1], want: []string{"10.0.0.1@0-", "10.0.0.2@0-", "10.0.1.1@10"}},
		{name: "the bound lets them go, and says so",
			bound: time.Minute, next: green, after: time.Minute,
			want: []string{"10.0.0.1@0-", "10.0.0.2@0-", "10.0.1.1@10", "10.0.1.2@10"},
			check: func(t *testing.T, sw Switch) {
				if !sw.TimedOut || sw.Released != 2 {
					t.Fatalf("switch = %+v, want timed out", sw)
				}
			}},
		{name: "endpoints gone while the pods run: they keep serving, however healthy the rest",
			bound: time.Minute, next: nil, after: 59 * time.Second,
			want: []string{"10.0.0.1@10~", "10.0.0.2@10~"},
			check: func(t *testing.T, sw Switch) {
				if !sw.NoEndpoints || sw.Retiring != 2 {
					t.Fatalf("switch = %+v, want 2 kept for lack of endpoints", sw)
				}
			}},
		{name: "endpoints gone, at the bound",
			bound: time.Minute, next: nil, after: time.Minute, want: []string{"10.0.0.1@0-", "10.0.0.2@0-"}},
		{name: "a terminating old pod does not retire",
			bound: time.Minute, arrange: func(w *switchWorld) { w.pods["blue-1"] = deleting(w.pods["blue-1"]) },
			next: green, want: []string{"10.0.0.2@10~", "10.0.1.1@10", "10.0.1.2@10"}},
		{name: "an old pod that is not ready does not retire",
			bound: time.Minute, arrange: func(w *switchWorld) { p := w.pods["blue-1"]; p.ContainersReady = false; w.pods["blue-1"] = p },
			next: green, want: []string{"10.0.0.2@10~", "10.0.1.1@10", "10.0.1.2@10"}},
		{name: "an old pod deleted or re-created does not retire",
			bound: time.Minute, arrange: func(w *switchWorld) {
				delete(w.pods, "blue-1")
				w.pods["blue-2"] = PodInfo{Name: "blue-2", UID: "new", ContainersReady: true}
			},
			next: green, want: []string{"10.0.1.1@10", "10.0.1.2@10"}},
		{name: "without make before break the old backends leave at once",
			bound: 0, next: green, want: []string{"10.0.1.1@10", "10.0.1.2@10"}},
		{name: "a rolling update drains terminating endpoints as before",
			bound: time.Minute, arrange: func(w *switchWorld) { w.pods["blue-1"] = deleting(w.pods["blue-1"]) },
			next: []discoveryv1.Endpoint{endpoint("10.0.0.1", "blue-1", terminating), blue[1], green[0]},
			want: []string{"10.0.0.1@0-", "10.0.0.2@10", "10.0.1.1@10"}},
		{name: "no drain time: released backends leave at once",
			bound: time.Minute, arrange: func(w *switchWorld) {
				w.binding.Drain = 0
				w.healthy["10.0.1.1"], w.healthy["10.0.1.2"] = true, true
			},
			next: green, want: []string{"10.0.1.1@10", "10.0.1.2@10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSwitchWorld(t, tt.bound)
			w.addPods("blue-1", "blue-2", "green-1", "green-2")
			w.run(blue...)
			if tt.arrange != nil {
				tt.arrange(w)
			}
			if tt.after > 0 {
				w.run(tt.next...) // the switch starts now
				w.now = w.now.Add(tt.after)
			}
			got, res := w.run(tt.next...)
			w.expect(got, tt.want...)
			if tt.check != nil {
				tt.check(t, res.Switch)
			}
		})
	}
}

// TestMakeBeforeBreakWeights: a retiring pod keeps the weight of its clbind.io/weight annotation,
// and a pod kept at weight 0 for not being ready (KeepNotReady) never retires.
func TestMakeBeforeBreakWeights(t *testing.T) {
	w := newSwitchWorld(t, time.Minute)
	w.binding.KeepNotReady = true
	w.addPods("blue-1", "blue-2", "green-1", "green-2")
	w.pods["blue-1"] = weighted(w.pods["blue-1"], "30")
	w.pods["blue-2"] = weighted(w.pods["blue-2"], "abc")
	got, _ := w.run(blue...)
	w.expect(got, "10.0.0.1@30", "10.0.0.2@10")

	got, _ = w.run(blue[0], endpoint("10.0.0.2", "blue-2", notReady))
	w.expect(got, "10.0.0.1@30", "10.0.0.2@0")

	got, _ = w.run(green...)
	w.expect(got, "10.0.0.1@30~", "10.0.1.1@10", "10.0.1.2@10")
}
