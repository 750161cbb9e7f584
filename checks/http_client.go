package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// httpProbe is one run of the http probe: where the URL's host connects, and how.
type httpProbe struct {
	env     *Env
	u       *url.URL
	target  string     // the target the URL's host resolved to, if any
	host    string     // the URL's host: Host header, and SNI unless server_name says otherwise
	pinned  netip.Addr // where the URL's host connects (its target's address, or the IP it is)
	port    int
	addr    string // pinned:port
	sni     string
	dialer  *Dialer
	roots   *x509.CertPool // nil: the system roots
	header  string         // the request header's value, read at run time
	follow  bool
	timeout time.Duration
	maxBody int64
	// clientCertDemanded is the TLS judgement's finding; it explains a request refused at the TLS layer.
	clientCertDemanded bool
}

const userAgent = "preflight-http-probe"

// reportedHeaders are the response headers recorded as evidence; bodies and cookies never are.
var reportedHeaders = []string{"Strict-Transport-Security", "Location", "Server", "WWW-Authenticate", "Content-Type"}

// transport is a fresh HTTP/1.1 transport whose every socket comes from dial (the scoped dialer): a
// redirect to an address outside the scope fails at the socket, before a packet leaves.
func (p *httpProbe) transport(dial func(context.Context, string, string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:       nil, // never a proxy from the environment: the probe judges the endpoint itself
		DialContext: dial, DialTLSContext: p.dialTLS,
		DisableKeepAlives: true, DisableCompression: true,
		ResponseHeaderTimeout: p.timeout, MaxResponseHeaderBytes: 64 << 10,
	}
}

// request fetches the URL once (following redirects only when asked), with the request header if any.
func (p *httpProbe) request(ctx context.Context, method, header string) (httpResponse, error) {
	res := httpResponse{lastURL: p.u.String()}
	tr := p.transport(p.dial)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !p.follow {
			return http.ErrUseLastResponse
		}
		res.redirects = append(res.redirects, Evidence{"status": req.Response.StatusCode, "location": req.URL.String()})
		res.lastURL = req.URL.String()
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		// Go keeps custom headers across hosts; a secret goes only to the URL's own host, and only over TLS.
		if header != "" && (req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Hostname(), p.host)) {
			req.Header.Del(header)
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, method, p.u.String(), nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("User-Agent", userAgent)
	if header != "" {
		req.Header.Set(header, p.header)
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, err
	}
	res.status, res.header, res.finalURL = resp.StatusCode, resp.Header, resp.Request.URL.String()
	res.headers = map[string]string{}
	for _, k := range reportedHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			res.headers[k] = strings.Join(v, ", ")
		}
	}
	res.bodyBytes = readBody(ctx, resp.Body, p.maxBody, p.timeout)
	return res, nil
}

// plainResult is what the plain-HTTP port did: outcome is a Classify class when no connection was made,
// else closed-by-server, not-http, silent, served, or error.
type plainResult struct {
	outcome  string
	status   int
	location string // absolute
	err      error
}

// plain sends GET for the URL's path to port over plain HTTP on the same address.
func (p *httpProbe) plain(ctx context.Context, port int) plainResult {
	// The transport dials on its own goroutine, which may outlive a cancelled request.
	var connected atomic.Bool
	tr := p.transport(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := p.dial(ctx, network, addr)
		connected.Store(err == nil)
		return c, err
	})
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pu := *p.u
	pu.Scheme, pu.Fragment, pu.Host = "http", "", net.JoinHostPort(p.host, strconv.Itoa(port))
	if port == 80 {
		pu.Host = strings.TrimSuffix(pu.Host, ":80") // Host: name, as a browser would send it
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pu.String(), nil)
	if err != nil {
		return plainResult{outcome: "error", err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return plainResult{outcome: "error", err: err}
	case !connected.Load():
		return plainResult{outcome: Classify(err), err: err}
	case isTimeout(err):
		return plainResult{outcome: "silent", err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return plainResult{outcome: "closed-by-server", err: err}
	default:
		return plainResult{outcome: "not-http", err: err}
	}
	resp.Body.Close()
	r := plainResult{outcome: "served", status: resp.StatusCode}
	if loc, err := resp.Location(); err == nil {
		r.location = loc.String()
	}
	return r
}

// dial connects to addr ("host:port" from a URL): the host is the URL's own (pinned), an IP, or a target's
// name — never looked up in DNS — and the scoped dialer refuses anything outside the scope.
func (p *httpProbe) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := p.pinned
	if !strings.EqualFold(host, p.host) {
		if ip, err = netip.ParseAddr(host); err != nil {
			if _, ip, err = targetByName(p.env.Targets, host); err != nil {
				return nil, err
			}
		}
	}
	return p.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// dialTLS makes the request's TLS connection, verifying the chain against the profile's roots: for the
// URL's host under server_name, for a redirect's host under its own name.
func (p *httpProbe) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := p.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	name := host
	if strings.EqualFold(host, p.host) {
		name = p.sni
	}
	tc := tls.Client(raw, &tls.Config{ServerName: name, RootCAs: p.roots, NextProtos: []string{"http/1.1"}})
	hctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// headerValue reads the request header's value from the environment or a file, at run time.
func (s *HTTPSpec) headerValue(env *Env) (string, error) {
	v, _, err := headerSecret(env, s.Header, s.HeaderEnv, s.HeaderFile)
	return v, err
}

// certError returns the chain-verification failure inside err, if that is what err is.
func certError(err error) *tls.CertificateVerificationError {
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// hstsPolicy is a Strict-Transport-Security header as a browser reads it (RFC 6797 §6.1): only the first
// header counts, max-age is required, and a directive given twice makes the whole header invalid.
type hstsPolicy struct {
	present           bool
	maxAge            int64
	includeSubdomains bool
	problem           string // why a browser would ignore the header
}

func parseHSTS(h http.Header) hstsPolicy {
	vals := h.Values("Strict-Transport-Security")
	if len(vals) == 0 {
		return hstsPolicy{}
	}
	p := hstsPolicy{present: true}
	seen := map[string]bool{}
	for d := range strings.SplitSeq(vals[0], ";") {
		name, val, _ := strings.Cut(d, "=")
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		if name == "" {
			continue
		}
		if seen[name] {
			p.problem = fmt.Sprintf("directive %s given twice", name)
			return p
		}
		seen[name] = true
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		switch name {
		case "max-age":
			if val == "" || strings.Trim(val, "0123456789") != "" {
				p.problem = fmt.Sprintf("max-age %q is not a number of seconds", val)
				return p
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				n = 1<<63 - 1 // all digits, only too large: longer than anyone asks for
			}
			p.maxAge = n
		case "includesubdomains":
			p.includeSubdomains = true
		}
	}
	if !seen["max-age"] {
		p.problem = "no max-age directive"
	}
	return p
}

func (p hstsPolicy) evidence() Evidence {
	e := Evidence{"present": p.present, "max_age": p.maxAge, "include_subdomains": p.includeSubdomains}
	if p.problem != "" {
		e["problem"] = p.problem
	}
	return e
}

// judge applies require_hsts and min_hsts_max_age.
func (p hstsPolicy) judge(vd *verdict, minAge int64) {
	switch {
	case !p.present:
		vd.add(Fail, "no Strict-Transport-Security header (HSTS required)")
	case p.problem != "":
		vd.add(Fail, "Strict-Transport-Security header invalid, browsers ignore it: %s", p.problem)
	case p.maxAge == 0:
		vd.add(Fail, "HSTS max-age=0 tells browsers to forget HSTS")
	case p.maxAge < minAge:
		vd.add(Fail, "HSTS max-age %d below the minimum %d", p.maxAge, minAge)
	default:
		vd.add(Pass, "HSTS max-age %d", p.maxAge)
	}
}
