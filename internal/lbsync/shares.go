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

package lbsync

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
	"github.com/clbind/clb-binding-controller/internal/targets"
	"github.com/clbind/clb-binding-controller/internal/traffic"
)

// ShareStatus is how a binding's traffic share was carried out; zero for bindings without one.
type ShareStatus struct {
	// Wanted is Binding.Share.
	Wanted int32
	// AchievedPermille is the share of the listener's or rule's new connections the binding's
	// weights give it, in tenths of a percent.
	AchievedPermille int32
	// Reason is a TrafficShare condition reason of the API, Message says why and what to do.
	Reason, Message string
}

// shareGroup is the bindings sharing one listener or rule by traffic share, oldest first.
type shareGroup struct {
	scope   targets.Scope
	members []*plan
}

// shareGroups collects the active bindings with a share by listener or rule, those being deleted
// included (they must not remove the others' backends). resolve has already refused, as
// conflicts, bindings that may not share (one without a share, another namespace).
func shareGroups(plans []*plan) []*shareGroup {
	var groups []*shareGroup
	byScope := map[targets.Scope]*shareGroup{}
	for _, p := range plans {
		if !p.active || p.b.Share == nil {
			continue
		}
		g := byScope[p.scope()]
		if g == nil {
			g = &shareGroup{scope: p.scope()}
			byScope[g.scope] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, p)
	}
	return groups
}

// shareConflict says why binding p may not join the listener or rule first holds, or "" when
// both share it by traffic share.
func shareConflict(p, first *plan, lbID string) string {
	if p.b.Share == nil && first.b.Share == nil {
		return ""
	}
	scope := p.scope()
	switch {
	case p.b.Share == nil || first.b.Share == nil:
		return fmt.Sprintf("%s of %s is already bound by %s; to split its traffic between the two, set spec.trafficShare on both "+
			"bindings, or delete one of them", scope, lbID, first.b.Key)
	case p.b.Key.Namespace != first.b.Key.Namespace:
		return fmt.Sprintf("%s of %s is shared by traffic share with %s, in another namespace; bindings split a listener's "+
			"traffic only within one namespace", scope, lbID, first.b.Key)
	case p.b.Exclusive != first.b.Exclusive:
		return fmt.Sprintf("%s of %s is shared by traffic share with %s, whose spec.multiCluster differs; set it the same on "+
			"every binding that shares the listener", scope, lbID, first.b.Key)
	}
	return ""
}

// applyShares sets the weights of every share group's backends so that each binding gets its
// share of the new connections, before the bindings are diffed. A backend two members want is
// the member's with the larger share. When the shares do not add up to 100 (a two-step update half done), the
// weights on the CLB are kept and new backends wait at weight 0, so that no traffic moves on an
// inconsistent split.
func (w *worker) applyShares(plans []*plan, versions map[types.NamespacedName]int) {
	for _, g := range shareGroups(plans) {
		var inputs strings.Builder
		for _, p := range g.members {
			fmt.Fprintf(&inputs, "%s=%d@%d,%t;", p.b.Key, *p.b.Share, versions[p.b.Key], p.b.Deleting)
		}
		for _, p := range g.members {
			p.weightInputs += inputs.String()
			p.shareWeights = map[targets.Key]int64{}
			p.neighborTags = nil
			for _, o := range g.members {
				if o != p {
					p.neighborTags = append(p.neighborTags, o.b.OwnerTag)
				}
			}
		}
		// A backend several members want is the one's with the largest share (the older one's on
		// a tie): at rest a canary's stable and canary Services both select the stable pods, and
		// they must serve at the stable binding's 100%, not at the canary's 0%, whichever binding
		// is older (a manifest applied at once creates both in the same second).
		claimed := map[targets.Key]bool{}
		for _, p := range bySharesDescending(g.members) {
			if p.b.Deleting {
				continue // it wants nothing, and removes only its own backends
			}
			p.claimedByNeighbor = map[targets.Key]bool{}
			for _, t := range p.b.Desired {
				if claimed[t.Key] {
					p.claimedByNeighbor[t.Key] = true
				}
			}
			for _, t := range p.b.Desired {
				claimed[t.Key] = true
			}
		}
		g.members = slices.DeleteFunc(g.members, func(p *plan) bool { return p.b.Deleting })
		if len(g.members) > 0 {
			w.splitGroup(g)
		}
	}
}

// bySharesDescending orders members by share, largest first, keeping their order on a tie.
func bySharesDescending(members []*plan) []*plan {
	out := slices.Clone(members)
	slices.SortStableFunc(out, func(a, b *plan) int { return cmp.Compare(*b.b.Share, *a.b.Share) })
	return out
}

// splitGroup computes the weights of one share group.
func (w *worker) splitGroup(g *shareGroup) {
	sum := int32(0)
	members := make([]traffic.Member, len(g.members))
	serving := make([][]targets.Key, len(g.members))
	for i, p := range g.members {
		members[i] = traffic.Member{Name: p.b.Key.Name, Share: *p.b.Share}
		sum += *p.b.Share
		for _, t := range p.b.Desired {
			if p.claimedByNeighbor[t.Key] || t.Draining {
				continue
			}
			serving[i] = append(serving[i], t.Key)
			members[i].Weights = append(members[i].Weights, p.baseWeight(t))
		}
	}
	if len(g.members) > 1 && sum != 100 {
		w.holdShares(g, sum)
		return
	}
	split := traffic.Compute(members)
	off := make(map[int]string, len(split.Off))
	for _, d := range split.Off {
		off[d.Member] = d.Message
	}
	for i, p := range g.members {
		for j, k := range serving[i] {
			p.shareWeights[k] = split.Weights[i][j]
		}
		p.share = ShareStatus{Wanted: *p.b.Share, AchievedPermille: permille(split.Achieved[i]), Reason: networkingv1alpha1.TrafficShareReachedReason}
		p.share.Message = fmt.Sprintf("%s gets %.1f%% of the new connections of %s (wanted %d%%)",
			p.b.Key.Name, split.Achieved[i], g.scope, *p.b.Share)
		if msg, ok := off[i]; ok {
			p.share.Reason, p.share.Message = networkingv1alpha1.TrafficShareUnreachableReason, msg
		}
		if len(g.members) == 1 {
			p.share.Reason = networkingv1alpha1.TrafficShareNotSharedReason
			p.share.Message = loneShareMessage(p, g.scope)
		}
	}
}

// holdShares keeps the weights on the CLB while the group's shares do not add up to 100.
func (w *worker) holdShares(g *shareGroup, sum int32) {
	wanted := make([]string, 0, len(g.members))
	for _, p := range g.members {
		wanted = append(wanted, fmt.Sprintf("%s %d%%", p.b.Key.Name, *p.b.Share))
	}
	have := map[targets.Key]targets.Target{}
	if c := w.targets[g.scope.ListenerID]; c != nil {
		have = c.targets
	}
	total := int64(0)
	weights := make([]int64, len(g.members))
	for i, p := range g.members {
		for _, t := range p.b.Desired {
			if p.claimedByNeighbor[t.Key] || t.Draining {
				continue
			}
			k := t.Key
			k.ListenerID, k.LocationID = g.scope.ListenerID, g.scope.LocationID
			weight := int64(0) // a new backend waits for a consistent split
			if got, ok := have[k]; ok && (got.Tag == p.b.OwnerTag || slices.Contains(p.neighborTags, got.Tag)) {
				weight = got.Weight
			}
			p.shareWeights[t.Key] = weight
			weights[i] += weight
		}
		total += weights[i]
	}
	for i, p := range g.members {
		p.share = ShareStatus{Wanted: *p.b.Share, Reason: networkingv1alpha1.TrafficShareDoNotAddUpReason,
			Message: fmt.Sprintf("the traffic shares of the bindings on %s add up to %d%%, not 100%% (%s): the CLB keeps the "+
				"weights it has and new backends wait at weight 0; set spec.trafficShare so that they add up to 100",
				g.scope, sum, strings.Join(wanted, ", "))}
		if total > 0 {
			p.share.AchievedPermille = permille(100 * float64(weights[i]) / float64(total))
		}
	}
}

func loneShareMessage(p *plan, scope targets.Scope) string {
	if *p.b.Share == 0 {
		return fmt.Sprintf("no other binding shares %s and spec.trafficShare is 0: its backends have weight 0, so the listener "+
			"takes no new connections; set spec.trafficShare to 100 or remove it", scope)
	}
	return fmt.Sprintf("no other binding shares %s: %s gets all of its new connections whatever spec.trafficShare says (%d%%)",
		scope, p.b.Key.Name, *p.b.Share)
}

func permille(percent float64) int32 { return int32(math.Round(percent * 10)) }
