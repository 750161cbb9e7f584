package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const hstsYear = "max-age=31536000; includeSubDomains"

// unauthorized answers like a store of personal information asked without credentials.
func unauthorized(hsts string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if hsts != "" {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="records"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	}
}

func TestHTTPUnauthorizedWithHSTS(t *testing.T) {
	f := newTLSFixture(t)
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
	s := f.httpSpec(srv.port)
	s.TLS = &HTTPTLS{MinVersion: "1.2"}
	s.MinHSTSMaxAge = 15552000
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Pass)
	wantSummary(t, r, "status 401; HSTS max-age 31536000; TLS: TLS 1.2, 1.3 accepted", "chain verified, 365 days left")
	wantEvidence(t, r, "status", 401)
	wantEvidence(t, r, "target", "srv")
	wantEvidence(t, r, "address", fmt.Sprintf("127.0.0.1:%d", srv.port))
	wantEvidence(t, r, "hsts", Evidence{"present": true, "max_age": int64(31536000), "include_subdomains": true})
	wantEvidence(t, r, "final_url", s.URL)
	wantEvidence(t, r, "redirects", []Evidence{})
	hdr, _ := r.Evidence["headers"].(map[string]string)
	if hdr["WWW-Authenticate"] != `Bearer realm="records"` || hdr["Strict-Transport-Security"] != hstsYear {
		t.Errorf("headers evidence %v lacks WWW-Authenticate or HSTS", hdr)
	}
	tlsEv, _ := r.Evidence["tls"].(Evidence)
	if fmt.Sprint(tlsEv["accepted_versions"]) != "[1.2 1.3]" || tlsEv["chain_verified"] != true || tlsEv["server_name"] != "localhost" {
		t.Errorf("tls evidence %v", tlsEv)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	if h := srv.lastRequest(); h.Get("Host") != fmt.Sprintf("localhost:%d", srv.port) || h.Get("User-Agent") != userAgent {
		t.Errorf("request headers %v: want Host localhost:%d from the URL and the probe's User-Agent", h, srv.port)
	}
}

func TestHTTPOpenWithoutCredentials(t *testing.T) {
	f := newTLSFixture(t)
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsYear)
		io.WriteString(w, `{"patients": []}`)
	})
	r := f.httpSpec(srv.port).Run(context.Background(), f.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "status 200, expected one of 401, 403")
	wantEvidence(t, r, "status", 200)
	wantEvidence(t, r, "body_bytes", len(`{"patients": []}`))
	if strings.Contains(fmt.Sprint(r.Evidence), "patients") {
		t.Errorf("evidence records the body: %v", r.Evidence)
	}
}

func TestHTTPHSTS(t *testing.T) {
	f := newTLSFixture(t)
	for _, tc := range []struct {
		name, hsts string
		min        int
		want       Status
		summary    string
		maxAge     int64
	}{
		{"missing", "", 0, Fail, "no Strict-Transport-Security header", 0},
		{"max-age zero", "max-age=0", 0, Fail, "max-age=0 tells browsers to forget", 0},
		{"too short", "max-age=86400", 15552000, Fail, "HSTS max-age 86400 below the minimum 15552000", 86400},
		{"quoted", `max-age="31536000"`, 15552000, Pass, "HSTS max-age 31536000", 31536000},
		{"twice", "max-age=31536000; max-age=1", 0, Fail, "directive max-age given twice", 31536000},
		{"no max-age", "includeSubDomains", 0, Fail, "no max-age directive", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(tc.hsts))
			s := f.httpSpec(srv.port)
			s.MinHSTSMaxAge = tc.min
			r := s.Run(context.Background(), f.env)
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary)
			h, _ := r.Evidence["hsts"].(Evidence)
			if h["present"] != (tc.hsts != "") || h["max_age"] != tc.maxAge {
				t.Errorf("hsts evidence %v", h)
			}
		})
	}
	t.Run("not required", func(t *testing.T) {
		srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(""))
		s := f.httpSpec(srv.port)
		s.RequireHSTS = false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "hsts", Evidence{"present": false, "max_age": int64(0), "include_subdomains": false})
	})
}

func TestHTTPPlainPort(t *testing.T) {
	f := newTLSFixture(t)
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
	httpsURL := fmt.Sprintf("https://localhost:%d/records", srv.port)
	closed := listen(t)
	closedPort := portOf(closed)
	closed.Close()
	silent := holdConnections(t)
	for _, tc := range []struct {
		name    string
		port    func(t *testing.T) int
		want    Status
		outcome string
		summary string
		status  int
	}{
		{"serves content", plainServer(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "records") }),
			Fail, "served", "serves content without TLS (status 200)", 200},
		{"serves 401", plainServer(unauthorized("")), Fail, "served", "serves content without TLS (status 401)", 401},
		{"redirects to https", plainServer(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, httpsURL, http.StatusMovedPermanently)
		}), Pass, "redirect", "redirects to https", 301},
		{"redirects to plain http", plainServer(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/login", http.StatusFound)
		}), Fail, "redirect", "redirects to plain HTTP (http://localhost:", 302},
		{"redirects to another host", plainServer(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://portal.example/", http.StatusFound)
		}), Warn, "redirect", "redirects to https on another host (https://portal.example/)", 302},
		{"closed", func(*testing.T) int { return closedPort }, Pass, "refused", "plain HTTP port", 0},
		{"silent", func(*testing.T) int { return silent }, Warn, "silent", "sent no HTTP answer within 300ms", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.httpSpec(srv.port)
			s.ForbidPlainHTTP, s.PlainPort, s.Timeout = true, tc.port(t), Duration(300*time.Millisecond)
			r := s.Run(context.Background(), f.env)
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary)
			pe, _ := r.Evidence["plain_http"].(Evidence)
			if pe["outcome"] != tc.outcome || pe["port"] != s.PlainPort {
				t.Errorf("plain_http evidence %v, want outcome %s on port %d", pe, tc.outcome, s.PlainPort)
			}
			if st, _ := pe["status"].(int); st != tc.status {
				t.Errorf("plain_http status %v, want %d", pe["status"], tc.status)
			}
			if tc.status >= 300 && tc.status < 400 && !strings.HasPrefix(fmt.Sprint(pe["location"]), "http") {
				t.Errorf("plain_http location %v is not absolute", pe["location"])
			}
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	f := newTLSFixture(t)
	// The redirect leads to 127.0.0.2, a real server outside the scope of 127.0.0.1/32.
	outside := f.serveHTTPS(t, "127.0.0.2:0", nil, unauthorized(hstsYear))
	outsideURL := fmt.Sprintf("https://127.0.0.2:%d/records", outside.port)
	f.env.Scope = NewScope(netip.MustParsePrefix("127.0.0.1/32"))
	away := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, outsideURL, http.StatusFound)
	})
	t.Run("out of scope", func(t *testing.T) {
		s := f.httpSpec(away.port)
		s.FollowRedirects = true
		r := s.Run(context.Background(), f.env)
		if h, q := outside.hellos.Load(), outside.requests.Load(); h != 0 || q != 0 {
			t.Errorf("the out-of-scope server saw %d ClientHellos and %d requests, want none", h, q)
		}
		wantStatus(t, r, Error)
		wantSummary(t, r, "redirect to "+outsideURL, "leaves the profile's scope (127.0.0.1/32)", "no packet was sent")
		wantEvidence(t, r, "outcome", "out-of-scope")
		wantEvidence(t, r, "redirects", []Evidence{{"status": 302, "location": outsideURL}})
	})
	t.Run("not followed", func(t *testing.T) {
		s := f.httpSpec(away.port)
		s.ExpectStatus, s.RequireHSTS = []int{302}, false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "status", 302)
		hdr, _ := r.Evidence["headers"].(map[string]string)
		if hdr["Location"] != outsideURL {
			t.Errorf("Location %q, want %q", hdr["Location"], outsideURL)
		}
		if outside.requests.Load() != 0 {
			t.Error("a redirect that was not to be followed reached its target")
		}
	})
	t.Run("followed in scope", func(t *testing.T) {
		login := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				unauthorized(hstsYear)(w, r)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		})
		s := f.httpSpec(login.port)
		s.FollowRedirects = true
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		loginURL := fmt.Sprintf("https://localhost:%d/login", login.port)
		wantEvidence(t, r, "final_url", loginURL)
		wantEvidence(t, r, "redirects", []Evidence{{"status": 303, "location": loginURL}})
	})
	t.Run("downgrade to plain http", func(t *testing.T) {
		plain := plainServer(unauthorized(""))(t)
		down := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/", plain), http.StatusFound)
		})
		s := f.httpSpec(down.port)
		s.FollowRedirects, s.RequireHSTS = true, false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "redirected from https to plain HTTP")
	})
	t.Run("name not a target", func(t *testing.T) {
		named := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://sso.vendor.example/", http.StatusFound)
		})
		s := f.httpSpec(named.port)
		s.FollowRedirects = true
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Error)
		wantSummary(t, r, `"sso.vendor.example" is not the name of any target`, "never look names up in DNS")
		wantEvidence(t, r, "outcome", "unknown-host")
	})
}

func TestHTTPTLSJudgement(t *testing.T) {
	f := newTLSFixture(t)
	t.Run("TLS 1.0 under policy", func(t *testing.T) {
		srv := f.serveHTTPS(t, "127.0.0.1:0", func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS10
			requireClientCert(f.ca)(c)
		}, unauthorized(hstsYear))
		s := f.httpSpec(srv.port)
		s.TLS, s.RequireHSTS = &HTTPTLS{Policy: "mhlw-6.0"}, false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "TLS: TLS 1.0, 1.1 accepted (minimum 1.2)")
		tlsEv, _ := r.Evidence["tls"].(Evidence)
		if fmt.Sprint(tlsEv["accepted_versions"]) != "[1.0 1.1 1.2 1.3]" || tlsEv["policy"] != "mhlw-6.0" {
			t.Errorf("tls evidence %v", tlsEv)
		}
	})
	t.Run("policy met: client certificate demanded", func(t *testing.T) {
		srv := f.serveHTTPS(t, "127.0.0.1:0", func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS13
			requireClientCert(f.ca)(c)
		}, unauthorized(hstsYear))
		s := f.httpSpec(srv.port)
		s.TLS, s.RequireHSTS = &HTTPTLS{Policy: "mhlw-6.0"}, false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		wantSummary(t, r, "refused before HTTP: client certificate required", "TLS: TLS 1.3 only")
		wantEvidence(t, r, "outcome", "client-cert-required")
		if srv.requests.Load() != 0 {
			t.Error("a request without a client certificate reached the handler")
		}
		// HSTS cannot be read from a server that stops at TLS: say so rather than pass it.
		s.RequireHSTS = true
		wantStatus(t, s.Run(context.Background(), f.env), Error)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		other := newTestCA(t, "Someone Else's CA")
		other.writePEM(t, f.env.Dir, "other.pem")
		srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
		s := f.httpSpec(srv.port)
		s.CA = "other.pem"
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "TLS: certificate does not verify for localhost", "certificate of https://localhost:")
		wantEvidence(t, r, "outcome", "certificate")
	})
	t.Run("server_name", func(t *testing.T) {
		srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
		s := f.httpSpec(srv.port)
		s.URL = fmt.Sprintf("https://127.0.0.1:%d/", srv.port)
		s.ServerName = "records.lab.test" // not in the certificate
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "not records.lab.test")
		tlsEv, _ := r.Evidence["tls"].(Evidence)
		if tlsEv["server_name"] != "records.lab.test" {
			t.Errorf("tls server_name %v", tlsEv["server_name"])
		}
	})
}

func TestHTTPCannotDecide(t *testing.T) {
	f := newTLSFixture(t)
	silent := holdConnections(t)
	closed := listen(t)
	closedPort := portOf(closed)
	closed.Close()
	for _, tc := range []struct {
		name, url string
		summary   []string
		outcome   string
	}{
		{"https silent", fmt.Sprintf("https://localhost:%d/", silent), []string{"could not decide", "1.3 timeout"}, "timeout"},
		{"http silent", fmt.Sprintf("http://localhost:%d/", silent), []string{"could not decide", "timeout awaiting response headers"}, "timeout"},
		{"https refused", fmt.Sprintf("https://localhost:%d/", closedPort), []string{"could not decide", "refused"}, "refused"},
		{"http refused", fmt.Sprintf("http://localhost:%d/", closedPort), []string{"could not decide", "refused"}, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &HTTPSpec{URL: tc.url, ExpectStatus: []int{401}, Timeout: Duration(200 * time.Millisecond)}
			if strings.HasPrefix(tc.url, "https") {
				s.CA, s.ForbidPlainHTTP = "ca.pem", true
			}
			start := time.Now()
			r := s.Run(context.Background(), f.env)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s with a 200ms timeout", d)
			}
			wantStatus(t, r, Error)
			wantSummary(t, r, tc.summary...)
			wantEvidence(t, r, "outcome", tc.outcome)
		})
	}
}

func TestHTTPOutOfScope(t *testing.T) {
	f := newTLSFixture(t)
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
	f.env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	for _, url := range []string{
		fmt.Sprintf("https://localhost:%d/", srv.port), // through the target's name
		fmt.Sprintf("https://127.0.0.1:%d/", srv.port), // as an address
	} {
		s := f.httpSpec(srv.port)
		s.URL, s.ForbidPlainHTTP = url, true
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "127.0.0.1 is outside the profile's scope", "no packet was sent")
	}
	s := f.httpSpec(srv.port)
	s.URL = fmt.Sprintf("https://records.lab.test:%d/", srv.port)
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, `"records.lab.test" is not the name of any target`)
	if h, q := srv.hellos.Load(), srv.requests.Load(); h != 0 || q != 0 {
		t.Errorf("server saw %d ClientHellos and %d requests, want none", h, q)
	}
}

func TestHTTPCancelled(t *testing.T) {
	f := newTLSFixture(t)
	silent := holdConnections(t)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			s := &HTTPSpec{URL: fmt.Sprintf("%s://localhost:%d/", scheme, silent), ExpectStatus: []int{401}, Timeout: Duration(10 * time.Second)}
			start := time.Now()
			r := s.Run(ctx, f.env)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s after the context ended at 150ms", d)
			}
			wantStatus(t, r, Error)
			wantSummary(t, r, "deadline exceeded")
		})
	}
}

func TestHTTPTargetAndHeader(t *testing.T) {
	f := newTLSFixture(t)
	const secret = "Bearer s3cr3t-token"
	t.Setenv("PREFLIGHT_TEST_TOKEN", secret)
	other := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
		// Another host name: Go would carry a custom header along; the probe must not.
		http.Redirect(w, r, fmt.Sprintf("https://127.0.0.1:%d/", other.port), http.StatusFound)
	})
	f.env.Targets["cloud"] = Target{Address: netip.MustParseAddr("127.0.0.1"), Name: "cloud.lab.test"}
	s := f.httpSpec(srv.port)
	// The URL's host is a name no target has; target says where it lives. The certificate is for
	// localhost, so server_name names that.
	s.URL, s.Target, s.ServerName = fmt.Sprintf("https://api.cloud.lab.test:%d/records", srv.port), "cloud", "localhost"
	s.Header, s.HeaderEnv, s.FollowRedirects = "X-Api-Key", "PREFLIGHT_TEST_TOKEN", true
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "target", "cloud")
	wantEvidence(t, r, "request_header", Evidence{"name": "X-Api-Key", "from": "PREFLIGHT_TEST_TOKEN"})
	if got := srv.lastRequest(); got.Get("X-Api-Key") != secret || got.Get("Host") != fmt.Sprintf("api.cloud.lab.test:%d", srv.port) {
		t.Errorf("first hop got X-Api-Key %q Host %q", got.Get("X-Api-Key"), got.Get("Host"))
	}
	if got := other.lastRequest(); got.Get("X-Api-Key") != "" {
		t.Errorf("the header's secret followed the redirect to another host")
	}
	b, _ := json.Marshal(r.Evidence)
	if strings.Contains(string(b), "s3cr3t") {
		t.Errorf("evidence holds the secret: %s", b)
	}
	t.Setenv("PREFLIGHT_TEST_TOKEN", "")
	r = s.Run(context.Background(), f.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "environment variable PREFLIGHT_TEST_TOKEN (the X-Api-Key header) is not set")
	t.Run("from file", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(f.env.Dir, "token"), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.HeaderEnv, s.HeaderFile, s.FollowRedirects, s.ExpectStatus, s.RequireHSTS = "", "token", false, []int{302}, false
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		if got := srv.lastRequest(); got.Get("X-Api-Key") != secret {
			t.Errorf("X-Api-Key %q, want the file's line without its newline", got.Get("X-Api-Key"))
		}
	})
}

func TestHTTPSlowBody(t *testing.T) {
	// The status and headers came; the body never ends. The status decides, the body read is cut off.
	f := newTLSFixture(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsYear)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s := f.httpSpec(srv.port)
	s.Timeout = Duration(200 * time.Millisecond)
	start := time.Now()
	r := s.Run(context.Background(), f.env)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 200ms timeout", d)
	}
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "status", 403)
	wantEvidence(t, r, "body_bytes", len("partial"))
}

func TestHTTPHead(t *testing.T) {
	f := newTLSFixture(t)
	srv := f.serveHTTPS(t, "127.0.0.1:0", nil, unauthorized(hstsYear))
	s := f.httpSpec(srv.port)
	s.Method = "HEAD"
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "method", "HEAD")
	wantEvidence(t, r, "body_bytes", 0)
	if m := srv.lastRequest().Get("X-Method"); m != "HEAD" {
		t.Errorf("server saw method %q", m)
	}
}

func TestHTTPCheck(t *testing.T) {
	targets := map[string]Target{
		"cloud":  {Address: netip.MustParseAddr("198.18.3.10"), Name: "cloud.lab.test"},
		"twin-a": {Address: netip.MustParseAddr("198.18.3.11"), Name: "twin.lab.test"},
		"twin-b": {Address: netip.MustParseAddr("198.18.3.12"), Name: "twin.lab.test"},
	}
	good := func() *HTTPSpec {
		return &HTTPSpec{URL: "https://cloud.lab.test/api/", ExpectStatus: []int{401, 403}, RequireHSTS: true, ForbidPlainHTTP: true}
	}
	for _, tc := range []struct {
		name  string
		mod   func(*HTTPSpec)
		field string // "" when valid
		msg   string
	}{
		{"valid", func(*HTTPSpec) {}, "", ""},
		{"valid address in scope", func(s *HTTPSpec) { s.URL = "https://198.18.3.10:8443/" }, "", ""},
		{"valid with target", func(s *HTTPSpec) { s.URL, s.Target = "https://api.vendor.example/", "cloud" }, "", ""},
		{"valid header from env", func(s *HTTPSpec) { s.Header, s.HeaderEnv = "Authorization", "CLOUD_TOKEN" }, "", ""},
		{"valid tls block", func(s *HTTPSpec) { s.TLS = &HTTPTLS{Policy: "mhlw-6.0", MinDaysLeft: 14} }, "", ""},
		{"url missing", func(s *HTTPSpec) { s.URL = "" }, "url", `missing required field "url"`},
		{"url scheme", func(s *HTTPSpec) { s.URL = "ftp://cloud.lab.test/" }, "url", "scheme must be https:// or http://"},
		{"url credentials", func(s *HTTPSpec) { s.URL = "https://admin:hunter2@cloud.lab.test/" }, "url", "carries credentials"},
		{"url port", func(s *HTTPSpec) { s.URL = "https://cloud.lab.test:70000/" }, "url", "port 70000 out of range"},
		{"url unknown name", func(s *HTTPSpec) { s.URL = "https://portal.vendor.example/" }, "url", "not the name of any target"},
		{"url ambiguous name", func(s *HTTPSpec) { s.URL = "https://twin.lab.test/" }, "url", "several targets (twin-a, twin-b)"},
		{"url out of scope", func(s *HTTPSpec) { s.URL = "https://192.0.2.7/" }, "url", "192.0.2.7 is outside the profile's scope"},
		{"unknown target", func(s *HTTPSpec) { s.Target = "vendor" }, "target", `unknown target "vendor"`},
		{"method", func(s *HTTPSpec) { s.Method = "POST" }, "method", `"POST" is not one of`},
		{"expect_status missing", func(s *HTTPSpec) { s.ExpectStatus = nil }, "expect_status", "missing required field"},
		{"expect_status range", func(s *HTTPSpec) { s.ExpectStatus = []int{401, 4030} }, "expect_status[1]", "status 4030 out of range"},
		{"expect_status low", func(s *HTTPSpec) { s.ExpectStatus = []int{99} }, "expect_status[0]", "out of range"},
		{"hsts age", func(s *HTTPSpec) { s.MinHSTSMaxAge = -1 }, "min_hsts_max_age", "zero or more seconds"},
		{"plain_port range", func(s *HTTPSpec) { s.PlainPort = 0x10000 }, "plain_port", "out of range"},
		{"plain_port alone", func(s *HTTPSpec) { s.ForbidPlainHTTP, s.PlainPort = false, 8080 }, "plain_port", "only used with forbid_plain_http"},
		{"plain_port is the url's", func(s *HTTPSpec) { s.PlainPort = 443 }, "plain_port", "the URL's own port"},
		{"hsts over http", func(s *HTTPSpec) { s.URL, s.ForbidPlainHTTP = "http://cloud.lab.test/", false }, "require_hsts", "needs an https:// URL"},
		{"plain over http", func(s *HTTPSpec) { s.URL, s.RequireHSTS = "http://cloud.lab.test/", false }, "forbid_plain_http", "needs an https:// URL"},
		{"header over http", func(s *HTTPSpec) {
			s.URL, s.RequireHSTS, s.ForbidPlainHTTP, s.Header, s.HeaderEnv = "http://cloud.lab.test/", false, false, "X-Api-Key", "K"
		}, "header", "needs an https:// URL"},
		{"server_name", func(s *HTTPSpec) { s.ServerName = "https://cloud.lab.test" }, "server_name", "bare host name"},
		{"tls policy", func(s *HTTPSpec) { s.TLS = &HTTPTLS{Policy: "strict"} }, "tls.policy", `unknown policy "strict"`},
		{"tls min_version", func(s *HTTPSpec) { s.TLS = &HTTPTLS{MinVersion: "1.4"} }, "tls.min_version", "bad min_version"},
		{"tls days", func(s *HTTPSpec) { s.TLS = &HTTPTLS{MinDaysLeft: 30, WarnDaysLeft: 7} }, "tls.warn_days_left", "inverted thresholds"},
		{"literal secret", func(s *HTTPSpec) { s.Header, s.HeaderEnv = "Authorization: Bearer abc123", "X" }, "header", "value comes from header_env or header_file"},
		{"header without source", func(s *HTTPSpec) { s.Header = "Authorization" }, "header", "needs its value from header_env"},
		{"source without header", func(s *HTTPSpec) { s.HeaderFile = "token" }, "header", "header is not"},
		{"two sources", func(s *HTTPSpec) { s.Header, s.HeaderEnv, s.HeaderFile = "X-Api-Key", "K", "token" }, "header_file", "not both"},
		{"host header", func(s *HTTPSpec) { s.Header, s.HeaderEnv = "Host", "K" }, "header", "comes from the URL"},
		{"max_body", func(s *HTTPSpec) { s.MaxBody = -1 }, "max_body", "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mod(s)
			v := &Validator{Targets: targets, Scope: NewScope(netip.MustParsePrefix("198.18.0.0/15"))}
			s.Check(v)
			if tc.field == "" {
				if len(v.Problems) > 0 {
					t.Fatalf("valid spec rejected: %v", v.Problems)
				}
				return
			}
			for _, p := range v.Problems {
				if strings.Contains(p.Msg, "abc123") || strings.Contains(p.Msg, "hunter2") {
					t.Errorf("problem %q repeats the secret", p.Msg)
				}
				if p.Field == tc.field && strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("problems %v, want %s: …%s…", v.Problems, tc.field, tc.msg)
		})
	}
}

func TestParseHSTS(t *testing.T) {
	for _, tc := range []struct {
		header  string
		maxAge  int64
		sub     bool
		problem string
	}{
		{"max-age=31536000; includeSubDomains; preload", 31536000, true, ""},
		{"MAX-AGE=600 ;INCLUDESUBDOMAINS", 600, true, ""},
		{"max-age=99999999999999999999999", 1<<63 - 1, false, ""},
		{"max-age=-1", 0, false, "not a number of seconds"},
		{"max-age=", 0, false, "not a number of seconds"},
		{"includeSubDomains", 0, true, "no max-age"},
		{"includeSubDomains; includeSubDomains; max-age=5", 0, true, "given twice"},
	} {
		h := http.Header{}
		h.Add("Strict-Transport-Security", tc.header)
		h.Add("Strict-Transport-Security", "max-age=1") // a browser reads only the first
		p := parseHSTS(h)
		if !p.present || p.maxAge != tc.maxAge || p.includeSubdomains != tc.sub || !strings.Contains(p.problem, tc.problem) ||
			(tc.problem == "") != (p.problem == "") {
			t.Errorf("parseHSTS(%q) = %+v, want max-age %d, includeSubDomains %v, problem %q", tc.header, p, tc.maxAge, tc.sub, tc.problem)
		}
	}
}

// TestHTTPNginx judges Debian's nginx, configured the way a hospital would front a records API: 401
// with HSTS over TLS 1.2/1.3, port "80" redirecting to https.
func TestHTTPNginx(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed (apt package nginx)")
	}
	f := newTLSFixture(t)
	dir := t.TempDir()
	leaf := f.ca.issue(t, ecKey(t), time.Now().Add(365*24*time.Hour+time.Hour))
	writeKeyPair(t, dir, leaf)
	tlsPort, plainPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 16; }
http {
	access_log off;
	client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d ssl;
		server_name localhost;
		ssl_certificate %[1]s/cert.pem; ssl_certificate_key %[1]s/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
		location / { return 401; }
	}
	server {
		listen 127.0.0.1:%[3]d;
		return 301 https://$host:%[2]d$request_uri;
	}
}
`, dir, tlsPort, plainPort)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitListening(t, tlsPort, dir)
	waitListening(t, plainPort, dir)
	s := &HTTPSpec{URL: fmt.Sprintf("https://localhost:%d/records/", tlsPort), ExpectStatus: []int{401, 403},
		RequireHSTS: true, MinHSTSMaxAge: 31536000, ForbidPlainHTTP: true, PlainPort: plainPort, CA: "ca.pem",
		TLS: &HTTPTLS{ForbidWeakCiphers: true}, Timeout: Duration(time.Second)}
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "status", 401)
	wantEvidence(t, r, "hsts", Evidence{"present": true, "max_age": int64(63072000), "include_subdomains": true})
	pe, _ := r.Evidence["plain_http"].(Evidence)
	if pe["outcome"] != "redirect" || pe["location"] != fmt.Sprintf("https://localhost:%d/records/", tlsPort) {
		t.Errorf("plain_http %v", pe)
	}
	hdr, _ := r.Evidence["headers"].(map[string]string)
	if !strings.HasPrefix(hdr["Server"], "nginx") {
		t.Errorf("Server header %q: not nginx?", hdr["Server"])
	}
	tlsEv, _ := r.Evidence["tls"].(Evidence)
	wantEvidence(t, Result{Evidence: tlsEv}, "accepted_versions", []string{"1.2", "1.3"})

	// The same nginx told to answer 200: the probe must fail it.
	s.ExpectStatus, s.URL = []int{200}, fmt.Sprintf("https://localhost:%d/", tlsPort)
	wantStatus(t, s.Run(context.Background(), f.env), Fail)
}

// --- helpers of the http tests ---

// testHTTPServer is a real net/http server on a loopback address that counts what reaches it. Hellos and
// requests are counted rather than connections: other test processes may sweep loopback ports.
type testHTTPServer struct {
	port     int
	hellos   atomic.Int32
	requests atomic.Int32
	mu       sync.Mutex
	last     http.Header
}

// lastRequest returns the headers of the last request, with Host and X-Method (the request's method) added.
func (s *testHTTPServer) lastRequest() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// serveHTTPS serves h over TLS on addr (a 127.0.0.x:0 address) with a year-long certificate from the
// fixture's CA; mod adjusts the TLS configuration.
func (f *tlsFixture) serveHTTPS(t *testing.T, addr string, mod func(*tls.Config), h http.HandlerFunc) *testHTTPServer {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{f.ca.issue(t, ecKey(t), time.Now().Add(365*24*time.Hour+time.Hour))}}
	if mod != nil {
		mod(cfg)
	}
	return serveHTTP(t, addr, cfg, h)
}

// serveHTTP serves h on addr, over TLS when cfg is not nil.
func serveHTTP(t *testing.T, addr string, cfg *tls.Config, h http.HandlerFunc) *testHTTPServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &testHTTPServer{port: portOf(l)}
	if cfg != nil {
		cfg = cfg.Clone()
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.hellos.Add(1)
			return nil, nil
		}
		l = tls.NewListener(l, cfg)
	}
	srv := &http.Server{ReadHeaderTimeout: 2 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			hdr := r.Header.Clone()
			hdr.Set("Host", r.Host)
			hdr.Set("X-Method", r.Method)
			s.mu.Lock()
			s.last = hdr
			s.mu.Unlock()
			h(w, r)
		})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// httpSpec asks https://localhost:PORT/records (localhost is the fixture target's name) for 401 or 403
// with HSTS, verifying against the fixture's CA.
func (f *tlsFixture) httpSpec(port int) *HTTPSpec {
	return &HTTPSpec{URL: fmt.Sprintf("https://localhost:%d/records", port), ExpectStatus: []int{401, 403},
		RequireHSTS: true, CA: "ca.pem", Timeout: Duration(time.Second)}
}

// plainServer returns a function starting a plain-HTTP server on 127.0.0.1:0 and giving its port.
func plainServer(h http.HandlerFunc) func(t *testing.T) int {
	return func(t *testing.T) int { return serveHTTP(t, "127.0.0.1:0", nil, h).port }
}

// holdConnections listens on 127.0.0.1:0 and accepts connections it never answers.
func holdConnections(t *testing.T) int {
	t.Helper()
	l := listen(t)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return portOf(l)
}

// writeKeyPair stores a certificate and its key as cert.pem and key.pem in dir, for nginx.
func writeKeyPair(t *testing.T, dir string, c tls.Certificate) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago, for a daemon that binds it itself.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return portOf(l)
}

// waitListening waits until a daemon accepts on 127.0.0.1:port, showing its error log if it never does.
func waitListening(t *testing.T, port int, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", joinHostPort("127.0.0.1", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	t.Fatalf("nothing listens on 127.0.0.1:%d after 5s; error log:\n%s", port, logText)
}
