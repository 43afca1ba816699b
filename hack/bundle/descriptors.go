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
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// x-descriptors the OLM console understands.
const (
	uiText        = "urn:alm:descriptor:com.tectonic.ui:text"
	uiNumber      = "urn:alm:descriptor:com.tectonic.ui:number"
	uiBoolean     = "urn:alm:descriptor:com.tectonic.ui:booleanSwitch"
	uiSelect      = "urn:alm:descriptor:com.tectonic.ui:select:"
	uiFieldGroup  = "urn:alm:descriptor:com.tectonic.ui:fieldGroup:"
	uiSelector    = "urn:alm:descriptor:com.tectonic.ui:selector:core:v1:"
	uiConditions  = "urn:alm:descriptor:io.kubernetes.conditions"
	uiStatusText  = "urn:alm:descriptor:text"
	uiStatusTime  = "urn:alm:descriptor:timestamp"
	conditionsKey = "conditions"
)

// createdResources are the objects the controller creates for each kind, shown by the console.
var createdResources = map[string][]operatorsv1alpha1.APIResourceReference{
	"CLBBackendBinding": {{Kind: "CLBHealth", Name: "", Version: "v1alpha1"}},
}

// ownedCRDs describes each CRD for the CSV, with spec and status descriptors derived from its
// schema, so they follow the API types without markers of their own.
func ownedCRDs(crds []crdFile) ([]operatorsv1alpha1.CRDDescription, error) {
	owned := make([]operatorsv1alpha1.CRDDescription, 0, len(crds))
	for _, c := range crds {
		var v *apiextensionsv1.CustomResourceDefinitionVersion
		for i := range c.crd.Spec.Versions {
			if c.crd.Spec.Versions[i].Storage {
				v = &c.crd.Spec.Versions[i]
			}
		}
		if v == nil || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("CRD %s: no storage version with a schema", c.crd.Name)
		}
		root := v.Schema.OpenAPIV3Schema
		kind := c.crd.Spec.Names.Kind
		d := operatorsv1alpha1.CRDDescription{
			Name: c.crd.Name, Version: v.Name, Kind: kind,
			DisplayName: humanize(kind),
			Description: oneLine(root.Description),
			Resources:   createdResources[kind],
		}
		if spec, ok := root.Properties["spec"]; ok {
			d.SpecDescriptors = specDescriptors(spec)
		}
		if status, ok := root.Properties["status"]; ok {
			d.StatusDescriptors = statusDescriptors(status)
		}
		owned = append(owned, d)
	}
	return owned, nil
}

func specDescriptors(spec apiextensionsv1.JSONSchemaProps) []operatorsv1alpha1.SpecDescriptor {
	var out []operatorsv1alpha1.SpecDescriptor
	for _, name := range sortedKeys(spec.Properties) {
		p := spec.Properties[name]
		switch {
		case isLabelSelector(p):
			out = append(out, operatorsv1alpha1.SpecDescriptor{
				Path: name, DisplayName: humanize(name), Description: firstSentence(p.Description),
				XDescriptors: []string{selectorWidget(name)},
			})
		case p.Type == "object" && len(p.Properties) > 0:
			group := strings.TrimSuffix(humanize(name), " Ref")
			for _, leaf := range sortedKeys(p.Properties) {
				q := p.Properties[leaf]
				widget := specWidget(q)
				if isLabelSelector(q) {
					widget = []string{selectorWidget(name + "." + leaf)}
				}
				display, ok := displayNames[name+"."+leaf]
				if !ok {
					display = group + " " + humanize(leaf)
				}
				out = append(out, operatorsv1alpha1.SpecDescriptor{
					Path: name + "." + leaf, DisplayName: display, Description: firstSentence(q.Description),
					XDescriptors: append(widget, uiFieldGroup+name),
				})
			}
		default:
			out = append(out, operatorsv1alpha1.SpecDescriptor{
				Path: name, DisplayName: humanize(name), Description: firstSentence(p.Description),
				XDescriptors: specWidget(p),
			})
		}
	}
	return out
}

// displayNames are the display names of nested fields that "<group> <field>" would word badly.
var displayNames = map[string]string{"namespaces.names": "Namespace Names", "namespaces.selector": "Namespace Selector"}

// selectorKinds are the kinds the label selectors of the spec select, by path; any other selector
// selects nodes.
var selectorKinds = map[string]string{"namespaces.selector": "Namespace"}

// selectorWidget is the console's label selector widget for the kind the selector at path selects.
func selectorWidget(path string) string {
	if kind, ok := selectorKinds[path]; ok {
		return uiSelector + kind
	}
	return uiSelector + "Node"
}

// specWidget picks the console widget of a leaf spec field; none for a list, which the console
// edits from the schema (a text widget would take the list as one string).
func specWidget(p apiextensionsv1.JSONSchemaProps) []string {
	switch {
	case p.Type == "array":
		return nil
	case p.Type == "boolean":
		return []string{uiBoolean}
	case p.Type == "integer":
		return []string{uiNumber}
	case len(p.Enum) > 0:
		out := make([]string, 0, len(p.Enum))
		for _, e := range p.Enum {
			out = append(out, uiSelect+strings.Trim(string(e.Raw), `"`))
		}
		return out
	default:
		return []string{uiText}
	}
}

func statusDescriptors(status apiextensionsv1.JSONSchemaProps) []operatorsv1alpha1.StatusDescriptor {
	out := make([]operatorsv1alpha1.StatusDescriptor, 0, len(status.Properties))
	for _, name := range sortedKeys(status.Properties) {
		p := status.Properties[name]
		d := operatorsv1alpha1.StatusDescriptor{Path: name, DisplayName: humanize(name), Description: firstSentence(p.Description)}
		switch {
		case name == conditionsKey:
			d.XDescriptors = []string{uiConditions}
		case p.Format == "date-time":
			d.XDescriptors = []string{uiStatusTime}
		case p.Type != "array" && p.Type != "object":
			d.XDescriptors = []string{uiStatusText}
		}
		out = append(out, d)
	}
	return out
}

func isLabelSelector(p apiextensionsv1.JSONSchemaProps) bool {
	_, labels := p.Properties["matchLabels"]
	_, exprs := p.Properties["matchExpressions"]
	return labels && exprs
}

func sortedKeys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	return slices.Sorted(maps.Keys(m))
}

// acronyms are words humanize writes in capitals.
var acronyms = map[string]string{"id": "ID", "url": "URL", "http": "HTTP", "ip": "IP", "clb": "CLB"}

// humanize turns a field or kind name into words: loadBalancerId → Load Balancer ID,
// CLBBackendBinding → CLB Backend Binding.
func humanize(name string) string {
	var words []string
	runes := []rune(name)
	start := 0
	for i := 1; i < len(runes); i++ {
		lowerToUpper := unicode.IsLower(runes[i-1]) && unicode.IsUpper(runes[i])
		acronymEnd := i+1 < len(runes) && unicode.IsUpper(runes[i-1]) && unicode.IsUpper(runes[i]) && unicode.IsLower(runes[i+1])
		if lowerToUpper || acronymEnd {
			words = append(words, string(runes[start:i]))
			start = i
		}
	}
	words = append(words, string(runes[start:]))
	for i, w := range words {
		if a, ok := acronyms[strings.ToLower(w)]; ok {
			words[i] = a
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// oneLine collapses a schema description's line breaks.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// firstSentence is the first sentence of a schema description, for the console's hints.
func firstSentence(s string) string {
	s = oneLine(s)
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
