//go:build linux

package netlab

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Fault is one misconfiguration planted in a clean lab — each one a thing that has gone wrong in a real
// hospital network.
type Fault struct {
	Name  string
	Doc   string
	Apply func(ctx context.Context, l *Lab) error
	// Revert undoes Apply, so that one lab can serve several cases in turn; nil when the fault cannot be
	// undone (a changed route or daemon configuration): such a case needs a fresh lab.
	Revert func(ctx context.Context, l *Lab) error
}

// Apply plants a fault.
func (l *Lab) Apply(ctx context.Context, f Fault) error {
	l.Logf("fault %s: %s", f.Name, f.Doc)
	if err := f.Apply(ctx, l); err != nil {
		return fmt.Errorf("fault %s: %w", f.Name, err)
	}
	return nil
}

// Revert undoes a fault that Apply planted.
func (l *Lab) Revert(ctx context.Context, f Fault) error {
	if f.Revert == nil {
		return fmt.Errorf("fault %s cannot be reverted: plant it in a fresh lab", f.Name)
	}
	l.Logf("revert %s", f.Name)
	if err := f.Revert(ctx, l); err != nil {
		return fmt.Errorf("revert %s: %w", f.Name, err)
	}
	return nil
}

// tsSources is the telesurgery segment with its closed-network leg, as firewall rules name it.
const tsSources = "{ " + PatientTSNet + ", " + ClosedNetLeg + " }"

// OpenFirewall adds an accept rule (nftables syntax) to a firewall's forward chain.
func OpenFirewall(name, doc, firewall, rule string) Fault {
	return Fault{Name: name, Doc: doc,
		Apply:  func(ctx context.Context, l *Lab) error { return l.Allow(ctx, firewall, rule) },
		Revert: func(ctx context.Context, l *Lab) error { return l.Remove(ctx, firewall, rule) }}
}

// HISExtraPort opens RDP on the HIS host to the telesurgery segment: a rule added for a one-off job
// and never removed.
func HISExtraPort() Fault {
	return OpenFirewall("his-extra-port", "patient-fw lets the telesurgery segment reach RDP (3389) on the HIS host",
		PatientFW, fmt.Sprintf("ip saddr %s ip daddr %s tcp dport 3389 accept comment \"temporary: vendor remote desktop\"", tsSources, HISAddr))
}

// HISToRobot lets the HIS segment reach the robot's control port.
func HISToRobot() Fault {
	return OpenFirewall("his-to-robot", "patient-fw lets the HIS segment reach the robot's control port (18443)",
		PatientFW, fmt.Sprintf("ip saddr %s ip daddr %s tcp dport 18443 accept comment \"schedule feed\"", HISNet, RobotAddr))
}

// SurgeonFirewallAny makes the surgeon side's firewall accept anything from the patient segment.
func SurgeonFirewallAny() Fault {
	return OpenFirewall("surgeon-fw-any", "surgeon-fw accepts every port of the console from the patient side",
		SurgeonFW, fmt.Sprintf("ip saddr %s ip daddr %s accept comment \"any/any from partner\"", tsSources, SurgeonTSNet))
}

// ServePortBlocked makes a firewall drop the peer link's port (ServePort) in both directions, open
// connections included: a rule change that cuts the two facilities' preflight off from each other while
// the carrier and the robot's own ports still work.
func ServePortBlocked(firewall string) Fault {
	rule := fmt.Sprintf("tcp dport %d drop comment \"cleanup: unknown port\"", ServePort)
	return Fault{Name: "serve-port-blocked", Doc: fmt.Sprintf("%s drops the peer link's port %d", firewall, ServePort),
		Apply:  func(ctx context.Context, l *Lab) error { return l.Block(ctx, firewall, rule) },
		Revert: func(ctx context.Context, l *Lab) error { return l.Remove(ctx, firewall, rule) }}
}

// VendorDirect lets the contractor's network past the VPN straight to the robot (a "permit any" rule on
// the VPN appliance instead of the tunnel and jump host).
func VendorDirect() Fault {
	return OpenFirewall("vendor-direct", "the VPN appliance forwards the vendor's network straight to the robot",
		PatientVPN, fmt.Sprintf("ip saddr %s ip daddr %s accept comment \"vendor support\"", VendorNet, RobotAddr))
}

// InternetRoute gives the telesurgery segment a default route and lets the firewall pass it to the
// internet.
func InternetRoute() Fault {
	return Fault{Name: "internet-route", Doc: "the telesurgery segment gets a default route and patient-fw NATs it to the internet",
		Apply: func(ctx context.Context, l *Lab) error {
			if _, err := l.IP(ctx, PatientTS, "route", "add", "default", "via", PatientGW); err != nil {
				return err
			}
			return l.Allow(ctx, PatientFW, `iifname "ts0" oifname "inet0" accept comment "temporary: updates"`)
		}}
}

// PeerOverDefaultRoute removes the closed-network route to the surgeon side, so the console is reached
// over the default route through the hospital firewall instead.
func PeerOverDefaultRoute() Fault {
	return Fault{Name: "peer-default-route", Doc: "the route to the surgeon side over the closed network is gone; the default route carries it",
		Apply: func(ctx context.Context, l *Lab) error {
			if _, err := l.IP(ctx, PatientTS, "route", "del", SurgeonTSNet); err != nil {
				return err
			}
			_, err := l.IP(ctx, PatientTS, "route", "add", "default", "via", PatientGW)
			return err
		}}
}

// ResolverForwards makes the segment's resolver forward outside names to a public resolver, with the
// firewall hole that makes it work.
func ResolverForwards() Fault {
	return Fault{Name: "resolver-forwards", Doc: "unbound forwards names outside the internal zone to a public resolver",
		Apply: func(ctx context.Context, l *Lab) error {
			if _, err := l.IP(ctx, PatientTS, "route", "add", OutsideDNSAddr+"/32", "via", PatientGW); err != nil {
				return err
			}
			for _, proto := range []string{"udp", "tcp"} {
				if err := l.Allow(ctx, PatientFW, fmt.Sprintf("ip saddr %s ip daddr %s %s dport 53 accept", ResolverAddr, OutsideDNSAddr, proto)); err != nil {
					return err
				}
			}
			l.mu.Lock()
			l.unbound.ForwardOutside = true
			l.mu.Unlock()
			return l.startUnbound(ctx)
		}}
}

// CloudTLS11 enables TLS 1.1 (and the CBC suites it needs) on the cloud log store.
func CloudTLS11() Fault {
	return cloudFault("cloud-tls11", "nginx on the cloud log store accepts TLS 1.1", func(c *CloudConfig) {
		c.Protocols = append([]string{"TLSv1.1"}, c.Protocols...)
		// TLS 1.1 has only SHA-1 CBC suites, which OpenSSL 3 allows at security level 0 only.
		c.Ciphers += ":ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"
	})
}

// CloudNoClientCert turns client-certificate authentication off on the cloud log store.
func CloudNoClientCert() Fault {
	return cloudFault("cloud-no-client-cert", "nginx on the cloud log store no longer asks for client certificates (and serves anyone)",
		func(c *CloudConfig) { c.ClientCert = false })
}

// CloudCertExpiring gives the cloud log store a certificate that expires in days.
func CloudCertExpiring(days int) Fault {
	return cloudFault("cloud-cert-expiring", fmt.Sprintf("the cloud log store's certificate expires in %d days", days),
		func(c *CloudConfig) { c.NotAfter = time.Now().Add(time.Duration(days)*24*time.Hour + time.Hour) })
}

func cloudFault(name, doc string, change func(*CloudConfig)) Fault {
	return Fault{Name: name, Doc: doc, Apply: func(ctx context.Context, l *Lab) error {
		l.mu.Lock()
		change(&l.cloud)
		l.mu.Unlock()
		return l.startNginx(ctx)
	}}
}

// VPNVersion makes the VPN appliance report another firmware version (API and SNMP).
func VPNVersion(version string, build int) Fault {
	return Fault{Name: "vpn-version", Doc: fmt.Sprintf("the VPN appliance runs FortiOS %s", version),
		Apply: func(ctx context.Context, l *Lab) error {
			l.vpnSrv.mu.Lock()
			l.vpnSrv.cfg.Version, l.vpnSrv.cfg.Build = version, build
			l.vpnSrv.mu.Unlock()
			return l.startSNMPD(ctx)
		}}
}

// SSHCBC adds CBC ciphers to the VPN's maintenance SSH.
func SSHCBC() Fault {
	return sshFault("ssh-cbc", "the VPN's maintenance SSH offers CBC ciphers", func(c *SSHConfig) {
		c.Ciphers = append(c.Ciphers, "aes128-cbc", "aes256-cbc")
	})
}

// SSHOutside makes the VPN's maintenance SSH listen on the outside leg too, where the vendor's network
// reaches it without the tunnel.
func SSHOutside() Fault {
	return sshFault("ssh-outside", "the VPN's maintenance SSH also listens on the outside (vendor-facing) leg", func(c *SSHConfig) {
		c.Listen = append(c.Listen, hostPort(VPNOutsideAddr, 22))
	})
}

func sshFault(name, doc string, change func(*SSHConfig)) Fault {
	return Fault{Name: name, Doc: doc, Apply: func(ctx context.Context, l *Lab) error {
		l.mu.Lock()
		c := l.ssh
		c.Listen, c.Ciphers = slices.Clone(c.Listen), slices.Clone(c.Ciphers)
		change(&c)
		l.ssh = c
		l.mu.Unlock()
		return l.startSSHD(ctx)
	}}
}

// CarrierLink sets the closed network's delay, jitter, loss and rate.
func CarrierLink(name string, link Link) Fault {
	return Fault{Name: name, Doc: fmt.Sprintf("carrier: %v ±%v one way, %g%% loss each way, %s", link.Delay, link.Jitter, link.Loss*100, rateText(link.Rate)),
		Apply:  func(ctx context.Context, l *Lab) error { return l.SetLink(ctx, link) },
		Revert: func(ctx context.Context, l *Lab) error { return l.SetLink(ctx, l.opts.Carrier) }}
}

// ClockOffset puts the segment's time server off by d.
func ClockOffset(d time.Duration) Fault {
	return Fault{Name: "clock-offset", Doc: fmt.Sprintf("the segment's time server is off by %v", d),
		Apply:  func(ctx context.Context, l *Lab) error { l.SetClockOffset(d); return nil },
		Revert: func(ctx context.Context, l *Lab) error { l.SetClockOffset(0); return nil }}
}

// RobotExtraPort opens a forgotten service on the robot (telnet-like).
func RobotExtraPort(port int) Fault {
	return extraPort("robot-extra-port", fmt.Sprintf("the robot listens on a forgotten service port %d", port), PatientTS, hostPort(RobotAddr, port))
}

// ConsoleExtraPort opens a forgotten service on the surgeon console (remote support left on): a fault
// at the surgeon side that its own checklist sees.
func ConsoleExtraPort(port int) Fault {
	return extraPort("console-extra-port", fmt.Sprintf("the surgeon console listens on a forgotten service port %d", port), SurgeonTS, hostPort(ConsoleAddr, port))
}

func extraPort(name, doc, role, addr string) Fault {
	return Fault{Name: name, Doc: doc,
		Apply:  func(ctx context.Context, l *Lab) error { return l.Listen(role, addr) },
		Revert: func(ctx context.Context, l *Lab) error { return l.Unlisten(role, addr) }}
}
