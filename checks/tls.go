package checks

import (
	"cmp"
	"context"
	"crypto/fips140"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// TLSSpec probes a TLS endpoint: which protocol versions and weak cipher suites it accepts, whether its
// certificate chain verifies for the expected name and how long it lives, and whether it asks the client
// for a certificate. Every version and weak suite is tried in its own handshake, one after another, so a
// fragile device never sees more than one connection from the probe at a time.
type TLSSpec struct {
	Target     string `yaml:"target"`
	Port       int    `yaml:"port"`
	ServerName string `yaml:"server_name"` // SNI and the name the chain must verify for; default the target's name
	Policy     string `yaml:"policy"`      // "mhlw-6.0": TLS 1.3 required, 1.2 warns, client certificate and strong suites required
	MinVersion string `yaml:"min_version"` // "1.0".."1.3"; default "1.2" (RFC 8996 retired 1.0 and 1.1)
	CA         string `yaml:"ca"`          // PEM bundle, relative to the profile; default the system roots
	// MinDaysLeft fails and WarnDaysLeft warns when the leaf certificate expires in fewer days.
	MinDaysLeft       int      `yaml:"min_days_left"`
	WarnDaysLeft      int      `yaml:"warn_days_left"`
	RequireClientCert bool     `yaml:"require_client_cert"`
	ForbidWeakCiphers bool     `yaml:"forbid_weak_ciphers"` // implied by policy
	Timeout           Duration `yaml:"timeout"`             // per connection and per handshake
}

const policyMHLW = "mhlw-6.0"

var tlsVersions = []struct {
	id   uint16
	name string
}{{tls.VersionTLS10, "1.0"}, {tls.VersionTLS11, "1.1"}, {tls.VersionTLS12, "1.2"}, {tls.VersionTLS13, "1.3"}}

// legacySuites are all TLS 1.0–1.2 suites Go can put in a ClientHello when asked explicitly, so a version
// is not reported as refused merely because the server only speaks old suites. weakSuites are those
// without forward secrecy or without an AEAD (RSA key exchange, CBC, RC4, 3DES) — what the IPA/CRYPTREC
// "high security" profile, which the MHLW guideline points to, leaves out.
var legacySuites, weakSuites = func() (all []uint16, weak []*tls.CipherSuite) {
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS13) {
			continue
		}
		all = append(all, cs.ID)
		if cs.Insecure || strings.Contains(cs.Name, "_CBC_") {
			weak = append(weak, cs)
		}
	}
	return all, weak
}()

// tlsLimits is recorded with every result so a reviewer knows what a "refused" cannot rule out.
const tlsLimits = "not testable with Go's crypto/tls: SSL 2.0/3.0, finite-field DHE, Camellia/ARIA/SEED, " +
	"NULL/EXPORT/anonymous suites, and TLS 1.2 servers that can only sign with SHA-1"

// Check validates the parameters.
func (s *TLSSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	v.Port("port", s.Port)
	if s.Policy != "" && s.Policy != policyMHLW {
		v.Errorf("policy", "unknown policy %q: the only policy is %q (MHLW security guideline 6.0); leave it out to judge by min_version alone", s.Policy, policyMHLW)
	}
	switch id := versionID(s.MinVersion); {
	case s.MinVersion != "" && id == 0:
		v.Errorf("min_version", "bad min_version %q: write \"1.0\", \"1.1\", \"1.2\" or \"1.3\"", s.MinVersion)
	case s.MinVersion != "" && s.Policy == policyMHLW && id < tls.VersionTLS12:
		v.Errorf("min_version", "min_version %s is below what policy %s allows (1.2): raise it or leave it out", s.MinVersion, s.Policy)
	}
	if s.ServerName != "" && !validServerName(s.ServerName) {
		v.Errorf("server_name", "bad server_name %q: write a bare host name such as cloud.lab.test, without scheme or port", s.ServerName)
	}
	if s.MinDaysLeft < 0 {
		v.Errorf("min_days_left", "min_days_left %d must be zero or more days", s.MinDaysLeft)
	}
	if s.WarnDaysLeft < 0 {
		v.Errorf("warn_days_left", "warn_days_left %d must be zero or more days", s.WarnDaysLeft)
	}
	if s.MinDaysLeft > 0 && s.WarnDaysLeft > 0 && s.WarnDaysLeft < s.MinDaysLeft {
		v.Errorf("warn_days_left", "inverted thresholds: warn_days_left %d is below min_days_left %d; the warning must come first (e.g. warn 30, min 14)", s.WarnDaysLeft, s.MinDaysLeft)
	}
	if s.Timeout < 0 {
		v.Errorf("timeout", "timeout must be greater than zero")
	}
}

// Run probes the endpoint.
func (s *TLSSpec) Run(ctx context.Context, env *Env) Result {
	addr, t, err := env.Addr(s.Target, s.Port)
	ev := s.evidence(addr)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	return s.judge(ctx, env, ev, addr, cmp.Or(s.ServerName, t.Name, t.Address.String()))
}

// evidence is what every result records about the request, whether or not a packet was sent.
func (s *TLSSpec) evidence(addr string) Evidence {
	return Evidence{"target": s.Target, "address": addr, "port": s.Port, "policy": s.Policy,
		"min_version": s.minVersion(), "require_client_cert": s.requireClientCert(),
		"forbid_weak_ciphers": s.forbidWeak(), "limits": tlsLimits}
}

// judge probes the TLS endpoint at addr ("ip:port", already checked against the scope) and verifies its
// chain for name, adding to ev. It is the whole judgement of the tls probe, so the http probe can judge
// its HTTPS endpoint with the same code.
func (s *TLSSpec) judge(ctx context.Context, env *Env, ev Evidence, addr, name string) Result {
	ev["server_name"] = name
	// A CA bundle that cannot be read is the profile's fault; say so before any packet is sent.
	roots, err := s.roots(env)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	p := &tlsProbe{dialer: env.Dialer(s.Timeout.D()), addr: addr, name: name}

	// Newest version first: the certificate is judged from the best handshake the server offers.
	versions := map[string]attempt{}
	perVersion := Evidence{}
	for _, v := range slices.Backward(tlsVersions) {
		a := p.try(ctx, v.id, v.id, legacySuites)
		if r, stop := p.stopped(ctx, ev, a); stop {
			return r
		}
		versions[v.name], perVersion[v.name] = a, a.evidence()
	}
	ev["versions"] = perVersion
	var accepted []string
	for _, v := range tlsVersions {
		if versions[v.name].outcome == "accepted" {
			accepted = append(accepted, v.name)
		}
	}
	ev["accepted_versions"] = nonNilStrings(accepted)
	if len(accepted) == 0 {
		return noHandshake(ev, addr, versions)
	}

	var weak, undecided []string
	switch {
	case accepted[0] == "1.3": // weak suites exist only below TLS 1.3
	case fips140.Enabled():
		// FIPS 140-3 mode silently drops unapproved suites from the ClientHello, so a refusal would prove nothing.
		for _, cs := range weakSuites {
			undecided = append(undecided, cs.Name+": not-testable in FIPS 140-3 mode")
		}
	default:
		for _, cs := range weakSuites {
			a := p.try(ctx, tls.VersionTLS10, tls.VersionTLS12, []uint16{cs.ID})
			if r, stop := p.stopped(ctx, ev, a); stop {
				return r
			}
			switch a.outcome {
			case "accepted":
				weak = append(weak, cs.Name)
			case "refused", "no-common-suite":
			default:
				undecided = append(undecided, cs.Name+": "+a.outcome)
			}
		}
	}
	ev["weak_suites_accepted"] = nonNilStrings(weak)
	if len(undecided) > 0 {
		ev["weak_suites_undecided"] = undecided
	}

	vd := newVerdict()
	s.judgeVersions(vd, versions, accepted)
	switch forbid := s.forbidWeak(); {
	case forbid && len(weak) > 0:
		vd.add(Fail, "weak cipher suites accepted: %s", strings.Join(weak, ", "))
	case forbid && len(undecided) > 0:
		vd.add(Error, "could not test weak suites %s", strings.Join(undecided, ", "))
	case forbid:
		vd.add(Pass, "no weak suite")
	case len(weak) > 0:
		vd.add(Pass, "%d weak suite(s) accepted but not forbidden", len(weak))
	}
	s.judgeCertificate(vd, ev, versions, roots, name, env.Clock())
	s.judgeClientCert(vd, ev, versions)
	return vd.result(ev, strings.Join(vd.notes, ", "))
}

// minVersion is the lowest version that may be accepted: min_version, but never below 1.2 under the policy.
func (s *TLSSpec) minVersion() string {
	if s.Policy == policyMHLW && versionID(s.MinVersion) < tls.VersionTLS12 {
		return "1.2"
	}
	return cmp.Or(s.MinVersion, "1.2")
}

// The policy implies both demands, whatever the profile says.
func (s *TLSSpec) requireClientCert() bool { return s.RequireClientCert || s.Policy == policyMHLW }
func (s *TLSSpec) forbidWeak() bool        { return s.ForbidWeakCiphers || s.Policy == policyMHLW }

// judgeVersions applies min_version and the policy to the per-version outcomes.
func (s *TLSSpec) judgeVersions(vd *verdict, versions map[string]attempt, accepted []string) {
	floor := versionID(s.minVersion())
	var old, unsure []string
	for _, v := range tlsVersions {
		switch o := versions[v.name].outcome; {
		case v.id >= floor:
		case o == "accepted":
			old = append(old, v.name)
		case o == "no-common-suite":
			unsure = append(unsure, v.name)
		case o != "refused":
			vd.add(Error, "could not tell whether TLS %s is accepted (%s)", v.name, o)
		}
	}
	if len(old) > 0 {
		vd.add(Fail, "TLS %s accepted (minimum %s)", strings.Join(old, ", "), s.minVersion())
	}
	if len(unsure) > 0 {
		vd.add(Warn, "TLS %s not ruled out: the server refused every suite Go can offer there, not the version (check with a scanner that offers DHE or Camellia)", strings.Join(unsure, ", "))
	}
	if s.Policy == policyMHLW {
		switch o := versions["1.3"].outcome; {
		case o == "refused" || o == "no-common-suite":
			vd.add(Fail, "TLS 1.3 not accepted (%s requires it)", s.Policy)
		case o != "accepted":
			vd.add(Error, "could not tell whether TLS 1.3 is accepted (%s)", o)
		}
		if floor <= tls.VersionTLS12 && versions["1.2"].outcome == "accepted" {
			vd.add(Warn, "TLS 1.2 still accepted (%s expects TLS 1.3 only)", s.Policy)
		}
	}
	if len(accepted) == 1 {
		vd.add(Pass, "TLS %s only", accepted[0])
	} else {
		vd.add(Pass, "TLS %s accepted", strings.Join(accepted, ", "))
	}
}

// judgeCertificate verifies the chain from the newest accepted handshake against the profile's roots,
// for the expected name and at the run's clock, and checks how long the leaf has left.
func (s *TLSSpec) judgeCertificate(vd *verdict, ev Evidence, versions map[string]attempt, roots *x509.CertPool, name string, now time.Time) {
	var chain []*x509.Certificate
	for _, v := range slices.Backward(tlsVersions) {
		if c := versions[v.name].state.PeerCertificates; len(c) > 0 {
			chain = c
			break
		}
	}
	if len(chain) == 0 {
		vd.add(Error, "the server accepted a handshake but presented no certificate")
		return
	}
	leaf := chain[0]
	opts := x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now, Intermediates: x509.NewCertPool()}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, verr := leaf.Verify(opts)
	days := int(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24))
	sans := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	ev["chain_verified"], ev["chain_error"] = verr == nil, errText(verr)
	ev["not_after"], ev["not_before"] = leaf.NotAfter.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339)
	ev["days_left"], ev["subject"], ev["issuer"], ev["sans"] = days, leaf.Subject.String(), leaf.Issuer.String(), nonNilStrings(sans)
	var noRoots x509.SystemRootsError
	switch {
	case errors.As(verr, &noRoots):
		vd.add(Error, "cannot verify the chain: this machine has no system CA roots (name a ca bundle in the profile)")
	case verr != nil:
		vd.add(Fail, "certificate does not verify for %s: %v", name, verr)
	default:
		vd.add(Pass, "chain verified")
	}
	switch {
	case now.After(leaf.NotAfter):
		vd.add(Fail, "certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	case days < s.MinDaysLeft:
		vd.add(Fail, "certificate expires in %d days (minimum %d)", days, s.MinDaysLeft)
	case days < s.WarnDaysLeft:
		vd.add(Warn, "certificate expires in %d days (warn below %d)", days, s.WarnDaysLeft)
	default:
		vd.add(Pass, "%d days left", days)
	}
}

// judgeClientCert looks at every accepted version: a server that demands a certificate over TLS 1.3 but
// not over 1.2 still lets an anonymous client in.
func (s *TLSSpec) judgeClientCert(vd *verdict, ev Evidence, versions map[string]attempt) {
	var asked, missing []string
	for _, v := range tlsVersions {
		switch a := versions[v.name]; {
		case a.outcome != "accepted":
		case a.requested:
			asked = append(asked, v.name)
		// Only a completed handshake proves the server did not ask; one that broke off earlier proves nothing.
		case a.state.HandshakeComplete:
			missing = append(missing, v.name)
		}
	}
	requested := len(asked) > 0 && len(missing) == 0
	ev["client_cert_requested"] = requested
	switch {
	case requested:
		vd.add(Pass, "client certificate requested")
	case !s.requireClientCert():
	case len(missing) > 0:
		vd.add(Fail, "no client certificate requested over TLS %s", strings.Join(missing, ", "))
	default:
		vd.add(Error, "could not tell whether a client certificate is demanded: no handshake got that far")
	}
}

// noHandshake decides a run in which no version was accepted: a server that answered and refused every
// ClientHello is not the TLS endpoint the profile expects (fail); silence means nothing was learnt (error).
func noHandshake(ev Evidence, addr string, versions map[string]attempt) Result {
	var parts []string
	answered := true
	for _, v := range tlsVersions {
		a := versions[v.name]
		parts = append(parts, fmt.Sprintf("%s %s", v.name, a.outcome))
		answered = answered && (a.outcome == "refused" || a.outcome == "no-common-suite")
	}
	if answered {
		return Failed(ev, "%s answered but accepted no TLS version (%s; first: %v)", addr, strings.Join(parts, ", "), versions["1.3"].err)
	}
	ev["outcome"] = versions["1.3"].outcome
	return Errored(ev, "could not decide: no TLS handshake with %s completed (%s)", addr, strings.Join(parts, ", "))
}

// roots loads the profile's CA bundle; nil stands for the system roots.
func (s *TLSSpec) roots(env *Env) (*x509.CertPool, error) {
	if s.CA == "" {
		return nil, nil // x509 then uses the system roots, and says so when there are none
	}
	path := env.Path(s.CA)
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}

// tlsProbe makes the probing handshakes of one run.
type tlsProbe struct {
	dialer *Dialer
	addr   string
	name   string
}

// attempt is the outcome of one probing handshake: accepted (the server answered with a ServerHello for
// what was offered), refused (protocol-version alert, closed connection, or not TLS at all),
// no-common-suite (handshake-failure alert), not-testable (this Go sent no ClientHello), or a class of
// Classify such as timeout.
type attempt struct {
	outcome   string
	err       error
	dialErr   bool
	requested bool // the server sent a CertificateRequest
	state     tls.ConnectionState
}

// try makes one handshake offering versions minV..maxV and the given TLS 1.0–1.2 suites.
func (p *tlsProbe) try(ctx context.Context, minV, maxV uint16, suites []uint16) attempt {
	raw, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return attempt{outcome: Classify(err), err: err, dialErr: true}
	}
	conn := &countingConn{Conn: raw}
	defer conn.Close()
	var a attempt
	cfg := &tls.Config{
		ServerName: p.name,
		// Probing must complete with servers we would not trust; the chain is verified by hand afterwards.
		InsecureSkipVerify: true,
		MinVersion:         minV, MaxVersion: maxV, CipherSuites: suites,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			a.requested = true
			return &tls.Certificate{}, nil // we have no identity; the demand is what we came to see
		},
	}
	hctx, cancel := ctx, context.CancelFunc(func() {})
	if p.dialer.Timeout > 0 {
		hctx, cancel = context.WithTimeout(ctx, p.dialer.Timeout)
	}
	defer cancel()
	tc := tls.Client(conn, cfg)
	a.err = tc.HandshakeContext(hctx)
	a.state = tc.ConnectionState()
	switch {
	// The cipher suite is set only once a ServerHello chose from our offer, even if the handshake then
	// broke off (a TLS 1.2 server refusing our empty client certificate still accepted the version).
	case a.state.CipherSuite != 0:
		a.outcome = "accepted"
	case conn.written == 0:
		a.outcome = "not-testable"
	case isRemoteAlert(a.err, "handshake failure", "insufficient security"):
		a.outcome = "no-common-suite"
	case isRemoteAlert(a.err) || Classify(a.err) == "error": // EOF, reset, or not TLS at all
		a.outcome = "refused"
	default:
		a.outcome = Classify(a.err)
	}
	return a
}

// stopped ends the run when a connection could not be made or the run's context ended: nothing more can
// be learnt, and a half-probed server must not look like a safe one.
func (p *tlsProbe) stopped(ctx context.Context, ev Evidence, a attempt) (Result, bool) {
	switch {
	case ctx.Err() != nil:
		return Errored(ev, "could not decide: %s before every handshake was tried", stopReason(ctx)), true
	case a.dialErr:
		ev["outcome"], ev["error"] = a.outcome, a.err.Error()
		return Errored(ev, "could not decide: cannot connect to %s: %s (%v)", p.addr, a.outcome, a.err), true
	}
	return Result{}, false
}

func (a attempt) evidence() Evidence {
	e := Evidence{"outcome": a.outcome}
	if a.err != nil {
		e["error"] = a.err.Error()
	}
	if a.outcome == "accepted" {
		e["cipher_suite"] = tls.CipherSuiteName(a.state.CipherSuite)
		e["handshake_complete"] = a.state.HandshakeComplete
		e["client_cert_requested"] = a.requested
	}
	return e
}

// countingConn tells "this Go would not offer that" (nothing written) from "the server said no".
type countingConn struct {
	net.Conn
	written int
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written += n
	return n, err
}

// isRemoteAlert reports whether err is a TLS alert from the peer, one of names when any are given.
// crypto/tls does not export the alert type it returns, only its text.
func isRemoteAlert(err error, names ...string) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" {
		return false
	}
	return len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return oe.Err.Error() == "tls: "+n })
}

func versionID(name string) uint16 {
	for _, v := range tlsVersions {
		if v.name == name {
			return v.id
		}
	}
	return 0
}

// validServerName catches the usual slip of writing a URL or host:port where a bare name belongs.
func validServerName(n string) bool {
	_, err := netip.ParseAddr(n)
	return err == nil || !strings.ContainsAny(n, " /:@?#")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
