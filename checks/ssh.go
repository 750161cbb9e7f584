package checks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// SSHSpec reads an SSH server's identification and its SSH_MSG_KEXINIT — the algorithm lists it sends in
// the clear before any key is exchanged — and judges them against policy. It never logs in and never
// starts a key exchange: one connection, our identification, their KEXINIT, a polite DISCONNECT.
type SSHSpec struct {
	Target string `yaml:"target"`
	Port   int    `yaml:"port"`   // default 22
	Banner string `yaml:"banner"` // regular expression the identification line must match
	// Policy "default" (or empty) applies the built-in hardening rules below; "none" judges only the
	// profile's own lists.
	Policy string `yaml:"policy"`
	// ForbidAlgorithms are names or patterns ("*-cbc", "hmac-sha1*") forbidden in addition to the policy,
	// in any of the kex, host-key, cipher and MAC lists.
	ForbidAlgorithms  []string   `yaml:"forbid_algorithms"`
	RequireAlgorithms SSHRequire `yaml:"require_algorithms"`
	Timeout           Duration   `yaml:"timeout"` // for the connection, then for the identification and KEXINIT
}

// SSHRequire lists, per category, names or patterns of which the server must offer at least one — e.g. a
// post-quantum hybrid key exchange. Ciphers and MACs count only when offered in both directions.
type SSHRequire struct {
	Kex     []string `yaml:"kex"`
	HostKey []string `yaml:"host_key"`
	Ciphers []string `yaml:"ciphers"`
	MACs    []string `yaml:"macs"`
}

// sshCategories are the lists the policy judges, in the order summaries name them. Compression and
// languages are recorded but not judged ("none" is the right compression, not a missing cipher).
var sshCategories = []string{"kex", "host_key", "ciphers", "macs"}

// sshRule forbids algorithms matching pattern in one category (all categories when cat is empty).
type sshRule struct{ cat, pattern, why string }

// sshDefaultPolicy is the built-in hardening policy, drawn from ssh-audit's algorithm grades (every entry
// but CBC is a "fail" there, CBC a "warn"), Mozilla's OpenSSH guideline, BSI TR-02102-4 (no HMAC-SHA-1
// since 2020), RFC 9142 (key exchange), RFC 8332 and OpenSSH 8.8 (ssh-rsa) and RFC 8758 (RC4). NIST
// curves and umac-64, which ssh-audit grades lower, are allowed: BSI and NIST recommend the curves, and
// a 64-bit tag is a warning there, not a break. The README's table is this list for humans.
var sshDefaultPolicy = []sshRule{
	{"kex", "*sha1*", "SHA-1 key exchange"},
	{"kex", "diffie-hellman-group1-*", "1024-bit Diffie-Hellman group"},
	{"kex", "rsa1024-*", "1024-bit RSA key exchange"},
	{"host_key", "ssh-rsa", "RSA signatures with SHA-1"},
	{"host_key", "ssh-rsa-cert-*", "RSA signatures with SHA-1"},
	{"host_key", "x509v3-sign-rsa*", "RSA signatures with SHA-1"},
	{"host_key", "x509v3-ssh-rsa", "RSA signatures with SHA-1"},
	{"host_key", "*dss*", "DSA (1024-bit, removed from OpenSSH 10)"},
	{"ciphers", "none", "no encryption"},
	{"ciphers", "arcfour*", "RC4"},
	{"ciphers", "3des*", "3DES (64-bit block)"},
	{"ciphers", "des*", "DES"},
	{"ciphers", "blowfish*", "Blowfish (64-bit block)"},
	{"ciphers", "cast128*", "CAST-128 (64-bit block)"},
	{"ciphers", "*-cbc", "CBC mode"},
	{"ciphers", "*-cbc@*", "CBC mode"},
	{"macs", "none", "no integrity protection"},
	{"macs", "hmac-sha1*", "SHA-1 MAC"},
	{"macs", "hmac-md5*", "MD5 MAC"},
}

const (
	sshPolicyDefault = "default"
	sshPolicyNone    = "none"
	sshStrictKex     = "kex-strict-s-v00@openssh.com" // the server's marker of the Terrapin fix
)

// Check validates the parameters.
func (s *SSHSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	if s.Port != 0 {
		v.Port("port", s.Port)
	}
	if _, err := regexp.Compile(s.Banner); err != nil {
		v.Errorf("banner", "bad banner pattern %q: %v (a Go regular expression, e.g. ^SSH-2\\.0-OpenSSH_9\\.)", s.Banner, err)
	}
	v.OneOf("policy", s.Policy, sshPolicyDefault, sshPolicyNone)
	for i, p := range s.ForbidAlgorithms {
		if msg := sshPatternProblem(p); msg != "" {
			v.Errorf(fmt.Sprintf("forbid_algorithms[%d]", i), "%s", msg)
		}
	}
	rules := s.rules()
	for _, cat := range sshCategories {
		for i, p := range s.RequireAlgorithms.byCategory()[cat] {
			field := fmt.Sprintf("require_algorithms.%s[%d]", cat, i)
			if msg := sshPatternProblem(p); msg != "" {
				v.Errorf(field, "%s", msg)
			} else if r, ok := sshForbidden(rules, cat, p); ok && !strings.ContainsAny(p, "*?[") {
				v.Errorf(field, "%q is required but forbidden (%s): require another algorithm, or change the policy", p, r.why)
			}
		}
	}
	if s.Policy == sshPolicyNone && s.Banner == "" && len(s.ForbidAlgorithms) == 0 && s.RequireAlgorithms.empty() {
		v.Errorf("policy", "policy none with no banner, forbid_algorithms or require_algorithms judges nothing: any SSH server would pass")
	}
	if s.Timeout < 0 {
		v.Errorf("timeout", "timeout must be greater than zero")
	}
}

// sshPatternProblem explains what is wrong with an algorithm name or pattern, or returns "".
func sshPatternProblem(p string) string {
	switch {
	case p == "":
		return "empty algorithm name"
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }):
		return fmt.Sprintf("%q: one algorithm name or pattern per entry, printable ASCII without spaces or commas", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Sprintf("bad pattern %q: use * and ? as wildcards (e.g. \"*-cbc\", \"hmac-sha1*\")", p)
	}
	return ""
}

func (s *SSHSpec) policy() string { return cmp.Or(s.Policy, sshPolicyDefault) }

// rules are the policy's rules followed by the profile's own.
func (s *SSHSpec) rules() []sshRule {
	var rules []sshRule
	if s.policy() == sshPolicyDefault {
		rules = slices.Clone(sshDefaultPolicy)
	}
	for _, p := range s.ForbidAlgorithms {
		rules = append(rules, sshRule{"", p, "forbid_algorithms " + p})
	}
	return rules
}

func (r SSHRequire) byCategory() map[string][]string {
	return map[string][]string{"kex": r.Kex, "host_key": r.HostKey, "ciphers": r.Ciphers, "macs": r.MACs}
}

func (r SSHRequire) empty() bool {
	return len(r.Kex)+len(r.HostKey)+len(r.Ciphers)+len(r.MACs) == 0
}

// sshForbidden returns the first rule forbidding name in category cat.
func sshForbidden(rules []sshRule, cat, name string) (sshRule, bool) {
	for _, r := range rules {
		if (r.cat == "" || r.cat == cat) && sshMatch(r.pattern, name) {
			return r, true
		}
	}
	return sshRule{}, false
}

// sshMatch compares case-insensitively: algorithm names are lower case by convention, profiles may not be.
func sshMatch(pattern, name string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(name))
	return ok
}

// Run connects, exchanges identifications, reads the KEXINIT and judges it.
func (s *SSHSpec) Run(ctx context.Context, env *Env) Result {
	port := cmp.Or(s.Port, 22)
	addr, _, err := env.Addr(s.Target, port)
	ev := Evidence{"target": s.Target, "address": addr, "port": port, "policy": s.policy()}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	banner, err := regexp.Compile(s.Banner)
	if err != nil {
		return Errored(ev, "bad banner pattern %q: %v", s.Banner, err)
	}
	conn, err := env.Dialer(s.Timeout.D()).DialContext(ctx, "tcp", addr)
	if err != nil {
		ev["outcome"], ev["error"] = Classify(err), err.Error()
		return Errored(ev, "could not decide: cannot connect to %s: %s (%v)", addr, Classify(err), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblocks the reads when the runner gives up
	defer stop()
	wait := s.Timeout.Or(env.Timeout)
	if wait > 0 {
		conn.SetDeadline(time.Now().Add(wait))
	}
	ours := "SSH-2.0-preflight_" + sshClientVersion()
	ev["sent"] = ours
	// Ours goes first: RFC 4253 lets both sides send at once, and some servers wait for the client's.
	conn.Write([]byte(ours + "\r\n"))
	id, k, err := readServerHello(conn)
	if k != nil {
		conn.SetWriteDeadline(time.Now().Add(cmp.Or(wait, time.Second)))
		conn.Write(disconnectPacket("preflight probe done"))
	}

	if id.Line == "" {
		return s.noIdent(ctx, ev, addr, wait, err) // parseIdent leaves it empty when it is not SSH
	}
	ev["banner"], ev["protocol"], ev["software"] = id.Line, id.Proto, id.Software
	if id.Comments != "" {
		ev["comments"] = id.Comments
	}
	if id.PreLines > 0 {
		ev["pre_banner"], ev["pre_banner_lines"] = id.Pre, id.PreLines
	}
	vd := newVerdict()
	switch {
	case id.Proto == "2.0":
		vd.add(Pass, "%s", id.Software)
	case id.Proto == "1.99":
		vd.add(Fail, "also accepts the broken SSH protocol 1 (identification SSH-1.99)")
	case strings.HasPrefix(id.Proto, "1."):
		vd.add(Fail, "speaks only the broken SSH protocol 1 (identification SSH-%s)", id.Proto)
	default:
		vd.add(Fail, "unknown SSH protocol version %q", id.Proto)
	}
	if s.Banner != "" {
		if banner.MatchString(id.Line) {
			vd.add(Pass, "banner matches")
		} else {
			vd.add(Fail, "identification %q does not match banner %s", id.Line, s.Banner)
		}
	}
	switch {
	case k != nil:
		s.judgeAlgorithms(vd, ev, k)
	case ctx.Err() != nil:
		vd.add(Error, "could not read the server's algorithms: %s", stopReason(ctx))
	case err != nil:
		ev["error"] = err.Error()
		if c := Classify(err); c == "timeout" {
			ev["outcome"] = c
			vd.add(Error, "could not decide: no KEXINIT within %s of connecting", wait)
		} else {
			vd.add(Error, "could not read the server's algorithms: %v", err)
		}
	}
	return vd.result(ev, strings.Join(vd.notes, ", "))
}

// noIdent decides a run in which no identification line arrived: a peer that answered with something
// else is not an SSH server (fail); silence, a closed connection or a cancelled run decide nothing.
func (s *SSHSpec) noIdent(ctx context.Context, ev Evidence, addr string, wait time.Duration, err error) Result {
	var notSSH *sshNotSSHError
	switch {
	case err == nil: // readServerHello returns an identification or an error; never pass on a bug
		return Errored(ev, "could not decide: no identification from %s", addr)
	case errors.As(err, &notSSH):
		ev["received"] = printable(notSSH.received)
		return Failed(ev, "%s is %v", addr, err)
	case ctx.Err() != nil:
		return Errored(ev, "could not decide: %s before %s sent its identification", stopReason(ctx), addr)
	}
	ev["error"] = err.Error()
	switch c := Classify(err); {
	case c == "timeout":
		ev["outcome"] = c
		return Errored(ev, "could not decide: %s sent no SSH identification within %s", addr, wait)
	case errors.Is(err, io.EOF):
		ev["outcome"] = "closed"
		return Errored(ev, "could not decide: %s closed the connection without an identification (sshd's MaxStartups, a TCP wrapper or a firewall may drop probes)", addr)
	}
	return Errored(ev, "could not decide: %v", err)
}

// judgeAlgorithms records the KEXINIT's lists and applies the policy, the profile's forbid list, the
// Terrapin check and the required algorithms.
func (s *SSHSpec) judgeAlgorithms(vd *verdict, ev Evidence, k *kexInit) {
	offered := map[string][]string{"kex": k.Kex, "host_key": k.HostKey,
		"ciphers": union(k.CiphersC2S, k.CiphersS2C), "macs": union(k.MACsC2S, k.MACsS2C)}
	for key, v := range offered {
		ev[key] = v
	}
	ev["compression"] = union(k.CompC2S, k.CompS2C)
	for key, dirs := range map[string][2][]string{"ciphers": {k.CiphersC2S, k.CiphersS2C},
		"macs": {k.MACsC2S, k.MACsS2C}, "compression": {k.CompC2S, k.CompS2C}} {
		if !slices.Equal(dirs[0], dirs[1]) {
			ev[key+"_by_direction"] = map[string][]string{"client_to_server": dirs[0], "server_to_client": dirs[1]}
		}
	}
	if langs := union(k.LangC2S, k.LangS2C); len(langs) > 0 {
		ev["languages"] = langs
	}

	rules := s.rules()
	forbidden, why := map[string][]string{}, map[string]string{}
	var parts []string
	for _, cat := range sshCategories {
		var reasons []string // in order of first appearance; names sharing one are listed together
		names := map[string][]string{}
		for _, name := range offered[cat] {
			if r, ok := sshForbidden(rules, cat, name); ok {
				forbidden[cat] = append(forbidden[cat], name)
				why[name] = r.why
				if len(names[r.why]) == 0 {
					reasons = append(reasons, r.why)
				}
				names[r.why] = append(names[r.why], name)
			}
		}
		var named []string
		for _, w := range reasons {
			named = append(named, fmt.Sprintf("%s (%s)", strings.Join(names[w], ", "), w))
		}
		if len(named) > 0 {
			parts = append(parts, cat+" "+strings.Join(named, ", "))
		}
	}
	ev["forbidden_offered"], ev["forbidden_why"] = forbidden, why
	if len(parts) > 0 {
		vd.add(Fail, "forbidden algorithms offered: %s", strings.Join(parts, "; "))
	} else {
		vd.add(Pass, "none of %d kex, %d host-key, %d cipher and %d MAC algorithms forbidden",
			len(k.Kex), len(k.HostKey), len(offered["ciphers"]), len(offered["macs"]))
	}

	// Terrapin (CVE-2023-48795) needs ChaCha20-Poly1305, or CBC with an encrypt-then-MAC MAC, and a
	// server without strict key exchange; it lets a man in the middle drop the first encrypted messages.
	strict := slices.Contains(k.Kex, sshStrictKex)
	var prone []string
	if slices.Contains(offered["ciphers"], "chacha20-poly1305@openssh.com") {
		prone = append(prone, "chacha20-poly1305@openssh.com")
	}
	if slices.ContainsFunc(offered["ciphers"], func(c string) bool { return sshMatch("*-cbc*", c) }) &&
		slices.ContainsFunc(offered["macs"], func(m string) bool { return sshMatch("*-etm@openssh.com", m) }) {
		prone = append(prone, "CBC with encrypt-then-MAC")
	}
	ev["strict_kex"], ev["terrapin_vulnerable"] = strict, !strict && len(prone) > 0
	if !strict && len(prone) > 0 && s.policy() == sshPolicyDefault {
		vd.add(Fail, "open to the Terrapin attack (CVE-2023-48795): offers %s without strict key exchange", strings.Join(prone, " and "))
	}

	missing := map[string][]string{}
	for _, cat := range sshCategories {
		want := s.RequireAlgorithms.byCategory()[cat]
		if len(want) == 0 {
			continue
		}
		have := offered[cat]
		switch cat {
		case "ciphers":
			have = intersect(k.CiphersC2S, k.CiphersS2C)
		case "macs":
			have = intersect(k.MACsC2S, k.MACsS2C)
		}
		if slices.ContainsFunc(have, func(n string) bool {
			return slices.ContainsFunc(want, func(p string) bool { return sshMatch(p, n) })
		}) {
			vd.add(Pass, "offers a required %s algorithm", cat)
			continue
		}
		missing[cat] = want
		vd.add(Fail, "offers none of the required %s algorithms (%s)", cat, strings.Join(want, ", "))
	}
	ev["missing_required"] = missing
}

// union keeps a's order and appends what only b has.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return nonNilStrings(out)
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// sshClientVersion is this build's version in the form an SSH softwareversion allows (printable ASCII,
// no spaces or minus signs), so server logs name the tool that connected.
var sshClientVersion = sync.OnceValue(func() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return strings.Map(func(r rune) rune {
		if r > ' ' && r <= '~' && r != '-' {
			return r
		}
		return '.'
	}, v)
})
