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
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Make before break: a backend whose pod still runs and is ready, but that the Service no longer
// selects (its selector switched to other pods, the pod was relabelled, the port changed), is not
// removed at once. It stays at its weight, "retiring", until the backends that replace it are
// healthy on the CLB: as many as were retiring, or all the new ones if there are fewer. Then it
// drains at weight 0 for the binding's drain time and leaves. A bound ends the wait whatever the
// health says. Terminating pods never retire: they drain as before.

// PodRef names the pod behind a target; the UID tells a re-created pod of the same name apart.
type PodRef struct {
	Name string
	UID  types.UID
}

// Memory is what Desired keeps between calls for make before break. The zero value is a first
// call.
type Memory struct {
	// Serving are the serving targets of the last call, retiring ones included, with their pods.
	Serving map[Key]PodRef
	// RetiringSince is when each retiring target started to wait for its replacements.
	RetiringSince map[Key]time.Time
	// ReleasedAt is when each retired target was let go: it drains at weight 0 from then on.
	ReleasedAt map[Key]time.Time
}

// Switch is what a call found of a switch in progress, for the status and events.
type Switch struct {
	// Retiring counts the backends kept for make before break.
	Retiring int
	// Healthy and Needed are how many new backends the CLB reports healthy, and how many must be
	// before the retiring ones leave.
	Healthy, Needed int
	// Deadline is when the wait ends whatever the health says.
	Deadline time.Time
	// NoEndpoints is set when the Service selects no serving endpoint at all while the retiring
	// pods still run: most likely a mistake in its selector or EndpointSlices.
	NoEndpoints bool
	// TimedOut is set on the call that let the retiring backends go at the bound.
	TimedOut bool
	// Released counts the backends let go by this call.
	Released int
}

// Message describes the switch for the binding's Ready condition; "" when there is none.
func (s Switch) Message() string {
	switch {
	case s.Retiring == 0:
		return ""
	case s.NoEndpoints:
		return fmt.Sprintf("the Service selects no ready endpoint while %d pods it selected before still run: they keep "+
			"serving until %s; check the Service's selector and EndpointSlices", s.Retiring, s.Deadline.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf("switching pods: %d old backends keep serving until %d new ones are healthy on the CLB (%d are) "+
			"or until %s", s.Retiring, s.Needed, s.Healthy, s.Deadline.UTC().Format(time.RFC3339))
	}
}

// retireRecheck is how often a call is asked for while backends retire: the CLB's health of the
// new backends decides when they leave.
const retireRecheck = 2 * time.Second

// retire keeps, releases or drops the targets the Service no longer selects, and returns the
// memory for the next call. refs are the pods of the targets in set.
func (s targetSet) retire(in Input, refs map[Key]PodRef, r *Result) {
	b := in.Binding
	mem := Memory{Serving: map[Key]PodRef{}, RetiringSince: map[Key]time.Time{}, ReleasedAt: map[Key]time.Time{}}
	var kept []Target
	oldest := time.Time{}
	if b.MakeBeforeBreak > 0 {
		for k, ref := range in.Memory.Serving {
			if _, selected := s[k]; selected {
				continue
			}
			pod, found := lookup(in, ref)
			if released, ok := in.Memory.ReleasedAt[k]; ok {
				// Let go earlier: it drains at weight 0 while its pod exists and the drain lasts.
				if found && in.Now.Before(released.Add(b.Drain)) {
					mem.ReleasedAt[k], mem.Serving[k] = released, ref
					s[k] = Target{Key: k, Weight: 0, Draining: true}
					r.requeue(released.Add(b.Drain))
				}
				continue
			}
			if !found || pod.Terminating || !pod.ContainersReady {
				continue // gone, going or failing: it leaves as it always did
			}
			since, ok := in.Memory.RetiringSince[k]
			if !ok || since.After(in.Now) {
				since = in.Now
			}
			if oldest.IsZero() || since.Before(oldest) {
				oldest = since
			}
			mem.RetiringSince[k] = since
			mem.Serving[k] = ref
			w, _ := weight(b, pod) // a retiring pod keeps the weight it served at
			kept = append(kept, Target{Key: k, Weight: w, Retiring: true})
		}
	}
	var sw Switch
	if len(kept) > 0 {
		newServing := 0
		for _, t := range s {
			if t.Draining || t.Retiring {
				continue
			}
			newServing++
			if in.Healthy != nil && in.Healthy(t.EniIP, t.Port) {
				sw.Healthy++
			}
		}
		sw.Needed = min(len(kept), newServing)
		sw.Deadline = oldest.Add(b.MakeBeforeBreak)
		sw.NoEndpoints = newServing == 0
		switch {
		case !sw.NoEndpoints && sw.Healthy >= sw.Needed:
			sw.Released = release(s, kept, in, mem, r)
		case !in.Now.Before(sw.Deadline):
			sw.TimedOut = true
			sw.Released = release(s, kept, in, mem, r)
		default:
			for _, t := range kept {
				s[t.Key] = t
			}
			sw.Retiring = len(kept)
			r.requeue(in.Now.Add(retireRecheck))
			r.requeue(sw.Deadline)
		}
	}
	for k, t := range s {
		if ref, ok := refs[k]; ok && !t.Draining {
			mem.Serving[k] = ref
		}
	}
	r.Memory, r.Switch = mem, sw
}

// release lets the kept targets go: they drain at weight 0 for the drain time, or leave now.
func release(s targetSet, kept []Target, in Input, mem Memory, r *Result) int {
	for _, t := range kept {
		delete(mem.RetiringSince, t.Key)
		delete(mem.Serving, t.Key)
		if in.Binding.Drain <= 0 {
			continue
		}
		mem.ReleasedAt[t.Key] = in.Now
		mem.Serving[t.Key] = in.Memory.Serving[t.Key]
		t.Weight, t.Retiring, t.Draining = 0, false, true
		s[t.Key] = t
		r.requeue(in.Now.Add(in.Binding.Drain))
	}
	return len(kept)
}

// lookup finds a pod the Service no longer lists, by name and UID.
func lookup(in Input, ref PodRef) (PodInfo, bool) {
	if in.LookupPod == nil {
		return PodInfo{}, false
	}
	pod, ok := in.LookupPod(ref.Name)
	if !ok || (ref.UID != "" && pod.UID != ref.UID) {
		return PodInfo{}, false
	}
	return pod, true
}

// requeue asks for the next call at t at the latest.
func (r *Result) requeue(t time.Time) {
	if r.RequeueAt.IsZero() || t.Before(r.RequeueAt) {
		r.RequeueAt = t
	}
}
