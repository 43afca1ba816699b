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
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/rollout/trafficrouting/plugin/rpc"
	"github.com/argoproj/argo-rollouts/utils/plugin/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// callTimeout bounds the API calls of one call from Argo Rollouts, which waits for the answer
// while it reconciles the Rollout.
const callTimeout = 20 * time.Second

// fieldManager names the plugin in the bindings' managedFields.
const fieldManager = "clb-argo-rollouts-plugin"

// Router is the traffic-router plugin. Argo Rollouts starts one plugin process and calls it for
// every Rollout that names the plugin, concurrently; Router keeps no per-Rollout state.
type Router struct {
	// Name is the plugin's name in Argo Rollouts' ConfigMap, the key of its configuration in a
	// Rollout; DefaultName when empty.
	Name string
	// RESTConfig reaches the API server; InitPlugin builds Client from it when Client is nil.
	RESTConfig *rest.Config
	// Client reads and patches CLBBackendBindings.
	Client dynamic.Interface
}

var _ rpc.TrafficRouterPlugin = (*Router)(nil)

// InitPlugin is called once, when Argo Rollouts starts the plugin process.
func (r *Router) InitPlugin() types.RpcError {
	if r.Client != nil {
		return types.RpcError{}
	}
	if r.RESTConfig == nil {
		return types.RpcError{ErrorString: "the CLB traffic router has no API server configuration"}
	}
	c, err := dynamic.NewForConfig(r.RESTConfig)
	if err != nil {
		return rpcError(fmt.Errorf("creating the Kubernetes client: %w", err))
	}
	r.Client = c
	return types.RpcError{}
}

// Type names the traffic router in Argo Rollouts' logs.
func (r *Router) Type() string { return r.name() }

// UpdateHash does nothing: Argo Rollouts points the stable and canary Services at the pods of each
// ReplicaSet, and the bindings follow their Services' endpoints.
func (r *Router) UpdateHash(*v1alpha1.Rollout, string, string, []v1alpha1.WeightDestination) types.RpcError {
	return types.RpcError{}
}

// RemoveManagedRoutes does nothing: the plugin manages no routes, only the two bindings' shares.
func (r *Router) RemoveManagedRoutes(*v1alpha1.Rollout) types.RpcError {
	return types.RpcError{}
}

// SetHeaderRoute refuses a header route: a CLB listener's rules split by domain and URL, and the
// backends of a rule by weight, not by request header. Removing one (no match) is a no-op.
func (r *Router) SetHeaderRoute(_ *v1alpha1.Rollout, route *v1alpha1.SetHeaderRoute) types.RpcError {
	if route == nil || len(route.Match) == 0 {
		return types.RpcError{}
	}
	return types.RpcError{ErrorString: fmt.Sprintf("setHeaderRoute %q: header-based routing is not supported by CLB; use setWeight steps", route.Name)}
}

// SetMirrorRoute refuses a mirror route: a CLB does not mirror traffic. Removing one (no match)
// is a no-op.
func (r *Router) SetMirrorRoute(_ *v1alpha1.Rollout, route *v1alpha1.SetMirrorRoute) types.RpcError {
	if route == nil || len(route.Match) == 0 {
		return types.RpcError{}
	}
	return types.RpcError{ErrorString: fmt.Sprintf("setMirrorRoute %q: traffic mirroring is not supported by CLB", route.Name)}
}

// SetWeight sets spec.trafficShare of the canary binding to the desired weight and of the stable
// binding to the rest, on every listener the Rollout splits. It returns once the patches are
// accepted; VerifyWeight says when the CLB has the weights.
func (r *Router) SetWeight(ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) types.RpcError {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return rpcError(r.setWeight(ctx, ro, desiredWeight, additional))
}

func (r *Router) setWeight(ctx context.Context, ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) error {
	pairs, canaryShare, stableShare, err := r.resolve(ctx, ro, desiredWeight, additional)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		// The share that decreases goes first, so that the two never ask for more than 100
		// together. While they add up to anything but 100 the controller keeps the weights on
		// the CLB as they are (TrafficShare SharesDoNotAddUp), so neither order moves traffic
		// to a share nobody asked for.
		patches := []struct {
			b    *binding
			want int32
		}{{p.stable, stableShare}, {p.canary, canaryShare}}
		if p.canary.share != nil && *p.canary.share > canaryShare {
			patches[0], patches[1] = patches[1], patches[0]
		}
		for _, pt := range patches {
			if err := r.patchShare(ctx, pt.b, pt.want); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Router) patchShare(ctx context.Context, b *binding, want int32) error {
	if b.share != nil && *b.share == want {
		return nil
	}
	slog.Info("Setting traffic share", "CLBBackendBinding", b.String(), "from", shareString(b.share), "to", want)
	patch := fmt.Appendf(nil, `{"spec":{"trafficShare":%d}}`, want)
	_, err := r.Client.Resource(BindingResource).Namespace(b.namespace).Patch(ctx, b.name, k8stypes.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		return fmt.Errorf("setting spec.trafficShare of CLBBackendBinding %s to %d: %w", b, want, err)
	}
	return nil
}

// VerifyWeight reports the weight verified when, on every listener the Rollout splits, both
// bindings have the shares SetWeight set in effect on the CLB (see verifyShare). A share that
// cannot be reached (TrafficShare Unreachable or NotShared for stuckAfter) is an error that says
// why, which Argo Rollouts records as a WeightVerifyError Event on the Rollout; anything else not
// there yet is only not verified, and Argo Rollouts asks again after its verify retry interval.
func (r *Router) VerifyWeight(ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) (types.RpcVerified, types.RpcError) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	verified, err := r.verifyWeight(ctx, ro, desiredWeight, additional)
	if err != nil {
		return types.NotVerified, rpcError(err)
	}
	if !verified {
		return types.NotVerified, types.RpcError{}
	}
	return types.Verified, types.RpcError{}
}

func (r *Router) verifyWeight(ctx context.Context, ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) (bool, error) {
	pairs, canaryShare, stableShare, err := r.resolve(ctx, ro, desiredWeight, additional)
	if err != nil {
		return false, err
	}
	var stuck []error
	var waiting []string
	now := time.Now()
	for _, p := range pairs {
		for _, v := range []verdict{verifyShare(p.stable, stableShare, now), verifyShare(p.canary, canaryShare, now)} {
			switch {
			case v.stuck != "":
				stuck = append(stuck, errors.New(v.stuck))
			case !v.reached:
				waiting = append(waiting, v.waiting)
			}
		}
	}
	if len(stuck) > 0 {
		return false, errors.Join(stuck...)
	}
	if len(waiting) > 0 {
		slog.Info("Traffic shares not in effect yet", "Rollout", ro.Namespace+"/"+ro.Name, "canaryShare", canaryShare, "waiting", strings.Join(waiting, "; "))
		return false, nil
	}
	return true, nil
}

// resolve reads the Rollout's configuration and bindings and the shares to set or verify.
func (r *Router) resolve(ctx context.Context, ro *v1alpha1.Rollout, desiredWeight int32, additional []v1alpha1.WeightDestination) ([]pair, int32, int32, error) {
	if r.Client == nil {
		return nil, 0, 0, errors.New("the CLB traffic router was not initialized")
	}
	cfg, err := configOf(ro, r.name())
	if err != nil {
		return nil, 0, 0, err
	}
	canaryShare, stableShare, err := shares(ro, desiredWeight, additional)
	if err != nil {
		return nil, 0, 0, err
	}
	pairs, err := pairsOf(ctx, r.Client, ro, cfg)
	if err != nil {
		return nil, 0, 0, err
	}
	return pairs, canaryShare, stableShare, nil
}

func (r *Router) name() string {
	if r.Name == "" {
		return DefaultName
	}
	return r.Name
}

func rpcError(err error) types.RpcError {
	if err == nil {
		return types.RpcError{}
	}
	return types.RpcError{ErrorString: err.Error()}
}

func shareString(s *int32) string {
	if s == nil {
		return "unset"
	}
	return fmt.Sprint(*s)
}
