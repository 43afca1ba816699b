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
	"errors"
	"fmt"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// DefaultName is the plugin's name in Argo Rollouts' ConfigMap (trafficRouterPlugins) and the key
// of its configuration in a Rollout's spec.strategy.canary.trafficRouting.plugins. Argo Rollouts
// wants <namespace>/<name> with no dot in the namespace part.
const DefaultName = "clbind/clb"

// Config is the plugin's configuration in a Rollout, under
// spec.strategy.canary.trafficRouting.plugins["clbind/clb"]. An empty object is the usual value:
// the plugin then takes, in the Rollout's namespace, the bindings whose spec.serviceRef.name is the
// Rollout's canary.stableService and canary.canaryService, and pairs them by listener or rule (a
// Service bound to several listeners splits on each).
type Config struct {
	// StableBinding and CanaryBinding name the two bindings to split, in the Rollout's namespace,
	// in place of finding them by Service. Set both or neither.
	StableBinding string `json:"stableBinding,omitempty"`
	CanaryBinding string `json:"canaryBinding,omitempty"`
}

// configOf reads the plugin's configuration from ro, under the plugin's name.
func configOf(ro *v1alpha1.Rollout, name string) (Config, error) {
	var cfg Config
	canary := ro.Spec.Strategy.Canary
	if canary == nil || canary.TrafficRouting == nil {
		return cfg, errors.New("the CLB traffic router works with the canary strategy and trafficRouting only")
	}
	raw := canary.TrafficRouting.Plugins[name]
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("reading spec.strategy.canary.trafficRouting.plugins[%q]: %w", name, err)
		}
	}
	if (cfg.StableBinding == "") != (cfg.CanaryBinding == "") {
		return cfg, fmt.Errorf("spec.strategy.canary.trafficRouting.plugins[%q]: set both stableBinding and canaryBinding, or neither to find the bindings by Service", name)
	}
	if cfg.StableBinding == "" && (canary.StableService == "" || canary.CanaryService == "") {
		return cfg, errors.New("the CLB traffic router needs spec.strategy.canary.stableService and canaryService, or stableBinding and canaryBinding in its plugin configuration")
	}
	return cfg, nil
}

// shares turns the canary weight Argo Rollouts asks for into the traffic shares, in percent, of
// the canary and the stable binding. The weight is out of trafficRouting.maxTrafficWeight (100
// unless set) and is rounded to a whole percent; the two shares add up to 100.
func shares(ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) (canary, stable int32, err error) {
	for _, d := range additional {
		if d.Weight > 0 {
			return 0, 0, fmt.Errorf("the CLB traffic router splits a listener between the stable and the canary Service only; "+
				"experiment Service %s asks for weight %d", d.ServiceName, d.Weight)
		}
	}
	maxWeight := int32(100)
	if tr := ro.Spec.Strategy.Canary.TrafficRouting; tr != nil && tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight > 0 {
		maxWeight = *tr.MaxTrafficWeight
	}
	w := min(max(desiredWeight, 0), maxWeight)
	canary = int32((int64(w)*100 + int64(maxWeight)/2) / int64(maxWeight))
	return canary, 100 - canary, nil
}
