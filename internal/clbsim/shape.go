package clbsim

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"strings"
)

// TargetShape is how Describe* present the identity of targets. Real
// DescribeTargets returns Backend.Type as CVM, cvm, ENI, GLOBALROUTE, CCN and
// more (official examples show both "CVM" and "cvm"), and DescribeTargetHealth
// documents TargetId as an instance ID ("ins-…"), even for an ENI IP target.
// The zero value is clbsim's plain shape: Type ENI or CVM, TargetId the IP.
type TargetShape struct {
	// ENIType is Backend.Type of EniIp targets; "" = "ENI". With "CVM" or
	// "cvm" the backend also carries InstanceId, the fake ID of ENITargetID
	// "instance": a pod IP reported as a CVM backend.
	ENIType string
	// CVMType is Backend.Type of InstanceId targets; "" = "CVM".
	CVMType string
	// ENITargetID is DescribeTargetHealth's TargetId of EniIp targets: "" or
	// "ip" for the IP, "instance" for a stable fake "ins-xxxxxxxx" derived
	// from the IP.
	ENITargetID string
}

// ENITargetID values.
const (
	targetIDIP       = "ip"
	targetIDInstance = "instance"
)

// validate reports an ENITargetID SetTargetShape would not understand.
func (ts TargetShape) validate() error {
	switch ts.ENITargetID {
	case "", targetIDIP, targetIDInstance:
		return nil
	}
	return fmt.Errorf("target shape: ENITargetID %q is not one of \"\", %q and %q", ts.ENITargetID, targetIDIP, targetIDInstance)
}

// SetTargetShape sets how Describe* present targets. An ENITargetID other
// than "", "ip" and "instance" counts as "ip".
func (s *Sim) SetTargetShape(ts TargetShape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shape = ts
}

// backendType is Backend.Type of b under the shape.
func (ts TargetShape) backendType(b *backend) string {
	if b.instanceID != "" {
		return cmp.Or(ts.CVMType, "CVM")
	}
	return cmp.Or(ts.ENIType, "ENI")
}

// backendInstanceID is Backend.InstanceId of b under the shape: an EniIp
// target reported as a CVM carries the fake instance ID of its IP.
func (ts TargetShape) backendInstanceID(b *backend) string {
	if b.instanceID == "" && strings.EqualFold(ts.ENIType, "CVM") {
		return fakeInstanceID(b.eniIP)
	}
	return b.instanceID
}

// targetID is DescribeTargetHealth's TargetId of b under the shape.
func (ts TargetShape) targetID(b *backend) string {
	switch {
	case b.instanceID != "":
		return b.instanceID
	case ts.ENITargetID == targetIDInstance:
		return fakeInstanceID(b.eniIP)
	}
	return b.eniIP
}

// fakeInstanceID derives a stable, well-formed instance ID from an IP.
func fakeInstanceID(ip string) string { return fakeID("ins-", ip) }

// fakeID is prefix + 8 lowercase alphanumerics derived from seed.
func fakeID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	b := make([]byte, 8)
	for i := range b {
		b[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return prefix + string(b)
}
