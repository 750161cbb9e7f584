package checks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// issue signs a server certificate for localhost and 127.0.0.1 that expires at notAfter.
func (ca *testCA) issue(t *testing.T, key crypto.Signer, notAfter time.Time) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: notAfter.Add(-400 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM stores the CA certificate as name in dir, for the probe's ca parameter.
func (ca *testCA) writePEM(t *testing.T, dir, name string) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rsaKey is shared: RSA key exchange needs an RSA certificate, and generating keys is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// serveTLS runs a TLS server with cfg on 127.0.0.1:0 and counts the ClientHellos it receives. Raw
// connections are not counted: other test processes (TestPortsScan) may sweep every loopback port, and a
// sweep's empty connections say nothing about this probe.
func serveTLS(t *testing.T, cfg *tls.Config) (int, *atomic.Int32) {
	t.Helper()
	l := listen(t)
	var hellos atomic.Int32
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		hellos.Add(1)
		return nil, nil
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(2 * time.Second))
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}()
		}
	}()
	return portOf(l), &hellos
}

// tlsFixture is a test CA whose bundle is ca.pem in the env's profile directory, and a target "srv" on
// 127.0.0.1 named localhost.
type tlsFixture struct {
	ca  *testCA
	env *Env
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{ca: newTestCA(t, "Preflight Test CA"), env: loopbackEnv(t, map[string]Target{"srv": loopback})}
	f.ca.writePEM(t, f.env.Dir, "ca.pem")
	return f
}

// server starts a server with a certificate valid for a year and TLS versions minV..maxV; mod adjusts it.
func (f *tlsFixture) server(t *testing.T, minV, maxV uint16, mod func(*tls.Config)) int {
	cfg := &tls.Config{MinVersion: minV, MaxVersion: maxV,
		Certificates: []tls.Certificate{f.ca.issue(t, ecKey(t), time.Now().Add(365*24*time.Hour+time.Hour))}}
	if mod != nil {
		mod(cfg)
	}
	port, _ := serveTLS(t, cfg)
	return port
}

func (f *tlsFixture) spec(port int) *TLSSpec {
	return &TLSSpec{Target: "srv", Port: port, CA: "ca.pem", Timeout: Duration(time.Second)}
}

func requireClientCert(ca *testCA) func(*tls.Config) {
	return func(c *tls.Config) { c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool() }
}

func versionOutcome(r Result, v string) any {
	vs, _ := r.Evidence["versions"].(Evidence)
	e, _ := vs[v].(Evidence)
	return e["outcome"]
}

func TestTLSPolicyPass(t *testing.T) {
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS13, tls.VersionTLS13, requireClientCert(f.ca))
	s := f.spec(port)
	s.Policy = "mhlw-6.0"
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Pass)
	wantSummary(t, r, "TLS 1.3 only", "chain verified", "365 days left", "client certificate requested")
	wantEvidence(t, r, "accepted_versions", []string{"1.3"})
	wantEvidence(t, r, "client_cert_requested", true)
	wantEvidence(t, r, "chain_verified", true)
	wantEvidence(t, r, "days_left", 365)
	wantEvidence(t, r, "weak_suites_accepted", []string{})
	wantEvidence(t, r, "sans", []string{"localhost", "127.0.0.1"})
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		if o := versionOutcome(r, v); o != "refused" {
			t.Errorf("TLS %s outcome %v, want refused", v, o)
		}
	}
}

func TestTLSOldVersionsFail(t *testing.T) {
	// Go 1.26's server still speaks TLS 1.0 and 1.1 when MinVersion is set explicitly (only its default
	// floor moved to 1.2), and its client offers them the same way, so the real thing is tested here.
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS10, tls.VersionTLS13, requireClientCert(f.ca))
	t.Run("policy", func(t *testing.T) {
		s := f.spec(port)
		s.Policy = "mhlw-6.0"
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "TLS 1.0, 1.1 accepted", "weak cipher suites accepted", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA")
		wantEvidence(t, r, "accepted_versions", []string{"1.0", "1.1", "1.2", "1.3"})
	})
	t.Run("min_version", func(t *testing.T) {
		s := f.spec(port)
		s.MinVersion = "1.1"
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "TLS 1.0 accepted (minimum 1.1)")
		if strings.Contains(r.Summary, "1.1 accepted") || strings.Contains(r.Summary, "weak") {
			t.Errorf("summary %q blames more than TLS 1.0", r.Summary)
		}
	})
}

func TestTLSPolicyOverridesLowMinVersion(t *testing.T) {
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS11, tls.VersionTLS13, requireClientCert(f.ca))
	s := f.spec(port)
	s.Policy, s.MinVersion = "mhlw-6.0", "1.0" // Check refuses this; Run must still not let 1.1 through
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "TLS 1.1 accepted (minimum 1.2)")
	wantEvidence(t, r, "min_version", "1.2")
}

func TestTLSVersionNotRuledOut(t *testing.T) {
	// The server speaks TLS 1.0 but only with a suite that needs 1.2, so a 1.0 hello ends in a
	// handshake-failure alert: the version was not refused, nothing this Go offers fits. Say so.
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS10, tls.VersionTLS13, func(c *tls.Config) {
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	})
	r := f.spec(port).Run(context.Background(), f.env)
	wantStatus(t, r, Warn)
	wantSummary(t, r, "TLS 1.0, 1.1 not ruled out")
	if o := versionOutcome(r, "1.0"); o != "no-common-suite" {
		t.Errorf("TLS 1.0 outcome %v, want no-common-suite", o)
	}
	wantEvidence(t, r, "accepted_versions", []string{"1.2", "1.3"})
}

func TestTLSCertificateProblems(t *testing.T) {
	f := newTLSFixture(t)
	day := 24 * time.Hour
	other := newTestCA(t, "Someone Else's CA")
	other.writePEM(t, f.env.Dir, "other.pem")
	for _, tc := range []struct {
		name     string
		notAfter time.Duration
		mod      func(*TLSSpec)
		want     Status
		summary  string
		verified bool
		days     int
	}{
		{"expired", -day + time.Hour, nil, Fail, "certificate expired on", false, -1},
		{"few days left", 5*day + time.Hour, func(s *TLSSpec) { s.MinDaysLeft = 14 }, Fail, "expires in 5 days (minimum 14)", true, 5},
		{"warn days", 20*day + time.Hour, func(s *TLSSpec) { s.MinDaysLeft, s.WarnDaysLeft = 7, 30 }, Warn, "expires in 20 days (warn below 30)", true, 20},
		{"wrong name", 90 * day, func(s *TLSSpec) { s.ServerName = "robot.lab.test" }, Fail, "not robot.lab.test", false, 89},
		{"unknown CA", 90 * day, func(s *TLSSpec) { s.CA = "other.pem" }, Fail, "unknown authority", false, 89},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := f.ca.issue(t, ecKey(t), time.Now().Add(tc.notAfter))
			port, _ := serveTLS(t, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{leaf}})
			s := f.spec(port)
			if tc.mod != nil {
				tc.mod(s)
			}
			r := s.Run(context.Background(), f.env)
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary)
			wantEvidence(t, r, "chain_verified", tc.verified)
			wantEvidence(t, r, "days_left", tc.days)
			if tc.verified != (r.Evidence["chain_error"] == "") {
				t.Errorf("chain_error %q with chain_verified %v", r.Evidence["chain_error"], tc.verified)
			}
			x, _ := x509.ParseCertificate(leaf.Certificate[0])
			wantEvidence(t, r, "not_after", x.NotAfter.UTC().Format(time.RFC3339))
		})
	}
}

func TestTLS12UnderPolicyWarns(t *testing.T) {
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS12, tls.VersionTLS13, func(c *tls.Config) {
		requireClientCert(f.ca)(c)
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	})
	s := f.spec(port)
	s.Policy = "mhlw-6.0"
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Warn)
	wantSummary(t, r, "TLS 1.2 still accepted")
	wantEvidence(t, r, "accepted_versions", []string{"1.2", "1.3"})
	wantEvidence(t, r, "weak_suites_accepted", []string{})
	// Over TLS 1.2 the server aborts when our certificate is empty; the demand still counts.
	wantEvidence(t, r, "client_cert_requested", true)
}

func TestTLSClientCertNotRequested(t *testing.T) {
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS13, tls.VersionTLS13, nil)
	s := f.spec(port)
	s.RequireClientCert = true
	r := s.Run(context.Background(), f.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "no client certificate requested over TLS 1.3")
	wantEvidence(t, r, "client_cert_requested", false)
	wantEvidence(t, r, "chain_verified", true)
}

func TestTLSWeakSuites(t *testing.T) {
	f := newTLSFixture(t)
	leaf := f.ca.issue(t, rsaKey(), time.Now().Add(90*24*time.Hour))
	port, _ := serveTLS(t, &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{leaf},
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
	})
	weak := []string{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"}
	t.Run("forbidden", func(t *testing.T) {
		s := f.spec(port)
		s.ForbidWeakCiphers = true
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Fail)
		got, _ := r.Evidence["weak_suites_accepted"].([]string)
		if slices.Sort(got); !slices.Equal(got, weak) {
			t.Errorf("weak_suites_accepted %v, want %v", got, weak)
		}
		wantSummary(t, r, "weak cipher suites accepted", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")
	})
	t.Run("only recorded", func(t *testing.T) {
		r := f.spec(port).Run(context.Background(), f.env)
		wantStatus(t, r, Pass)
		if got, _ := r.Evidence["weak_suites_accepted"].([]string); len(got) != len(weak) {
			t.Errorf("weak_suites_accepted %v, want the %d weak suites recorded", got, len(weak))
		}
	})
}

func TestTLSSilentListener(t *testing.T) {
	l := listen(t)
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
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
	env := loopbackEnv(t, map[string]Target{"srv": loopback})
	s := &TLSSpec{Target: "srv", Port: portOf(l), Timeout: Duration(100 * time.Millisecond)}
	start := time.Now()
	r := s.Run(context.Background(), env)
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s; four 100ms handshakes should end well within a second", d)
	}
	wantStatus(t, r, Error)
	wantSummary(t, r, "could not decide", "1.3 timeout")
	wantEvidence(t, r, "outcome", "timeout")
	wantEvidence(t, r, "accepted_versions", []string{})
}

func TestTLSNotTLS(t *testing.T) {
	l := listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
			c.Close()
		}
	}()
	env := loopbackEnv(t, map[string]Target{"srv": loopback})
	r := (&TLSSpec{Target: "srv", Port: portOf(l), Timeout: Duration(time.Second)}).Run(context.Background(), env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "accepted no TLS version")
	wantEvidence(t, r, "accepted_versions", []string{})
}

func TestTLSRefused(t *testing.T) {
	l := listen(t)
	port := portOf(l)
	l.Close()
	env := loopbackEnv(t, map[string]Target{"srv": loopback})
	r := (&TLSSpec{Target: "srv", Port: port, Timeout: Duration(time.Second)}).Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "cannot connect", "refused")
	wantEvidence(t, r, "outcome", "refused")
}

func TestTLSScope(t *testing.T) {
	f := newTLSFixture(t)
	port, hellos := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{f.ca.issue(t, ecKey(t), time.Now().Add(time.Hour))}})
	// In scope first, so we know the counter sees this probe's handshakes at all.
	f.spec(port).Run(context.Background(), f.env)
	before := hellos.Load()
	if before == 0 {
		t.Fatal("the in-scope run reached the server with no ClientHello; the counter is broken")
	}
	f.env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	r := f.spec(port).Run(context.Background(), f.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "outside the profile's scope", "no packet was sent")
	s := f.spec(port)
	s.Target = "nowhere"
	r = s.Run(context.Background(), f.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, `unknown target "nowhere"`)
	time.Sleep(50 * time.Millisecond) // give a stray handshake time to show up
	if n := hellos.Load() - before; n != 0 {
		t.Errorf("the out-of-scope server received %d ClientHello(s)", n)
	}
}

func TestTLSBadCABundle(t *testing.T) {
	f := newTLSFixture(t)
	port, hellos := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{f.ca.issue(t, ecKey(t), time.Now().Add(time.Hour))}})
	if err := os.WriteFile(filepath.Join(f.env.Dir, "empty.pem"), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ca, want := range map[string]string{"missing.pem": "read ca bundle", "empty.pem": "holds no PEM certificate"} {
		s := f.spec(port)
		s.CA = ca
		r := s.Run(context.Background(), f.env)
		wantStatus(t, r, Error)
		wantSummary(t, r, want)
	}
	if n := hellos.Load(); n != 0 {
		t.Errorf("a profile mistake still cost the server %d handshake(s)", n)
	}
}

func TestTLSCancelled(t *testing.T) {
	f := newTLSFixture(t)
	port := f.server(t, tls.VersionTLS13, tls.VersionTLS13, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := f.spec(port).Run(ctx, f.env)
	wantStatus(t, r, Error)
}

func TestTLSCheck(t *testing.T) {
	// Whether a target lies in scope is the profile's check (and Run's); Check only needs it to exist.
	targets := map[string]Target{"srv": loopback}
	good := func() TLSSpec { return TLSSpec{Target: "srv", Port: 443} }
	for _, tc := range []struct {
		name   string
		mod    func(*TLSSpec)
		fields []string
	}{
		{"good", func(*TLSSpec) {}, nil},
		{"good full", func(s *TLSSpec) {
			s.Policy, s.MinVersion, s.ServerName, s.MinDaysLeft, s.WarnDaysLeft = "mhlw-6.0", "1.3", "cloud.lab.test", 14, 30
		}, nil},
		{"server name is an address", func(s *TLSSpec) { s.ServerName = "127.0.0.1" }, nil},
		{"missing target", func(s *TLSSpec) { s.Target = "" }, []string{"target"}},
		{"unknown target", func(s *TLSSpec) { s.Target = "robot" }, []string{"target"}},
		{"port 0", func(s *TLSSpec) { s.Port = 0 }, []string{"port"}},
		{"port too big", func(s *TLSSpec) { s.Port = 70000 }, []string{"port"}},
		{"unknown policy", func(s *TLSSpec) { s.Policy = "mhlw-5.2" }, []string{"policy"}},
		{"version with prefix", func(s *TLSSpec) { s.MinVersion = "TLS1.2" }, []string{"min_version"}},
		{"version too new", func(s *TLSSpec) { s.MinVersion = "1.4" }, []string{"min_version"}},
		{"version below policy", func(s *TLSSpec) { s.Policy, s.MinVersion = "mhlw-6.0", "1.0" }, []string{"min_version"}},
		{"server name with scheme", func(s *TLSSpec) { s.ServerName = "https://cloud.lab.test" }, []string{"server_name"}},
		{"negative min days", func(s *TLSSpec) { s.MinDaysLeft = -1 }, []string{"min_days_left"}},
		{"negative warn days", func(s *TLSSpec) { s.WarnDaysLeft = -5 }, []string{"warn_days_left"}},
		{"inverted thresholds", func(s *TLSSpec) { s.MinDaysLeft, s.WarnDaysLeft = 30, 14 }, []string{"warn_days_left"}},
		{"negative timeout", func(s *TLSSpec) { s.Timeout = -1 }, []string{"timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mod(&s)
			v := &Validator{Targets: targets, Scope: NewScope(netip.MustParsePrefix("127.0.0.0/8"))}
			s.Check(v)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("problems %v, want fields %v", v.Problems, tc.fields)
			}
			if tc.name == "inverted thresholds" && !strings.Contains(v.Problems[0].Msg, "inverted thresholds") {
				t.Errorf("message %q does not say inverted thresholds", v.Problems[0].Msg)
			}
		})
	}
}
