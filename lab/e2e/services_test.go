//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/gosnmp/gosnmp"
	"github.com/miekg/dns"

	"github.com/telesurgery-preflight/preflight/lab"
	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

// The servers' side of each fault, checked with ordinary clients inside the lab.

func TestTimeServerOffset(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	query := func() *ntp.Response {
		var r *ntp.Response
		if err := l.Do(netlab.PatientTS, func() error {
			var err error
			r, err = ntp.QueryWithOptions(netlab.NTPAddr, ntp.QueryOptions{Timeout: 2 * time.Second})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("beevik/ntp rejects the responder's answer: %v", err)
		}
		return r
	}
	r := query()
	if r.Stratum != 2 || r.ClockOffset.Abs() > 50*time.Millisecond {
		t.Errorf("clean time server: stratum %d offset %v; want 2 and |offset| < 50 ms", r.Stratum, r.ClockOffset)
	}
	l.SetClockOffset(5 * time.Second)
	r = query()
	t.Logf("time server off by 5 s: client measures offset %v, RTT %v", r.ClockOffset, r.RTT)
	if (r.ClockOffset - 5*time.Second).Abs() > 50*time.Millisecond {
		t.Errorf("offset %v, want 5 s ± 50 ms", r.ClockOffset)
	}
}

// sshOffer reads the SSH server's identification and the cipher list (client to server) of its KEXINIT.
func sshOffer(t *testing.T, l *netlab.Lab, role, addr string) (banner string, ciphers []string) {
	t.Helper()
	if err := l.Do(role, func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, "SSH-2.0-preflight_lab\r\n"); err != nil {
			return err
		}
		br := bufio.NewReader(c)
		if banner, err = br.ReadString('\n'); err != nil {
			return err
		}
		banner = strings.TrimSpace(banner)
		var hdr [5]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		pkt := make([]byte, binary.BigEndian.Uint32(hdr[:4])-1)
		if _, err := io.ReadFull(br, pkt); err != nil {
			return err
		}
		if pkt[0] != 20 {
			return fmt.Errorf("first packet type %d, want KEXINIT (20)", pkt[0])
		}
		rest := pkt[17:]   // type and cookie
		for i := range 3 { // kex, host key, ciphers c→s
			n := binary.BigEndian.Uint32(rest)
			if i == 2 {
				ciphers = strings.Split(string(rest[4:4+n]), ",")
			}
			rest = rest[4+n:]
		}
		return nil
	}); err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	return banner, ciphers
}

func TestMaintenanceSSH(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	addr := net.JoinHostPort(netlab.VPNInsideAddr, "22")
	banner, ciphers := sshOffer(t, l, netlab.PatientTS, addr)
	t.Logf("clean: %s offers %v", banner, ciphers)
	if !strings.HasPrefix(banner, "SSH-2.0-OpenSSH_") || slices.ContainsFunc(ciphers, func(c string) bool { return strings.Contains(c, "cbc") }) {
		t.Errorf("clean sshd: banner %q ciphers %v; want OpenSSH without CBC", banner, ciphers)
	}
	if err := l.Apply(context.Background(), netlab.SSHCBC()); err != nil {
		t.Fatal(err)
	}
	_, ciphers = sshOffer(t, l, netlab.PatientTS, addr)
	if !slices.Contains(ciphers, "aes128-cbc") || !slices.Contains(ciphers, "aes256-cbc") {
		t.Errorf("after ssh-cbc: ciphers %v, want aes128-cbc and aes256-cbc", ciphers)
	}
}

// labClient is an HTTPS client whose sockets are opened inside role's namespace.
func labClient(l *netlab.Lab, role string, cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   cfg,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = l.Do(role, func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

func TestVPNStatusAPIAndSNMP(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	url := fmt.Sprintf("https://%s:%d%s", netlab.VPNInsideAddr, netlab.VPNAPIPort, netlab.VPNStatusPath)
	client := labClient(l, netlab.PatientTS, &tls.Config{RootCAs: l.CA.Pool(), ServerName: netlab.VPNName})
	status := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Version string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Version
	}
	sysDescr := func() string {
		var descr string
		if err := l.Do(netlab.PatientTS, func() error {
			g := &gosnmp.GoSNMP{Target: netlab.VPNInsideAddr, Port: 161, Community: l.VPN().Community,
				Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1}
			if err := g.Connect(); err != nil {
				return err
			}
			defer g.Conn.Close()
			r, err := g.Get([]string{".1.3.6.1.2.1.1.1.0"})
			if err != nil {
				return err
			}
			b, _ := r.Variables[0].Value.([]byte)
			descr = string(b)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return descr
	}
	if code, _ := status(""); code != http.StatusUnauthorized {
		t.Errorf("status API without token: %d, want 401", code)
	}
	code, v := status(l.VPN().Token)
	d := sysDescr()
	t.Logf("clean: API %d version %s; SNMP sysDescr %q", code, v, d)
	if code != 200 || v != "v7.4.8" || !strings.Contains(d, "v7.4.8") {
		t.Errorf("clean VPN: API %d %q, sysDescr %q; want 200 v7.4.8 and a sysDescr naming it", code, v, d)
	}
	if err := l.Apply(context.Background(), netlab.VPNVersion("6.0.4", 231)); err != nil {
		t.Fatal(err)
	}
	if _, v := status(l.VPN().Token); v != "v6.0.4" || !strings.Contains(sysDescr(), "v6.0.4") {
		t.Errorf("after vpn-version: API %q, sysDescr %q; want v6.0.4 in both", v, sysDescr())
	}
}

func TestCloudLogStore(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	url := "https://" + netlab.CloudAddr + "/"
	clientCert, err := l.CA.Issue(lab.Leaf{Names: []string{"engineer.pts.lab.test"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(cfg *tls.Config) (int, error) {
		cfg.RootCAs, cfg.ServerName = l.CA.Pool(), netlab.CloudName
		resp, err := labClient(l, netlab.PatientTS, cfg).Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(&tls.Config{}); err != nil || code != 401 {
		t.Errorf("no client certificate: %d %v, want 401", code, err)
	}
	if code, err := get(&tls.Config{Certificates: []tls.Certificate{clientCert}}); err != nil || code != 200 {
		t.Errorf("lab client certificate: %d %v, want 200", code, err)
	}
	tls11 := func() error {
		_, err := get(&tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11})
		return err
	}
	if err := tls11(); err == nil {
		t.Error("clean nginx accepted TLS 1.1")
	}
	ctx := context.Background()
	if err := l.Apply(ctx, netlab.CloudTLS11()); err != nil {
		t.Fatal(err)
	}
	if err := tls11(); err != nil {
		t.Errorf("after cloud-tls11: TLS 1.1 refused: %v", err)
	}
	if err := l.Apply(ctx, netlab.CloudNoClientCert()); err != nil {
		t.Fatal(err)
	}
	if code, err := get(&tls.Config{}); err != nil || code != 200 {
		t.Errorf("after cloud-no-client-cert: %d %v, want 200 for anyone", code, err)
	}
	if err := l.Apply(ctx, netlab.CloudCertExpiring(5)); err != nil {
		t.Fatal(err)
	}
	var left time.Duration
	cfg := &tls.Config{VerifyConnection: func(cs tls.ConnectionState) error {
		left = time.Until(cs.PeerCertificates[0].NotAfter)
		return nil
	}}
	if _, err := get(cfg); err != nil || math.Abs(left.Hours()/24-5) > 0.1 {
		t.Errorf("after cloud-cert-expiring: %v left (%v), want 5 days", left, err)
	}
}

func TestSegmentResolver(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	query := func(name string) *dns.Msg {
		var r *dns.Msg
		if err := l.Do(netlab.PatientTS, func() error {
			var err error
			r, err = dns.Exchange(new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA), net.JoinHostPort(netlab.ResolverAddr, "53"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := query("robot.pts.lab.test"); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), netlab.RobotAddr) {
		t.Errorf("internal name: %v", r)
	}
	if r := query("www.example.com"); r.Rcode != dns.RcodeRefused {
		t.Errorf("outside name on the clean resolver: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if err := l.Apply(context.Background(), netlab.ResolverForwards()); err != nil {
		t.Fatal(err)
	}
	if r := query("www.example.com"); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), netlab.OutsideAnswer) {
		t.Errorf("outside name on the forwarding resolver: %v, want %s from the outside DNS", r, netlab.OutsideAnswer)
	}
}

// TestFirewallFromProfile checks that the rules come from the profile's allowed pairs and that the
// firewall enforces exactly them.
func TestFirewallFromProfile(t *testing.T) {
	needLab(t)
	l, paths := startLab(t)
	rules, err := netlab.RulesFromProfiles(paths["patient-ts"])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprintf("%s %s/%d %s", r.Dst, r.Proto, r.Port, r.Note))
	}
	for _, want := range []string{
		netlab.HISAddr + " tcp/2575 his-ports", netlab.ConsoleAddr + " tcp/18500 peer-link",
		netlab.ConsoleAddr + " tcp/18501 peer-ports", netlab.CloudAddr + " tcp/443 cloud-logs-tls",
		netlab.ResolverAddr + " udp/53 dns-no-leak",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("rules from the profile lack %q: %v", want, got)
		}
	}
	for _, r := range got {
		if strings.HasPrefix(r, netlab.SentinelAddr) || strings.HasPrefix(r, netlab.HISAddr+" tcp/3389") {
			t.Errorf("an isolation item became an allowed pair: %s", r)
		}
	}
	ruleset, err := l.Exec(context.Background(), netlab.PatientFW, "nft", "list", "ruleset")
	if err != nil || !strings.Contains(ruleset, `tcp dport 2575 accept comment "his-ports"`) || !strings.Contains(ruleset, "policy drop") {
		t.Errorf("patient-fw ruleset (%v):\n%s", err, ruleset)
	}
	// The pairs hold in both directions of the policy: the HIS segment may use the internet, the
	// telesurgery segment may not.
	dial := func(role, addr string) error {
		return l.Do(role, func() error {
			c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	sentinel := net.JoinHostPort(netlab.SentinelAddr, "443")
	if err := dial(netlab.PatientHIS, sentinel); err != nil {
		t.Errorf("HIS to the internet (hospital policy, NAT): %v", err)
	}
	if err := dial(netlab.PatientTS, sentinel); err == nil {
		t.Error("the telesurgery segment reached the internet")
	}
	if err := dial(netlab.PatientTS, net.JoinHostPort(netlab.HISAddr, "2575")); err != nil {
		t.Errorf("allowed pair TS → HIS 2575: %v", err)
	}
	if err := dial(netlab.PatientTS, net.JoinHostPort(netlab.HISAddr, "3389")); err == nil {
		t.Error("pair TS → HIS 3389 is not in the profile but crossed the firewall")
	}
}
