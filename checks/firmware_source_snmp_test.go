package checks

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

func TestFirmwareSNMP(t *testing.T) {
	env := firmwareEnv(t)
	t.Setenv("PREFLIGHT_TEST_COMMUNITY", "s3cret-community")
	t.Setenv("PREFLIGHT_TEST_SNMP_AUTH", "auth-pass-123")
	t.Setenv("PREFLIGHT_TEST_SNMP_PRIV", "priv-pass-456")
	v2c := func(port int) *FirmwareSpec {
		return &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: Duration(time.Second), Source: FirmwareSource{
			Method: "snmp", Target: "vpn", Port: port, CommunityEnv: "PREFLIGHT_TEST_COMMUNITY",
			Pattern: `\bv(\d+\.\d+\.\d+,build\d+)`}}
	}
	v3 := func(port int) *FirmwareSpec {
		s := v2c(port)
		s.Source.CommunityEnv = ""
		s.Source.Version, s.Source.User = "3", "preflight"
		s.Source.AuthProtocol, s.Source.AuthEnv = "SHA256", "PREFLIGHT_TEST_SNMP_AUTH"
		s.Source.PrivProtocol, s.Source.PrivEnv = "AES", "PREFLIGHT_TEST_SNMP_PRIV"
		return s
	}
	patched := startSNMPD(t, "FortiGate-60F v7.4.3,build2573,240201 (GA.M)")
	vulnerable := startSNMPD(t, "FortiGate-60F v7.2.5,build1517,230606 (GA.F)")

	t.Run("v2c pass", func(t *testing.T) {
		r := v2c(patched.port).Run(context.Background(), env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "version", "7.4.3,build2573")
		wantEvidence(t, r, "raw", "FortiGate-60F v7.4.3,build2573,240201 (GA.M)")
		if src, _ := r.Evidence["source"].(Evidence); src["oid"] != sysDescrOID || src["version"] != "2c" {
			t.Errorf("source evidence %v", src)
		}
	})
	t.Run("v2c fail names the CVE", func(t *testing.T) {
		r := v2c(vulnerable.port).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "CVE-2024-21762 [KEV] (fix: 7.2.7)")
	})
	t.Run("v3 authPriv", func(t *testing.T) {
		wantStatus(t, v3(patched.port).Run(context.Background(), env), Pass)
		r := v3(vulnerable.port).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantEvidence(t, r, "advisories", []string{"CVE-2024-21762"})
	})
	t.Run("v3 wrong passphrase is error", func(t *testing.T) {
		t.Setenv("PREFLIGHT_TEST_SNMP_AUTH", "not-the-passphrase")
		r := v3(patched.port).Run(context.Background(), env)
		wantStatus(t, r, Error)
	})
	t.Run("wrong community is error", func(t *testing.T) {
		t.Setenv("PREFLIGHT_TEST_COMMUNITY", "public")
		s := v2c(patched.port)
		s.Timeout = Duration(200 * time.Millisecond)
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error) // the agent stays silent; silence is never a pass
		wantSummary(t, r, "snmp get sysDescr")
	})
	t.Run("missing community is error", func(t *testing.T) {
		t.Setenv("PREFLIGHT_TEST_COMMUNITY", "")
		before := patched.requests()
		r := v2c(patched.port).Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "PREFLIGHT_TEST_COMMUNITY (the SNMP community) is not set")
		if patched.requests() != before {
			t.Error("a request was sent without a community")
		}
	})
	t.Run("out of scope sends nothing", func(t *testing.T) {
		before := vulnerable.requests()
		narrow := *env
		narrow.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
		r := v2c(vulnerable.port).Run(context.Background(), &narrow)
		wantStatus(t, r, Error)
		wantSummary(t, r, "outside the profile's scope")
		time.Sleep(50 * time.Millisecond) // a datagram, had one been sent, would be logged by now
		if n := vulnerable.requests() - before; n != 0 {
			t.Errorf("the agent logged %d requests from an out-of-scope probe; want none", n)
		}
	})
}

// TestFirmwareSNMPSilentAgent needs no snmpd: a UDP socket that reads requests and never answers.
func TestFirmwareSNMPSilentAgent(t *testing.T) {
	env := firmwareEnv(t)
	t.Setenv("PREFLIGHT_TEST_COMMUNITY", "s3cret-community")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var got atomic.Int32
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	s := &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: Duration(5 * time.Second), Source: FirmwareSource{
		Method: "snmp", Target: "vpn", Port: pc.LocalAddr().(*net.UDPAddr).Port, CommunityEnv: "PREFLIGHT_TEST_COMMUNITY",
		Pattern: `v(\S+)`}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	r := s.Run(ctx, env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "run cancelled")
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancellation took %s", time.Since(start))
	}
	if got.Load() == 0 {
		t.Error("the request never reached the socket")
	}
}

// snmpAgent is Debian's snmpd, run by the test on a loopback port.
type snmpAgent struct {
	port int
	log  *syncBuffer
}

// requests counts the datagrams the agent logged.
func (a *snmpAgent) requests() int { return strings.Count(a.log.String(), "Connection from UDP") }

// startSNMPD runs snmpd on 127.0.0.1 with sysDescr set to descr, community s3cret-community (v2c) and
// the USM user preflight (SHA-256 / AES), and stops it when the test ends.
func startSNMPD(t *testing.T, descr string) *snmpAgent {
	t.Helper()
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/snmpd"); statErr != nil {
			t.Skip("snmpd not installed: apt-get install snmpd")
		}
		bin = "/usr/sbin/snmpd"
	}
	// snmpd binds the port itself; take a free one from the kernel and hand it over.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf("agentaddress udp:127.0.0.1:%d\nsysdescr %s\nrocommunity s3cret-community 127.0.0.1\n"+
		"createUser preflight SHA256 \"auth-pass-123\" AES \"priv-pass-456\"\nrouser preflight priv\n", port, descr)
	path := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", path, "-M", dir, "-m", "")
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "NET-SNMP version"); {
		if time.Now().After(deadline) || strings.Contains(log.String(), "Server Exiting") {
			t.Fatalf("snmpd did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &snmpAgent{port: port, log: log}
}

// syncBuffer is a bytes.Buffer safe for snmpd's output and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
