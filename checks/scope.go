package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Scope is the set of networks a profile allows probes to touch. The zero Scope allows nothing.
type Scope struct {
	prefixes []netip.Prefix
}

// NewScope builds a scope from prefixes; IPv4-mapped IPv6 prefixes are normalised to IPv4.
func NewScope(prefixes ...netip.Prefix) Scope {
	s := Scope{}
	for _, p := range prefixes {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		s.prefixes = append(s.prefixes, p.Masked())
	}
	return s
}

// Contains reports whether addr lies in the scope. IPv4-mapped IPv6 addresses are judged as the IPv4
// address they carry, so ::ffff:192.0.2.1 cannot slip past a scope of IPv4 prefixes.
func (s Scope) Contains(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range s.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// String lists the prefixes, for messages.
func (s Scope) String() string {
	parts := make([]string, len(s.prefixes))
	for i, p := range s.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// ErrOutOfScope is returned (wrapped) when a probe tries to reach an address outside the profile's scope.
var ErrOutOfScope = errors.New("outside the profile's scope")

// OutOfScopeError names the refused address.
type OutOfScopeError struct {
	Addr  string
	Scope Scope
}

func (e *OutOfScopeError) Error() string {
	return fmt.Sprintf("%s is %v (%s); no packet was sent — add it to scope only if this facility owns it",
		e.Addr, ErrOutOfScope, e.Scope)
}

// Unwrap lets errors.Is match ErrOutOfScope.
func (e *OutOfScopeError) Unwrap() error { return ErrOutOfScope }

// Check returns an *OutOfScopeError when addr is not in scope.
func (s Scope) Check(addr netip.Addr) error {
	if !s.Contains(addr) {
		return &OutOfScopeError{Addr: addr.String(), Scope: s}
	}
	return nil
}

// Dialer makes every connection a probe opens. It refuses host names (probes address targets by IP; names
// are only for TLS SNI and HTTP Host) and checks the scope in net.Dialer.Control on the address the socket
// is about to connect to, so no resolution, IPv4-mapped form or redirect can reach outside the scope.
type Dialer struct {
	Scope   Scope
	Timeout time.Duration // per connection attempt; the context may be shorter
}

// Control is the socket hook that enforces the scope; it runs after the socket exists and before connect.
func (d *Dialer) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("scope check: cannot parse %q: %w", address, err)
	}
	return d.Scope.Check(ap.Addr())
}

// NetDialer returns a net.Dialer carrying the scope check, for libraries that accept one (miekg/dns).
func (d *Dialer) NetDialer() *net.Dialer {
	return &net.Dialer{Timeout: d.Timeout, Control: d.Control}
}

// DialContext connects to address ("ip:port") on network ("tcp", "udp", …) if it lies in scope.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: probes connect to IP addresses only, not host names (resolve %q in the profile's targets)", address, host)
	}
	if err := d.Scope.Check(ip); err != nil {
		return nil, err
	}
	return d.NetDialer().DialContext(ctx, network, address)
}

// Classify names the outcome of a failed TCP connect the way DESIGN.md's connect evidence does.
func Classify(err error) string {
	switch {
	case err == nil:
		return "open"
	case errors.Is(err, ErrOutOfScope):
		return "out-of-scope"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ENETUNREACH):
		return "no-route"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return "unreachable"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "prohibited"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
