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

// Package certs self-manages the webhook serving certificate.
//
// github.com/open-policy-agent/cert-controller's rotator keeps a CA and a serving certificate in
// one Secret and injects the CA into both webhook configurations. It only ever updates that
// Secret, so the Secret must exist before the manager starts (EnsureSecret) and is recreated by
// the webhook configuration repair controller when deleted; the rotator then fills it in again.
//
// The serving certificate is not read from a mounted Secret volume (the kubelet takes up to a
// minute to project a changed Secret): a Provider watches the Secret and hands the key pair to the
// webhook server's tls.Config.GetCertificate at once. It also writes the pair to the certificate
// directory, because the rotator's readiness waits for tls.crt there, and for anyone debugging.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Keys of the certificate Secret, as cert-controller writes them.
const (
	CACertKey = "ca.crt"
	CertKey   = corev1.TLSCertKey
	KeyKey    = corev1.TLSPrivateKeyKey
)

// Options configure the self-managed certificates.
type Options struct {
	// SecretKey is the Secret that holds the CA and the serving certificate.
	SecretKey types.NamespacedName
	// CertDir receives tls.crt and tls.key; it must be writable.
	CertDir string
	// DNSName is the serving certificate's main name (the one the rotator verifies), and
	// ExtraDNSNames are its other SANs. cert-controller writes DNS SANs only, no IP SANs.
	DNSName       string
	ExtraDNSNames []string
	// MutatingName and ValidatingName are the webhook configurations that receive the CA.
	MutatingName   string
	ValidatingName string
}

// Provider serves the certificate from the Secret to the webhook server.
type Provider struct {
	opts    Options
	current atomic.Pointer[tls.Certificate]
	certPEM atomic.Pointer[[]byte]
	// ready is closed by the rotator once the certificate exists and the CA is injected.
	ready chan struct{}
}

// NewProvider returns a Provider; add it to the manager with SetupWithManager.
func NewProvider(opts Options) *Provider {
	return &Provider{opts: opts, ready: make(chan struct{})}
}

// TLSOpt makes a webhook server take its certificate from the Provider.
func (p *Provider) TLSOpt(c *tls.Config) { c.GetCertificate = p.GetCertificate }

// GetCertificate returns the current serving certificate.
func (p *Provider) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := p.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("the webhook serving certificate has not been generated yet")
}

// ReadyCheck is a healthz.Checker: ready once the rotator has a certificate, injected its CA, and
// the Provider serves it.
func (p *Provider) ReadyCheck(_ *http.Request) error {
	select {
	case <-p.ready:
	default:
		return errors.New("webhook certificates are not ready yet")
	}
	if p.current.Load() == nil {
		return errors.New("webhook serving certificate not loaded yet")
	}
	return nil
}

// SecretCacheConfig restricts the manager's Secret informer to the one certificate Secret, so the
// manager neither caches nor needs permission to list other Secrets. Add it to the manager's
// cache.Options.ByObject.
func SecretCacheConfig(key types.NamespacedName) (client.Object, cache.ByObject) {
	return &corev1.Secret{}, cache.ByObject{
		Namespaces: map[string]cache.Config{key.Namespace: {}},
		Field:      fields.OneTermEqualSelector("metadata.name", key.Name),
	}
}

// EnsureSecret creates the empty certificate Secret if it does not exist; the rotator fills it.
// c must not be a cached client when it runs before the manager starts.
func EnsureSecret(ctx context.Context, c client.Client, key types.NamespacedName) (bool, error) {
	var secret corev1.Secret
	err := c.Get(ctx, key, &secret)
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading the webhook certificate Secret %s: %w", key, err)
	}
	secret = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: key.Name, Namespace: key.Namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "clb-binding-controller", "app.kubernetes.io/component": "webhook-cert"},
		},
		Type: corev1.SecretTypeOpaque,
	}
	if err := c.Create(ctx, &secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("creating the webhook certificate Secret %s: %w", key, err)
	}
	return true, nil
}

// SetupWithManager adds cert-controller's rotator (certificate generation, rotation and CA
// injection into both webhook configurations) and the Provider's Secret watch to the manager.
// Both run on every replica, leader or not: every replica serves webhooks. The manager's cache
// must have SecretCacheConfig.
func (p *Provider) SetupWithManager(mgr ctrl.Manager) error {
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      p.opts.SecretKey,
		CertDir:        p.opts.CertDir,
		CAName:         "clb-binding-controller-ca",
		CAOrganization: "clbind.io",
		DNSName:        p.opts.DNSName,
		ExtraDNSNames:  p.opts.ExtraDNSNames,
		IsReady:        p.ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: p.opts.MutatingName, Type: rotator.Mutating},
			{Name: p.opts.ValidatingName, Type: rotator.Validating},
		},
		FieldOwner:            "clb-binding-controller-cert-rotator",
		RequireLeaderElection: false,
		ControllerName:        "webhook-cert-rotator",
	}); err != nil {
		return fmt.Errorf("adding the webhook certificate rotator: %w", err)
	}
	key := p.opts.SecretKey
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cert-provider").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == key.Namespace && o.GetName() == key.Name
		}))).
		WithOptions(controller.Options{NeedLeaderElection: new(false)}).
		Complete(&secretReconciler{p: p, reader: mgr.GetClient()})
}

type secretReconciler struct {
	p      *Provider
	reader client.Reader
}

// Reconcile loads the Secret's key pair into the Provider and the certificate directory when it
// changed. A missing or half-written Secret keeps the current certificate: the rotator and the
// repair controller refill it.
func (r *secretReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	var secret corev1.Secret
	if err := r.reader.Get(ctx, req.NamespacedName, &secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	certPEM, keyPEM := secret.Data[CertKey], secret.Data[KeyKey]
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return ctrl.Result{}, nil
	}
	if old := r.p.certPEM.Load(); old != nil && bytes.Equal(*old, certPEM) {
		return ctrl.Result{}, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		log.Error(err, "The webhook certificate Secret holds no valid key pair; keeping the current one")
		return ctrl.Result{}, nil
	}
	if err := writeFiles(r.p.opts.CertDir, certPEM, keyPEM); err != nil {
		return ctrl.Result{}, err
	}
	r.p.current.Store(&pair)
	r.p.certPEM.Store(&certPEM)
	log.Info("Serving the webhook certificate from the Secret", "secret", req.NamespacedName, "certDir", r.p.opts.CertDir)
	return ctrl.Result{}, nil
}

// writeFiles replaces tls.crt and tls.key atomically (write, then rename), key first so that a
// reader that sees the new certificate also sees its key.
func writeFiles(dir string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the webhook certificate directory: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyKey, keyPEM}, {CertKey, certPEM}} {
		tmp, err := os.CreateTemp(dir, "."+f.name+".*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return nil
}
