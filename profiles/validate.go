package profiles

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
)

// Guidelines lists the items of guideline section V that checklist items may cite.
var Guidelines = []string{
	"V(0)",
	"V(1)-1", "V(1)-2", "V(1)-3",
	"V(2)-1", "V(2)-2", "V(2)-3", "V(2)-4", "V(2)-5", "V(2)-6",
	"V(3)-1", "V(3)-2", "V(3)-3", "V(3)-4",
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validate checks what decoding cannot: required fields, references, ranges and the scope.
func validate(d *decoder, p *Profile) {
	v := &checker{d: d}
	switch {
	case p.Preflight == 0:
		v.add(p, "preflight", "missing required field \"preflight\" (the format version): add `preflight: %d` at the top", FormatVersion)
	case p.Preflight != FormatVersion:
		v.add(p, "preflight", "unsupported format version %d: this preflight reads version %d (upgrade preflight, or rewrite the profile for version %d)", p.Preflight, FormatVersion, FormatVersion)
	}
	v.facility(p)
	scope, scopeOK := v.scope(p)
	targets := v.targets(p, scope, scopeOK)
	v.defaults(p)
	if p.Peer != nil {
		v.peer(p)
	}
	if len(p.Sections) == 0 {
		v.add(p, "sections", "missing required field \"sections\": a profile needs at least one section with items")
	}
	sections, items := map[string]bool{}, map[string]bool{}
	for _, s := range p.Sections {
		if s == nil {
			continue
		}
		v.id(s, "id", s.ID, "section", sections)
		v.text(s, "title", s.Title)
		if len(s.Items) == 0 {
			v.add(s, "items", "section %q has no items", s.ID)
		}
		for _, it := range s.Items {
			if it != nil {
				it.Section = s.ID
				v.item(it, items, targets, scope)
			}
		}
	}
}

type checker struct{ d *decoder }

// add reports a problem at field of the struct (or map, or slice) that ptr points to.
func (c *checker) add(ptr any, field, format string, args ...any) {
	pos := c.d.at(ptr, field)
	if c.d.bad[pos] {
		return // the decoder's message about this value says more
	}
	c.d.errs.Add(pos, format, args...)
}

// addKey reports a problem at key itself in the mapping ptr was decoded from.
func (c *checker) addKey(ptr any, key, format string, args ...any) {
	pos := c.d.atKey(ptr, key)
	if c.d.bad[pos] {
		return
	}
	c.d.errs.Add(pos, format, args...)
}

func (c *checker) id(ptr any, field, id, what string, seen map[string]bool) {
	switch {
	case id == "":
		c.add(ptr, field, "%s: missing required field %q", what, field)
	case !idPattern.MatchString(id):
		c.add(ptr, field, "%s id %q: use lower-case letters, digits and dashes (e.g. robot-ports)", what, id)
	case seen[id]:
		c.add(ptr, field, "duplicate %s id %q: ids must be unique in a profile", what, id)
	}
	seen[id] = true
}

func (c *checker) text(ptr any, field string, t Text) {
	if t.En == "" {
		c.add(ptr, field, "missing required field %q (with at least an English text: {en: \"…\", ja: \"…\"})", field)
	}
}

func (c *checker) facility(p *Profile) {
	f := &p.Facility
	if _, ok := c.d.nodes[f]; !ok {
		c.add(p, "facility", "missing required field \"facility\": say which side this is, e.g. {id: patient-site, role: patient-side, name: …}")
		return
	}
	c.id(f, "id", f.ID, "facility", map[string]bool{})
	switch {
	case f.Role == "":
		c.add(f, "role", "missing required field \"role\" (one of %s)", strings.Join(Roles, ", "))
	case !slices.Contains(Roles, f.Role):
		c.add(f, "role", "unknown role %q (one of %s)", f.Role, strings.Join(Roles, ", "))
	}
	c.text(f, "name", f.Name)
}

// scope returns the profile's scope, and whether every entry of it was usable: when one was not, what the
// scope should be is unknown, and judging targets against the rest would only add misleading errors.
func (c *checker) scope(p *Profile) (checks.Scope, bool) {
	ok := true
	if len(p.Scope) == 0 {
		c.add(p, "scope", "missing required field \"scope\": list the networks probes may touch, e.g. [\"198.18.0.0/15\"]")
		ok = false
	}
	var prefixes []netip.Prefix
	for i, s := range p.Scope {
		pr := s.Prefix
		if !pr.IsValid() {
			ok = false
			continue // already reported by the decoder
		}
		if (pr.Addr().Is4() && pr.Bits() < 8) || (pr.Addr().Is6() && pr.Bits() < 16) {
			c.add(&p.Scope, fmt.Sprintf("[%d]", i), "scope %s is over-broad: probes could reach the whole internet; list only this facility's networks", pr)
			ok = false
			continue
		}
		prefixes = append(prefixes, pr)
	}
	return checks.NewScope(prefixes...), ok
}

// targets checks each target and returns them all by name, broken ones included, so that a probe naming a
// target with a bad address is not reported a second time as naming an unknown target.
func (c *checker) targets(p *Profile, scope checks.Scope, scopeOK bool) map[string]checks.Target {
	out := map[string]checks.Target{}
	for name, t := range p.Targets {
		if !idPattern.MatchString(name) {
			c.addKey(&p.Targets, name, "target name %q: use lower-case letters, digits and dashes", name)
		}
		if t == nil {
			c.addKey(&p.Targets, name, "target %q: missing required field \"address\"", name)
			out[name] = checks.Target{}
			continue
		}
		out[name] = checks.Target{Address: t.Address.Addr, Name: t.Name}
		n, decoded := c.d.nodes[t]
		switch {
		case !decoded:
			// Not a mapping; the decoder said so.
		case !t.Address.IsValid() && entry(n, "address") == nil:
			c.addKey(&p.Targets, name, "target %q: missing required field \"address\"", name)
		case !t.Address.IsValid():
			// Empty (reported here) or unreadable (the decoder's message stands at the same place).
			c.add(t, "address", "target %q: missing required field \"address\"", name)
		case scopeOK && !scope.Contains(t.Address.Addr):
			c.add(t, "address", "target %q address %s is outside scope (%s): fix the address, or add its network to scope if this facility owns it", name, t.Address, scope)
		}
	}
	return out
}

func (c *checker) defaults(p *Profile) {
	df := &p.Defaults
	if df.Concurrency < 0 || df.Concurrency > 64 {
		c.add(df, "concurrency", "concurrency %d must be between 1 and 64", df.Concurrency)
	}
	timeout, deadline, run := df.Timeout.Or(DefaultTimeout.D()), df.Deadline.Or(DefaultDeadline.D()), df.RunDeadline.Or(DefaultRunDeadline.D())
	if deadline < timeout {
		c.add(df, "deadline", "inverted thresholds: item deadline %s is shorter than the per-wait timeout %s", deadline, timeout)
	}
	if run < deadline {
		c.add(df, "run_deadline", "inverted thresholds: run deadline %s is shorter than the item deadline %s", run, deadline)
	}
}

func (c *checker) peer(p *Profile) {
	pe := p.Peer
	switch {
	case pe.ID == "":
		c.add(pe, "id", "peer: missing required field \"id\": the other facility's id, as its profile names it")
	case !idPattern.MatchString(pe.ID):
		c.add(pe, "id", "peer id %q: use lower-case letters, digits and dashes", pe.ID)
	case pe.ID == p.Facility.ID:
		c.add(pe, "id", "peer id %q is this facility's own id: name the other facility", pe.ID)
	}
	c.hostPort(pe, "endpoint", pe.Endpoint, "peer endpoint", "198.18.2.10:7443")
	c.hostPort(pe, "listen", pe.Listen, "listen address", "198.18.1.5:7443")
	if pe.Key != "" {
		b64, ok := strings.CutPrefix(pe.Key, "ed25519:")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(raw) != 32 {
			c.add(pe, "key", "peer key: want \"ed25519:\" and the base64 of a 32-byte public key (from the peer's `preflight keygen --facility`)")
		}
	}
	c.between(pe, "freshness", pe.Freshness, 60e9, 24*3600e9)
	c.between(pe, "max_clock_offset", pe.MaxClockOffset, 1e6, 600e9)
	c.between(pe, "poll", pe.Poll, 1e9, 300e9)
	c.between(pe, "timeout", pe.Timeout, 1e9, 120e9)
	if f, o := pe.Freshness.Or(DefaultFreshness.D()), pe.MaxClockOffset.Or(DefaultMaxClockOffset.D()); o >= f {
		c.add(pe, "max_clock_offset", "inverted thresholds: max_clock_offset %s is not shorter than freshness %s", o, f)
	}
	for i, h := range pe.Profiles {
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			c.add(&pe.Profiles, fmt.Sprintf("[%d]", i), "profile hash %q: write the 64 lower-case hex digits of a sha256 (preflight validate prints it)", h)
		}
	}
}

// hostPort checks an address:port the peer link dials or listens on: an IP address (never a name, which
// would have to be resolved) with a port, and never the unspecified address (all interfaces).
func (c *checker) hostPort(ptr any, field, v, what, example string) {
	if v == "" {
		return
	}
	ap, err := netip.ParseAddrPort(v)
	switch {
	case err != nil:
		c.add(ptr, field, "%s %q: write address:port, e.g. %s (an IP address: names are never resolved)", what, v, example)
	case ap.Port() == 0:
		c.add(ptr, field, "%s %q: port 0 — give the port", what, v)
	case ap.Addr().IsUnspecified():
		c.add(ptr, field, "%s %q is every interface: give the address of the closed-network interface", what, v)
	}
}

func (c *checker) between(ptr any, field string, d checks.Duration, lo, hi time.Duration) {
	if d != 0 && (d.D() < lo || d.D() > hi) {
		c.add(ptr, field, "%s %s must be between %s and %s", field, d.D(), lo, hi)
	}
}

func (c *checker) item(it *Item, seen map[string]bool, targets map[string]checks.Target, scope checks.Scope) {
	c.id(it, "id", it.ID, "item", seen)
	c.text(it, "title", it.Title)
	switch {
	case it.Guideline == "":
		c.add(it, "guideline", "item %q: missing required field \"guideline\" (e.g. V(1)-1)", it.ID)
	case !slices.Contains(Guidelines, it.Guideline):
		c.add(it, "guideline", "unknown guideline reference %q (one of %s)", it.Guideline, strings.Join(Guidelines, " "))
	}
	switch it.Severity {
	case "":
		it.Severity = Blocker
	case Blocker, Warning:
	default:
		c.add(it, "severity", "unknown severity %q (blocker or warning)", it.Severity)
	}
	switch {
	case it.Probe != nil && it.Manual != nil:
		c.addKey(it, "manual", "item %q has both probe and manual: split it into two items", it.ID)
	case it.Probe == nil && it.Manual == nil:
		c.add(it, "id", "item %q needs either a probe or a manual question", it.ID)
	case it.Manual != nil:
		m := it.Manual
		if m.Question.En == "" {
			c.add(m, "question", "manual item %q without a question: add question: {en: \"…\", ja: \"…\"}", it.ID)
		}
		c.oneOf(m, "evidence", m.Evidence, "required", "optional")
	case it.Probe != nil && it.Probe.Spec != nil:
		if it.Remedy.En == "" {
			c.add(it, "remedy", "probe item %q: missing required field \"remedy\": say what to do when it fails", it.ID)
		}
		val := &checks.Validator{Targets: targets, Scope: scope}
		it.Probe.Spec.Check(val)
		for _, fp := range val.Problems {
			c.add(it.Probe.Spec, fp.Field, "%s", fp.Msg)
		}
	}
}

func (c *checker) oneOf(ptr any, field, value string, allowed ...string) {
	if value != "" && !slices.Contains(allowed, value) {
		c.add(ptr, field, "%q is not one of %s", value, strings.Join(allowed, ", "))
	}
}
