//go:build linux

package netlab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/telesurgery-preflight/preflight/lab"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.tmpl"))

// CloudConfig is the cloud log store's TLS setup (nginx).
type CloudConfig struct {
	Protocols  []string  // nginx ssl_protocols, e.g. TLSv1.2 TLSv1.3
	Ciphers    string    // OpenSSL cipher list for TLS ≤ 1.2
	ClientCert bool      // demand a client certificate: without a valid one the answer is 401
	NotAfter   time.Time // the server certificate's expiry
}

// ResolverConfig is the telesurgery segment's resolver (unbound).
type ResolverConfig struct {
	ForwardOutside bool // forward names outside the internal zone to the internet's resolver
}

// SSHConfig is the VPN's maintenance SSH server (OpenSSH).
type SSHConfig struct {
	Listen  []string // addresses; the inside leg by default
	Ciphers []string
}

// Defaults of a clean lab: how a careful hospital configures each server.
func defaultCloud() CloudConfig {
	return CloudConfig{
		Protocols:  []string{"TLSv1.2", "TLSv1.3"},
		Ciphers:    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
		ClientCert: true,
		NotAfter:   time.Now().AddDate(1, 0, 0),
	}
}

func defaultSSH() SSHConfig {
	return SSHConfig{
		Listen:  []string{hostPort(VPNInsideAddr, 22)},
		Ciphers: []string{"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "aes256-ctr", "aes128-ctr"},
	}
}

// DefaultVPN is the clean lab's VPN appliance: a FortiOS release outside every advisory of the embedded set.
func DefaultVPN() VPNConfig {
	return VPNConfig{Model: "FortiGate-60F", Version: "7.4.8", Build: 2795, Token: "lab-api-token-7f3c9a", Community: "lab-ro-3d81"}
}

// Names the lab's certificates are issued for.
const (
	CloudName = "logs.cloud.lab.test"
	VPNName   = "vpn.pts.lab.test"
)

// startDaemons writes the configs and starts the real servers, then waits until each listens.
func (l *Lab) startDaemons(ctx context.Context) error {
	if err := os.MkdirAll(l.Path("nginx-tmp"), 0o755); err != nil {
		return err
	}
	if _, err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vpn.pts.lab.test", "-f", l.Path("ssh_host_ed25519_key")); err != nil {
		return err
	}
	// sshd insists on its privilege-separation directory, which Debian creates only when the service
	// starts; create it as the package would (it is left in place: other tests may use it too).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	starts := []func(context.Context) error{l.startNginx, l.startUnbound, l.startSSHD, l.startSNMPD}
	errc := make(chan error, len(starts))
	for _, f := range starts {
		go func() { errc <- f(ctx) }()
	}
	var errs []error
	for range starts {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// render writes a template to the lab's directory.
func (l *Lab) render(tmpl, out string, data any) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, tmpl, data); err != nil {
		return "", err
	}
	path := l.Path(out)
	return path, os.WriteFile(path, b.Bytes(), 0o600)
}

func (l *Lab) startNginx(ctx context.Context) error {
	c := l.cloudCfg()
	cert, err := l.CA.Issue(lab.Leaf{Names: []string{CloudName, CloudAddr}, NotAfter: c.NotAfter})
	if err != nil {
		return err
	}
	if err := writeKeyPair(cert, l.Path("cloud.crt"), l.Path("cloud.key")); err != nil {
		return err
	}
	conf, err := l.render("nginx.conf.tmpl", "nginx.conf", map[string]any{
		"Dir": l.Dir, "Addr": CloudAddr, "Name": CloudName, "Protocols": strings.Join(c.Protocols, " "),
		"Ciphers": c.Ciphers, "ClientCert": c.ClientCert,
	})
	if err != nil {
		return err
	}
	p, err := l.Start(Cloud, "nginx", sbin("nginx"), "-e", "stderr", "-p", l.Dir, "-c", conf)
	if err != nil {
		return err
	}
	return l.WaitListening(ctx, p, Cloud, "tcp", hostPort(CloudAddr, 443))
}

// ResolverRecords are the internal zone's names.
var ResolverRecords = []string{
	"robot.pts.lab.test. 300 IN A " + RobotAddr,
	"vpn.pts.lab.test. 300 IN A " + VPNInsideAddr,
	"ntp.pts.lab.test. 300 IN A " + NTPAddr,
	"dns.pts.lab.test. 300 IN A " + ResolverAddr,
	"logs.cloud.lab.test. 300 IN A " + CloudAddr,
	"console.sts.lab.test. 300 IN A " + ConsoleAddr,
}

func (l *Lab) startUnbound(ctx context.Context) error {
	conf, err := l.render("unbound.conf.tmpl", "unbound.conf", map[string]any{
		"Dir": l.Dir, "Addr": ResolverAddr, "Records": ResolverRecords,
		"ForwardOutside": l.resolverCfg().ForwardOutside, "Forwarder": OutsideDNSAddr,
	})
	if err != nil {
		return err
	}
	p, err := l.Start(PatientTS, "unbound", sbin("unbound"), "-d", "-c", conf)
	if err != nil {
		return err
	}
	return l.WaitListening(ctx, p, PatientTS, "tcp", hostPort(ResolverAddr, 53))
}

func (l *Lab) startSSHD(ctx context.Context) error {
	c := l.sshCfg()
	conf, err := l.render("sshd_config.tmpl", "sshd_config", map[string]any{
		"Dir": l.Dir, "Listen": c.Listen, "Ciphers": strings.Join(c.Ciphers, ","),
	})
	if err != nil {
		return err
	}
	p, err := l.Start(PatientVPN, "sshd", sbin("sshd"), "-D", "-e", "-f", conf)
	if err != nil {
		return err
	}
	for _, a := range c.Listen {
		if err := l.WaitListening(ctx, p, PatientVPN, "tcp", a); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) startSNMPD(ctx context.Context) error {
	v := l.vpnCfg()
	if err := os.MkdirAll(l.Path("snmp"), 0o700); err != nil {
		return err
	}
	conf, err := l.render("snmpd.conf.tmpl", "snmpd.conf", map[string]any{
		"Addr": VPNInsideAddr, "Community": v.Community, "Descr": v.SysDescr(),
	})
	if err != nil {
		return err
	}
	// env execs snmpd in place, so the PID the lab tracks is snmpd's. No MIBs: the agent needs none. No
	// SMUX: it would listen on TCP 199 on every address, the outside leg included.
	p, err := l.Start(PatientVPN, "snmpd", "env", "SNMP_PERSISTENT_DIR="+l.Path("snmp"), "MIBS=", "MIBDIRS=",
		sbin("snmpd"), "-f", "-Lo", "-C", "-I", "-smux", "-c", conf)
	if err != nil {
		return err
	}
	return l.WaitListening(ctx, p, PatientVPN, "udp", hostPort(VPNInsideAddr, 161))
}

// SysDescr is what the appliance's SNMP agent reports, the way FortiGates put model and firmware there.
func (v VPNConfig) SysDescr() string {
	return fmt.Sprintf("%s v%s,build%04d (GA)", v.Model, v.Version, v.Build)
}

// writeKeyPair writes a certificate and its ECDSA key as PEM files for a daemon.
func writeKeyPair(cert tls.Certificate, certPath, keyPath string) error {
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("unexpected key type %T", cert.PrivateKey)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	var certPEM []byte
	for _, c := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// Accessors under the lab's lock: faults change these while tests read them.
func (l *Lab) cloudCfg() CloudConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cloud
}

func (l *Lab) resolverCfg() ResolverConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unbound
}

func (l *Lab) sshCfg() SSHConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ssh
}

func (l *Lab) vpnCfg() VPNConfig {
	l.vpnSrv.mu.Lock()
	defer l.vpnSrv.mu.Unlock()
	return l.vpnSrv.cfg
}

// VPN returns the VPN appliance's current configuration (its token and community for preflight's env).
func (l *Lab) VPN() VPNConfig { return l.vpnCfg() }

// sbin is a daemon's path (Usable has checked that it exists).
func sbin(name string) string {
	p, err := bin(name)
	if err != nil {
		return name
	}
	return p
}
