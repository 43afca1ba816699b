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
	"strings"
)

// providerIDSchemes are the prefixes of Tencent Cloud node provider IDs: TKE writes qcloud,
// the open-source tencentcloud cloud controller manager writes tencentcloud.
var providerIDSchemes = []string{"qcloud:///", "tencentcloud:///"}

const (
	instanceIDPrefix = "ins-"
	// CVM IDs are "ins-" and 8 characters today; allow longer in case the format grows, as
	// EC2's did.
	instanceIDMinLen = 8
	instanceIDMaxLen = 32

	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// ParseProviderID returns the CVM instance ID in a node's spec.providerID, which looks like
// "qcloud:///<zone>/ins-xxxxxxxx" (or "tencentcloud:///<zone>/ins-xxxxxxxx"). The zone is
// required but not interpreted. Anything else, such as a super node or a node of another cloud,
// is an error: it cannot be registered as a CVM backend.
func ParseProviderID(providerID string) (string, error) {
	rest, ok := trimAnyPrefix(providerID, providerIDSchemes)
	if !ok {
		return "", fmt.Errorf("provider id %q: want qcloud:///<zone>/ins-<id>", providerID)
	}
	zone, instanceID, ok := strings.Cut(rest, "/")
	if !ok || !isZone(zone) {
		return "", fmt.Errorf("provider id %q: want a zone, then /ins-<id>", providerID)
	}
	if !isInstanceID(instanceID) {
		return "", fmt.Errorf("provider id %q: %q is not a CVM instance id (ins-<8 or more lowercase letters or digits>)",
			providerID, instanceID)
	}
	return instanceID, nil
}

func trimAnyPrefix(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return s, false
}

// isZone accepts zone names (ap-guangzhou-3) and numeric zone IDs (100003).
func isZone(s string) bool {
	return s != "" && strings.Trim(s, lowerAlnum+"-") == ""
}

func isInstanceID(s string) bool {
	id, ok := strings.CutPrefix(s, instanceIDPrefix)
	if !ok || len(id) < instanceIDMinLen || len(id) > instanceIDMaxLen {
		return false
	}
	return strings.Trim(id, lowerAlnum) == ""
}
