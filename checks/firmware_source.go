package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBanner bounds what the banner source reads; version banners are a line or two.
const maxBanner = 4096

// readBanner connects and reads what the appliance sends unasked until the pattern finds a version.
func (s *FirmwareSpec) readBanner(ctx context.Context, env *Env, src Evidence) (reading, error) {
	addr, _, err := env.Addr(s.Source.Target, s.Source.Port)
	src["target"], src["address"] = s.Source.Target, addr
	if err != nil {
		return reading{}, err
	}
	timeout := s.timeout(env)
	conn, err := env.Dialer(timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return reading{}, fmt.Errorf("connect %s: %s (%w)", addr, Classify(err), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 0, 512)
	chunk := make([]byte, 512)
read:
	for len(buf) < maxBanner {
		n, rerr := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if v, err := s.Source.extract(string(buf)); err == nil {
			return reading{version: v, raw: bounded(buf)}, nil
		}
		switch {
		case rerr == nil:
			continue
		case len(buf) == 0 && isTimeout(rerr):
			return reading{}, fmt.Errorf("%s sent no banner within %s", addr, timeout)
		case len(buf) == 0:
			return reading{}, fmt.Errorf("%s closed without a banner (%v)", addr, rerr)
		}
		break read // the peer stopped talking: judge what it sent
	}
	_, err = s.Source.extract(string(buf))
	return reading{raw: bounded(buf)}, err
}

// readHTTPJSON fetches the URL through the scoped dialer and takes the version at json_path.
func (s *FirmwareSpec) readHTTPJSON(ctx context.Context, env *Env, src Evidence) (reading, error) {
	u, err := url.Parse(s.Source.URL)
	if err != nil {
		return reading{}, fmt.Errorf("bad url: %w", err)
	}
	src["url"] = u.Redacted()
	host, err := resolveHost(env, u.Hostname())
	if err != nil {
		return reading{}, err
	}
	// A target named by its profile key is addressed by its DNS name (for TLS and Host), or its IP.
	if host.name != u.Hostname() {
		u.Host = net.JoinHostPort(host.name, cmpPort(u))
	}
	src["address"] = host.addr.String()
	secret, from, err := s.Source.headerValue(env)
	if err != nil {
		return reading{}, err
	}
	if s.Source.Header != "" {
		src["header"], src["header_from"] = s.Source.Header, from
	}
	roots, err := (&TLSSpec{CA: s.Source.CA}).roots(env)
	if err != nil {
		return reading{}, err
	}
	timeout := s.timeout(env)
	dialer := env.Dialer(timeout)
	transport := &http.Transport{
		Proxy: nil, // a proxy would carry the request outside the scope check
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			h, port, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			t, err := resolveHost(env, h)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(t.addr.String(), port))
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		if _, err := resolveHost(env, req.URL.Hostname()); err != nil {
			return fmt.Errorf("redirect to %s refused: %w", req.URL.Redacted(), err)
		}
		// net/http forwards custom headers across hosts; the credential must not follow a redirect away.
		if secret != "" && (req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme) {
			return fmt.Errorf("redirect to %s refused: it would carry the %s header to another endpoint", req.URL.Redacted(), s.Source.Header)
		}
		return nil
	}}
	rctx, cancel := context.WithTimeout(ctx, 3*timeout) // connect, handshake and answer
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return reading{}, err
	}
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		req.Header.Set(s.Source.Header, secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reading{}, err
	}
	defer resp.Body.Close()
	src["http_status"] = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	switch {
	case err != nil:
		return reading{raw: bounded(body)}, fmt.Errorf("read the answer: %w", err)
	case len(body) > 1<<20:
		return reading{}, errors.New("answer larger than 1 MiB: is json_path's URL the version endpoint?")
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return reading{raw: bounded(body)}, fmt.Errorf("%s answered HTTP %d: check the URL and the credential", u.Redacted(), resp.StatusCode)
	}
	value, err := lookupJSON(body, s.Source.JSONPath)
	if err != nil {
		return reading{raw: bounded(body)}, err
	}
	if s.Source.Pattern == "" {
		return reading{version: value, raw: bounded([]byte(value))}, nil
	}
	v, err := s.Source.extract(value)
	return reading{version: v, raw: bounded([]byte(value))}, err
}

func cmpPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// urlHost is where a URL host name leads: the address to dial and the name to present.
type urlHost struct {
	addr netip.Addr
	name string
}

// resolveHost maps a URL's host to an address without DNS (an IP literal or a target, see hosts.go), which
// must be in scope; name is what to present for TLS and Host.
func resolveHost(env *Env, host string) (urlHost, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return urlHost{addr: ip.Unmap(), name: host}, env.Scope.Check(ip)
	}
	key, addr, err := targetOfHost(env.Targets, host)
	if err != nil {
		return urlHost{}, err
	}
	name := host
	if key == host { // named by its profile key: present its DNS name, or its address
		name = env.Targets[key].Name
		if name == "" {
			name = addr.String()
		}
	}
	return urlHost{addr: addr, name: name}, env.Scope.Check(addr)
}

// headerValue reads the credential header's value (see headerSecret); none without a header.
func (src *FirmwareSource) headerValue(env *Env) (value, from string, err error) {
	if src.Header == "" {
		return "", "", nil
	}
	return headerSecret(env, src.Header, src.HeaderEnv, src.HeaderFile)
}

// checkHTTP validates the http_json parameters.
func (src *FirmwareSource) checkHTTP(v *Validator) {
	u, err := url.Parse(src.URL)
	switch {
	case src.URL == "":
		v.Errorf("source.url", "missing required field \"source.url\"")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.Errorf("source.url", "bad url %q: write https://ADDRESS/path with an IP address or a target's name", src.URL)
	case u.User != nil || secretQuery(u):
		v.Errorf("source.url", "url carries credentials: put the secret in header_env or header_file, never in the profile")
	default:
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			if !v.Scope.Contains(ip) {
				v.Errorf("source.url", "url host %s is outside scope (%s)", ip, v.Scope)
			}
		} else if _, _, err := targetOfHost(v.Targets, host); err != nil {
			v.Errorf("source.url", "url: %v", err)
		}
		if u.Scheme == "http" && src.Header != "" {
			v.Errorf("source.url", "plain http would send the %s header in clear: use https", src.Header)
		}
		if u.Scheme == "http" && src.CA != "" {
			v.Errorf("source.ca", "ca is only used with https")
		}
	}
	switch {
	case src.JSONPath == "":
		v.Errorf("source.json_path", "missing required field \"source.json_path\" (e.g. version or results[0].version)")
	default:
		if _, err := parseJSONPath(src.JSONPath); err != nil {
			v.Errorf("source.json_path", "%v", err)
		}
	}
	switch {
	case src.Header != "" && src.HeaderEnv == "" && src.HeaderFile == "":
		v.Errorf("source.header", "header %s needs its value from header_env (an environment variable) or header_file; never write a secret in the profile", src.Header)
	case src.HeaderEnv != "" && src.HeaderFile != "":
		v.Errorf("source.header_file", "give header_env or header_file, not both")
	case src.Header == "" && (src.HeaderEnv != "" || src.HeaderFile != ""):
		v.Errorf("source.header", "missing required field \"source.header\": name the header (e.g. Authorization)")
	case src.Header != "" && !validToken(src.Header):
		v.Errorf("source.header", "bad header name %q", src.Header)
	}
}

// secretQuery reports whether a URL's query looks like it carries a credential (FortiOS, for one, accepts
// ?access_token=…), which would end up in the profile and the run record.
func secretQuery(u *url.URL) bool {
	for k := range u.Query() {
		k = strings.ToLower(k)
		for _, w := range []string{"token", "key", "pass", "secret", "auth", "session"} {
			if strings.Contains(k, w) {
				return true
			}
		}
	}
	return false
}

// jsonStep is one step of a json_path: a key, or an index into a list.
type jsonStep struct {
	key   string
	index int // -1 for a key step
}

// parseJSONPath reads a dotted path with list indexes: "version", "system.version", "results[0].version".
func parseJSONPath(path string) ([]jsonStep, error) {
	bad := fmt.Errorf("bad json_path %q: write keys joined by dots with [n] for list items, e.g. results[0].version", path)
	var steps []jsonStep
	for part := range strings.SplitSeq(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" && rest == "" {
			return nil, bad
		}
		if key != "" {
			steps = append(steps, jsonStep{key: key, index: -1})
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(num)
			if !ok || err != nil || n < 0 || (after != "" && after[0] != '[') {
				return nil, bad
			}
			steps = append(steps, jsonStep{index: n})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps, nil
}

// lookupJSON returns the string or number at path in a JSON document.
func lookupJSON(body []byte, path string) (string, error) {
	steps, err := parseJSONPath(path)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep 7.2 as written, not as a float
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("answer is not JSON: %w", err)
	}
	cur, walked := doc, ""
	for _, st := range steps {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[st.key]
			if st.index >= 0 || !ok {
				return "", fmt.Errorf("json_path %s: no key %q after %q", path, st.key, walked)
			}
			cur, walked = next, strings.TrimPrefix(walked+"."+st.key, ".")
		case []any:
			if st.index < 0 || st.index >= len(node) {
				return "", fmt.Errorf("json_path %s: %q is a list of %d items", path, walked, len(node))
			}
			cur, walked = node[st.index], fmt.Sprintf("%s[%d]", walked, st.index)
		default:
			return "", fmt.Errorf("json_path %s: %q is not an object or list", path, walked)
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("json_path %s leads to %T, not a version string", path, cur)
}
