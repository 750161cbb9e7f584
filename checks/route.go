package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
)

// RouteSpec asks the kernel which source address (and so which interface) it would use to reach a
// target, and passes when that source lies in expect_source: the surgical link must go over the closed
// network, not out of the default route. It "connects" a UDP socket, which makes the kernel choose a
// route and a source but sends no packet.
type RouteSpec struct {
	Target string `yaml:"target"`
	Port   int    `yaml:"port"` // default 9 (discard); set it where policy routing looks at ports
	// ExpectSource lists the prefixes the source may lie in, e.g. [198.18.1.0/24]; a bare address means
	// exactly that address. A list, like the profile's scope, because a segment may have two.
	ExpectSource []string `yaml:"expect_source"`
	// ExpectInterface, when set, must be the interface that owns the source address.
	ExpectInterface string `yaml:"expect_interface"`
}

const routeDefaultPort = 9

// Check validates the parameters.
func (s *RouteSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	if s.Port != 0 {
		v.Port("port", s.Port)
	}
	if len(s.ExpectSource) == 0 {
		v.Errorf("expect_source", "missing required field \"expect_source\": list the prefixes of the closed network, e.g. [198.18.1.0/24]")
	}
	prefixes, sameFamily := 0, false
	t, known := v.Targets[s.Target]
	for i, src := range s.ExpectSource {
		p, err := parseSourcePrefix(src)
		if err != nil {
			v.Errorf(fmt.Sprintf("expect_source[%d]", i), "%v", err)
			continue
		}
		prefixes++
		sameFamily = sameFamily || p.Addr().Is4() == t.Address.Unmap().Is4()
	}
	if known && prefixes > 0 && !sameFamily {
		v.Errorf("expect_source", "no prefix of the target's address family: %s can never be reached from a source in %v",
			t.Address, s.ExpectSource)
	}
	if n := s.ExpectInterface; n != "" && (len(n) > 15 || strings.ContainsAny(n, "/ \t\n:")) {
		v.Errorf("expect_interface", "%q is not an interface name (at most 15 characters, no spaces, '/' or ':')", n)
	}
}

// parseSourcePrefix reads "198.18.1.0/24" or a bare address, which stands for itself.
func parseSourcePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("bad prefix %q: write a CIDR such as 198.18.1.0/24 or an address", s)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
	}
	return p.Masked(), nil
}

// Run asks the kernel for the route and judges the source it picked.
func (s *RouteSpec) Run(ctx context.Context, env *Env) Result {
	port := s.Port
	if port == 0 {
		port = routeDefaultPort
	}
	addr, t, err := env.Addr(s.Target, port)
	ev := Evidence{"target": s.Target, "address": t.Address.String(), "expect_source": s.ExpectSource}
	if s.ExpectInterface != "" {
		ev["expect_interface"] = s.ExpectInterface
	}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	var prefixes []netip.Prefix
	for _, src := range s.ExpectSource {
		p, err := parseSourcePrefix(src)
		if err != nil {
			return Errored(ev, "expect_source: %v", err)
		}
		prefixes = append(prefixes, p)
	}

	conn, err := env.Dialer(0).DialContext(ctx, "udp", addr)
	if err != nil {
		outcome, decided := routeOutcome(err)
		ev["outcome"], ev["error"] = outcome, err.Error()
		if decided {
			// The kernel's answer: from this host the target cannot be reached at all, so certainly not
			// over the closed network.
			return Failed(ev, "no usable route to %s (%s): the closed network is not reachable from this host", t.Address, outcome)
		}
		return Errored(ev, "could not decide: route lookup for %s: %v", t.Address, err)
	}
	// A link-local source carries its zone, which no prefix contains; the interface is reported apart.
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().WithZone("")
	conn.Close()
	ev["outcome"], ev["source"] = "routed", src.String()
	ifName, ifPrefix := interfaceOwning(src)
	ev["interface"] = ifName
	if ifPrefix.IsValid() {
		ev["interface_prefix"] = ifPrefix.String()
	}

	via := src.String()
	if ifName != "" {
		via += " on " + ifName
	}
	v := newVerdict()
	var matched netip.Prefix
	for _, p := range prefixes {
		if p.Contains(src) {
			matched = p
			break
		}
	}
	if !matched.IsValid() {
		v.add(Fail, "to reach %s the kernel uses source %s, outside expect_source %v: the traffic would leave by another network (the default route?)",
			t.Address, via, s.ExpectSource)
	} else {
		ev["matched"] = matched.String()
	}
	if s.ExpectInterface != "" && ifName != s.ExpectInterface {
		owner := "no interface owns it"
		if ifName != "" {
			owner = "it belongs to " + ifName
		}
		v.add(Fail, "source %s is not on interface %s (%s)", src, s.ExpectInterface, owner)
	}
	return v.result(ev, fmt.Sprintf("to reach %s the kernel uses source %s, inside %s", t.Address, via, matched))
}

// routeOutcome classifies a failed route lookup (UDP connect or send) and says whether it is the kernel's
// answer about the path: no route (ENETUNREACH), an unreachable route (EHOSTUNREACH), a prohibit route or
// local firewall (EACCES, EPERM), or a blackhole route, which Linux reports as EINVAL.
func routeOutcome(err error) (string, bool) {
	outcome := Classify(err)
	if outcome == "error" && runtime.GOOS == "linux" && errors.Is(err, syscall.EINVAL) {
		outcome = "blackhole"
	}
	switch outcome {
	case "no-route", "unreachable", "prohibited", "blackhole":
		return outcome, true
	}
	return outcome, false
}

// interfaceOwning names the interface that holds addr, or whose prefix holds it (a second loopback
// address such as 127.0.0.2 belongs to lo through 127.0.0.0/8). Exact matches win over prefix matches.
func interfaceOwning(addr netip.Addr) (string, netip.Prefix) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", netip.Prefix{}
	}
	var best string
	var bestPrefix netip.Prefix
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			bits, _ := ipn.Mask.Size()
			if ip.Is4In6() && bits > 32 {
				bits -= 96
			}
			p := netip.PrefixFrom(ip.Unmap(), bits)
			switch {
			case p.Addr() == addr:
				return ifc.Name, p
			case p.Contains(addr) && (!bestPrefix.IsValid() || p.Bits() > bestPrefix.Bits()):
				best, bestPrefix = ifc.Name, p
			}
		}
	}
	return best, bestPrefix
}
