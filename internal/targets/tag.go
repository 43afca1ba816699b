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
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/types"
)

// ownerTagPrefix marks tags written by this controller, so people reading the CLB console can
// tell them from tags of other tools.
const ownerTagPrefix = "cbb-"

// ownerTagHashBytes of SHA-256 keep the tag at 24 characters, well inside the CLB Tag field,
// while 80 bits make a collision between two bindings out of reach.
const ownerTagHashBytes = 10

// OwnerTag returns the tag that marks CLB backends registered by one binding in one cluster:
// "cbb-" and 20 hex digits of SHA-256 over the cluster ID and the binding UID. It is stable
// across controller restarts and leader changes. It changes when the binding is re-created
// (new UID), so a re-created binding does not claim the old one's backends in multiCluster mode;
// without multiCluster it adopts them (see Diff).
func OwnerTag(clusterID string, bindingUID types.UID) string {
	// The NUL separator keeps ("a", "bc") and ("ab", "c") apart.
	sum := sha256.Sum256([]byte(clusterID + "\x00" + string(bindingUID)))
	return ownerTagPrefix + hex.EncodeToString(sum[:ownerTagHashBytes])
}
