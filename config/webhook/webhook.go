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

// Package webhook ships the webhook configurations that controller-gen writes to manifests.yaml
// (from the +kubebuilder:webhook markers in webhooks/) inside the binary, so the manager can
// recreate them when they are deleted or changed. Render fills in what kustomize fills in for a
// cluster install: the object names, the Service, or for a manager running outside the cluster,
// a URL.
package webhook

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

//go:embed manifests.yaml
var manifests []byte

// ManagedByLabel marks webhook configurations that the manager created itself.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// ManagedByValue is the value of ManagedByLabel on configurations the manager created.
const ManagedByValue = "clb-binding-controller"

// Target says where the API server reaches the webhook server.
type Target struct {
	// MutatingName and ValidatingName are the names of the two configuration objects.
	MutatingName   string
	ValidatingName string

	// ServiceName, ServiceNamespace and ServicePort name the webhook Service (in-cluster mode).
	ServiceName      string
	ServiceNamespace string
	ServicePort      int32

	// Host and Port, when Host is set, switch to URL mode: https://Host:Port/<path>, for a
	// manager that runs as a local process with no Service in front of it.
	Host string
	Port int

	// CABundle is the PEM CA that signs the serving certificate; nil leaves it empty.
	CABundle []byte
}

// Render returns the shipped configurations pointed at t, with every field the API server
// would default set explicitly, so a configuration read back from the API server compares equal
// to the rendered one when nobody changed it.
func Render(t Target) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	mwc, vwc, err := parse()
	if err != nil {
		return nil, nil, err
	}
	if t.MutatingName == "" || t.ValidatingName == "" {
		return nil, nil, errors.New("the webhook configuration names must not be empty")
	}
	if t.Host == "" && (t.ServiceName == "" || t.ServiceNamespace == "") {
		return nil, nil, errors.New("either a webhook host (URL mode) or a Service name and namespace is needed")
	}
	labels := map[string]string{"app.kubernetes.io/name": "clb-binding-controller", ManagedByLabel: ManagedByValue}
	mwc.ObjectMeta = metav1.ObjectMeta{Name: t.MutatingName, Labels: labels}
	vwc.ObjectMeta = metav1.ObjectMeta{Name: t.ValidatingName, Labels: labels}
	for i := range mwc.Webhooks {
		w := &mwc.Webhooks[i]
		w.ClientConfig = t.clientConfig(w.ClientConfig)
		setWebhookDefaults(&w.Rules, &w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
		if w.ReinvocationPolicy == nil {
			w.ReinvocationPolicy = ptr.To(admissionregistrationv1.NeverReinvocationPolicy)
		}
	}
	for i := range vwc.Webhooks {
		w := &vwc.Webhooks[i]
		w.ClientConfig = t.clientConfig(w.ClientConfig)
		setWebhookDefaults(&w.Rules, &w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
	}
	return mwc, vwc, nil
}

// clientConfig points a generated client config (which carries the path) at t.
func (t Target) clientConfig(generated admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
	path := "/"
	if generated.Service != nil && generated.Service.Path != nil {
		path = *generated.Service.Path
	}
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: t.CABundle}
	if t.Host != "" {
		cc.URL = new("https://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) + path)
		return cc
	}
	port := t.ServicePort
	if port == 0 {
		port = 443
	}
	cc.Service = &admissionregistrationv1.ServiceReference{
		Namespace: t.ServiceNamespace, Name: t.ServiceName, Path: new(path), Port: new(port),
	}
	return cc
}

// setWebhookDefaults mirrors the API server's defaulting of admissionregistration/v1 webhooks
// (k8s.io/kubernetes pkg/apis/admissionregistration/v1/defaults.go).
func setWebhookDefaults(rules *[]admissionregistrationv1.RuleWithOperations, failurePolicy **admissionregistrationv1.FailurePolicyType,
	matchPolicy **admissionregistrationv1.MatchPolicyType, nsSel, objSel **metav1.LabelSelector, timeout **int32) {
	if *failurePolicy == nil {
		*failurePolicy = ptr.To(admissionregistrationv1.Fail)
	}
	if *matchPolicy == nil {
		*matchPolicy = ptr.To(admissionregistrationv1.Equivalent)
	}
	if *nsSel == nil {
		*nsSel = &metav1.LabelSelector{}
	}
	if *objSel == nil {
		*objSel = &metav1.LabelSelector{}
	}
	if *timeout == nil {
		*timeout = ptr.To[int32](10)
	}
	for i := range *rules {
		if (*rules)[i].Scope == nil {
			(*rules)[i].Scope = ptr.To(admissionregistrationv1.AllScopes)
		}
	}
}

// parse reads the embedded manifests.yaml: one MutatingWebhookConfiguration and one
// ValidatingWebhookConfiguration.
func parse() (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mwc *admissionregistrationv1.MutatingWebhookConfiguration
	var vwc *admissionregistrationv1.ValidatingWebhookConfiguration
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the embedded webhook manifests: %w", err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("reading the embedded webhook manifests: %w", err)
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			mwc = &admissionregistrationv1.MutatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(doc, mwc)
		case "ValidatingWebhookConfiguration":
			vwc = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(doc, vwc)
		case "":
			continue // an empty document
		default:
			err = fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("decoding the embedded webhook manifests: %w", err)
		}
	}
	if mwc == nil || vwc == nil {
		return nil, nil, errors.New("the embedded webhook manifests need one mutating and one validating configuration")
	}
	return mwc, vwc, nil
}
