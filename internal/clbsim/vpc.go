package clbsim

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// rfc1918 are the ranges Tencent VPC CIDRs must lie in: a VPC without
// configured CIDRs may hold any of them.
var rfc1918 = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// DefaultVPCCIDRs returns the CIDRs of a VPC without configured ones: the
// RFC 1918 ranges 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16.
func DefaultVPCCIDRs() []netip.Prefix { return slices.Clone(rfc1918) }

// SetVPCCIDRs replaces the CIDRs of a VPC; empty cidrs restore the default
// (DefaultVPCCIDRs).
func (s *Sim) SetVPCCIDRs(vpcID string, cidrs []netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(cidrs) == 0 {
		delete(s.vpcCIDRs, vpcID)
		return
	}
	s.vpcCIDRs[vpcID] = slices.Clone(cidrs)
}

// SetCrossVPC sets the load balancer's cross-VPC binding flag (SnatPro) and
// the CIDRs routed to it from elsewhere, such as a GlobalRouter cluster's
// container CIDR registered in CCN. EniIp targets inside routed are accepted
// only while snatPro is on.
func (s *Sim) SetCrossVPC(lbID string, snatPro bool, routed []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.lbs[lbID]
	if lb == nil {
		return fmt.Errorf("set cross-VPC binding of load balancer %s: not found", lbID)
	}
	lb.snatPro, lb.routed = snatPro, slices.Clone(routed)
	return nil
}

// cidrsOf returns the CIDRs of a VPC. Callers hold s.mu.
func (s *Sim) cidrsOf(vpcID string) []netip.Prefix {
	if cidrs, ok := s.vpcCIDRs[vpcID]; ok {
		return cidrs
	}
	return rfc1918
}

func containsAddr(prefixes []netip.Prefix, addr netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// checkReachable refuses EniIp targets the load balancer cannot reach: outside
// its VPC's CIDRs, and not routed to it with SnatPro on. InstanceId targets
// are not checked. The real message is undocumented; this one names every
// refused address as "EniIp <ip>", which the controller parses, so keep that
// token. Callers hold s.mu.
func (s *Sim) checkReachable(lb *loadBalancer, specs []targetSpec) error {
	cidrs := s.cidrsOf(lb.vpcID)
	var refused []string
	seen := map[string]bool{}
	for _, t := range specs {
		if t.eniIP == "" {
			continue
		}
		addr, err := netip.ParseAddr(t.eniIP)
		if err != nil {
			continue // validate refused it already
		}
		addr = addr.Unmap()
		if seen[t.eniIP] || containsAddr(cidrs, addr) || (lb.snatPro && containsAddr(lb.routed, addr)) {
			continue
		}
		seen[t.eniIP] = true
		// The address as the request spelt it, so a client can match it.
		refused = append(refused, unreachableReason(lb, cidrs, t.eniIP))
	}
	if len(refused) == 0 {
		return nil
	}
	return errf(codeInvalidValue, "%s", strings.Join(refused, "; "))
}

func unreachableReason(lb *loadBalancer, cidrs []netip.Prefix, ip string) string {
	why := "and the load balancer has no cross-VPC binding (SnatPro) with a route to it"
	if lb.snatPro {
		why = fmt.Sprintf("and no CIDR routed to the load balancer's cross-VPC binding (SnatPro) holds it (routed: %s)", joinPrefixes(lb.routed))
	}
	return fmt.Sprintf("EniIp %s is not in VPC %s (%s) of load balancer %s, %s", ip, cmp.Or(lb.vpcID, `""`), joinPrefixes(cidrs), lb.id, why)
}

func joinPrefixes(prefixes []netip.Prefix) string {
	if len(prefixes) == 0 {
		return "none"
	}
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}
