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
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	webhookmanifests "github.com/clbind/clb-binding-controller/config/webhook"
	"github.com/clbind/clb-binding-controller/webhooks"
	"github.com/clbind/clb-binding-controller/webhooks/certs"
)

// webhookWiring holds what the webhooks need before the manager exists (the server's certificate
// source, the cache restriction for the certificate Secret) and after.
type webhookWiring struct {
	opts options
	// provider is nil when the certificates are not self-managed.
	provider  *certs.Provider
	target    webhookmanifests.Target
	secretKey types.NamespacedName
}

// newWebhookWiring prepares the webhook wiring from the flags; opts must be validated.
func newWebhookWiring(opts options) *webhookWiring {
	w := &webhookWiring{opts: opts}
	if !opts.enableWebhooks || !opts.manageWebhookCerts {
		return w
	}
	ns := opts.webhookNamespaceOrEnv()
	w.secretKey = types.NamespacedName{Namespace: ns, Name: opts.webhookSecretName}
	w.target = webhookmanifests.Target{
		MutatingName: opts.mutatingWebhookConfigName, ValidatingName: opts.validatingWebhookConfigName,
		ServiceName: opts.webhookServiceName, ServiceNamespace: ns,
	}
	certOpts := certs.Options{
		SecretKey: w.secretKey, CertDir: opts.webhookCertDir,
		MutatingName: opts.mutatingWebhookConfigName, ValidatingName: opts.validatingWebhookConfigName,
	}
	if host := opts.webhookURLHost(); host != "" {
		// URL mode: a local process, no Service. The certificate names the host.
		w.target.Host, w.target.Port = host, opts.webhookPort
		certOpts.DNSName = host
	} else {
		svc := opts.webhookServiceName
		certOpts.DNSName = svc + "." + ns + ".svc"
		certOpts.ExtraDNSNames = []string{svc + "." + ns + ".svc.cluster.local", svc + "." + ns, svc}
	}
	w.provider = certs.NewProvider(certOpts)
	return w
}

// serverOptions are the webhook server's options: with self-managed certificates the server takes
// them from the Secret (through the provider), not from files mounted into the pod. The server
// refuses TLS 1.0 and 1.1 whatever tlsOpts say: requireTLS12 runs last.
func (w *webhookWiring) serverOptions(tlsOpts []func(*tls.Config)) webhook.Options {
	o := webhook.Options{Port: w.opts.webhookPort, CertDir: w.opts.webhookCertDir}
	o.TLSOpts = append(o.TLSOpts, tlsOpts...)
	if w.provider != nil {
		o.TLSOpts = append(o.TLSOpts, w.provider.TLSOpt)
	}
	o.TLSOpts = append(o.TLSOpts, requireTLS12)
	return o
}

// requireTLS12 raises a server's minimum TLS version to 1.2, set explicitly rather than left to
// the defaults of Go or controller-runtime, so that a change there cannot bring back TLS 1.0/1.1.
func requireTLS12(c *tls.Config) {
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
}

// cacheOptions restricts the manager's Secret informer to the certificate Secret.
func (w *webhookWiring) cacheOptions(o cache.Options) cache.Options {
	if w.provider == nil {
		return o
	}
	obj, byObject := certs.SecretCacheConfig(w.secretKey)
	if o.ByObject == nil {
		o.ByObject = map[client.Object]cache.ByObject{}
	}
	o.ByObject[obj] = byObject
	return o
}

// setupWebhooks registers the webhooks with whOpts and, when self-managed, makes sure the
// certificate Secret exists (the rotator cannot create it), then adds the rotator, the
// certificate provider and the webhook configuration repair controller. It returns the readiness
// check.
func (w *webhookWiring) setupWebhooks(ctx context.Context, mgr ctrl.Manager, whOpts webhooks.Options) (healthz.Checker, error) {
	if err := webhooks.SetupWithManager(mgr, whOpts); err != nil {
		return nil, err
	}
	started := mgr.GetWebhookServer().StartedChecker()
	if w.provider == nil {
		ctrl.Log.WithName("setup").Info("Webhook certificates and configurations are managed outside the manager", "certDir", w.opts.webhookCertDir)
		return started, nil
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	if created, err := certs.EnsureSecret(ctx, direct, w.secretKey); err != nil {
		return nil, err
	} else if created {
		ctrl.Log.WithName("setup").Info("Created the webhook certificate Secret", "secret", w.secretKey)
	}
	if err := w.provider.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&certs.WebhookConfigReconciler{Client: mgr.GetClient(), Target: w.target, SecretKey: w.secretKey}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the webhook configuration controller: %w", err)
	}
	return func(req *http.Request) error {
		if err := w.provider.ReadyCheck(req); err != nil {
			return err
		}
		return started(req)
	}, nil
}
