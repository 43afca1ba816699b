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
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// DumpState writes what is needed to understand a failure: nodes, pods and their conditions,
// EndpointSlices, bindings and CLBHealth status, binding policies, the emulated cloud, and the tail of every log.
func (s *Sandbox) DumpState(ctx context.Context, w io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = fmt.Fprintf(w, "=== sandbox state at %s (up %v)\n", time.Now().Format(time.RFC3339), s.since(s.start))
	if s.client != nil {
		var nodes corev1.NodeList
		if err := s.client.List(ctx, &nodes); err == nil {
			_, _ = fmt.Fprintln(w, "--- nodes")
			for _, n := range nodes.Items {
				_, _ = fmt.Fprintf(w, "%s providerID=%s taints=%v ready=%s\n", n.Name, n.Spec.ProviderID, n.Spec.Taints, nodeReady(&n))
			}
		}
		var pods corev1.PodList
		if err := s.client.List(ctx, &pods); err == nil {
			_, _ = fmt.Fprintln(w, "--- pods")
			for _, p := range pods.Items {
				_, _ = fmt.Fprintf(w, "%s/%s node=%s phase=%s ip=%s deleting=%v\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase,
					p.Status.PodIP, p.DeletionTimestamp != nil)
				for _, c := range p.Status.Conditions {
					_, _ = fmt.Fprintf(w, "    %s=%s %s %s\n", c.Type, c.Status, c.Reason, c.Message)
				}
			}
		}
		var eps discoveryv1.EndpointSliceList
		if err := s.client.List(ctx, &eps); err == nil {
			_, _ = fmt.Fprintln(w, "--- endpointslices")
			for _, sl := range eps.Items {
				for _, e := range sl.Endpoints {
					_, _ = fmt.Fprintf(w, "%s/%s %v ready=%v serving=%v terminating=%v\n", sl.Namespace, sl.Name, e.Addresses,
						deref(e.Conditions.Ready), deref(e.Conditions.Serving), deref(e.Conditions.Terminating))
				}
			}
		}
		var bindings networkingv1alpha1.CLBBackendBindingList
		if err := s.client.List(ctx, &bindings); err == nil {
			for _, b := range bindings.Items {
				writeYAML(w, "binding "+b.Namespace+"/"+b.Name, b.Status)
			}
		}
		var policies networkingv1alpha1.CLBBindingPolicyList
		if err := s.client.List(ctx, &policies); err == nil {
			for _, pol := range policies.Items {
				writeYAML(w, "clbbindingpolicy "+pol.Name, pol.Spec)
			}
		}
		var healths networkingv1alpha1.CLBHealthList
		if err := s.client.List(ctx, &healths); err == nil {
			for _, h := range healths.Items {
				writeYAML(w, "clbhealth "+h.Namespace+"/"+h.Name, h.Status)
			}
		}
	}
	if s.cloud != nil {
		if b, err := s.cloud.Sim.DumpState(); err == nil {
			_, _ = fmt.Fprintf(w, "--- clbsim\n%s\n", b)
		}
	}
	for _, p := range append(slices.Clone(s.pastManagers), s.manager, s.kcm, s.scheduler) {
		if p != nil {
			_, _ = fmt.Fprintf(w, "--- last lines of %s\n%s", p.LogPath(), p.Tail(40))
		}
	}
}

func writeYAML(w io.Writer, title string, v any) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(w, "--- %s\n%s", title, b)
}

func deref(b *bool) bool { return b != nil && *b }

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// dumpToFile writes DumpState into the sandbox directory (kept) and returns its path.
func (s *Sandbox) dumpToFile() string {
	if s.dir == "" {
		return ""
	}
	var buf bytes.Buffer
	s.DumpState(context.Background(), &buf)
	path := filepath.Join(s.dir, "state-"+time.Now().Format("150405")+".txt")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return ""
	}
	// The dump is worthless if Stop removes it.
	s.opts.KeepDir = true
	s.logf("state dump (%d lines) at %s", strings.Count(buf.String(), "\n"), path)
	return path
}
