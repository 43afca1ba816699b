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

package main

import (
	"flag"
	"strings"
	"testing"
)

func TestLeaderElectionTimingIsValidated(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"defaults", nil, false},
		{"short lease of the e2e suite", []string{"--leader-election-lease-duration=6s", "--leader-election-renew-deadline=4s", "--leader-election-retry-period=500ms"}, false},
		{"lease within a second of the renew deadline", []string{"--leader-election-lease-duration=10500ms", "--leader-election-renew-deadline=10s"}, true},
		{"renew deadline below the retry period", []string{"--leader-election-renew-deadline=2s", "--leader-election-retry-period=2s"}, true},
		{"no retry period", []string{"--leader-election-retry-period=0s"}, true},
		{"leader election off: timing unchecked", []string{"--leader-elect=false", "--leader-election-retry-period=0s"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			o.bindFlags(fs)
			args := append([]string{"--region=ap-guangzhou", "--cluster-id=cls-test", "--enable-webhooks=false"}, tc.args...)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			err := o.validate()
			if gotErr := err != nil && strings.Contains(err.Error(), "leader election"); gotErr != tc.wantErr {
				t.Fatalf("validate() = %v, want a leader election error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestEnforceBindingPoliciesFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want bool
	}{
		{"enforced by default", nil, true},
		{"turned off for a single-tenant cluster", []string{"--enforce-binding-policies=false"}, false},
		{"turned on explicitly", []string{"--enforce-binding-policies"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			o.bindFlags(fs)
			if err := fs.Parse(append([]string{"--region=ap-guangzhou", "--cluster-id=cls-test", "--enable-webhooks=false"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if err := o.validate(); err != nil {
				t.Fatalf("validate() = %v", err)
			}
			if o.enforcePolicies != tc.want {
				t.Fatalf("enforcePolicies = %v, want %v", o.enforcePolicies, tc.want)
			}
		})
	}
}
