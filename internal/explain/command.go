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

package explain

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/clbind/clb-binding-controller/api/v1alpha1"
)

// NewCommand is kubectl clbind: the get and why subcommands, with kubectl's kubeconfig flags
// (--kubeconfig, --context, -n, --server, --token, --as ...).
func NewCommand(out, errOut io.Writer) *cobra.Command {
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	root := &cobra.Command{
		Use:         "clbind",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl clbind"},
		Short:       "Explain CLB backends and readiness gates of clb-binding-controller",
		Long: "kubectl clbind shows, for each CLBBackendBinding, its backends (pod, node, address, weight, CLB health\n" +
			"and since when, readiness gate, draining) and explains, for one pod, the chain from its Services to\n" +
			"its readiness gates, and the one thing to do when something is wrong. It reads Kubernetes objects only.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&loading.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(overrides, root.PersistentFlags(), clientcmd.RecommendedConfigOverrideFlags(""))
	connect := func() (client.WithWatch, string, error) {
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, overrides)
		ns, _, err := cc.Namespace()
		if err != nil {
			return nil, "", err
		}
		cfg, err := cc.ClientConfig()
		if err != nil {
			return nil, "", err
		}
		c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme()})
		return c, ns, err
	}

	var output string
	var watchFlag bool
	get := &cobra.Command{
		Use:   "get [BINDING]",
		Short: "Show each binding's backends: pod, node, address, weight, CLB health and since when, gate, draining",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := connect()
			if err != nil {
				return err
			}
			only := ""
			if len(args) == 1 {
				only = args[0]
			}
			render := func(ctx context.Context) ([]byte, error) {
				s, err := Read(ctx, c, ns)
				if err != nil {
					return nil, err
				}
				views, err := Views(s, only, time.Now())
				if err != nil {
					return nil, err
				}
				var buf bytes.Buffer
				err = RenderGet(&buf, views, output, time.Now())
				for _, p := range s.Problems {
					_, _ = fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+p)
				}
				return buf.Bytes(), err
			}
			if !watchFlag {
				b, err := render(cmd.Context())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return watchLoop(cmd.Context(), c, ns, cmd.OutOrStdout(), render)
		},
	}
	get.Flags().StringVarP(&output, "output", "o", "", "output format: wide or json")
	get.Flags().BoolVarP(&watchFlag, "watch", "w", false, "print again whenever a binding, CLBHealth, pod or EndpointSlice of the namespace changes")

	why := &cobra.Command{
		Use:   "why pod/NAME",
		Short: "Explain the chain from one pod to its readiness gates, and what to do next",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ok := strings.CutPrefix(args[0], "pod/")
			if !ok {
				name, ok = strings.CutPrefix(args[0], "pods/")
			}
			if !ok && strings.Contains(args[0], "/") {
				return fmt.Errorf("%s: give a pod as pod/NAME", args[0])
			}
			c, ns, err := connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := Read(ctx, c, ns)
			if err != nil {
				return err
			}
			for i := range s.Pods {
				if s.Pods[i].Name == name {
					ReadWorkload(ctx, c, s, &s.Pods[i])
				}
			}
			e, err := Why(s, name, time.Now())
			if err != nil {
				return err
			}
			for _, p := range s.Problems {
				_, _ = fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+p)
			}
			return RenderWhy(cmd.OutOrStdout(), e)
		},
	}
	root.AddCommand(get, why)
	return root
}

// Scheme has the types the plugin reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = networkingv1alpha1.AddToScheme(s)
	return s
}

// watchLoop prints render's output now and again after every change to the objects it reads,
// when the output differs (a change settles for 200 ms first). It ends with ctx.
func watchLoop(ctx context.Context, c client.WithWatch, ns string, out io.Writer, render func(context.Context) ([]byte, error)) error {
	events := make(chan struct{}, 1)
	lists := []client.ObjectList{&networkingv1alpha1.CLBBackendBindingList{}, &networkingv1alpha1.CLBHealthList{},
		&corev1.PodList{}, &discoveryv1.EndpointSliceList{}}
	for _, l := range lists {
		go func() {
			for ctx.Err() == nil {
				w, err := c.Watch(ctx, l, client.InNamespace(ns))
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(2 * time.Second):
					}
					continue
				}
				for ev := range w.ResultChan() {
					if ev.Type == watch.Error {
						break
					}
					select {
					case events <- struct{}{}:
					default:
					}
				}
				w.Stop()
			}
		}()
	}
	var last []byte
	for {
		b, err := render(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // interrupted: the caller ends quietly
			}
			return err
		}
		if !bytes.Equal(b, last) {
			if last != nil {
				b = append([]byte("\n"), b...)
			}
			if _, err := out.Write(b); err != nil {
				return err
			}
			last = bytes.TrimPrefix(b, []byte("\n"))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-events:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}
