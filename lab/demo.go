package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// Sides of the demo, and the built-in profile each one runs.
var Sides = map[string]string{"patient": "demo-patient", "surgeon": "demo-surgeon"}

// Demo is a running simulated facility on loopback.
type Demo struct {
	Side    string
	Profile *profiles.Profile
	Dir     string // holds demo-ca.pem; removed by Close

	closers []io.Closer
	wg      sync.WaitGroup
}

// tlsFlaw selects how a simulated TLS endpoint is (mis)configured.
type tlsFlaw int

const (
	tlsGood         tlsFlaw = iota // TLS 1.3 only, client certificate required
	tlsNoClientAuth                // TLS 1.2–1.3, never asks for a client certificate
	tlsLegacy                      // accepts TLS 1.0 and CBC suites
	tlsExpiring                    // certificate expires in 5 days
	tlsExpiring20                  // certificate expires in 20 days
)

type tlsService struct {
	addr, name string
	flaw       tlsFlaw
}

type dnsService struct {
	addr  string
	zone  map[string]string // internal name → IPv4 address
	leaks map[string]string // outside names the resolver wrongly answers (a planted leak)
}

type sshService struct {
	addr string
	weak bool // also offers CBC ciphers and SHA-1 MACs, as a forgotten maintenance box does
}

type portalService struct {
	https, plain, name string // a cloud login page: 401 + HSTS over HTTPS; plain HTTP only redirects
}

type layout struct {
	listeners []string // plain TCP listeners (accept, then close)
	tls       []tlsService
	dns       dnsService
	ntp       string // address of the facility's time server (in step with this host)
	ssh       []sshService
	portals   []portalService
	banners   map[string]string // address → what the service says on connect (an appliance's version)
}

var layouts = map[string]layout{
	"patient": {
		listeners: []string{
			"127.77.1.10:18443", "127.77.1.10:18444", // robot: allowed (the surgeon side connects to 18443)
			"127.77.1.10:18023", // robot: planted, not allowed (a forgotten telnet-like service)
		},
		tls: []tlsService{
			{"127.77.3.11:18443", "api.cloud.lab.test", tlsGood},
			{"127.77.3.10:18443", "logs.cloud.lab.test", tlsNoClientAuth}, // planted
			{"127.77.4.1:18443", "vpn.patient.lab.test", tlsLegacy},       // planted
			{"127.77.4.2:18443", "maint.patient.lab.test", tlsExpiring},   // planted
		},
		dns: dnsService{
			addr:  "127.77.5.53:18053",
			zone:  map[string]string{"robot.patient.lab.test.": "127.77.1.10", "dns.patient.lab.test.": "127.77.5.53"},
			leaks: map[string]string{"telemetry.vendor.example.": "192.0.2.80"}, // planted
		},
		ntp:     "127.77.5.123:18123",
		ssh:     []sshService{{"127.77.4.2:18022", true}}, // planted
		portals: []portalService{{"127.77.3.12:18443", "127.77.3.12:18080", "portal.cloud.lab.test"}},
		// planted: a FortiOS release inside the range of CVE-2024-21762 (fixed in 7.2.7) and others
		banners: map[string]string{"127.77.4.1:18541": "FortiGate-60F v7.2.5,build1517,230606 (GA.F)\r\n"},
	},
	"surgeon": {
		listeners: []string{"127.78.1.10:18500"}, // the surgeon console (the patient side connects to it)
		tls: []tlsService{
			{"127.78.3.10:18443", "video.surgeon.lab.test", tlsExpiring20}, // warning-level: waive or fix
		},
		dns: dnsService{
			addr: "127.78.5.53:18053",
			zone: map[string]string{"console.surgeon.lab.test.": "127.78.1.10"},
		},
		ntp: "127.78.5.123:18123",
	},
}

// cleanLayouts are the two facilities without their planted flaws: with every manual item answered and
// both sides signed, the operation reaches OPERATION READY.
var cleanLayouts = map[string]layout{
	"patient": {
		listeners: []string{"127.77.1.10:18443", "127.77.1.10:18444"},
		tls: []tlsService{
			{"127.77.3.11:18443", "api.cloud.lab.test", tlsGood},
			{"127.77.3.10:18443", "logs.cloud.lab.test", tlsGood},
			{"127.77.4.1:18443", "vpn.patient.lab.test", tlsGood},
			{"127.77.4.2:18443", "maint.patient.lab.test", tlsGood},
		},
		dns: dnsService{
			addr: "127.77.5.53:18053",
			zone: map[string]string{"robot.patient.lab.test.": "127.77.1.10", "dns.patient.lab.test.": "127.77.5.53"},
		},
		ntp:     "127.77.5.123:18123",
		ssh:     []sshService{{"127.77.4.2:18022", false}},
		portals: []portalService{{"127.77.3.12:18443", "127.77.3.12:18080", "portal.cloud.lab.test"}},
		banners: map[string]string{"127.77.4.1:18541": "FortiGate-60F v7.2.8,build1639,240313 (GA.M)\r\n"},
	},
	"surgeon": {
		listeners: []string{"127.78.1.10:18500"},
		tls:       []tlsService{{"127.78.3.10:18443", "video.surgeon.lab.test", tlsGood}},
		dns: dnsService{
			addr: "127.78.5.53:18053",
			zone: map[string]string{"console.surgeon.lab.test.": "127.78.1.10"},
		},
		ntp: "127.78.5.123:18123",
	},
}

// StartDemo starts the simulated services of one side ("patient" or "surgeon") and loads its built-in
// profile. Everything listens on 127.77.x.y / 127.78.x.y only. Close stops it all. The cross-site items
// of each profile reach the other side's services: StartPair starts both.
func StartDemo(side string) (*Demo, error) {
	return startSide(side, true)
}

// startSide starts one side, with its planted flaws or without.
func startSide(side string, flawed bool) (*Demo, error) {
	l, ok := layouts[side]
	if !flawed {
		l, ok = cleanLayouts[side]
	}
	if !ok {
		return nil, fmt.Errorf("unknown demo side %q: use patient or surgeon", side)
	}
	return startLayout(side, l, Sides[side])
}

// startLayout starts the services of l and loads the built-in profile that goes with them.
func startLayout(side string, l layout, profile string) (*Demo, error) {
	dir, err := os.MkdirTemp("", "preflight-demo-")
	if err != nil {
		return nil, err
	}
	d := &Demo{Side: side, Dir: dir}
	if err := d.start(l); err != nil {
		d.Close() // what did start, stops; the directory goes
		return nil, err
	}
	if d.Profile, err = profiles.Builtin(profile, dir); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// start brings up every service of a layout, writing the demo CA into d.Dir.
func (d *Demo) start(l layout) error {
	ca, err := NewCA("preflight demo CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "demo-ca.pem"), ca.PEM, 0o644); err != nil {
		return err
	}
	for _, a := range l.listeners {
		if err := d.serveTCP(a, nil); err != nil {
			return err
		}
	}
	for _, s := range l.tls {
		cfg, err := tlsConfig(ca, s)
		if err != nil {
			return err
		}
		if err := d.serveTCP(s.addr, cfg); err != nil {
			return err
		}
	}
	if err := d.serveDNS(l.dns); err != nil {
		return err
	}
	return d.serveExtras(ca, l)
}

func listenErr(addr string, err error) error {
	if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("demo: cannot listen on %s: %w (is another `preflight demo` running? stop it first)", addr, err)
	}
	return fmt.Errorf("demo: cannot listen on %s: %w", addr, err)
}

// serveTCP accepts connections on addr; with cfg it completes a TLS handshake and closes, otherwise it
// closes at once.
func (d *Demo) serveTCP(addr string, cfg *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenErr(addr, err)
	}
	d.closers = append(d.closers, ln)
	d.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if cfg == nil {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, cfg)
				if err := tc.HandshakeContext(context.Background()); err == nil {
					_, _ = tc.Write([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
				}
			}()
		}
	})
	return nil
}

func tlsConfig(ca *CA, s tlsService) (*tls.Config, error) {
	leaf := Leaf{Names: []string{s.name}}
	switch s.flaw {
	case tlsExpiring:
		leaf.NotAfter = time.Now().Add(5*24*time.Hour + time.Hour)
	case tlsExpiring20:
		leaf.NotAfter = time.Now().Add(20*24*time.Hour + time.Hour)
	}
	cert, err := ca.Issue(leaf)
	if err != nil {
		return nil, err
	}
	// AEAD suites only unless a flaw is planted, so each service shows just its own flaw.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	}}
	switch s.flaw {
	case tlsGood:
		cfg.MinVersion = tls.VersionTLS13
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.Pool()
	case tlsLegacy:
		cfg.MinVersion = tls.VersionTLS10
		cfg.CipherSuites = []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		}
	}
	return cfg, nil
}

func (d *Demo) serveDNS(s dnsService) error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if len(q.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(m)
			return
		}
		name := strings.ToLower(q.Question[0].Name)
		addr, internal := s.zone[name]
		if !internal {
			addr, internal = s.leaks[name]
		}
		switch {
		case !internal:
			m.Rcode = dns.RcodeRefused
			m.Authoritative = false
		case q.Question[0].Qtype == dns.TypeA:
			rr, err := dns.NewRR(fmt.Sprintf("%s 60 IN A %s", name, addr))
			if err == nil {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", s.addr)
	if err != nil {
		return listenErr(s.addr, err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		pc.Close()
		return listenErr(s.addr, err)
	}
	d.closers = append(d.closers, pc, ln) // closed again after Shutdown: harmless, and covers a failed start
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		// Shutdown before the server has started would fail and leave it running: wait for the start.
		started, failed := make(chan struct{}), make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		d.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				slog.Debug("demo dns server stopped", "err", err)
				failed <- err
			}
		})
		select {
		case <-started:
			d.closers = append(d.closers, shutdowner{srv})
		case err := <-failed:
			return fmt.Errorf("demo: dns on %s: %w", s.addr, err)
		}
	}
	return nil
}

type shutdowner struct{ s *dns.Server }

func (s shutdowner) Close() error { return s.s.Shutdown() }

// Close stops every service, waits for them, and removes the demo's files.
func (d *Demo) Close() error {
	for _, c := range slices.Backward(d.closers) { // shutdowns before the sockets they serve
		_ = c.Close()
	}
	d.wg.Wait()
	return os.RemoveAll(d.Dir)
}

// serveExtras starts the time server, SSH endpoints and cloud portals of a layout.
func (d *Demo) serveExtras(ca *CA, l layout) error {
	if l.ntp != "" {
		pc, err := net.ListenPacket("udp", l.ntp)
		if err != nil {
			return listenErr(l.ntp, err)
		}
		d.closers = append(d.closers, pc)
		d.wg.Go(func() { (&NTPResponder{}).Serve(pc) })
	}
	for _, s := range l.ssh {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return listenErr(s.addr, err)
		}
		d.closers = append(d.closers, ln)
		srv := &SSHServer{Version: "OpenSSH_9.6p1 lab", Ciphers: []string{"aes256-gcm@openssh.com", "aes128-ctr"},
			MACs: []string{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"}}
		if s.weak {
			srv.Version = "OpenSSH_7.4 maintenance"
			srv.Ciphers = append(srv.Ciphers, "aes128-cbc")
			srv.MACs = append(srv.MACs, "hmac-sha1")
		} else { // no SHA-1 key exchange either
			srv.KeyExchges = []string{"curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256"}
		}
		if err := srv.Serve(ln); err != nil {
			return err
		}
	}
	for addr, text := range l.banners {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return listenErr(addr, err)
		}
		d.closers = append(d.closers, ln)
		d.wg.Go(func() { serveBanner(ln, text) })
	}
	for _, p := range l.portals {
		cert, err := ca.Issue(Leaf{Names: []string{p.name}})
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(p.https)
		secure, plain := Portal(port)
		for _, ep := range []struct {
			addr string
			cfg  *tls.Config
			h    http.Handler
		}{
			{p.https, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, secure},
			{p.plain, nil, plain},
		} {
			ln, err := net.Listen("tcp", ep.addr)
			if err != nil {
				return listenErr(ep.addr, err)
			}
			d.closers = append(d.closers, ln, shutdownHTTP{httpServer(ln, ep.cfg, ep.h)})
		}
	}
	return nil
}

// serveBanner writes text to every connection, then closes it.
func serveBanner(ln net.Listener, text string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write([]byte(text))
		c.Close()
	}
}
