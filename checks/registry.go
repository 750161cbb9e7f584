package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Spec is one probe's parameters as decoded from a profile. Check reports semantic problems by field name;
// Run performs the probe. Run must honour ctx (the runner owns the deadline) and must open every socket
// through env's scoped dialer.
type Spec interface {
	Check(v *Validator)
	Run(ctx context.Context, env *Env) Result
}

// Attestable is a probe whose fact, for some configurations, an operator reads off a device and types in
// (a firmware version from the appliance's admin screen). Prompt says what to enter, or "" when the
// probe measures the fact itself; JudgeInput turns what was typed into a result, by the same rules.
type Attestable interface {
	Prompt() string
	JudgeInput(env *Env, input string) Result
}

// Prober describes one probe kind: New returns a pointer to a fresh, zero parameter struct that the
// profile decoder fills (fields tagged `yaml:"…"`); Doc is the one-line description for the reference.
type Prober struct {
	New    func() Spec
	Doc    string
	Passes string
	// Alone marks a kind whose measurement other work on this host distorts (round-trip times, jitter):
	// the runner gives it the machine to itself, after the other items.
	Alone bool
}

// Probers is the registry of probe kinds — the one list. Profile validation, the README's reference and
// the runner all ask it.
var Probers = map[string]Prober{
	"ports": {New: func() Spec { return new(PortsSpec) }, Doc: "concurrent TCP connect scan of a target",
		Passes: "the set of open TCP ports ⊆ allow"},
	"connect": {New: func() Spec { return new(ConnectSpec) }, Doc: "one TCP connection attempt, classified",
		Passes: "the outcome (open, refused, timeout, unreachable, no-route) matches expect"},
	"tls": {New: func() Spec { return new(TLSSpec) }, Doc: "TLS versions, suites, chain, name, expiry and client-certificate demand",
		Passes: "no version below min is accepted, chain and name verify, certificate lives ≥ min_days_left, client certificate demanded if required, no weak suite negotiable"},
	"dns": {New: func() Spec { return new(DNSSpec) }, Doc: "queries to a resolver over UDP and TCP",
		Passes: "every query meets its expectation (internal names resolve; outside names do not leak)"},
	"icmp": {New: func() Spec { return new(ICMPSpec) }, Doc: "ICMP echo: reachability and link quality (loss, RTT percentiles, jitter)",
		Passes: "the expectation (reachable or unreachable) and every threshold hold", Alone: true},
	"ssh": {New: func() Spec { return new(SSHSpec) }, Doc: "SSH banner and the algorithms the server offers (no login)",
		Passes: "banner and algorithm lists meet policy"},
	"firmware": {New: func() Spec { return new(FirmwareSpec) }, Doc: "VPN appliance firmware version against the offline advisory set",
		Passes: "version ≥ min_version and no advisory in the data set covers it"},
	"ntp": {New: func() Spec { return new(NTPSpec) }, Doc: "clock offset, RTT and stratum from the facility's time server",
		Passes: "offset within max_offset, server synchronised"},
	"route": {New: func() Spec { return new(RouteSpec) }, Doc: "which source address the kernel picks to reach a target (no packet sent)",
		Passes: "the source address lies in expect_source"},
	"http": {New: func() Spec { return new(HTTPSpec) }, Doc: "HTTP(S) endpoint: status without credentials, HSTS, TLS",
		Passes: "status is one of expect_status, HSTS present if required, TLS as the tls probe judges it"},
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(Probers))
	for k := range Probers {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Target is a named host of the profile.
type Target struct {
	Address netip.Addr
	Name    string // DNS name, used for TLS SNI / HTTP Host; never resolved by probes
}

// Env is what a running probe may use: the scope, the targets, where relative paths start, and the
// per-network-wait timeout.
type Env struct {
	Scope   Scope
	Targets map[string]Target
	Dir     string        // directory of the profile; relative paths in params start here
	Timeout time.Duration // default per network wait
	Now     func() time.Time
	// Advisories is the offline advisory set the firmware probe judges versions against.
	Advisories *AdvisorySet
}

// Dialer returns the scoped dialer with the given per-attempt timeout (env's default when zero).
func (e *Env) Dialer(timeout time.Duration) *Dialer {
	if timeout == 0 {
		timeout = e.Timeout
	}
	return &Dialer{Scope: e.Scope, Timeout: timeout}
}

// Path resolves a profile-relative path.
func (e *Env) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.Dir, p)
}

// Clock returns the current time (env.Now when set, for tests).
func (e *Env) Clock() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Addr returns "ip:port" of a named target, or an error naming the problem (never a guess).
func (e *Env) Addr(target string, port int) (string, Target, error) {
	t, ok := e.Targets[target]
	if !ok {
		return "", t, fmt.Errorf("unknown target %q", target)
	}
	if err := e.Scope.Check(t.Address); err != nil {
		return "", t, err
	}
	return net.JoinHostPort(t.Address.String(), strconv.Itoa(port)), t, nil
}

// FieldProblem is one semantic problem in a probe's parameters. Field is a path such as "ports" or
// "queries[1].type", which the profile loader turns into a line and column.
type FieldProblem struct {
	Field string
	Msg   string
}

// Validator collects problems found by Spec.Check.
type Validator struct {
	Targets  map[string]Target
	Scope    Scope
	Problems []FieldProblem
}

// Errorf records a problem with field.
func (v *Validator) Errorf(field, format string, args ...any) {
	v.Problems = append(v.Problems, FieldProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Required records a problem when ok is false.
func (v *Validator) Required(field string, ok bool) {
	if !ok {
		v.Errorf(field, "missing required field %q", field)
	}
}

// Target checks a reference to a named target: it must exist. (The profile checks each target's scope.)
func (v *Validator) Target(field, name string) {
	if name == "" {
		v.Errorf(field, "missing required field %q: name one of the profile's targets", field)
		return
	}
	_, ok := v.Targets[name]
	if !ok {
		known := make([]string, 0, len(v.Targets))
		for k := range v.Targets {
			known = append(known, k)
		}
		slices.Sort(known)
		v.Errorf(field, "unknown target %q (targets: %v)", name, known)
	}
}

// Port checks a single port parameter.
func (v *Validator) Port(field string, port int) {
	if port < 1 || port > 65535 {
		v.Errorf(field, "port %d out of range: ports are 1-65535", port)
	}
}

// OneOf checks an enumerated value (empty is allowed; use Required for presence).
func (v *Validator) OneOf(field, value string, allowed ...string) {
	if value != "" && !slices.Contains(allowed, value) {
		v.Errorf(field, "%q is not one of %v", value, allowed)
	}
}
