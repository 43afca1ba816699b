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
	"github.com/prometheus/client_golang/prometheus"
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
}, []string{"namespace", bindingLabel, "state"})

const bindingLabel = "binding"

func recordBindingTargets(ns, name string, st networkingv1alpha1.CLBBackendBindingStatus) {
	for state, n := range map[string]int32{"desired": st.Desired, "registered": st.Registered, "healthy": st.Healthy, "draining": st.Draining} {
		bindingTargets.WithLabelValues(ns, name, state).Set(float64(n))
	}
}

func forgetBindingTargets(ns, name string) {
	bindingTargets.DeletePartialMatch(prometheus.Labels{"namespace": ns, bindingLabel: name})
}

func init() {
	metrics.Registry.MustRegister(gateTransitions, bindingTargets)
}
