package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFirmwareCheck(t *testing.T) {
	fp := "SHA256:" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		name  string
		spec  FirmwareSpec
		field string // "" means no problem
		msg   string
	}{
		{"banner ok", FirmwareSpec{Vendor: "fortinet", Product: "fortios", MinVersion: "7.2.7",
			Source: FirmwareSource{Method: "banner", Target: "vpn", Port: 23, Pattern: `v(\d+\.\d+\.\d+)`}}, "", ""},
		{"manual ok", FirmwareSpec{Vendor: "ivanti", Product: "connect_secure", Source: FirmwareSource{Method: "manual"}}, "", ""},
		{"missing vendor", FirmwareSpec{Product: "fortios", Source: FirmwareSource{Method: "manual"}}, "vendor", "missing required field"},
		{"unknown product", FirmwareSpec{Vendor: "fortinet", Product: "fortigate", Source: FirmwareSource{Method: "manual"}}, "product", "unknown product fortinet/fortigate"},
		{"bad min_version", FirmwareSpec{Vendor: "paloaltonetworks", Product: "pan-os", MinVersion: "10.2.9h1", Source: FirmwareSource{Method: "manual"}}, "min_version", "10.2.9-h1"},
		{"no method", FirmwareSpec{Vendor: "fortinet", Product: "fortios"}, "source.method", "missing required field"},
		{"unknown method", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "telnet"}}, "source.method", "unknown method \"telnet\""},
		{"field of another method", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "manual", URL: "https://127.0.0.1/"}}, "source.url", "not used by method manual"},
		{"banner without pattern", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "banner", Target: "vpn", Port: 23}}, "source.pattern", "missing required field"},
		{"pattern without group", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "banner", Target: "vpn", Port: 23, Pattern: `v\d+`}}, "source.pattern", "0 capture groups"},
		{"banner unknown target", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "banner", Target: "fw", Port: 23, Pattern: `(\S+)`}}, "source.target", "unknown target \"fw\""},
		{"banner no port", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "banner", Target: "vpn", Pattern: `(\S+)`}}, "source.port", "out of range"},
		{"http ok", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://vpn.lab.test/api/v2/monitor/system/status", JSONPath: "version", Header: "Authorization", HeaderEnv: "FGT_TOKEN"}}, "", ""},
		{"http url outside scope", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://192.0.2.1/api", JSONPath: "version"}}, "source.url", "outside scope"},
		{"http url names no target", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://fortigate.example/api", JSONPath: "version"}}, "source.url", "never look names up in DNS"},
		{"http secret in url", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://admin:pw@127.0.0.1/api", JSONPath: "version"}}, "source.url", "never in the profile"},
		{"http token in query", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://198.18.1.1/api/v2/monitor/system/status?access_token=abc", JSONPath: "version"}}, "source.url", "never in the profile"},
		{"http header without value source", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://127.0.0.1/api", JSONPath: "version", Header: "Authorization"}}, "source.header", "header_env"},
		{"http header over plain http", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "http://127.0.0.1/api", JSONPath: "version", Header: "Authorization", HeaderEnv: "T"}}, "source.url", "in clear"},
		{"http bad json_path", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "http_json",
			URL: "https://127.0.0.1/api", JSONPath: "results[x].version"}}, "source.json_path", "bad json_path"},
		{"ssh without host key", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "ssh_command",
			Target: "vpn", User: "audit", KeyFile: "id", Command: "get system status", Pattern: `v(\S+)`}}, "source.known_hosts", "never accepted"},
		{"ssh bad fingerprint", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "ssh_command",
			Target: "vpn", User: "audit", KeyFile: "id", HostKey: "MD5:aa:bb", Command: "get system status", Pattern: `v(\S+)`}}, "source.host_key", "SHA256"},
		{"ssh ok", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "ssh_command",
			Target: "vpn", User: "audit", KeyFile: "id", HostKey: fp, Command: "get system status", Pattern: `v(\S+)`}}, "", ""},
		{"snmp v2c without community", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "snmp",
			Target: "vpn", Pattern: `v(\S+)`}}, "source.community_env", "missing required field"},
		{"snmp v3 bad auth", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "snmp",
			Target: "vpn", Version: "3", User: "u", AuthProtocol: "SHA1", AuthEnv: "A", Pattern: `v(\S+)`}}, "source.auth_protocol", "auth_protocol \"SHA1\""},
		{"snmp v1", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "snmp",
			Target: "vpn", Version: "1", CommunityEnv: "C", Pattern: `v(\S+)`}}, "source.version", "\"2c\" or \"3\""},
		{"negative timeout", FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: -1, Source: FirmwareSource{Method: "manual"}}, "timeout", "greater than zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Validator{Targets: map[string]Target{"vpn": {Address: netip.MustParseAddr("198.18.1.1"), Name: "vpn.lab.test"}},
				Scope: NewScope(netip.MustParsePrefix("198.18.0.0/15"))}
			tc.spec.Check(v)
			if tc.field == "" {
				if len(v.Problems) > 0 {
					t.Fatalf("unexpected problems: %v", v.Problems)
				}
				return
			}
			for _, p := range v.Problems {
				if p.Field == tc.field && strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no problem at %s mentioning %q; got %v", tc.field, tc.msg, v.Problems)
		})
	}
}

func TestFirmwareManualPendingThenJudged(t *testing.T) {
	env := firmwareEnv(t)
	s := &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "manual"}}
	r := s.Run(context.Background(), env)
	wantStatus(t, r, Pending)
	wantSummary(t, r, "waiting for the version shown on the appliance's admin screen")

	attested := Evidence{"answer": "v7.2.5,build1517", "attested_by": "Dr. Sato"}
	r = s.Judge(env, "v7.2.5,build1517", attested)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "Fortinet FortiOS v7.2.5,build1517", "CVE-2024-21762 [KEV] (fix: 7.2.7)")
	wantEvidence(t, r, "advisories", []string{"CVE-2024-21762"})
	wantEvidence(t, r, "kev", []string{"CVE-2024-21762"})
	wantEvidence(t, r, "fixed_in", map[string]string{"CVE-2024-21762": "7.2.7"})
	wantEvidence(t, r, "attested_by", "Dr. Sato")
	wantEvidence(t, r, "source", Evidence{"method": "manual"})
	if set, _ := r.Evidence["advisory_set"].(Evidence); set["updated"] != "2026-12-04" || set["entries"] != 5 || set["age_days"] != 6 {
		t.Errorf("advisory_set evidence %v", r.Evidence["advisory_set"])
	}
	if _, ok := attested["version"]; ok {
		t.Error("Judge must not change the caller's evidence map")
	}

	r = s.Judge(env, "7.2.7", nil)
	wantStatus(t, r, Pass)
	wantSummary(t, r, "Fortinet FortiOS 7.2.7: no advisory among the 5 in the set covers it")
	wantEvidence(t, r, "advisories", []string{})

	r = s.Judge(env, "seven point two", nil)
	wantStatus(t, r, Error)
	wantSummary(t, r, "cannot read \"seven point two\" as a FortiOS version")
}

func TestFirmwareMinVersion(t *testing.T) {
	env := firmwareEnv(t)
	s := &FirmwareSpec{Vendor: "paloaltonetworks", Product: "pan-os", MinVersion: "11.1.0", Source: FirmwareSource{Method: "manual"}}
	r := s.Judge(env, "10.2.9-h1", nil)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "PAN-OS 10.2.9-h1 is below min_version 11.1.0")
	wantEvidence(t, r, "advisories", []string{}) // the hotfix is not inside CVE-2024-3400
	r = s.Judge(env, "11.1.2-h3", nil)
	wantStatus(t, r, Pass)
	wantSummary(t, r, "at least min_version 11.1.0")
}

func TestFirmwareStaleAdvisorySetWarns(t *testing.T) {
	env := firmwareEnv(t)
	env.Now = func() time.Time { return time.Date(2027, 6, 1, 9, 0, 0, 0, time.UTC) }
	s := &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: FirmwareSource{Method: "manual"}}
	r := s.Judge(env, "7.4.3", nil)
	wantStatus(t, r, Warn) // a clean version on stale data is never a plain pass
	wantSummary(t, r, "the advisory set is 179 days old (updated 2026-12-04; warn after 90 days)", "--advisories")
	r = s.Judge(env, "7.2.5", nil)
	wantStatus(t, r, Fail) // a known hole stays a failure, however old the list
	wantSummary(t, r, "CVE-2024-21762", "179 days old")
}

func TestFirmwareWithoutAdvisorySetIsError(t *testing.T) {
	env := firmwareEnv(t)
	env.Advisories = nil
	port, conns := bannerServer(t, "FortiGate v7.4.3,build2573\r\n")
	s := bannerSpec(port)
	r := s.Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "no advisory set loaded")
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections made without an advisory set; want none", n)
	}
	s.Advisories = "newer.yaml"
	RegisterAdvisoryLoader(nil)
	r = s.Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "no loader registered")
	RegisterAdvisoryLoader(func(path string) (*AdvisorySet, error) {
		if filepath.Base(path) != "newer.yaml" || filepath.Dir(path) != env.Dir {
			t.Errorf("advisories path %s not resolved against the profile directory", path)
		}
		return testAdvisories(t, "2026-12-01"), nil
	})
	t.Cleanup(func() { RegisterAdvisoryLoader(nil) })
	r = s.Run(context.Background(), env)
	wantStatus(t, r, Pass)
	if set, _ := r.Evidence["advisory_set"].(Evidence); set["updated"] != "2026-12-01" {
		t.Errorf("the item's own advisories file was not used: %v", set)
	}
}

func TestFirmwareBanner(t *testing.T) {
	env := firmwareEnv(t)
	t.Run("pass", func(t *testing.T) {
		port, conns := bannerServer(t, "FortiGate-60F v7.2.7,build1577,231208 (GA.M)\r\nlogin: ")
		r := bannerSpec(port).Run(context.Background(), env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "version", "7.2.7,build1577")
		wantEvidence(t, r, "raw", "FortiGate-60F v7.2.7,build1577,231208 (GA.M).\nlogin: ") // control characters shown as '.'

		if src, _ := r.Evidence["source"].(Evidence); src["method"] != "banner" || src["address"] != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("source evidence %v", src)
		}
		if conns.Load() != 1 {
			t.Errorf("%d connections, want 1", conns.Load())
		}
	})
	t.Run("fail names the CVE", func(t *testing.T) {
		port, _ := bannerServer(t, "FortiGate-60F v7.2.5,build1517,230606 (GA.F)\r\nlogin: ")
		r := bannerSpec(port).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "7.2.5,build1517 is inside the affected range of 1 advisory, 1 known exploited: CVE-2024-21762 [KEV] (fix: 7.2.7)")
		wantEvidence(t, r, "advisories", []string{"CVE-2024-21762"})
		wantEvidence(t, r, "fixed_in", map[string]string{"CVE-2024-21762": "7.2.7"})
	})
	t.Run("banner without a version is error", func(t *testing.T) {
		port, _ := bannerServer(t, "login: ")
		s := bannerSpec(port)
		s.Timeout = Duration(200 * time.Millisecond)
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "no version found")
		wantEvidence(t, r, "raw", "login: ")
	})
	t.Run("silent server times out as error", func(t *testing.T) {
		port, _ := bannerServer(t, "")
		s := bannerSpec(port)
		s.Timeout = Duration(150 * time.Millisecond)
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "sent no banner within 150ms")
	})
	t.Run("refused is error", func(t *testing.T) {
		l := listen(t)
		port := portOf(l)
		l.Close()
		r := bannerSpec(port).Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "refused")
	})
	t.Run("cancelled is error", func(t *testing.T) {
		port, _ := bannerServer(t, "")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		r := bannerSpec(port).Run(ctx, env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "run cancelled")
		if time.Since(start) > time.Second {
			t.Errorf("cancellation took %s", time.Since(start))
		}
	})
	t.Run("out of scope sends nothing", func(t *testing.T) {
		port, conns := bannerServer(t, "FortiGate v7.2.5\r\n")
		narrow := *env
		narrow.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
		r := bannerSpec(port).Run(context.Background(), &narrow)
		wantStatus(t, r, Error)
		wantSummary(t, r, "outside the profile's scope")
		if n := conns.Load(); n != 0 {
			t.Errorf("%d connections to an out-of-scope target; want none", n)
		}
	})
}

func TestFirmwareHTTPJSON(t *testing.T) {
	ca := newTestCA(t, "Preflight Test CA")
	env := firmwareEnv(t)
	ca.writePEM(t, env.Dir, "ca.pem")
	cert := ca.issue(t, ecKey(t), time.Now().Add(30*24*time.Hour))
	t.Setenv("FGT_TOKEN", "Bearer test-token-123")
	// FortiOS answers GET /api/v2/monitor/system/status like this.
	status := func(version string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer test-token-123" {
				http.Error(w, `{"status":"error","http_status":401}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"http_method":"GET","results":{"model_name":"FortiGate","model_number":"60F"},`+
				`"vdom":"root","path":"system","name":"status","status":"success","serial":"FGT60FTK0000000",`+
				`"version":"%s","build":1517}`, version)
		}
	}
	spec := func(port int) *FirmwareSpec {
		return &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: Duration(time.Second),
			Source: FirmwareSource{Method: "http_json", URL: fmt.Sprintf("https://127.0.0.1:%d/api/v2/monitor/system/status", port),
				JSONPath: "version", CA: "ca.pem", Header: "Authorization", HeaderEnv: "FGT_TOKEN"}}
	}
	t.Run("fail names the CVE", func(t *testing.T) {
		port, conns := httpsServer(t, "127.0.0.1", cert, status("v7.2.5"))
		r := spec(port).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "CVE-2024-21762 [KEV] (fix: 7.2.7)")
		wantEvidence(t, r, "version", "v7.2.5")
		src, _ := r.Evidence["source"].(Evidence)
		if src["header"] != "Authorization" || src["header_from"] != "env:FGT_TOKEN" || src["http_status"] != 200 {
			t.Errorf("source evidence %v", src)
		}
		if strings.Contains(fmt.Sprint(r.Evidence), "test-token-123") {
			t.Error("the credential leaked into the evidence")
		}
		if conns.Load() != 1 {
			t.Errorf("%d connections, want 1", conns.Load())
		}
	})
	t.Run("pass by target name", func(t *testing.T) {
		port, _ := httpsServer(t, "127.0.0.1", cert, status("v7.4.3"))
		s := spec(port)
		s.Source.URL = fmt.Sprintf("https://vpn:%d/api/v2/monitor/system/status", port) // the target's key; its name is localhost
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "version", "v7.4.3")
	})
	t.Run("missing token is error", func(t *testing.T) {
		port, conns := httpsServer(t, "127.0.0.1", cert, status("v7.4.3"))
		s := spec(port)
		s.Source.HeaderEnv = "PREFLIGHT_TEST_UNSET_TOKEN"
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "PREFLIGHT_TEST_UNSET_TOKEN (the Authorization header) is not set")
		if conns.Load() != 0 {
			t.Error("connected although the credential was missing")
		}
	})
	t.Run("wrong token is error", func(t *testing.T) {
		port, _ := httpsServer(t, "127.0.0.1", cert, status("v7.4.3"))
		os.WriteFile(filepath.Join(env.Dir, "token"), []byte("Bearer wrong\n"), 0o600)
		s := spec(port)
		s.Source.HeaderEnv, s.Source.HeaderFile = "", "token"
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "answered HTTP 401")
	})
	t.Run("untrusted certificate is error", func(t *testing.T) {
		other := newTestCA(t, "Someone Else")
		port, _ := httpsServer(t, "127.0.0.1", other.issue(t, ecKey(t), time.Now().Add(time.Hour)), status("v7.4.3"))
		r := spec(port).Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "certificate")
	})
	t.Run("redirect out of scope is refused", func(t *testing.T) {
		elsewhere, elseConns := httpsServer(t, "127.0.0.2", cert, status("v7.4.3"))
		port, _ := httpsServer(t, "127.0.0.1", cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("https://127.0.0.2:%d/api/v2/monitor/system/status", elsewhere), http.StatusFound)
		}))
		narrow := *env
		narrow.Scope = NewScope(netip.MustParsePrefix("127.0.0.1/32"))
		r := spec(port).Run(context.Background(), &narrow)
		wantStatus(t, r, Error)
		wantSummary(t, r, "redirect to https://127.0.0.2", "outside the profile's scope")
		if n := elseConns.Load(); n != 0 {
			t.Errorf("%d connections to the out-of-scope redirect target; want none", n)
		}
	})
	t.Run("out of scope sends nothing", func(t *testing.T) {
		port, conns := httpsServer(t, "127.0.0.1", cert, status("v7.4.3"))
		narrow := *env
		narrow.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
		r := spec(port).Run(context.Background(), &narrow)
		wantStatus(t, r, Error)
		wantSummary(t, r, "outside the profile's scope")
		if n := conns.Load(); n != 0 {
			t.Errorf("%d connections to an out-of-scope URL; want none", n)
		}
	})
}

func TestLookupJSON(t *testing.T) {
	doc := []byte(`{"results":[{"name":"vpn","version":"22.7R2.3"}],"system":{"version":10.2,"build":"x"},"n":null}`)
	for _, tc := range []struct{ path, want, err string }{
		{"results[0].version", "22.7R2.3", ""},
		{"system.version", "10.2", ""},
		{"results[1].version", "", "list of 1 items"},
		{"system.model", "", "no key \"model\""},
		{"results", "", "not a version string"},
		{"n.version", "", "not an object or list"},
		{"results..version", "", "bad json_path"},
	} {
		got, err := lookupJSON(doc, tc.path)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s = %q, %v; want %q", tc.path, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.path, err, tc.err)
		}
	}
}

// firmwareEnv is a loopback env with target "vpn" at 127.0.0.1 (named localhost), the test advisory set
// updated 2026-12-04, and a clock six days later.
func firmwareEnv(t *testing.T) *Env {
	env := loopbackEnv(t, map[string]Target{"vpn": loopback})
	env.Advisories = testAdvisories(t, "2026-12-04")
	env.Now = func() time.Time { return time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC) }
	return env
}

func bannerSpec(port int) *FirmwareSpec {
	return &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: Duration(time.Second),
		Source: FirmwareSource{Method: "banner", Target: "vpn", Port: port, Pattern: `\bv(\d+\.\d+\.\d+(?:,build\d+)?)`}}
}

// bannerServer accepts on 127.0.0.1:0, sends banner (nothing when empty) and holds each connection open
// until the test ends, counting connections.
func bannerServer(t *testing.T, banner string) (int, *atomic.Int32) {
	t.Helper()
	l := listen(t)
	var conns atomic.Int32
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				if banner != "" {
					c.Write([]byte(banner))
				}
				<-done
			}()
		}
	}()
	return portOf(l), &conns
}

// httpsServer serves h over TLS with cert on ip:0 (a loopback address) and counts connections.
func httpsServer(t *testing.T, ip string, cert tls.Certificate, h http.Handler) (int, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, &conns
}
