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

package crdvalidation

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/clbind/clb-binding-controller/internal/testenv"
)

const apiVersion = "networking.clbind.io/v1alpha1"

// obj is a JSON-shaped object literal.
type obj = map[string]any

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cel-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// validBindingSpec is the smallest spec the API server accepts.
func validBindingSpec() obj {
	return obj{
		"loadBalancerId": "lb-1a2b3c4d",
		"listener":       obj{"id": "lbl-1a2b3c4d"},
		"serviceRef":     obj{"name": "web", "port": int64(80)},
	}
}

func binding(ns, name string, spec obj) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: obj{
		"apiVersion": apiVersion, "kind": "CLBBackendBinding",
		"metadata": obj{"name": name, "namespace": ns},
		"spec":     spec,
	}}
	return u
}

func health(ns, name string, spec obj) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: obj{
		"apiVersion": apiVersion, "kind": "CLBHealth",
		"metadata": obj{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// with returns a copy of the valid spec changed by edit.
func with(edit func(spec obj)) obj {
	spec := validBindingSpec()
	edit(spec)
	return spec
}

// expectRefused asserts the API server refuses the object as Invalid, naming the field.
func expectRefused(err error, field, message string) {
	ExpectWithOffset(1, err).To(HaveOccurred(), "the API server accepted an object it should refuse")
	ExpectWithOffset(1, apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	ExpectWithOffset(1, err.Error()).To(ContainSubstring(field))
	ExpectWithOffset(1, err.Error()).To(ContainSubstring(message))
}

var _ = Describe("CLBBackendBinding admission by the API server", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts a minimal binding and fills in the defaults", func() {
		b := binding(ns, "minimal", validBindingSpec())
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		spec := b.Object["spec"].(obj)
		Expect(spec["targetType"]).To(Equal("Pod"))
		Expect(spec["weight"]).To(BeEquivalentTo(10))
		Expect(spec["readinessGate"]).To(BeTrue())
	})

	DescribeTable("refuses a bad binding, naming the field",
		func(spec obj, field, message string) {
			expectRefused(k8sClient.Create(ctx, binding(ns, "bad", spec)), field, message)
		},
		Entry("load balancer id too short", with(func(s obj) { s["loadBalancerId"] = "lb-123" }),
			"spec.loadBalancerId", "should match"),
		Entry("load balancer id in upper case", with(func(s obj) { s["loadBalancerId"] = "lb-1A2B3C4D" }),
			"spec.loadBalancerId", "should match"),
		Entry("load balancer id too long", with(func(s obj) { s["loadBalancerId"] = "lb-1a2b3c4d5" }),
			"spec.loadBalancerId", "should match"),
		Entry("load balancer id given a listener id", with(func(s obj) { s["loadBalancerId"] = "lbl-1a2b3c4d" }),
			"spec.loadBalancerId", "should match"),
		Entry("load balancer id empty", with(func(s obj) { s["loadBalancerId"] = "" }),
			"spec.loadBalancerId", "should match"),
		Entry("load balancer id missing", with(func(s obj) { delete(s, "loadBalancerId") }),
			"spec.loadBalancerId", "Required value"),
		Entry("listener id malformed", with(func(s obj) { s["listener"] = obj{"id": "listener-1"} }),
			"spec.listener.id", "should match"),
		Entry("listener id in upper case", with(func(s obj) { s["listener"] = obj{"id": "lbl-1A2B3C4D"} }),
			"spec.listener.id", "should match"),
		Entry("listener id given a load balancer id", with(func(s obj) { s["listener"] = obj{"id": "lb-1a2b3c4d"} }),
			"spec.listener.id", "should match"),
		Entry("listener id too long", with(func(s obj) { s["listener"] = obj{"id": "lbl-1a2b3c4d5"} }),
			"spec.listener.id", "should match"),
		Entry("listener by id and by port", with(func(s obj) {
			s["listener"] = obj{"id": "lbl-1a2b3c4d", "port": int64(80), "protocol": "TCP"}
		}), "spec.listener", "either by id, or by port and protocol"),
		Entry("listener given by nothing", with(func(s obj) { s["listener"] = obj{} }),
			"spec.listener", "either by id, or by port and protocol"),
		Entry("listener port without protocol", with(func(s obj) { s["listener"] = obj{"port": int64(80)} }),
			"spec.listener", "either by id, or by port and protocol"),
		Entry("listener port 0", with(func(s obj) { s["listener"] = obj{"port": int64(0), "protocol": "TCP"} }),
			"spec.listener.port", "greater than or equal to 1"),
		Entry("listener port 65536", with(func(s obj) { s["listener"] = obj{"port": int64(65536), "protocol": "TCP"} }),
			"spec.listener.port", "less than or equal to 65535"),
		Entry("unknown listener protocol", with(func(s obj) { s["listener"] = obj{"port": int64(80), "protocol": "SCTP"} }),
			"spec.listener.protocol", "Unsupported value"),
		Entry("rule on a TCP listener", with(func(s obj) {
			s["listener"] = obj{"port": int64(80), "protocol": "TCP"}
			s["rule"] = obj{"domain": "a.example.com", "url": "/"}
		}), "spec.rule", "only allowed for HTTP and HTTPS listeners"),
		Entry("HTTP listener without a rule", with(func(s obj) { s["listener"] = obj{"port": int64(80), "protocol": "HTTP"} }),
			"spec.rule", "HTTP and HTTPS listeners take backends only on rules"),
		Entry("rule by location id and by domain", with(func(s obj) {
			s["rule"] = obj{"locationId": "loc-1a2b3c4d", "domain": "a.example.com", "url": "/"}
		}), "spec.rule", "either by locationId, or by domain and url"),
		Entry("rule domain without url", with(func(s obj) { s["rule"] = obj{"domain": "a.example.com"} }),
			"spec.rule", "either by locationId, or by domain and url"),
		Entry("rule location id malformed", with(func(s obj) { s["rule"] = obj{"locationId": "loc-1"} }),
			"spec.rule.locationId", "should match"),
		Entry("rule location id in upper case", with(func(s obj) { s["rule"] = obj{"locationId": "loc-1A2B3C4D"} }),
			"spec.rule.locationId", "should match"),
		Entry("rule location id given a listener id", with(func(s obj) { s["rule"] = obj{"locationId": "lbl-1a2b3c4d"} }),
			"spec.rule.locationId", "should match"),
		Entry("rule location id empty", with(func(s obj) { s["rule"] = obj{"locationId": ""} }),
			"spec.rule.locationId", "should match"),
		Entry("rule url without leading slash", with(func(s obj) { s["rule"] = obj{"domain": "a.example.com", "url": "api"} }),
			"spec.rule.url", "should match"),
		Entry("weight 101", with(func(s obj) { s["weight"] = int64(101) }),
			"spec.weight", "less than or equal to 100"),
		Entry("weight -1", with(func(s obj) { s["weight"] = int64(-1) }),
			"spec.weight", "greater than or equal to 0"),
		Entry("traffic share 101", with(func(s obj) { s["trafficShare"] = int64(101) }),
			"spec.trafficShare", "less than or equal to 100"),
		Entry("traffic share -5", with(func(s obj) { s["trafficShare"] = int64(-5) }),
			"spec.trafficShare", "greater than or equal to 0"),
		Entry("slow start of 2 s", with(func(s obj) { s["slowStart"] = obj{"seconds": int64(2)} }),
			"spec.slowStart.seconds", "greater than or equal to 4"),
		Entry("slow start over an hour", with(func(s obj) { s["slowStart"] = obj{"seconds": int64(3601)} }),
			"spec.slowStart.seconds", "less than or equal to 3600"),
		Entry("unknown not-ready policy", with(func(s obj) { s["notReadyBackends"] = "Keep" }),
			"spec.notReadyBackends", "Unsupported value"),
		Entry("KeepAtWeightZero with node targets", with(func(s obj) {
			s["targetType"] = "Node"
			s["notReadyBackends"] = "KeepAtWeightZero"
		}), "spec.notReadyBackends", "only allowed with targetType Pod"),
		Entry("service port 70000", with(func(s obj) { s["serviceRef"] = obj{"name": "web", "port": int64(70000)} }),
			"spec.serviceRef.port", "between 1 and 65535"),
		Entry("service port name with upper case", with(func(s obj) { s["serviceRef"] = obj{"name": "web", "port": "Http_Port"} }),
			"spec.serviceRef.port", "port name"),
		Entry("service name malformed", with(func(s obj) { s["serviceRef"] = obj{"name": "Web.Svc", "port": int64(80)} }),
			"spec.serviceRef.name", "should match"),
		Entry("unknown target type", with(func(s obj) { s["targetType"] = "Instance" }),
			"spec.targetType", "Unsupported value"),
		Entry("node selector with pod targets", with(func(s obj) {
			s["nodeSelector"] = obj{"matchLabels": obj{"role": "edge"}}
		}), "spec.nodeSelector", "only allowed with targetType Node"),
		Entry("drain longer than an hour", with(func(s obj) { s["drain"] = obj{"seconds": int64(3601)} }),
			"spec.drain.seconds", "less than or equal to 3600"),
	)

	It("refuses a 64-character name while readiness gates are on, and accepts it with them off", func() {
		name := strings.Repeat("a", 64)
		expectRefused(k8sClient.Create(ctx, binding(ns, name, validBindingSpec())),
			"metadata.name", "at most 63 characters while spec.readinessGate is true")
		Expect(k8sClient.Create(ctx, binding(ns, name, with(func(s obj) { s["readinessGate"] = false })))).To(Succeed())
	})

	DescribeTable("refuses changes to immutable fields",
		func(initial obj, edit func(spec obj), field, message string) {
			b := binding(ns, "immutable", initial)
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			edit(b.Object["spec"].(obj))
			expectRefused(k8sClient.Update(ctx, b), field, message)
		},
		Entry("load balancer", validBindingSpec(), func(s obj) { s["loadBalancerId"] = "lb-99999999" },
			"spec.loadBalancerId", "loadBalancerId is immutable"),
		Entry("listener", validBindingSpec(), func(s obj) { s["listener"] = obj{"id": "lbl-99999999"} },
			"spec.listener", "listener is immutable"),
		Entry("target type", validBindingSpec(), func(s obj) { s["targetType"] = "Node" },
			"spec.targetType", "targetType is immutable"),
		Entry("rule changed", with(func(s obj) { s["rule"] = obj{"locationId": "loc-1a2b3c4d"} }),
			func(s obj) { s["rule"] = obj{"locationId": "loc-99999999"} }, "spec.rule", "rule is immutable"),
		Entry("rule removed", with(func(s obj) { s["rule"] = obj{"locationId": "loc-1a2b3c4d"} }),
			func(s obj) { delete(s, "rule") }, "spec.rule", "rule is immutable"),
		Entry("rule added", validBindingSpec(),
			func(s obj) { s["rule"] = obj{"locationId": "loc-1a2b3c4d"} }, "spec.rule", "rule is immutable"),
	)

	It("allows changing the Service, weight, drain and readiness gate of a binding", func() {
		b := binding(ns, "mutable", validBindingSpec())
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		spec := b.Object["spec"].(obj)
		spec["serviceRef"] = obj{"name": "web-v2", "port": "http"}
		spec["weight"] = int64(0)
		spec["drain"] = obj{"seconds": int64(60)}
		spec["readinessGate"] = false
		spec["multiCluster"] = true
		Expect(k8sClient.Update(ctx, b)).To(Succeed())
	})
})

var _ = Describe("CLBHealth admission by the API server", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("defaults the readiness policy to OnceHealthy", func() {
		h := health(ns, "defaults", obj{})
		Expect(k8sClient.Create(ctx, h)).To(Succeed())
		Expect(h.Object["spec"].(obj)["readinessPolicy"]).To(Equal("OnceHealthy"))
	})

	DescribeTable("refuses a bad CLBHealth, naming the field",
		func(spec obj, field, message string) {
			expectRefused(k8sClient.Create(ctx, health(ns, "bad", spec)), field, message)
		},
		Entry("unknown readiness policy", obj{"readinessPolicy": "Sometimes"}, "spec.readinessPolicy", "Unsupported value"),
		Entry("timeout 0", obj{"timeoutSeconds": int64(0)}, "spec.timeoutSeconds", "greater than or equal to 1"),
		Entry("probe timeout not below the interval", obj{"healthCheck": obj{"intervalSeconds": int64(5), "timeoutSeconds": int64(5)}},
			"spec.healthCheck.timeoutSeconds", "less than healthCheck.intervalSeconds"),
		Entry("healthy threshold 11", obj{"healthCheck": obj{"healthyThreshold": int64(11)}},
			"spec.healthCheck.healthyThreshold", "less than or equal to 10"),
		Entry("http codes 32", obj{"healthCheck": obj{"httpCodes": int64(32)}},
			"spec.healthCheck.httpCodes", "less than or equal to 31"),
		Entry("unknown probe type", obj{"healthCheck": obj{"type": "ICMP"}}, "spec.healthCheck.type", "Unsupported value"),
		Entry("CUSTOM without its payloads", obj{"healthCheck": obj{"type": "CUSTOM"}},
			"spec.healthCheck.custom", "healthCheck.custom is required when healthCheck.type is CUSTOM"),
		Entry("payloads with another type", obj{"healthCheck": obj{"type": "TCP", "custom": customCheck("TEXT", "ping", "pong")}},
			"spec.healthCheck.custom", "healthCheck.custom is only allowed with healthCheck.type CUSTOM"),
		Entry("payloads without a type", obj{"healthCheck": obj{"custom": customCheck("TEXT", "ping", "pong")}},
			"spec.healthCheck.custom", "healthCheck.custom is only allowed with healthCheck.type CUSTOM"),
		Entry("unknown payload encoding", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("JSON", "a", "b")}},
			"spec.healthCheck.custom.contextType", "Unsupported value"),
		Entry("HEX payload of odd length", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("HEX", "0A1", "FF")}},
			"spec.healthCheck.custom.send", "custom.send must be an even number of the characters 0-9 and A-F"),
		Entry("HEX payload in lower case", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("HEX", "0A", "ff")}},
			"spec.healthCheck.custom.receive", "custom.receive must be an even number of the characters 0-9 and A-F"),
		Entry("payload with a control character", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("TEXT", "PING\r\n", "PONG")}},
			"spec.healthCheck.custom.send", "should match"),
		Entry("payload over 500 characters", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("TEXT", "a", strings.Repeat("b", 501))}},
			"spec.healthCheck.custom.receive", "Too long"),
		Entry("empty payload", obj{"healthCheck": obj{"type": "CUSTOM", "custom": customCheck("TEXT", "", "b")}},
			"spec.healthCheck.custom.send", "at least 1 chars long"),
		Entry("unknown HTTP version", obj{"healthCheck": obj{"type": "HTTP", "httpVersion": "HTTP/2"}},
			"spec.healthCheck.httpVersion", "Unsupported value"),
		Entry("HTTP version with a TCP check", obj{"healthCheck": obj{"type": "TCP", "httpVersion": "HTTP/1.1"}},
			"spec.healthCheck.httpVersion", "healthCheck.httpVersion is only allowed with healthCheck.type HTTP"),
		Entry("HTTP domain with a PING check", obj{"healthCheck": obj{"type": "PING", "httpDomain": "www.example.com"}},
			"spec.healthCheck.httpDomain", "healthCheck.httpDomain is only allowed with healthCheck.type HTTP, HTTPS or GRPC"),
		Entry("HTTP path with a TCP check", obj{"healthCheck": obj{"type": "TCP", "httpPath": "/healthz"}},
			"spec.healthCheck.httpPath", "healthCheck.httpPath is only allowed with healthCheck.type HTTP, HTTPS or GRPC"),
		Entry("HTTP codes with a GRPC check", obj{"healthCheck": obj{"type": "GRPC", "httpCodes": int64(2)}},
			"spec.healthCheck.httpCodes", "healthCheck.httpCodes is only allowed with healthCheck.type HTTP or HTTPS"),
	)

	DescribeTable("accepts the health checks the listener decides on",
		func(check obj) {
			Expect(k8sClient.Create(ctx, health(ns, "good", obj{"healthCheck": check}))).To(Succeed())
		},
		Entry("HTTP of a TCP listener", obj{"type": "HTTP", "httpDomain": "www.example.com", "httpVersion": "HTTP/1.0",
			"httpPath": "/healthz", "httpCodes": int64(6)}),
		Entry("GRPC of a rule", obj{"type": "GRPC", "httpPath": "/grpc.health.v1.Health/Check"}),
		Entry("CUSTOM in HEX", obj{"type": "CUSTOM", "custom": customCheck("HEX", "0A1B", "FF")}),
		Entry("CUSTOM in text with spaces", obj{"type": "CUSTOM", "custom": customCheck("TEXT", "PING now", strings.Repeat("b", 500))}),
		Entry("HTTP settings while the listener keeps its type", obj{"httpPath": "/healthz", "httpVersion": "HTTP/1.1"}),
		Entry("PING", obj{"type": "PING", "intervalSeconds": int64(5)}),
	)
})

func customCheck(contextType, send, receive string) obj {
	return obj{"contextType": contextType, "send": send, "receive": receive}
}

func policy(name string, spec obj) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: obj{
		"apiVersion": apiVersion, "kind": "CLBBindingPolicy",
		"metadata": obj{"generateName": name + "-"},
		"spec":     spec,
	}}
}

// validPolicySpec is the smallest policy spec the API server accepts: one namespace, one load
// balancer.
func validPolicySpec() obj {
	return obj{
		"namespaces":    obj{"names": []any{"shop"}},
		"loadBalancers": []any{obj{"id": "lb-1a2b3c4d"}},
	}
}

// policyWith returns a copy of the valid policy spec changed by edit.
func policyWith(edit func(spec obj)) obj {
	spec := validPolicySpec()
	edit(spec)
	return spec
}

var _ = Describe("CLBBindingPolicy admission by the API server", func() {
	It("accepts a minimal policy, cluster-scoped, and defaults exclusive to Allowed", func() {
		p := policy("minimal", validPolicySpec())
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(p.GetNamespace()).To(BeEmpty())
		spec := p.Object["spec"].(obj)
		Expect(spec["exclusive"]).To(Equal("Allowed"))
		Expect(spec).NotTo(HaveKey("sharedAcrossNamespaces"))
	})

	DescribeTable("refuses a bad policy, naming the field",
		func(spec obj, field, message string) {
			expectRefused(k8sClient.Create(ctx, policy("bad", spec)), field, message)
		},
		Entry("namespaces missing", policyWith(func(s obj) { delete(s, "namespaces") }),
			"spec.namespaces", "Required value"),
		Entry("namespaces with neither names nor selector", policyWith(func(s obj) { s["namespaces"] = obj{} }),
			"spec.namespaces", "give names, a selector, or both"),
		Entry("namespaces with an empty list of names", policyWith(func(s obj) { s["namespaces"] = obj{"names": []any{}} }),
			"spec.namespaces", "give names, a selector, or both"),
		Entry("namespace name in upper case", policyWith(func(s obj) { s["namespaces"] = obj{"names": []any{"Shop"}} }),
			"spec.namespaces.names[0]", "should match"),
		Entry("namespace name too long", policyWith(func(s obj) { s["namespaces"] = obj{"names": []any{strings.Repeat("a", 64)}} }),
			"spec.namespaces.names[0]", "Too long"),
		Entry("namespace named twice", policyWith(func(s obj) { s["namespaces"] = obj{"names": []any{"shop", "shop"}} }),
			"spec.namespaces.names[1]", "Duplicate value"),
		Entry("load balancers missing", policyWith(func(s obj) { delete(s, "loadBalancers") }),
			"spec.loadBalancers", "Required value"),
		Entry("no load balancer", policyWith(func(s obj) { s["loadBalancers"] = []any{} }),
			"spec.loadBalancers", "should have at least 1 items"),
		Entry("load balancer entry with neither id nor tag", policyWith(func(s obj) { s["loadBalancers"] = []any{obj{}} }),
			"spec.loadBalancers[0]", "give either id or tag"),
		Entry("load balancer entry with both id and tag", policyWith(func(s obj) {
			s["loadBalancers"] = []any{obj{"id": "lb-1a2b3c4d", "tag": obj{"key": "team", "value": "shop"}}}
		}), "spec.loadBalancers[0]", "give either id or tag"),
		Entry("second load balancer entry with neither", policyWith(func(s obj) {
			s["loadBalancers"] = []any{obj{"id": "lb-1a2b3c4d"}, obj{}}
		}), "spec.loadBalancers[1]", "give either id or tag"),
		Entry("load balancer id malformed", policyWith(func(s obj) { s["loadBalancers"] = []any{obj{"id": "lb-123"}} }),
			"spec.loadBalancers[0].id", "should match"),
		Entry("load balancer id given a listener id", policyWith(func(s obj) { s["loadBalancers"] = []any{obj{"id": "lbl-1a2b3c4d"}} }),
			"spec.loadBalancers[0].id", "should match"),
		Entry("tag without a key", policyWith(func(s obj) { s["loadBalancers"] = []any{obj{"tag": obj{"value": "shop"}}} }),
			"spec.loadBalancers[0].tag.key", "Required value"),
		Entry("tag with an empty key", policyWith(func(s obj) { s["loadBalancers"] = []any{obj{"tag": obj{"key": ""}}} }),
			"spec.loadBalancers[0].tag.key", "at least 1 chars long"),
		Entry("listener entry with neither id nor port", policyWith(func(s obj) { s["listeners"] = []any{obj{}} }),
			"spec.listeners[0]", "give either id, or port with an optional protocol"),
		Entry("listener entry with id and port", policyWith(func(s obj) {
			s["listeners"] = []any{obj{"id": "lbl-1a2b3c4d", "port": int64(80)}}
		}), "spec.listeners[0]", "give either id, or port with an optional protocol"),
		Entry("listener entry with id and protocol", policyWith(func(s obj) {
			s["listeners"] = []any{obj{"id": "lbl-1a2b3c4d", "protocol": "TCP"}}
		}), "spec.listeners[0]", "give either id, or port with an optional protocol"),
		Entry("listener entry with a protocol only", policyWith(func(s obj) { s["listeners"] = []any{obj{"protocol": "TCP"}} }),
			"spec.listeners[0]", "give either id, or port with an optional protocol"),
		Entry("listener id malformed", policyWith(func(s obj) { s["listeners"] = []any{obj{"id": "lb-1a2b3c4d"}} }),
			"spec.listeners[0].id", "should match"),
		Entry("listener port 0", policyWith(func(s obj) { s["listeners"] = []any{obj{"port": int64(0)}} }),
			"spec.listeners[0].port", "greater than or equal to 1"),
		Entry("listener port 65536", policyWith(func(s obj) { s["listeners"] = []any{obj{"port": int64(65536)}} }),
			"spec.listeners[0].port", "less than or equal to 65535"),
		Entry("unknown listener protocol", policyWith(func(s obj) { s["listeners"] = []any{obj{"port": int64(80), "protocol": "SCTP"}} }),
			"spec.listeners[0].protocol", "Unsupported value"),
		Entry("unknown exclusive value", policyWith(func(s obj) { s["exclusive"] = "Sometimes" }),
			"spec.exclusive", "Unsupported value"),
		Entry("exclusive in lower case", policyWith(func(s obj) { s["exclusive"] = "forbidden" }),
			"spec.exclusive", "Unsupported value"),
	)

	DescribeTable("accepts each way of naming namespaces, load balancers and listeners",
		func(spec obj) {
			Expect(k8sClient.Create(ctx, policy("good", spec))).To(Succeed())
		},
		Entry("namespaces by selector", policyWith(func(s obj) {
			s["namespaces"] = obj{"selector": obj{"matchLabels": obj{"team": "shop"}}}
		})),
		Entry("every namespace (empty selector)", policyWith(func(s obj) { s["namespaces"] = obj{"selector": obj{}} })),
		Entry("names and a selector", policyWith(func(s obj) {
			s["namespaces"] = obj{"names": []any{"shop"}, "selector": obj{"matchExpressions": []any{
				obj{"key": "team", "operator": "In", "values": []any{"shop", "pay"}},
			}}}
		})),
		Entry("load balancers by tag, with and without a value", policyWith(func(s obj) {
			s["loadBalancers"] = []any{obj{"tag": obj{"key": "owner", "value": "shop"}}, obj{"tag": obj{"key": "shared"}}}
		})),
		Entry("load balancers by id and by tag", policyWith(func(s obj) {
			s["loadBalancers"] = []any{obj{"id": "lb-1a2b3c4d"}, obj{"tag": obj{"key": "owner", "value": "shop"}}}
		})),
		Entry("listeners by id, port, and port and protocol", policyWith(func(s obj) {
			s["listeners"] = []any{obj{"id": "lbl-1a2b3c4d"}, obj{"port": int64(443)}, obj{"port": int64(80), "protocol": "HTTP"}}
		})),
		Entry("exclusive Forbidden and shared", policyWith(func(s obj) {
			s["exclusive"] = "Forbidden"
			s["sharedAcrossNamespaces"] = true
		})),
	)
})

var _ = Describe("config/samples", func() {
	It("are all accepted by the API server", func() {
		ns := newNamespace()
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		files, err := filepath.Glob(filepath.Join(root, "config", "samples", "networking_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		created := 0
		for _, file := range files {
			for _, u := range readObjects(file) {
				if u.GetKind() != "CLBBindingPolicy" { // cluster-scoped
					u.SetNamespace(ns)
				}
				Expect(k8sClient.Create(ctx, u)).To(Succeed(), "sample %s (%s/%s)", filepath.Base(file), u.GetKind(), u.GetName())
				created++
			}
		}
		Expect(created).To(BeNumerically(">=", len(files)))
	})
})

func readObjects(file string) []*unstructured.Unstructured {
	data, err := os.ReadFile(file)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := decoder.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objects
		}
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "decoding %s", file)
		if len(u.Object) > 0 {
			objects = append(objects, u)
		}
	}
}
