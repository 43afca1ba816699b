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
	"cmp"
	"strings"
	"time"
)

// Scope is where backends are bound: a listener, or one rule of an HTTP/HTTPS listener.
type Scope struct {
	ListenerID string
	// LocationID is the L7 rule; empty on L4 listeners.
	LocationID string
}

// String names the scope in messages: "listener lbl-1" or "rule loc-1 of listener lbl-1".
func (s Scope) String() string {
	if s.LocationID != "" {
		return "rule " + s.LocationID + " of listener " + s.ListenerID
	}
	return "listener " + s.ListenerID
}

// Key identifies one CLB backend: where it is bound and what it points at. Exactly one of EniIP
// and InstanceID is set; LocationID is empty on L4 listeners. The IP alone is never an identity,
// because pod IPs are reused. It is comparable, so it can key a map.
type Key struct {
	ListenerID string
	LocationID string
	// EniIP is the pod (or ENI) IP.
	EniIP string
	// InstanceID is a CVM instance ("ins-…"), for node targets.
	InstanceID string
	Port       int64
}

// Scope is the listener or rule the backend is bound to.
func (k Key) Scope() Scope {
	return Scope{ListenerID: k.ListenerID, LocationID: k.LocationID}
}

// Compare orders keys by listener, rule, address and port, so that the backends of one listener
// and rule sort together.
func (k Key) Compare(o Key) int {
	return cmp.Or(
		strings.Compare(k.ListenerID, o.ListenerID),
		strings.Compare(k.LocationID, o.LocationID),
		strings.Compare(k.EniIP, o.EniIP),
		strings.Compare(k.InstanceID, o.InstanceID),
		cmp.Compare(k.Port, o.Port),
	)
}

// Target is a CLB backend with its settings: a backend a binding wants (from Desired), one read
// from the CLB (internal/clb), or one to write.
type Target struct {
	Key
	// Weight is 0–100 and is always written: 0 takes the backend out of rotation.
	Weight int64
	// Tag marks ownership (OwnerTag). Desired leaves it empty and Diff ignores it on desired
	// targets: Diff sets it on the backends it registers or re-tags.
	Tag string
	// Draining marks a desired target that is terminating: it stays at weight 0 only so that
	// open connections can finish. Desired sets it; Diff never registers a draining target that
	// is not on the CLB already.
	Draining bool
	// Retiring marks a desired target the Service no longer selects, kept serving until its
	// replacements are healthy (make before break). Desired sets it; Diff never registers one
	// either.
	Retiring bool
	// ReadySince is when the backend's pod became ready, set by Desired only for bindings with slow
	// start: the weight ramps up from then (RampWeight).
	ReadySince time.Time
	// Reported is the backend's address as DescribeTargets gave it; internal/clb sets it on the
	// targets it reads, and it is empty on all others. The cloud may report a pod's ENI IP as a
	// CVM backend carrying an instance ID, so which key a backend has depends on how it was
	// registered (see Keyed).
	Reported Identity
}

// Identity is what the cloud reports of a backend's address: its instance ID (a CVM, or the
// CVM an ENI is attached to) and its private IP. Either may be empty.
type Identity struct {
	InstanceID string
	IP         string
}

// Keyed returns t keyed the way it was registered: by IP for pod targets (byIP), by instance
// for node targets. The Type and TargetId the cloud reports (ENI, CVM, cvm, GLOBALROUTE, CCN,
// an ins- ID for an ENI IP) do not decide it, so a diff never mistakes a backend for another.
func (t Target) Keyed(byIP bool) Target {
	switch {
	case byIP && t.Reported.IP != "":
		t.EniIP, t.InstanceID = t.Reported.IP, ""
	case !byIP && t.Reported.InstanceID != "":
		t.EniIP, t.InstanceID = "", t.Reported.InstanceID
	}
	return t
}
