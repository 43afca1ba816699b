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
	"context"
	"errors"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/clbind/clb-binding-controller/internal/clb"
	"github.com/clbind/clb-binding-controller/internal/health"
	"github.com/clbind/clb-binding-controller/internal/lbsync"
)

// Deps are what the controllers need from outside the cluster.
type Deps struct {
	Cloud *clb.Client
	// ClusterID goes into the owner tag of every backend.
	ClusterID string
	Sync      lbsync.Options
	Health    health.Options
	// MaxConcurrentReconciles of the binding controller (default 1).
	MaxConcurrentReconciles int
	// EnforcePolicies has the load balancer workers write for a binding only while a
	// CLBBindingPolicy allows it (the manager's --enforce-binding-policies, on by default).
	EnforcePolicies bool
}

// SetupWithManager wires the binding and health controllers to one set of load balancer workers
// and one health poller, the same way in the manager binary and in the test suites.
func SetupWithManager(mgr ctrl.Manager, deps Deps) error {
	if deps.Cloud == nil {
		return errors.New("controllers: Deps.Cloud must be set")
	}
	bindings := &CLBBackendBindingReconciler{
		Client:    mgr.GetClient(),
		ClusterID: deps.ClusterID,
		Recorder:  mgr.GetEventRecorder("clbbackendbinding-controller"),

		MaxConcurrentReconciles: deps.MaxConcurrentReconciles,
	}
	// The poller's reports go to everyone who shows what it read: CLBHealth (gates, counts), the
	// bindings (status.healthy, make before break) and the workers, which learn at no extra call
	// of backends that vanished or appeared outside the controller.
	var healthReconciler *CLBHealthReconciler
	var syncer *lbsync.Syncer
	var poller *health.Poller
	// The workers get every read, not only changes: they ignore a view read right after their
	// own write, and must see it again at the next poll.
	deps.Health.OnRead = func(lbID string, view health.Snapshot) {
		syncer.HealthSeen(lbID, view.Targets, view.ChangedAt, view.ReadAt)
	}
	poller, err := health.New(deps.Cloud, func(lbIDs []string) {
		changed := bindingsOn(mgr.GetClient(), lbIDs)
		healthReconciler.healthChanged(changed)
		bindings.healthChanged(changed)
	}, deps.Health)
	if err != nil {
		return fmt.Errorf("creating the health poller: %w", err)
	}
	bindings.Health = poller
	var policies *CLBBindingPolicyReconciler
	if deps.EnforcePolicies {
		policies = &CLBBindingPolicyReconciler{Client: mgr.GetClient()}
		deps.Sync.Policies = policies
	}
	if syncer, err = lbsync.New(deps.Cloud, bindings, deps.Sync); err != nil {
		return fmt.Errorf("creating the load balancer workers: %w", err)
	}
	bindings.Syncer = syncer
	// Health checks are written by the same workers as backends: one writer per load balancer.
	healthReconciler = &CLBHealthReconciler{Client: mgr.GetClient(), Health: poller, Checks: syncer,
		Recorder:                mgr.GetEventRecorder("clbhealth-controller"),
		MaxConcurrentReconciles: deps.MaxConcurrentReconciles}
	syncer.OnHealthCheck(healthReconciler.healthCheckDone)
	for what, runnable := range map[string]manager.Runnable{"the health poller": poller, "the load balancer workers": syncer} {
		if err := mgr.Add(runnable); err != nil {
			return fmt.Errorf("adding %s: %w", what, err)
		}
	}
	if err := addIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	if err := bindings.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CLBBackendBinding controller: %w", err)
	}
	if err := healthReconciler.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CLBHealth controller: %w", err)
	}
	if err := setupPolicies(mgr, policies, syncer); err != nil {
		return err
	}
	if onSetup != nil {
		onSetup(wiring{bindings: bindings, gates: healthReconciler, syncer: syncer, poller: poller})
	}
	return nil
}

// wiring is what SetupWithManager built; onSetup, set by tests only, hears of it, so that they
// can count the state the controllers keep (export_test.go).
type wiring struct {
	bindings *CLBBackendBindingReconciler
	gates    *CLBHealthReconciler
	syncer   *lbsync.Syncer
	poller   *health.Poller
}

var onSetup func(wiring)

// setupPolicies starts the policy controller and the startup report of bindings no policy allows,
// or, with enforcement off, says so once.
func setupPolicies(mgr ctrl.Manager, policies *CLBBindingPolicyReconciler, syncer *lbsync.Syncer) error {
	log := mgr.GetLogger().WithName("setup")
	if policies == nil {
		log.Info("Binding policies are not enforced (--enforce-binding-policies=false): every namespace may bind " +
			"every load balancer the manager's credentials reach")
		return nil
	}
	policies.Syncer = syncer
	if err := policies.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the CLBBindingPolicy controller: %w", err)
	}
	if err := mgr.Add(&forbiddenReport{reader: mgr.GetClient(), statuses: syncer, log: mgr.GetLogger().WithName("policy")}); err != nil {
		return fmt.Errorf("adding the binding policy report: %w", err)
	}
	return nil
}
