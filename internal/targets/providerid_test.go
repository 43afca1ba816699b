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
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const (
	errWantScheme = "want qcloud:///<zone>/ins-<id>"
	errWantZone   = "want a zone"
	errNotCVM     = "is not a CVM instance id"
)

func TestParseProviderID(t *testing.T) {
	tests := []struct {
		name       string
		providerID string
		want       string
		wantErr    string
	}{
		{name: "tke numeric zone", providerID: "qcloud:///800002/ins-ab12cd34", want: instance},
		{name: "zone name", providerID: "qcloud:///ap-guangzhou-3/ins-ab12cd34", want: instance},
		{name: "tencentcloud scheme", providerID: "tencentcloud:///100003/ins-0000abcd", want: "ins-0000abcd"},
		{name: "longer id", providerID: "qcloud:///100003/ins-0123456789abcdef", want: "ins-0123456789abcdef"},
		{name: "empty", providerID: "", wantErr: errWantScheme},
		{name: "other cloud", providerID: "aws:///us-east-1a/i-0123456789abcdef0", wantErr: errWantScheme},
		{name: "two slashes", providerID: "qcloud://100003/ins-ab12cd34", wantErr: errWantScheme},
		{name: "no zone", providerID: "qcloud:///ins-ab12cd34", wantErr: errWantZone},
		{name: "empty zone", providerID: "qcloud:////ins-ab12cd34", wantErr: errWantZone},
		{name: "bad zone", providerID: "qcloud:///Zone 1/ins-ab12cd34", wantErr: errWantZone},
		{name: "super node", providerID: "qcloud:///100003/eklet-subnet-ab12cd34", wantErr: errNotCVM},
		{name: "short id", providerID: "qcloud:///100003/ins-ab12", wantErr: errNotCVM},
		{name: "upper case", providerID: "qcloud:///100003/ins-AB12CD34", wantErr: errNotCVM},
		{name: "trailing path", providerID: "qcloud:///100003/ins-ab12cd34/x", wantErr: errNotCVM},
		{name: "upper case scheme", providerID: "QCLOUD:///100003/ins-ab12cd34", wantErr: errWantScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseProviderID(tt.providerID)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				g.Expect(got).To(BeEmpty())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func FuzzParseProviderID(f *testing.F) {
	for _, seed := range []string{"qcloud:///800002/ins-ab12cd34", "tencentcloud:///ap-shanghai-2/ins-0000abcd", "", "qcloud:///"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, providerID string) {
		id, err := ParseProviderID(providerID)
		if err != nil {
			if id != "" {
				t.Fatalf("ParseProviderID(%q) = %q with error %v", providerID, id, err)
			}
			return
		}
		if !isInstanceID(id) || !strings.HasSuffix(providerID, "/"+id) {
			t.Fatalf("ParseProviderID(%q) = %q, not a CVM id at the end of the provider id", providerID, id)
		}
		// The id must round-trip through the canonical form.
		again, err := ParseProviderID("qcloud:///100003/" + id)
		if err != nil || again != id {
			t.Fatalf("ParseProviderID of the canonical form of %q = %q, %v", id, again, err)
		}
	})
}
