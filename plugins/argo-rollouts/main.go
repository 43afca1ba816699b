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

// Command clb-argo-rollouts-plugin is an Argo Rollouts traffic-router plugin that splits a CLB
// listener between a Rollout's stable and canary Services through their CLBBackendBindings (see
// package trafficrouter and docs/argo-rollouts.md). Argo Rollouts starts it as a child process and
// talks to it over hashicorp/go-plugin net/rpc; it reaches the API server with -kubeconfig, else
// $KUBECONFIG, else the in-cluster configuration of the Argo Rollouts controller's Pod.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/argoproj/argo-rollouts/rollout/trafficrouting/plugin/rpc"
	goplugin "github.com/hashicorp/go-plugin"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/clbind/clb-binding-controller/plugins/argo-rollouts/trafficrouter"
)

// handshake is Argo Rollouts' handshake for traffic-router plugins
// (rollout/trafficrouting/plugin/client).
var handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ARGO_ROLLOUTS_RPC_PLUGIN",
	MagicCookieValue: "trafficrouter",
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "Path to a kubeconfig; default $KUBECONFIG, else the in-cluster configuration.")
	name := flag.String("name", trafficrouter.DefaultName, "The plugin's name in the Argo Rollouts ConfigMap, the key of its configuration in a Rollout.")
	qps := flag.Float64("kube-api-qps", 20, "Queries per second to the API server.")
	burst := flag.Int("kube-api-burst", 40, "Burst of queries to the API server.")
	flag.Parse()

	// Stdout carries go-plugin's handshake; logs go to stderr, which Argo Rollouts logs.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: hclogJSON})))

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loading the Kubernetes client configuration: %v\n", err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	cfg.UserAgent = "clb-argo-rollouts-plugin"

	router := &trafficrouter.Router{Name: *name, RESTConfig: cfg}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins: map[string]goplugin.Plugin{
			"RpcTrafficRouterPlugin": &rpc.RpcTrafficRouterPlugin{Impl: router},
		},
	})
}

// hclogJSON renames slog's JSON keys to hclog's, so that go-plugin in Argo Rollouts logs each
// line at its level with its key-value pairs instead of as one Debug string.
func hclogJSON(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
	case slog.LevelKey:
		return slog.String("@level", strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	}
	return a
}
