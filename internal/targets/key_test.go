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
	"slices"
	"testing"

	. "github.com/onsi/gomega"
)

func TestScopeString(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Scope{ListenerID: listener}.String()).To(Equal("listener lbl-1"))
	g.Expect(Key{ListenerID: listener, LocationID: location, EniIP: "10.0.0.1", Port: 80}.Scope().String()).
		To(Equal("rule loc-1 of listener lbl-1"))
}

// TestKeyCompare: keys sort by listener, then rule, then address, then port, so the backends of
// one listener and rule are contiguous.
func TestKeyCompare(t *testing.T) {
	g := NewWithT(t)
	want := []Key{
		{ListenerID: "lbl-1", EniIP: "10.0.0.2", Port: 80},
		{ListenerID: "lbl-1", LocationID: "loc-1", InstanceID: instance, Port: 80},
		{ListenerID: "lbl-1", LocationID: "loc-1", EniIP: "10.0.0.1", Port: 80},
		{ListenerID: "lbl-1", LocationID: "loc-1", EniIP: "10.0.0.1", Port: 8080},
		{ListenerID: "lbl-2", EniIP: "10.0.0.1", Port: 80},
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, Key.Compare)
	g.Expect(got).To(Equal(want))
	g.Expect(want[0].Compare(want[0])).To(BeZero())
}
