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
	"testing"

	. "github.com/onsi/gomega"

	webhookmanifests "github.com/clbind/clb-binding-controller/config/webhook"
)

func TestWebhookWiring(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		podNS       string
		wantErr     string
		wantHost    string
		wantService string
		wantManaged bool
	}{
		{name: "in-cluster: Service in the pod's namespace", podNS: "clb-system", wantService: "clb-binding-controller-webhook-service", wantManaged: true},
		{name: "no namespace at all", wantErr: "--webhook-namespace is empty"},
		{name: "local process on a loopback IP becomes localhost", args: []string{"--webhook-host=127.0.0.1", "--webhook-namespace=default"}, wantHost: "localhost", wantManaged: true},
		{name: "local process on a DNS name", args: []string{"--webhook-host=dev.example.com", "--webhook-namespace=default"}, wantHost: "dev.example.com", wantManaged: true},
		{name: "a non-loopback IP cannot be in the certificate", args: []string{"--webhook-host=10.0.0.1", "--webhook-namespace=default"}, wantErr: "DNS names only"},
		{name: "self-management off needs no namespace", args: []string{"--manage-webhook-certs=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			t.Setenv("POD_NAMESPACE", tt.podNS)
			var opts options
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			opts.bindFlags(fs)
			g.Expect(fs.Parse(append([]string{"--region=ap-guangzhou", "--cluster-id=cls-test"}, tt.args...))).To(Succeed())
			err := opts.validate()
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			w := newWebhookWiring(opts)
			g.Expect(w.provider != nil).To(Equal(tt.wantManaged))
			g.Expect(w.target.Host).To(Equal(tt.wantHost))
			if tt.wantService != "" {
				g.Expect(w.target.ServiceName).To(Equal(tt.wantService))
				g.Expect(w.target.ServiceNamespace).To(Equal(tt.podNS))
			}
			if tt.wantManaged {
				mwc, _, err := webhookmanifests.Render(w.target)
				g.Expect(err).NotTo(HaveOccurred())
				if tt.wantHost != "" {
					g.Expect(*mwc.Webhooks[0].ClientConfig.URL).To(HavePrefix("https://" + tt.wantHost + ":9443/"))
				} else {
					g.Expect(mwc.Webhooks[0].ClientConfig.Service.Namespace).To(Equal(tt.podNS))
				}
			}
		})
	}
}
