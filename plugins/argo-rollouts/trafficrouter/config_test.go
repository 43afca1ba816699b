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

package trafficrouter

import (
	"encoding/json"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// testRollout is a canary Rollout in namespace shop with Services web-stable and web-canary and
// the plugin configured with cfg (nil for no entry, "" for the usual empty object).
func testRollout(cfg *string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService:  "web-stable",
			CanaryService:  "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{},
		}}},
	}
	if cfg != nil {
		raw := *cfg
		if raw == "" {
			raw = "{}"
		}
		ro.Spec.Strategy.Canary.TrafficRouting.Plugins = map[string]json.RawMessage{DefaultName: json.RawMessage(raw)}
	}
	return ro
}

func TestShares(t *testing.T) {
	tests := []struct {
		name           string
		maxWeight      *int32
		weight         int32
		additional     []v1alpha1.WeightDestination
		canary, stable int32
		err            string
	}{
		{name: "start", weight: 0, canary: 0, stable: 100},
		{name: "10%", weight: 10, canary: 10, stable: 90},
		{name: "full", weight: 100, canary: 100, stable: 0},
		{name: "above the maximum is the maximum", weight: 150, canary: 100, stable: 0},
		{name: "maxTrafficWeight 1000", maxWeight: ptr.To[int32](1000), weight: 333, canary: 33, stable: 67},
		{name: "maxTrafficWeight 1000 rounds half up", maxWeight: ptr.To[int32](1000), weight: 335, canary: 34, stable: 66},
		{name: "experiment at weight 0", weight: 20, canary: 20, stable: 80,
			additional: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 0}}},
		{name: "experiment with a weight", weight: 20,
			additional: []v1alpha1.WeightDestination{{ServiceName: "exp", Weight: 5}},
			err:        "experiment Service exp asks for weight 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ro := testRollout(new(""))
			ro.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = tt.maxWeight
			canary, stable, err := shares(ro, tt.weight, tt.additional)
			if tt.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect([]int32{canary, stable}).To(Equal([]int32{tt.canary, tt.stable}))
		})
	}
}

func TestConfigOf(t *testing.T) {
	tests := []struct {
		name string
		ro   func() *v1alpha1.Rollout
		want Config
		err  string
	}{{
		name: "no entry finds the bindings by Service",
		ro:   func() *v1alpha1.Rollout { return testRollout(nil) },
	}, {
		name: "empty object",
		ro:   func() *v1alpha1.Rollout { return testRollout(new("{}")) },
	}, {
		name: "both bindings named",
		ro: func() *v1alpha1.Rollout {
			return testRollout(new(`{"stableBinding":"web-stable-80","canaryBinding":"web-canary-80"}`))
		},
		want: Config{StableBinding: "web-stable-80", CanaryBinding: "web-canary-80"},
	}, {
		name: "one binding named",
		ro:   func() *v1alpha1.Rollout { return testRollout(new(`{"stableBinding":"web-stable-80"}`)) },
		err:  "set both stableBinding and canaryBinding",
	}, {
		name: "not JSON",
		ro:   func() *v1alpha1.Rollout { return testRollout(new(`[`)) },
		err:  `reading spec.strategy.canary.trafficRouting.plugins["clbind/clb"]`,
	}, {
		name: "no canary Service",
		ro: func() *v1alpha1.Rollout {
			ro := testRollout(new(""))
			ro.Spec.Strategy.Canary.CanaryService = ""
			return ro
		},
		err: "needs spec.strategy.canary.stableService and canaryService",
	}, {
		name: "blue-green",
		ro: func() *v1alpha1.Rollout {
			ro := testRollout(nil)
			ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
			return ro
		},
		err: "canary strategy and trafficRouting only",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			cfg, err := configOf(tt.ro(), DefaultName)
			if tt.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg).To(Equal(tt.want))
		})
	}
}
