package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/ssh"
)

// NTPResponder answers NTP client (mode 3) packets with server (mode 4) packets from this host's clock
// moved by Offset, as a real server does on the wire — a facility time server whose clock can be wrong
// on purpose.
type NTPResponder struct {
	Offset  time.Duration
	Stratum uint8 // default 2
}

// Serve answers on pc until it is closed.
func (r *NTPResponder) Serve(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 48 || buf[0]&7 != 3 {
			continue
		}
		_, _ = pc.WriteTo(r.answer(buf[:48]), from)
	}
}

func (r *NTPResponder) answer(req []byte) []byte {
	now := time.Now().Add(r.Offset)
	stratum := r.Stratum
	if stratum == 0 {
		stratum = 2
	}
	b := make([]byte, 48)
	b[0] = 4<<3 | 4 // leap 0, version 4, mode 4
	b[1] = stratum
	b[2], b[3] = 6, 0xec
	binary.BigEndian.PutUint32(b[4:], 0x100)
	binary.BigEndian.PutUint32(b[8:], 0x80)
	copy(b[12:16], "LAB\x00")
	binary.BigEndian.PutUint64(b[16:], ntpStamp(now.Add(-time.Minute)))
	copy(b[24:32], req[40:48]) // origin = the client's transmit stamp
	binary.BigEndian.PutUint64(b[32:], ntpStamp(now))
	binary.BigEndian.PutUint64(b[40:], ntpStamp(time.Now().Add(r.Offset)))
	return b
}

func ntpStamp(t time.Time) uint64 {
	return uint64(t.Unix()+2208988800)<<32 | uint64(t.Nanosecond())<<32/1e9
}

// SSHServer is an SSH endpoint that offers the algorithms it is given (weak ones included) and never
// authenticates anyone: enough for a probe that reads the banner and KEXINIT.
type SSHServer struct {
	Version    string // identification after "SSH-2.0-"
	Ciphers    []string
	MACs       []string
	KeyExchges []string
}

// Serve handshakes with each connection on ln until it is closed.
func (s *SSHServer) Serve(ln net.Listener) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return err
	}
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-" + s.Version,
		Config:        ssh.Config{Ciphers: s.Ciphers, MACs: s.MACs, KeyExchanges: s.KeyExchges},
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, errors.New("no logins on a lab server")
		},
	}
	cfg.AddHostKey(signer)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, _, _, _ = ssh.NewServerConn(c, cfg)
			}()
		}
	}()
	return nil
}

// Portal is an HTTPS endpoint that, like a well-run cloud login, answers 401 with HSTS to a client
// without credentials; its plain-HTTP twin only redirects to HTTPS.
func Portal(httpsPort string) (secure, plain http.Handler) {
	secure = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		w.Header().Set("WWW-Authenticate", `Bearer realm="telesurgery-cloud"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
	plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if host == "" {
			host = r.Host
		}
		http.Redirect(w, r, "https://"+net.JoinHostPort(host, httpsPort)+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	return secure, plain
}

// httpServer serves h on ln (TLS when cfg is set) and returns the server for shutdown.
func httpServer(ln net.Listener, cfg *tls.Config, h http.Handler) *http.Server {
	// Probes hang up mid-handshake on purpose; the demo's screen is no place for those complaints.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, TLSConfig: cfg,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		if cfg != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
	return srv
}

// shutdownHTTP adapts an http.Server to io.Closer.
type shutdownHTTP struct{ s *http.Server }

func (s shutdownHTTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.s.Shutdown(ctx)
}
