//go:build linux

package netlab

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/telesurgery-preflight/preflight/lab"
)

// The lab's own stand-ins run in this process, on sockets opened inside the lab's namespaces: the robot's,
// HIS host's and console's listeners, the internet's sentinels and outside DNS, the VPN's status API and
// portal, and the NTP responder.

// listeners a fresh lab starts: role → addresses.
func standinListeners() map[string][]string {
	m := map[string][]string{}
	for _, p := range RobotPorts {
		m[PatientTS] = append(m[PatientTS], hostPort(RobotAddr, p))
	}
	for _, p := range HISPorts {
		m[PatientHIS] = append(m[PatientHIS], hostPort(HISAddr, p))
	}
	for _, p := range append(ConsolePorts, ConsoleDebug) {
		m[SurgeonTS] = append(m[SurgeonTS], hostPort(ConsoleAddr, p))
	}
	m[Internet] = []string{hostPort(SentinelAddr, 80), hostPort(SentinelAddr, 443)}
	return m
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Listen opens a TCP listener on addr inside role's namespace that accepts and closes connections — an
// open port, as a scanner sees it. It stays until the lab closes.
func (l *Lab) Listen(role, addr string) error {
	var ln net.Listener
	if err := l.Do(role, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		return fmt.Errorf("listen %s in %s: %w", addr, role, err)
	}
	l.addCloser(ln)
	l.mu.Lock()
	if l.listeners == nil {
		l.listeners = map[string]io.Closer{}
	}
	l.listeners[role+" "+addr] = ln
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return nil
}

// Unlisten closes a listener Listen opened: the port is closed again.
func (l *Lab) Unlisten(role, addr string) error {
	l.mu.Lock()
	ln := l.listeners[role+" "+addr]
	delete(l.listeners, role+" "+addr)
	l.mu.Unlock()
	if ln == nil {
		return fmt.Errorf("nothing listens on %s in %s to close", addr, role)
	}
	return ln.Close()
}

// outsideDNS answers every A query with OutsideAnswer: a public resolver, so a leak is visible.
func (l *Lab) startOutsideDNS() error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				rr, err := dns.NewRR(fmt.Sprintf("%s 300 IN A %s", qq.Name, OutsideAnswer))
				if err == nil {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	var pc net.PacketConn
	var ln net.Listener
	addr := hostPort(OutsideDNSAddr, 53)
	if err := l.Do(Internet, func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		if pc != nil {
			pc.Close()
		}
		return fmt.Errorf("outside dns: %w", err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		l.addCloser(closerFunc(func() error { return srv.Shutdown() }))
	}
	l.addCloser(pc)
	l.addCloser(ln)
	return nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// VPNConfig is the maintenance VPN appliance stand-in: a FortiGate-like box whose firmware version shows
// in its REST status API (bearer token), its SNMP sysDescr and its portal.
type VPNConfig struct {
	Model     string // e.g. "FortiGate-60F"
	Version   string // e.g. "7.4.8"
	Build     int
	Token     string // API bearer token; preflight reads it from the environment (VPNTokenEnv)
	Community string // SNMP v2c read community (SNMPCommunityEnv)
}

// Environment variables through which the lab hands preflight the VPN's credentials (profiles never
// hold secrets).
const (
	VPNTokenEnv      = "PFL_LAB_VPN_TOKEN"
	SNMPCommunityEnv = "PFL_LAB_SNMP_COMMUNITY"
)

// VPNStatusPath is the status endpoint on VPNInsideAddr:8443, shaped like FortiOS's monitor API.
const VPNStatusPath = "/api/v2/monitor/system/status"

// vpnServer serves the status API on the inside leg and the SSL-VPN portal on the outside leg.
type vpnServer struct {
	mu  sync.Mutex
	cfg VPNConfig
}

func (v *vpnServer) config() VPNConfig {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cfg
}

func (v *vpnServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := v.config()
	switch r.URL.Path {
	case VPNStatusPath:
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="FortiGate"`)
			http.Error(w, `{"http_status":401,"status":"error"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"http_method": "GET", "status": "success", "path": "system", "name": "status", "vdom": "root",
			"serial": "FGT60FTK2209LAB01", "version": "v" + cfg.Version, "build": cfg.Build,
			"results": map[string]any{"model_name": "FortiGate", "model_number": "60F", "model": cfg.Model, "hostname": "vpn-pts"},
		})
	case "/", "/remote/login":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><title>SSL-VPN login</title><body>%s SSL-VPN portal</body></html>\n", cfg.Model)
	default:
		http.NotFound(w, r)
	}
}

// VPN API and portal ports.
const (
	VPNAPIPort    = 8443
	VPNPortalPort = 443
)

func (l *Lab) startVPN(cfg VPNConfig) error {
	cert, err := l.CA.Issue(lab.Leaf{Names: []string{"vpn.pts.lab.test", VPNInsideAddr, VPNOutsideAddr}})
	if err != nil {
		return err
	}
	l.vpnSrv = &vpnServer{cfg: cfg}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	for _, addr := range []string{hostPort(VPNInsideAddr, VPNAPIPort), hostPort(VPNOutsideAddr, VPNPortalPort)} {
		var ln net.Listener
		if err := l.Do(PatientVPN, func() error {
			var err error
			ln, err = net.Listen("tcp", addr)
			return err
		}); err != nil {
			return fmt.Errorf("vpn https on %s: %w", addr, err)
		}
		// Probes break handshakes off on purpose; their errors are not news.
		// Each server gets its own config: ServeTLS adds HTTP/2 to the one it is given.
		srv := &http.Server{Handler: l.vpnSrv, TLSConfig: tcfg.Clone(), ReadHeaderTimeout: 5 * time.Second,
			ErrorLog: log.New(io.Discard, "", 0)}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		l.addCloser(closerFunc(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		}))
	}
	return nil
}
