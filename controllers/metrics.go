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

package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// metricsNamespace starts the name of every metric of the controllers.
const metricsNamespace = "clbind"

var gateTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Subsystem: "readiness", Name: "gate_writes_total",
	Help: "Pod readiness gate conditions written, by status and reason.",
}, []string{"status", "reason"})

// bindingTargets is the status counts of every binding, so dashboards see traffic flow without
// reading objects.
var bindingTargets = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: metricsNamespace, Subsystem: bindingLabel, Name: "targets",
	Help: "Backends of a binding by state: desired, registered, healthy, draining.",
}, []string{namespaceLabel, bindingLabel, "state"})

// gateLatency is how long pods wait on the CLB once registered: from the first health poll
// that shows a pod registered on its binding's listener or rule to the write that turns its gate
// True (the CLB health check passing, or timeoutSeconds failing it open). Observed once per
// registration this manager saw happen, so a pod registered before a restart is not counted.
var gateLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: metricsNamespace, Subsystem: "readiness", Name: "gate_latency_seconds",
	Help:    "Time from a pod's registration on the CLB (as the health poll first shows it) to its readiness gate turning True.",
	Buckets: []float64{0.5, 1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600},
})

// bindingReady is the Ready condition of every binding, 1 for True and 0 otherwise, labelled
// with its reason: one series per binding, whose reason label follows the condition.
var bindingReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: metricsNamespace, Subsystem: bindingLabel, Name: "ready",
	Help: "1 when a binding's Ready condition is True, 0 otherwise; reason is the condition's reason.",
}, []string{namespaceLabel, bindingLabel, "reason"})

const (
	namespaceLabel = "namespace"
	bindingLabel   = "binding"
)

// recordBindingTargets exports what a binding's status says: its backend counts and its Ready
// condition. It is called with the status each reconcile computed.
func recordBindingTargets(ns, name string, st networkingv1alpha1.CLBBackendBindingStatus) {
	for state, n := range map[string]int32{"desired": st.Desired, "registered": st.Registered, "healthy": st.Healthy, "draining": st.Draining} {
		bindingTargets.WithLabelValues(ns, name, state).Set(float64(n))
	}
	ready, reason := 0.0, ""
	if c := meta.FindStatusCondition(st.Conditions, networkingv1alpha1.BindingReadyCondition); c != nil {
		reason = c.Reason
		if c.Status == metav1.ConditionTrue {
			ready = 1
		}
	}
	// One series per binding: the new reason's is set before the old one goes, so a scrape
	// always finds the binding (an alert's "for" clock would start again otherwise).
	bindingReady.WithLabelValues(ns, name, reason).Set(ready)
	key := types.NamespacedName{Namespace: ns, Name: name}
	if last, ok := readyReasons.Swap(key, reason); ok && last.(string) != reason {
		bindingReady.DeleteLabelValues(ns, name, last.(string))
	}
}

// readyReasons is the reason label of each binding's bindingReady series.
var readyReasons sync.Map // types.NamespacedName → string

func forgetBindingTargets(ns, name string) {
	bindingTargets.DeletePartialMatch(prometheus.Labels{namespaceLabel: ns, bindingLabel: name})
	bindingReady.DeletePartialMatch(prometheus.Labels{namespaceLabel: ns, bindingLabel: name})
	readyReasons.Delete(types.NamespacedName{Namespace: ns, Name: name})
}

func init() {
	metrics.Registry.MustRegister(gateTransitions, bindingTargets, gateLatency, bindingReady)
}
