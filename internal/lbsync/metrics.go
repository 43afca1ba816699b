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
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// metricsNamespace prefixes every metric of this controller.
const (
	metricsNamespace = "clbind"
	metricsSubsystem = "lbsync"
	lbLabel          = "load_balancer"
)

var (
	pendingBindings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "pending_bindings",
		Help: "Bindings of a load balancer whose backends do not match the desired set yet.",
	}, []string{lbLabel})
	passDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "pass_duration_seconds",
		Help:    "Duration of one sync pass of a load balancer: read, diff and write.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{lbLabel})
	targetWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "target_writes_total",
		Help: "Backends written to the CLB, by operation (register, reweight, deregister).",
	}, []string{"operation"})
	failedPasses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "failed_passes_total",
		Help: "Sync passes of a load balancer that left a binding unsynced because of the CLB API, by cause: " +
			"the error code of the call that failed, or FailListenerIdSet when the cloud refused a listener's part of a batch.",
	}, []string{lbLabel, "cause"})
	driftHints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "drift_hints_total",
		Help: "Health reads of a load balancer that showed backends other than the controller knew, so its listeners were read again.",
	}, []string{lbLabel})
	quietPasses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "quiet_passes_total",
		Help: "Passes of a load balancer that read its backends, found them exactly as last read with every binding synced, " +
			"and so planned, wrote and reported nothing: the steady drift check.",
	}, []string{lbLabel})
	driftRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "drift_repairs_total",
		Help: "Backends written to undo a change made outside the controller, by operation.",
	}, []string{lbLabel, "operation"})
)

func init() {
	metrics.Registry.MustRegister(pendingBindings, passDuration, targetWrites, failedPasses, driftHints, quietPasses, driftRepairs)
}

// forgetLoadBalancerMetrics drops the series of a load balancer whose worker is gone.
func forgetLoadBalancerMetrics(lbID string) {
	for _, v := range []*prometheus.MetricVec{pendingBindings.MetricVec, passDuration.MetricVec, failedPasses.MetricVec,
		driftHints.MetricVec, quietPasses.MetricVec, driftRepairs.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{lbLabel: lbID})
	}
}
