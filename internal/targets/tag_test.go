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

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
)

const (
	testCluster = "cls-1"
	testBinding = "binding-a"
)

func TestOwnerTag(t *testing.T) {
	tests := []struct {
		name       string
		clusterID  string
		bindingUID types.UID
		other      string
		otherUID   types.UID
	}{
		{name: "another binding", clusterID: testCluster, bindingUID: testBinding, other: testCluster, otherUID: "binding-b"},
		{name: "another cluster", clusterID: testCluster, bindingUID: testBinding, other: "cls-2", otherUID: testBinding},
		{name: "separator matters", clusterID: "cls-1a", bindingUID: "b", other: testCluster, otherUID: "ab"},
		{name: "empty inputs", clusterID: "", bindingUID: "", other: "x", otherUID: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			tag := OwnerTag(tt.clusterID, tt.bindingUID)
			g.Expect(tag).To(MatchRegexp(`^cbb-[0-9a-f]{20}$`))
			g.Expect(len(tag)).To(BeNumerically("<=", 32))
			g.Expect(OwnerTag(tt.clusterID, tt.bindingUID)).To(Equal(tag), "deterministic")
			g.Expect(OwnerTag(tt.other, tt.otherUID)).NotTo(Equal(tag))
		})
	}
}

// TestOwnerTagStable pins the value: changing it would orphan every backend already on a CLB.
func TestOwnerTagStable(t *testing.T) {
	g := NewWithT(t)
	g.Expect(OwnerTag("cls-1a2b3c4d", "0d5f7a3e-1111-2222-3333-444455556666")).To(Equal("cbb-14d8c9f4567f618ccd79"))
}
