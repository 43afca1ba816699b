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
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// pair is a stable and a canary binding on one listener or rule.
type pair struct {
	stable, canary *binding
}

// pairsOf reads the bindings the Rollout splits: the two named in cfg, or else the bindings of the
// Rollout's stable and canary Services, paired by listener or rule. A binding with no partner on
// its listener is left alone; finding no pair at all is an error.
func pairsOf(ctx context.Context, c dynamic.Interface, ro *v1alpha1.Rollout, cfg Config) ([]pair, error) {
	bindings := c.Resource(BindingResource).Namespace(ro.Namespace)
	if cfg.StableBinding != "" {
		var p pair
		for _, get := range []struct {
			name string
			into **binding
		}{{cfg.StableBinding, &p.stable}, {cfg.CanaryBinding, &p.canary}} {
			u, err := bindings.Get(ctx, get.name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("getting CLBBackendBinding %s/%s: %w", ro.Namespace, get.name, err)
			}
			if *get.into, err = bindingFrom(u); err != nil {
				return nil, err
			}
		}
		return []pair{p}, nil
	}

	stableSvc, canarySvc := ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService
	list, err := bindings.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing CLBBackendBindings in namespace %s: %w", ro.Namespace, err)
	}
	stable, canary := map[string]*binding{}, map[string]*binding{}
	for i := range list.Items {
		b, err := bindingFrom(&list.Items[i])
		if err != nil {
			return nil, err
		}
		var byKey map[string]*binding
		switch b.service {
		case stableSvc:
			byKey = stable
		case canarySvc:
			byKey = canary
		default:
			continue
		}
		if other := byKey[b.listenerKey]; other != nil {
			return nil, fmt.Errorf("CLBBackendBindings %s and %s both bind Service %s to %s; keep one, or name the pair in the plugin configuration (stableBinding, canaryBinding)",
				other, b, b.service, b.listenerKey)
		}
		byKey[b.listenerKey] = b
	}
	var pairs []pair
	for key, s := range stable {
		if c := canary[key]; c != nil {
			pairs = append(pairs, pair{stable: s, canary: c})
		}
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no listener or rule has a CLBBackendBinding of both Service %s (stable: %s) and Service %s (canary: %s) in namespace %s; "+
			"bind both Services to the listener to split, or name the bindings in the plugin configuration (stableBinding, canaryBinding)",
			stableSvc, keys(stable), canarySvc, keys(canary), ro.Namespace)
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.stable.listenerKey, b.stable.listenerKey) })
	return pairs, nil
}

func keys(m map[string]*binding) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for _, b := range m {
		ks = append(ks, b.String()+" on "+b.listenerKey)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}
