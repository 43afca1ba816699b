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

package sandbox

import (
	"slices"
	"testing"
)

func TestPolicyYAML(t *testing.T) {
	got, err := PolicyYAML(AllowPolicy("demo", []string{"lb-1a2b3c4d"}, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: networking.clbind.io/v1alpha1
kind: CLBBindingPolicy
metadata:
  name: demo
spec:
  loadBalancers:
  - id: lb-1a2b3c4d
  namespaces:
    names:
    - demo
`
	if got != want {
		t.Errorf("PolicyYAML:\n%s\nwant:\n%s", got, want)
	}
}

func TestRequestNames(t *testing.T) {
	batch := []byte(`{"LoadBalancerId":"lb-1a2b3c4d","Targets":[
		{"ListenerId":"lbl-aaaaaaaa","EniIp":"198.18.0.5","Port":8080},
		{"ListenerId":"lbl-aaaaaaaa","EniIp":"198.18.0.6","Port":8080},
		{"ListenerId":"lbl-bbbbbbbb","EniIp":"198.18.0.7","Port":8080}]}`)
	lb, listeners, targets := requestNames(batch)
	slices.Sort(listeners)
	want := []CallTarget{{"lbl-aaaaaaaa", "198.18.0.5"}, {"lbl-aaaaaaaa", "198.18.0.6"}, {"lbl-bbbbbbbb", "198.18.0.7"}}
	if lb != "lb-1a2b3c4d" || !slices.Equal(listeners, []string{"lbl-aaaaaaaa", "lbl-bbbbbbbb"}) || !slices.Equal(targets, want) {
		t.Errorf("requestNames of a batch = %q, %q, %q", lb, listeners, targets)
	}
	call := CloudCall{ListenerIDs: listeners, Targets: targets}
	if got := call.TargetsOn("lbl-bbbbbbbb"); !slices.Equal(got, []string{"198.18.0.7"}) {
		t.Errorf("TargetsOn = %q", got)
	}

	// Single-listener actions name the listener once, beside the targets; the weight batch nests.
	single := []byte(`{"LoadBalancerId":"lb-1a2b3c4d","ListenerId":"lbl-aaaaaaaa","Targets":[{"EniIp":"198.18.0.5","Port":8080}]}`)
	if _, _, targets := requestNames(single); !slices.Equal(targets, []CallTarget{{"lbl-aaaaaaaa", "198.18.0.5"}}) {
		t.Errorf("requestNames of a single-listener call: targets %q", targets)
	}
	weights := []byte(`{"LoadBalancerId":"lb-1a2b3c4d","ModifyList":[{"ListenerId":"lbl-bbbbbbbb","Targets":[{"EniIp":"198.18.0.9","Port":8080}],"Weight":0}]}`)
	if _, _, targets := requestNames(weights); !slices.Equal(targets, []CallTarget{{"lbl-bbbbbbbb", "198.18.0.9"}}) {
		t.Errorf("requestNames of a weight batch: targets %q", targets)
	}
	if lb, listeners, targets := requestNames([]byte("not json")); lb != "" || listeners != nil || targets != nil {
		t.Errorf("requestNames of a body that is not JSON = %q, %q, %q", lb, listeners, targets)
	}
}
