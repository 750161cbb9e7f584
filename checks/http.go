package checks

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPSpec probes an HTTP(S) endpoint as a client without credentials meets it: the status it answers,
// whether it sends HSTS, whether its plain-HTTP port serves content, and — over HTTPS — its TLS, judged by
// the tls probe's own code. A host name in the URL is looked up among the profile's targets (like a hosts
// file), never in DNS; `target` pins the connection to one target whatever the URL's host says.
type HTTPSpec struct {
	URL    string `yaml:"url"`    // http(s)://HOST[:PORT]/path; HOST is an IP, a target's name, or any name with target
	Target string `yaml:"target"` // optional: connect to this target; the URL's host is then only Host and SNI
	Method string `yaml:"method"` // GET (default) or HEAD
	// ExpectStatus lists the acceptable statuses of the (final) response, e.g. [401, 403].
	ExpectStatus  []int `yaml:"expect_status"`
	RequireHSTS   bool  `yaml:"require_hsts"`
	MinHSTSMaxAge int   `yaml:"min_hsts_max_age"` // seconds; implies require_hsts
	// ForbidPlainHTTP demands that plain_port (default 80) on the same address is closed or redirects to https.
	ForbidPlainHTTP bool   `yaml:"forbid_plain_http"`
	PlainPort       int    `yaml:"plain_port"`
	CA              string `yaml:"ca"`          // PEM bundle, relative to the profile; default the system roots
	ServerName      string `yaml:"server_name"` // SNI and the name the chain must verify for; default the URL's host
	// TLS is the policy the endpoint's TLS is judged by (the tls probe's parameters); judged on every https URL.
	TLS             *HTTPTLS `yaml:"tls"`
	FollowRedirects bool     `yaml:"follow_redirects"`
	// Header names one request header whose value is read at run time from HeaderEnv or HeaderFile, so no
	// secret is ever written into a profile.
	Header     string   `yaml:"header"`
	HeaderEnv  string   `yaml:"header_env"`
	HeaderFile string   `yaml:"header_file"`
	MaxBody    int      `yaml:"max_body"` // bytes of the body read at most; default 64 KiB
	Timeout    Duration `yaml:"timeout"`  // per connection, handshake, and response
}

// HTTPTLS is the TLS policy of an https endpoint; each field means what the tls probe's field of the same
// name means. Target, port, server_name, ca and timeout come from the http item itself.
type HTTPTLS struct {
	Policy            string `yaml:"policy"`
	MinVersion        string `yaml:"min_version"`
	MinDaysLeft       int    `yaml:"min_days_left"`
	WarnDaysLeft      int    `yaml:"warn_days_left"`
	RequireClientCert bool   `yaml:"require_client_cert"`
	ForbidWeakCiphers bool   `yaml:"forbid_weak_ciphers"`
}

const (
	defaultMaxBody = 64 << 10
	maxMaxBody     = 16 << 20
	maxRedirects   = 10
)

// Check validates the parameters.
func (s *HTTPSpec) Check(v *Validator) {
	u, err := parseProbeURL(s.URL)
	switch {
	case s.URL == "":
		v.Required("url", false)
	case err != nil:
		v.Errorf("url", "%v", err)
	}
	if s.Target != "" {
		v.Target("target", s.Target)
	} else if u != nil {
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			if err := v.Scope.Check(ip); err != nil {
				v.Errorf("url", "host %s is outside the profile's scope (%s)", ip, v.Scope)
			}
		} else if _, _, err := targetByName(v.Targets, host); err != nil {
			v.Errorf("url", "%v", err)
		}
	}
	v.OneOf("method", s.Method, "GET", "HEAD")
	v.Required("expect_status", len(s.ExpectStatus) > 0)
	for i, st := range s.ExpectStatus {
		if st < 100 || st > 599 {
			v.Errorf(fmt.Sprintf("expect_status[%d]", i), "status %d out of range: HTTP statuses are 100-599", st)
		}
	}
	if s.MinHSTSMaxAge < 0 {
		v.Errorf("min_hsts_max_age", "min_hsts_max_age %d must be zero or more seconds", s.MinHSTSMaxAge)
	}
	if s.PlainPort != 0 {
		v.Port("plain_port", s.PlainPort)
		if !s.ForbidPlainHTTP {
			v.Errorf("plain_port", "plain_port is only used with forbid_plain_http: true")
		}
		if u != nil && s.PlainPort == urlPort(u) {
			v.Errorf("plain_port", "plain_port %d is the URL's own port: name the port plain HTTP would be served on (usually 80)", s.PlainPort)
		}
	}
	if u != nil && u.Scheme == "http" {
		// Over plain HTTP these have nothing to act on; silently ignoring them would read as a pass.
		for _, f := range []struct {
			name string
			set  bool
		}{{"require_hsts", s.RequireHSTS}, {"min_hsts_max_age", s.MinHSTSMaxAge > 0}, {"forbid_plain_http", s.ForbidPlainHTTP},
			{"tls", s.TLS != nil}, {"ca", s.CA != ""}, {"server_name", s.ServerName != ""}, {"header", s.Header != ""}} {
			if f.set {
				v.Errorf(f.name, "%s needs an https:// URL; this one is plain HTTP", f.name)
			}
		}
	}
	if s.ServerName != "" && !validServerName(s.ServerName) {
		v.Errorf("server_name", "bad server_name %q: write a bare host name such as cloud.lab.test, without scheme or port", s.ServerName)
	}
	if s.TLS != nil {
		sub := &Validator{}
		s.tlsSpec("", 443).Check(sub)
		for _, p := range sub.Problems {
			if p.Field != "target" && p.Field != "port" {
				v.Errorf("tls."+p.Field, "%s", p.Msg)
			}
		}
	}
	s.checkHeader(v)
	if s.MaxBody < 0 || s.MaxBody > maxMaxBody {
		v.Errorf("max_body", "max_body %d out of range: 0 (default %d) to %d bytes", s.MaxBody, defaultMaxBody, maxMaxBody)
	}
	if s.Timeout < 0 {
		v.Errorf("timeout", "timeout must be greater than zero")
	}
}

// checkHeader keeps secrets out of profiles: the profile names the header, the value lives elsewhere.
func (s *HTTPSpec) checkHeader(v *Validator) {
	switch {
	case s.Header == "" && (s.HeaderEnv != "" || s.HeaderFile != ""):
		v.Errorf("header", "header_env or header_file is set but header is not: name the request header (e.g. Authorization)")
	case s.Header == "":
	case strings.ContainsAny(s.Header, ": \t"):
		// The message leaves out what follows the name: it may be the very secret that must not be echoed.
		example := "Authorization"
		if f := strings.Fields(strings.SplitN(s.Header, ":", 2)[0]); len(f) > 0 {
			example = f[0]
		}
		v.Errorf("header", "header looks like a name with its value: write only the name (e.g. %s); the value comes from header_env or header_file, never from the profile", example)
	case !validToken(s.Header):
		v.Errorf("header", "bad header name %q", s.Header)
	case strings.EqualFold(s.Header, "Host"):
		v.Errorf("header", "the Host header comes from the URL; set the URL's host (and target) instead")
	case s.HeaderEnv == "" && s.HeaderFile == "":
		v.Errorf("header", "header %q needs its value from header_env (an environment variable) or header_file (a file relative to the profile)", s.Header)
	case s.HeaderEnv != "" && s.HeaderFile != "":
		v.Errorf("header_file", "set header_env or header_file, not both")
	}
}

// tlsSpec is the tls probe's parameter set that judges this endpoint.
func (s *HTTPSpec) tlsSpec(target string, port int) *TLSSpec {
	ts := &TLSSpec{Target: target, Port: port, ServerName: s.ServerName, CA: s.CA, Timeout: s.Timeout}
	if t := s.TLS; t != nil {
		ts.Policy, ts.MinVersion, ts.MinDaysLeft, ts.WarnDaysLeft = t.Policy, t.MinVersion, t.MinDaysLeft, t.WarnDaysLeft
		ts.RequireClientCert, ts.ForbidWeakCiphers = t.RequireClientCert, t.ForbidWeakCiphers
	}
	return ts
}

// Run probes the endpoint: TLS first (https), then one request, then the plain-HTTP port — one connection
// at a time, as the tls probe does, so a fragile appliance never sees the probe twice at once.
func (s *HTTPSpec) Run(ctx context.Context, env *Env) Result {
	ev := Evidence{"url": s.URL, "method": s.method(), "expect_status": s.ExpectStatus}
	if s.Target != "" {
		ev["target"] = s.Target
	}
	p, err := s.prepare(env, ev)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	var tr *Result
	if p.u.Scheme == "https" {
		ts := s.tlsSpec(p.target, p.port)
		r := ts.judge(ctx, env, ts.evidence(p.addr), p.addr, p.sni)
		tr, ev["tls"] = &r, r.Evidence
		p.clientCertDemanded = r.Evidence["client_cert_requested"] == true
		if _, noHandshake := r.Evidence["outcome"]; noHandshake || ctx.Err() != nil {
			// Nothing answered TLS: the request and the plain-HTTP check would only wait out the same silence.
			for _, k := range []string{"outcome", "error"} {
				if v, ok := r.Evidence[k]; ok {
					ev[k] = v
				}
			}
			return Result{Status: r.Status, Summary: r.Summary, Evidence: ev}
		}
	}
	vd := newVerdict()
	s.judgeResponse(ctx, vd, ev, p)
	if s.ForbidPlainHTTP {
		if ctx.Err() != nil {
			vd.add(Error, "plain HTTP not checked: %s", stopReason(ctx))
		} else {
			s.judgePlain(ctx, vd, ev, p)
		}
	}
	if tr != nil { // last in the summary: the TLS judgement's own summary is long
		vd.add(tr.Status, "TLS: %s", tr.Summary)
	}
	return vd.result(ev, strings.Join(vd.notes, "; "))
}

func (s *HTTPSpec) method() string { return cmp.Or(s.Method, "GET") }

// prepare resolves the URL to a scoped address and reads the CA bundle and the header's value — every
// mistake of the profile or the machine is reported before a packet is sent.
func (s *HTTPSpec) prepare(env *Env, ev Evidence) (*httpProbe, error) {
	u, err := parseProbeURL(s.URL)
	if err != nil {
		return nil, err
	}
	p := &httpProbe{env: env, u: u, host: u.Hostname(), port: urlPort(u), follow: s.FollowRedirects,
		timeout: s.Timeout.Or(env.Timeout), maxBody: int64(cmp.Or(s.MaxBody, defaultMaxBody))}
	p.sni = cmp.Or(s.ServerName, p.host)
	switch ip, perr := netip.ParseAddr(p.host); {
	case s.Target != "":
		var t Target
		_, t, err = env.Addr(s.Target, p.port)
		p.target, p.pinned = s.Target, t.Address
	case perr == nil:
		p.pinned, err = ip, env.Scope.Check(ip)
	default:
		if p.target, p.pinned, err = targetByName(env.Targets, p.host); err == nil {
			ev["target"] = p.target
			_, _, err = env.Addr(p.target, p.port)
		}
	}
	if err != nil {
		return nil, err
	}
	p.addr = joinHostPort(p.pinned.String(), p.port)
	ev["address"] = p.addr
	p.dialer = env.Dialer(p.timeout)
	if u.Scheme == "https" {
		if p.roots, err = (&TLSSpec{CA: s.CA}).roots(env); err != nil {
			return nil, err
		}
	}
	if s.Header != "" {
		if p.header, err = s.headerValue(env); err != nil {
			return nil, err
		}
		ev["request_header"] = Evidence{"name": s.Header, "from": cmp.Or(s.HeaderEnv, s.HeaderFile)}
	}
	return p, nil
}

// judgeResponse makes the request and judges its status and HSTS.
func (s *HTTPSpec) judgeResponse(ctx context.Context, vd *verdict, ev Evidence, p *httpProbe) {
	res, err := p.request(ctx, s.method(), s.Header)
	ev["redirects"] = nonNilEvidence(res.redirects)
	if res.finalURL != "" {
		ev["final_url"] = res.finalURL
	}
	if err != nil {
		ev["error"] = err.Error()
		s.judgeRequestError(ctx, vd, ev, p, res, err)
		return
	}
	ev["status"], ev["headers"], ev["body_bytes"] = res.status, res.headers, res.bodyBytes
	if slices.Contains(s.ExpectStatus, res.status) {
		vd.add(Pass, "status %d", res.status)
	} else {
		vd.add(Fail, "status %d, expected %s", res.status, statusList(s.ExpectStatus))
	}
	final, _ := url.Parse(res.finalURL)
	if p.u.Scheme == "https" && final != nil && final.Scheme == "http" {
		vd.add(Fail, "redirected from https to plain HTTP (%s)", res.finalURL)
	}
	h := parseHSTS(res.header)
	ev["hsts"] = h.evidence()
	if s.RequireHSTS || s.MinHSTSMaxAge > 0 {
		h.judge(vd, int64(s.MinHSTSMaxAge))
	}
}

// judgeRequestError tells a decided refusal (a client certificate demanded before any HTTP, a certificate
// that does not verify) from a request that simply could not be made.
func (s *HTTPSpec) judgeRequestError(ctx context.Context, vd *verdict, ev Evidence, p *httpProbe, res httpResponse, err error) {
	var oos *OutOfScopeError
	var nameErr *targetNameError
	switch {
	case ctx.Err() != nil:
		vd.add(Error, "could not decide: %s before the response", stopReason(ctx))
	case errors.As(err, &oos):
		ev["outcome"] = "out-of-scope"
		vd.add(Error, "could not decide: redirect to %s leaves the profile's scope (%s); no packet was sent there — set follow_redirects: false to judge the redirect itself", res.lastURL, oos.Scope)
	case errors.As(err, &nameErr):
		ev["outcome"] = "unknown-host"
		vd.add(Error, "could not decide: redirect to %s: %v", res.lastURL, nameErr)
	case errors.As(err, new(x509.SystemRootsError)):
		ev["outcome"] = "no-roots"
		vd.add(Error, "cannot verify %s: this machine has no system CA roots (name a ca bundle in the profile)", res.lastURL)
	case certError(err) != nil:
		ev["outcome"] = "certificate"
		vd.add(Fail, "certificate of %s does not verify: %v", res.lastURL, certError(err).Err)
	case p.clientCertDemanded && isRemoteAlert(err, "certificate required", "bad certificate", "handshake failure"):
		// The server stops a client without a certificate before any HTTP: a stronger refusal than 401.
		ev["outcome"] = "client-cert-required"
		vd.add(Pass, "refused before HTTP: client certificate required")
		if s.RequireHSTS || s.MinHSTSMaxAge > 0 {
			vd.add(Error, "HSTS not checked: no HTTP response without a client certificate")
		}
	default:
		ev["outcome"] = Classify(err)
		vd.add(Error, "could not decide: request to %s: %s (%v)", res.lastURL, Classify(err), err)
	}
}

// judgePlain asks the plain-HTTP port of the same address for the same path, without the request header
// (a secret must not travel in clear text). Closed passes; a redirect to https on the same host passes;
// anything else the port answers is content served without TLS.
func (s *HTTPSpec) judgePlain(ctx context.Context, vd *verdict, ev Evidence, p *httpProbe) {
	port := cmp.Or(s.PlainPort, 80)
	pe := Evidence{"port": port}
	ev["plain_http"] = pe
	r := p.plain(ctx, port)
	pe["outcome"] = r.outcome
	if r.err != nil {
		pe["error"] = r.err.Error()
	}
	switch r.outcome {
	case "refused", "timeout", "unreachable", "no-route", "prohibited":
		vd.add(Pass, "plain HTTP port %d closed (%s)", port, r.outcome)
		return
	case "closed-by-server":
		vd.add(Pass, "plain HTTP port %d accepts but closes without an HTTP answer", port)
		return
	case "silent":
		vd.add(Warn, "plain HTTP port %d accepts connections but sent no HTTP answer within %s: check that it serves nothing", port, p.timeout)
		return
	case "served":
	default:
		vd.add(Error, "could not decide whether plain HTTP port %d serves content: %v", port, r.err)
		return
	}
	pe["status"] = r.status
	if r.location != "" {
		pe["location"] = r.location
	}
	loc, _ := url.Parse(r.location)
	switch {
	case r.status < 300 || r.status > 399 || loc == nil || r.location == "":
		vd.add(Fail, "plain HTTP port %d serves content without TLS (status %d)", port, r.status)
	case loc.Scheme != "https":
		pe["outcome"] = "redirect"
		vd.add(Fail, "plain HTTP port %d redirects to plain HTTP (%s)", port, r.location)
	case !strings.EqualFold(loc.Hostname(), p.host):
		pe["outcome"] = "redirect"
		vd.add(Warn, "plain HTTP port %d redirects to https on another host (%s)", port, r.location)
	default:
		pe["outcome"] = "redirect"
		vd.add(Pass, "plain HTTP port %d redirects to https", port)
	}
}

// parseProbeURL accepts http(s)://HOST[:PORT]/path and nothing that would smuggle a secret into the profile.
func parseProbeURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New(`missing required field "url"`)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("bad url %q: write it as https://HOST[:PORT]/path", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bad url %q: the scheme must be https:// or http://", raw)
	case u.User != nil:
		return nil, fmt.Errorf("url %q carries credentials (user:password@): a profile must hold no secret; use header with header_env or header_file", u.Redacted())
	case u.Hostname() == "":
		return nil, fmt.Errorf("bad url %q: no host", raw)
	}
	if ps := u.Port(); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad url %q: port %s out of range: ports are 1-65535", raw, ps)
		}
	}
	return u, nil
}

// urlPort is the URL's port, or its scheme's default.
func urlPort(u *url.URL) int {
	if n, err := strconv.Atoi(u.Port()); err == nil {
		return n
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

func statusList(s []int) string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = strconv.Itoa(st)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "one of " + strings.Join(parts, ", ")
}

func nonNilEvidence(s []Evidence) []Evidence {
	if s == nil {
		return []Evidence{}
	}
	return s
}

// httpResponse is what one request learnt; lastURL is the URL being fetched when it stopped.
type httpResponse struct {
	status    int
	header    http.Header
	headers   map[string]string
	bodyBytes int64
	finalURL  string
	lastURL   string
	redirects []Evidence
}

// readBody reads at most limit bytes within timeout: enough to see that the server answered, and never
// more than a reviewer needs (bodies are not recorded; they may hold personal information).
func readBody(ctx context.Context, body io.ReadCloser, limit int64, timeout time.Duration) int64 {
	defer body.Close()
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	t := time.AfterFunc(timeout, func() { body.Close() })
	defer t.Stop()
	n, _ := io.Copy(io.Discard, io.LimitReader(body, limit))
	return n
}
