package clb

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbind/clb-binding-controller/internal/targets"
)

// TestBackendIdentity: whatever Type and IDs DescribeTargets reports, a pod target is keyed by
// its IP and a node target by its instance, the way each was registered.
func TestBackendIdentity(t *testing.T) {
	const ip, ins = "10.0.3.7", "ins-node0001"
	pod := targets.Key{ListenerID: "lbl-1", EniIP: ip, Port: 8080}
	node := targets.Key{ListenerID: "lbl-1", InstanceID: ins, Port: 8080}
	tests := []struct {
		name        string
		backend     slimBackend
		byIP, byIns targets.Key
	}{
		{"ENI", slimBackend{Type: "ENI", PrivateIPAddresses: []string{ip}}, pod, pod},
		{"CVM by instance", slimBackend{Type: "CVM", InstanceID: ins, PrivateIPAddresses: []string{"10.0.0.2"}},
			targets.Key{ListenerID: "lbl-1", EniIP: "10.0.0.2", Port: 8080}, node},
		{"pod IP reported as CVM with the node's instance", slimBackend{Type: "CVM", InstanceID: ins, PrivateIPAddresses: []string{ip}}, pod, node},
		{"lowercase cvm", slimBackend{Type: "cvm", InstanceID: ins, PrivateIPAddresses: []string{ip}}, pod, node},
		{"GLOBALROUTE", slimBackend{Type: "GLOBALROUTE", PrivateIPAddresses: []string{ip}}, pod, pod},
		{"CCN", slimBackend{Type: "CCN", PrivateIPAddresses: []string{ip}}, pod, pod},
		{"instance without IP", slimBackend{Type: "CVM", InstanceID: ins}, node, node},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			b := tt.backend
			b.Port = 8080
			got := backendTarget("lbl-1", "", &b)
			g.Expect(got.Keyed(true).Key).To(Equal(tt.byIP), "pod mode")
			g.Expect(got.Keyed(false).Key).To(Equal(tt.byIns), "node mode")
		})
	}
}

// TestHealthIdentity: DescribeTargetHealth's TargetId may be an instance ID for an ENI IP; the
// health of a pod is still found by its IP.
func TestHealthIdentity(t *testing.T) {
	tests := []struct {
		name     string
		in       slimTargetHealth
		ip, inst string
	}{
		{"TargetId is the IP", slimTargetHealth{IP: "10.0.3.7", TargetID: "10.0.3.7"}, "10.0.3.7", ""},
		{"TargetId is the node of an ENI IP", slimTargetHealth{IP: "10.0.3.7", TargetID: "ins-node0001"}, "10.0.3.7", "ins-node0001"},
		{"node target without IP", slimTargetHealth{TargetID: "ins-node0001"}, "", "ins-node0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			tt.in.Port = 80
			h := targetHealth("lbl-1", "", &tt.in)
			g.Expect(h.EniIP).To(Equal(tt.ip))
			g.Expect(h.InstanceID).To(Equal(tt.inst))
		})
	}
}

func TestRefusedAddresses(t *testing.T) {
	refusal := func(code, msg string) error {
		return fmt.Errorf("registering on lb-1: %w", mapError(tcerr.NewTencentCloudSDKError(code, msg, "req-1")))
	}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"two addresses", refusal("InvalidParameterValue", "EniIp 172.20.0.5 is not in VPC vpc-1 (10.0.0.0/16) of load balancer lb-1, "+
			"and the load balancer has no cross-VPC binding (SnatPro) with a route to it; EniIp 172.20.0.6 is not in VPC vpc-1."),
			[]string{"172.20.0.5", "172.20.0.6"}},
		{"IPv6 and a repeat", refusal("InvalidParameterValue", "EniIp fd00::5: no route; EniIp fd00::5: no route"), []string{"fd00::5"}},
		{"no address named", refusal("InvalidParameterValue", "Weight must be within [0, 100]"), nil},
		{"not a parameter refusal", refusal("LimitExceeded", "EniIp 10.0.0.1 would pass the quota"), nil},
		{"not a cloud error", fmt.Errorf("EniIp 10.0.0.1"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(RefusedAddresses(tt.err)).To(Equal(tt.want))
		})
	}
}
