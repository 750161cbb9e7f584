// Package profiles reads preflight profiles: strict YAML decoding into typed structs, a validation pass
// that reports every problem as file:line:col, and the built-in profiles and advisory data.
package profiles

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/telesurgery-preflight/preflight/checks"
)

// FormatVersion is the `preflight:` version this build reads.
const FormatVersion = 1

// Profile is one facility's checklist for a remote operation.
type Profile struct {
	Preflight int                   `yaml:"preflight"`
	Facility  Facility              `yaml:"facility"`
	Peer      *Peer                 `yaml:"peer"`
	Scope     []CIDR                `yaml:"scope"`
	Vantage   *Vantage              `yaml:"vantage"`
	Targets   map[string]*TargetDef `yaml:"targets"`
	Defaults  Defaults              `yaml:"defaults"`
	Sections  []*Section            `yaml:"sections"`

	Path   string `yaml:"-"` // where it was read from ("builtin:demo-patient" for embedded ones)
	SHA256 string `yaml:"-"` // of the exact bytes read
	Raw    []byte `yaml:"-"` // the exact bytes read
	Dir    string `yaml:"-"` // relative paths in the profile start here
}

// Facility identifies the side this profile is run on.
type Facility struct {
	ID   string `yaml:"id"`
	Role string `yaml:"role"` // patient-side | surgeon-side
	Name Text   `yaml:"name"`
}

// Roles a facility can have.
var Roles = []string{"patient-side", "surgeon-side"}

// Peer is the other facility of the operation, and the link to it: where its `preflight serve` answers,
// the key it is pinned to, where this facility's own `serve` listens, and what the joint verdict demands.
type Peer struct {
	ID       string `yaml:"id"`
	Endpoint string `yaml:"endpoint"` // the peer's `preflight serve`: address:port
	Key      string `yaml:"key"`      // the peer's facility key, "ed25519:BASE64" (its keygen prints it)
	Listen   string `yaml:"listen"`   // where this facility's `preflight serve` listens: address:port
	// Freshness is how recent both sign-offs must be for OPERATION READY (default 60m).
	Freshness checks.Duration `yaml:"freshness"`
	// MaxClockOffset is how far the two facilities' clocks may differ, measured over the link (default 5s).
	MaxClockOffset checks.Duration `yaml:"max_clock_offset"`
	// Profiles, when set, are the sha256 of the profiles the peer may have run (agreed beforehand).
	Profiles []string        `yaml:"profiles"`
	Poll     checks.Duration `yaml:"poll"`    // how often the peer panel asks (default 5s)
	Timeout  checks.Duration `yaml:"timeout"` // one exchange with the peer, connection to last byte (default 10s)
}

// Defaults of the peer link.
const (
	DefaultFreshness      = checks.Duration(60 * 60e9)
	DefaultMaxClockOffset = checks.Duration(5e9)
	DefaultPoll           = checks.Duration(5e9)
	DefaultPeerTimeout    = checks.Duration(10e9)
)

// OtherRole is the role of the facility at the other end of an operation.
func OtherRole(role string) string {
	switch role {
	case "patient-side":
		return "surgeon-side"
	case "surgeon-side":
		return "patient-side"
	}
	return ""
}

// Vantage is where the profile must be run from.
type Vantage struct {
	Network CIDR `yaml:"network"`
}

// TargetDef is a named host the probes may address.
type TargetDef struct {
	Address IP     `yaml:"address"`
	Name    string `yaml:"name"`
	Note    Text   `yaml:"note"`
}

// Defaults apply to every item that does not set its own.
type Defaults struct {
	Timeout     checks.Duration `yaml:"timeout"`      // per network wait
	Deadline    checks.Duration `yaml:"deadline"`     // per item
	RunDeadline checks.Duration `yaml:"run_deadline"` // the whole run
	Concurrency int             `yaml:"concurrency"`  // items probed at once
}

// Default values when a profile leaves them out.
const (
	DefaultTimeout     = checks.Duration(2e9)
	DefaultDeadline    = checks.Duration(60e9)
	DefaultRunDeadline = checks.Duration(300e9)
	DefaultConcurrency = 4
)

// Section groups items under one heading of the guideline.
type Section struct {
	ID    string  `yaml:"id"`
	Title Text    `yaml:"title"`
	Items []*Item `yaml:"items"`
}

// Item is one line of the checklist: a probe, or a manual attestation.
type Item struct {
	ID        string  `yaml:"id"`
	Title     Text    `yaml:"title"`
	Guideline string  `yaml:"guideline"`
	Severity  string  `yaml:"severity"` // blocker (default) | warning
	Probe     *Probe  `yaml:"probe"`
	Manual    *Manual `yaml:"manual"`
	Remedy    Text    `yaml:"remedy"`
	Why       Text    `yaml:"why"`

	Section string `yaml:"-"` // id of the enclosing section
}

// Severities of an item.
const (
	Blocker = "blocker"
	Warning = "warning"
)

// Kind is the probe kind, or "manual".
func (it *Item) Kind() string {
	if it.Probe != nil {
		return it.Probe.Kind
	}
	return "manual"
}

// Manual is an attestation: a question the engineer answers yes / no / not applicable.
type Manual struct {
	Question Text   `yaml:"question"`
	Evidence string `yaml:"evidence"` // required | optional (default)
	Hint     Text   `yaml:"hint"`     // what evidence to record, e.g. "document ID and approver"
}

// Probe is a probe item's kind and its kind-specific parameters.
type Probe struct {
	Kind     string
	Deadline checks.Duration
	Spec     checks.Spec
}

// decodeNode picks the parameter struct from the registry by kind, then decodes the rest into it.
func (p *Probe) decodeNode(d *decoder, n ast.Node, what string) {
	values, ok := d.entries(n, what)
	if !ok {
		return
	}
	d.nodes[p] = n
	var kindNode ast.Node
	for _, mv := range values {
		switch keyText(mv.Key) {
		case "kind":
			kindNode = mv.Value
			d.decode(mv.Value, valueOfPtr(&p.Kind), "kind")
		case "deadline":
			d.decode(mv.Value, valueOfPtr(&p.Deadline), "deadline")
		}
	}
	if kindNode == nil || p.Kind == "" {
		d.errorf(n, "probe: missing required field \"kind\" (one of %s)", strings.Join(checks.Kinds(), ", "))
		return
	}
	prober, ok := checks.Probers[p.Kind]
	if !ok {
		d.errorf(kindNode, "unknown probe kind %q (known kinds: %s)", p.Kind, strings.Join(checks.Kinds(), ", "))
		return
	}
	p.Spec = prober.New()
	d.decodeStruct(n, valueOfPtr(p.Spec), p.Kind+" probe", []string{"kind", "deadline"})
}

// Text is a label in English and Japanese. A plain string is taken as English.
type Text struct {
	En string `yaml:"en"`
	Ja string `yaml:"ja"`
}

func (t *Text) decodeNode(d *decoder, n ast.Node, what string) {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		t.En, _ = d.scalar(n, what, "a string")
		return
	}
	d.decodeStruct(n, valueOfPtr(t), what, nil)
}

// In returns the text in lang ("en" or "ja"), falling back to English.
func (t Text) In(lang string) string {
	if lang == "ja" && t.Ja != "" {
		return t.Ja
	}
	return t.En
}

// IsZero reports whether no language is set.
func (t Text) IsZero() bool { return t.En == "" && t.Ja == "" }

// CIDR is a network prefix, written canonically ("198.18.0.0/15").
type CIDR struct{ netip.Prefix }

// UnmarshalText parses and requires the canonical form, so a typo in the host bits is not silently
// widened or narrowed.
func (c *CIDR) UnmarshalText(b []byte) error {
	p, err := netip.ParsePrefix(string(b))
	if err != nil {
		return fmt.Errorf("bad network %q: write an address and prefix length, e.g. 198.18.0.0/15", b)
	}
	if p.Masked() != p {
		return fmt.Errorf("network %q has host bits set: write %s", b, p.Masked())
	}
	c.Prefix = p
	return nil
}

// IP is a host address.
type IP struct{ netip.Addr }

// UnmarshalText parses an IPv4 or IPv6 address; names are refused (probes never resolve names).
func (a *IP) UnmarshalText(b []byte) error {
	ip, err := netip.ParseAddr(string(b))
	if err != nil {
		return fmt.Errorf("bad address %q: write an IP address (probes never resolve names; put a DNS name under `name:`)", b)
	}
	if ip.Zone() != "" {
		return fmt.Errorf("address %q: zones are not supported", b)
	}
	a.Addr = ip.Unmap()
	return nil
}
