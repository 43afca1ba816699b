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

package olm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// olmStandIn applies a ClusterServiceVersion's install strategy the way OLM's catalog and olm
// operators document it (operator-framework/operator-lifecycle-manager, pkg/controller/install),
// for one CSV in one install namespace (an AllNamespaces OperatorGroup):
//   - each spec.install.spec.permissions entry: its ServiceAccount (created when missing), a Role
//     with its rules and a RoleBinding to the ServiceAccount, in the install namespace;
//   - each clusterPermissions entry: a ClusterRole and ClusterRoleBinding;
//   - for the webhookdefinitions: a CA and a serving certificate for the Service
//     <deployment>-service (DNS names <svc>.<ns> and <svc>.<ns>.svc), kept in the Secret
//     <deployment>-service-cert (tls.crt, tls.key, and the olmcahash annotation), the Service
//     itself on the definitions' containerPort → targetPort, the Secret mounted into every
//     container of the deployment at /tmp/k8s-webhook-server/serving-certs (tls.crt, tls.key,
//     volume webhook-cert) and /apiserver.local.config/certificates (apiserver.crt,
//     apiserver.key, volume apiservice-cert), and one Validating/MutatingWebhookConfiguration per
//     definition with the CA as caBundle;
//   - each deployment of spec.install.spec.deployments created (or, on an upgrade, the existing
//     one updated) with the olm.owner labels, the pod template's olmcahash annotation, the
//     OPERATOR_CONDITION_NAME variable OLM sets to the CSV's name, and the Subscription's
//     spec.config.env merged into its containers;
//   - on an upgrade (a CSV whose spec.replaces names the installed one), the replaced CSV's Roles
//     and ClusterRoles (and their bindings) are deleted once the new one is installed, as the
//     garbage collection of the replaced CSV's owned objects does; the certificate is kept
//     while it is valid for the Service, as OLM keeps it.
//
// What differs, because nothing here runs kube-proxy: a webhook configuration's clientConfig is
// a URL (https://localhost:<port>/<path>, the port the stand-in kubelet gave the leading pod's
// webhook port) instead of the Service, so the serving certificate also names localhost, and the
// configurations are written once the pods run (OLM writes them with the Service reference at
// install time). OLM's resolution (catalogs, Subscriptions, InstallPlans, the CSV object and its
// status phases) is not emulated: the test hands the stand-in the CSV the bundle holds.
type olmStandIn struct {
	c         client.Client
	namespace string
	// subscriptionEnv is the Subscription's spec.config.env.
	subscriptionEnv []corev1.EnvVar

	caPEM, certPEM, keyPEM []byte
	// installed is the CSV whose objects are in the cluster.
	installed *operatorsv1alpha1.ClusterServiceVersion
}

// The mount points and volume names of OLM's certificate (pkg/controller/install/certresources.go).
const (
	webhookCertDir      = "/tmp/k8s-webhook-server/serving-certs"
	apiServiceCertDir   = "/apiserver.local.config/certificates"
	olmCAHashAnnotation = "olmcahash"
)

func serviceName(dep string) string    { return dep + "-service" }
func certSecretName(dep string) string { return serviceName(dep) + "-cert" }

// install applies csv; when another CSV is installed, csv must replace it (an upgrade).
func (o *olmStandIn) install(ctx context.Context, csv *operatorsv1alpha1.ClusterServiceVersion) error {
	previous := o.installed
	if previous != nil && csv.Spec.Replaces != previous.Name {
		return fmt.Errorf("%s does not replace the installed %s (replaces %q)", csv.Name, previous.Name, csv.Spec.Replaces)
	}
	owner := map[string]string{
		"olm.owner": csv.Name, "olm.owner.kind": operatorsv1alpha1.ClusterServiceVersionKind, "olm.owner.namespace": o.namespace,
	}
	strategy := csv.Spec.InstallStrategy.StrategySpec
	for i, p := range strategy.Permissions {
		name := fmt.Sprintf("%s-%d", csv.Name, i)
		if err := o.serviceAccount(ctx, p.ServiceAccountName); err != nil {
			return err
		}
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name, Labels: owner}, Rules: p.Rules}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name, Labels: owner},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: p.ServiceAccountName, Namespace: o.namespace}},
		}
		if err := o.createAll(ctx, role, binding); err != nil {
			return err
		}
	}
	for i, p := range strategy.ClusterPermissions {
		name := fmt.Sprintf("%s-%d", csv.Name, i)
		if err := o.serviceAccount(ctx, p.ServiceAccountName); err != nil {
			return err
		}
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: owner}, Rules: p.Rules}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: owner},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: p.ServiceAccountName, Namespace: o.namespace}},
		}
		if err := o.createAll(ctx, role, binding); err != nil {
			return err
		}
	}
	hooked := map[string][]operatorsv1alpha1.WebhookDescription{}
	for _, w := range csv.Spec.WebhookDefinitions {
		hooked[w.DeploymentName] = append(hooked[w.DeploymentName], w)
	}
	for _, d := range strategy.DeploymentSpecs {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: d.Name}}
		spec := *d.Spec.DeepCopy()
		if defs := hooked[d.Name]; len(defs) > 0 {
			if err := o.certificate(ctx, d.Name, spec.Selector.MatchLabels, defs, owner); err != nil {
				return err
			}
			mountCertificate(&spec.Template, certSecretName(d.Name), o.caHash())
		}
		for i := range spec.Template.Spec.Containers {
			c := &spec.Template.Spec.Containers[i]
			c.Env = mergeEnv(c.Env, append([]corev1.EnvVar{{Name: "OPERATOR_CONDITION_NAME", Value: csv.Name}}, o.subscriptionEnv...))
		}
		if _, err := controllerutil.CreateOrUpdate(ctx, o.c, dep, func() error {
			dep.Labels = maps.Clone(d.Label)
			maps.Copy(dep.Labels, owner)
			dep.Spec = spec
			return nil
		}); err != nil {
			return fmt.Errorf("deployment %s: %w", d.Name, err)
		}
	}
	if previous != nil {
		for i := range previous.Spec.InstallStrategy.StrategySpec.Permissions {
			name := fmt.Sprintf("%s-%d", previous.Name, i)
			if err := o.deleteAll(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name}},
				&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name}}); err != nil {
				return err
			}
		}
		for i := range previous.Spec.InstallStrategy.StrategySpec.ClusterPermissions {
			name := fmt.Sprintf("%s-%d", previous.Name, i)
			if err := o.deleteAll(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}},
				&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
				return err
			}
		}
	}
	o.installed = csv
	return nil
}

// webhooks writes the installed CSV's webhook configurations, one per definition named after its
// generateName, with the stand-in's CA, pointing at port (see olmStandIn: a URL, not the
// Service).
func (o *olmStandIn) webhooks(ctx context.Context, port int) error {
	for _, w := range o.installed.Spec.WebhookDefinitions {
		cc := admissionregistrationv1.WebhookClientConfig{
			URL:      new(fmt.Sprintf("https://localhost:%d%s", port, ptr.Deref(w.WebhookPath, "/"))),
			CABundle: o.caPEM,
		}
		meta := metav1.ObjectMeta{Name: w.GenerateName, Labels: map[string]string{"olm.owner": o.installed.Name, "olm.webhook-description-generate-name": w.GenerateName}}
		var err error
		switch w.Type {
		case operatorsv1alpha1.ValidatingAdmissionWebhook:
			cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta}
			_, err = controllerutil.CreateOrUpdate(ctx, o.c, cfg, func() error {
				cfg.Labels = meta.Labels
				cfg.Webhooks = []admissionregistrationv1.ValidatingWebhook{w.GetValidatingWebhook(o.namespace, nil, o.caPEM)}
				cfg.Webhooks[0].ClientConfig = cc
				return nil
			})
		case operatorsv1alpha1.MutatingAdmissionWebhook:
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta}
			_, err = controllerutil.CreateOrUpdate(ctx, o.c, cfg, func() error {
				cfg.Labels = meta.Labels
				cfg.Webhooks = []admissionregistrationv1.MutatingWebhook{w.GetMutatingWebhook(o.namespace, nil, o.caPEM)}
				cfg.Webhooks[0].ClientConfig = cc
				return nil
			})
		default:
			err = fmt.Errorf("webhook %s: type %s is not emulated", w.GenerateName, w.Type)
		}
		if err != nil {
			return fmt.Errorf("webhook configuration %s: %w", w.GenerateName, err)
		}
	}
	return nil
}

func (o *olmStandIn) serviceAccount(ctx context.Context, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name}}
	if err := o.c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ServiceAccount %s: %w", name, err)
	}
	return nil
}

func (o *olmStandIn) createAll(ctx context.Context, objs ...client.Object) error {
	for _, obj := range objs {
		if err := o.c.Create(ctx, obj); err != nil {
			return fmt.Errorf("%T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

func (o *olmStandIn) deleteAll(ctx context.Context, objs ...client.Object) error {
	for _, obj := range objs {
		if err := o.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// certificate makes (once) the CA and the serving certificate of the deployment's webhook
// Service, stores them in the Secret, and creates the Service.
func (o *olmStandIn) certificate(ctx context.Context, dep string, selector map[string]string,
	defs []operatorsv1alpha1.WebhookDescription, owner map[string]string) error {
	svc := serviceName(dep)
	if o.caPEM == nil {
		var err error
		if o.caPEM, o.certPEM, o.keyPEM, err = newServingCertificate([]string{
			svc + "." + o.namespace, svc + "." + o.namespace + ".svc", "localhost",
		}); err != nil {
			return err
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: certSecretName(dep)}}
	if _, err := controllerutil.CreateOrUpdate(ctx, o.c, secret, func() error {
		secret.Labels = owner
		secret.Annotations = map[string]string{olmCAHashAnnotation: o.caHash()}
		secret.Type = corev1.SecretTypeTLS
		secret.Data = map[string][]byte{corev1.TLSCertKey: o.certPEM, corev1.TLSPrivateKeyKey: o.keyPEM}
		return nil
	}); err != nil {
		return fmt.Errorf("secret %s: %w", secret.Name, err)
	}
	service := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: svc}}
	_, err := controllerutil.CreateOrUpdate(ctx, o.c, service, func() error {
		service.Labels = owner
		service.Spec.Selector = selector
		service.Spec.Ports = nil
		seen := map[int32]bool{}
		for _, w := range defs {
			if seen[w.ContainerPort] {
				continue
			}
			seen[w.ContainerPort] = true
			target := ptr.Deref(w.TargetPort, intstr.FromInt32(w.ContainerPort))
			service.Spec.Ports = append(service.Spec.Ports, corev1.ServicePort{
				Name: fmt.Sprint(w.ContainerPort), Port: w.ContainerPort, TargetPort: target, Protocol: corev1.ProtocolTCP,
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("service %s: %w", svc, err)
	}
	return nil
}

func (o *olmStandIn) caHash() string {
	sum := sha256.Sum256(o.caPEM)
	return hex.EncodeToString(sum[:])
}

// mountCertificate mounts the Secret where OLM mounts it, in every container.
func mountCertificate(tmpl *corev1.PodTemplateSpec, secret, caHash string) {
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[olmCAHashAnnotation] = caHash
	tmpl.Spec.Volumes = append(tmpl.Spec.Volumes,
		corev1.Volume{Name: "apiservice-cert", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret,
			Items:      []corev1.KeyToPath{{Key: corev1.TLSCertKey, Path: "apiserver.crt"}, {Key: corev1.TLSPrivateKeyKey, Path: "apiserver.key"}},
		}}},
		corev1.Volume{Name: "webhook-cert", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret,
			Items:      []corev1.KeyToPath{{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey}, {Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey}},
		}}},
	)
	for i := range tmpl.Spec.Containers {
		c := &tmpl.Spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts,
			corev1.VolumeMount{Name: "apiservice-cert", MountPath: apiServiceCertDir},
			corev1.VolumeMount{Name: "webhook-cert", MountPath: webhookCertDir},
		)
	}
}

// mergeEnv sets each of add in env, replacing a variable of the same name (as OLM merges the
// Subscription's config.env).
func mergeEnv(env, add []corev1.EnvVar) []corev1.EnvVar {
	out := append([]corev1.EnvVar(nil), env...)
	for _, a := range add {
		replaced := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i], replaced = a, true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}

// newServingCertificate returns a self-signed CA and a serving certificate it signed for hosts,
// PEM-encoded, as OLM makes them (ECDSA P-256; OLM's CA lasts two years).
func newServingCertificate(hosts []string) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "olm-selfsigned-ca", Organization: []string{"Red Hat, Inc."}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
