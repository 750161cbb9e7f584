package checks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Algorithm sets for the stub server: what a hardened OpenSSH offers, and the classic weak ones.
var (
	sshGoodKex     = []string{"sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group16-sha512", "ext-info-s", sshStrictKex}
	sshGoodHostKey = []string{"rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"}
	sshGoodCiphers = []string{"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr"}
	sshGoodMACs    = []string{"hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-512"}
)

func TestSSHPassesHardenedServer(t *testing.T) {
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.9 stub", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
	s := stub.spec()
	s.Banner = `^SSH-2\.0-OpenSSH_9\.`
	r := s.Run(context.Background(), stub.env)
	wantStatus(t, r, Pass)
	wantSummary(t, r, "OpenSSH_9.9", "banner matches", "none of 6 kex, 3 host-key, 3 cipher and 3 MAC algorithms forbidden")
	wantEvidence(t, r, "banner", "SSH-2.0-OpenSSH_9.9 stub")
	wantEvidence(t, r, "software", "OpenSSH_9.9")
	wantEvidence(t, r, "comments", "stub")
	wantEvidence(t, r, "protocol", "2.0")
	wantEvidence(t, r, "kex", sshGoodKex)
	wantEvidence(t, r, "host_key", sshGoodHostKey)
	wantEvidence(t, r, "ciphers", sshGoodCiphers)
	wantEvidence(t, r, "macs", sshGoodMACs)
	wantEvidence(t, r, "compression", []string{"none", "zlib@openssh.com"})
	wantEvidence(t, r, "forbidden_offered", map[string][]string{})
	wantEvidence(t, r, "missing_required", map[string][]string{})
	wantEvidence(t, r, "strict_kex", true)
	wantEvidence(t, r, "terrapin_vulnerable", false)
	wantEvidence(t, r, "port", stub.port)
	if _, ok := r.Evidence["ciphers_by_direction"]; ok {
		t.Error("ciphers_by_direction recorded although both directions are the same")
	}

	// What the server saw: our identification, then a DISCONNECT by application, and nothing else.
	conns := stub.wait(t, 1)
	c := conns[0]
	if !regexp.MustCompile(`^SSH-2\.0-preflight_[!-,.-~]+$`).MatchString(c.ident) || len(c.ident)+2 > 255 {
		t.Errorf("our identification %q is not an RFC 4253 identification of preflight", c.ident)
	}
	wantEvidence(t, r, "sent", c.ident)
	payload, err := readPacket(bytes.NewReader(c.after))
	if err != nil || payload[0] != sshMsgDisconnect || binary.BigEndian.Uint32(payload[1:5]) != sshDisconnectByApplication {
		t.Errorf("after its identification the probe sent %q (%v), want one DISCONNECT by application", c.after, err)
	}
	if len(c.after)%8 != 0 {
		t.Errorf("the DISCONNECT packet is %d bytes, not a multiple of 8 (RFC 4253 §6)", len(c.after))
	}
}

func TestSSHFailsWeakAlgorithms(t *testing.T) {
	weakKex := append([]string{"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"}, sshGoodKex...)
	weakHost := []string{"ssh-rsa", "ssh-ed25519", "ssh-dss"}
	weakCiphers := []string{"aes128-ctr", "aes128-cbc", "3des-cbc", "arcfour256"}
	weakMACs := []string{"hmac-sha2-256", "hmac-sha1", "hmac-md5-96", "hmac-sha1-etm@openssh.com"}
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_7.4", weakKex, weakHost, weakCiphers, weakMACs)})

	t.Run("default policy", func(t *testing.T) {
		r := stub.spec().Run(context.Background(), stub.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "forbidden algorithms offered",
			"kex diffie-hellman-group1-sha1, diffie-hellman-group14-sha1 (SHA-1 key exchange);",
			"host_key ssh-rsa (RSA signatures with SHA-1), ssh-dss (DSA",
			"ciphers aes128-cbc (CBC mode), 3des-cbc (3DES (64-bit block)), arcfour256 (RC4)",
			"macs hmac-sha1, hmac-sha1-etm@openssh.com (SHA-1 MAC), hmac-md5-96 (MD5 MAC)")
		wantEvidence(t, r, "forbidden_offered", map[string][]string{
			"kex":      {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"},
			"host_key": {"ssh-rsa", "ssh-dss"},
			"ciphers":  {"aes128-cbc", "3des-cbc", "arcfour256"},
			"macs":     {"hmac-sha1", "hmac-md5-96", "hmac-sha1-etm@openssh.com"},
		})
		why, _ := r.Evidence["forbidden_why"].(map[string]string)
		if why["aes128-cbc"] != "CBC mode" || why["ssh-rsa"] != "RSA signatures with SHA-1" {
			t.Errorf("forbidden_why = %v", why)
		}
		// CBC with an encrypt-then-MAC MAC is Terrapin-prone too, but this server has strict kex.
		wantEvidence(t, r, "terrapin_vulnerable", false)
	})
	t.Run("policy none judges only the list", func(t *testing.T) {
		s := stub.spec()
		s.Policy, s.ForbidAlgorithms = "none", []string{"*-CBC"}
		r := s.Run(context.Background(), stub.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "ciphers aes128-cbc, 3des-cbc (forbid_algorithms *-CBC)")
		wantEvidence(t, r, "forbidden_offered", map[string][]string{"ciphers": {"aes128-cbc", "3des-cbc"}})
		wantEvidence(t, r, "policy", "none")
	})
}

func TestSSHForbidListAddsToPolicy(t *testing.T) {
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.6", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
	s := stub.spec()
	s.ForbidAlgorithms = []string{"ecdh-sha2-nistp*", "umac-*"}
	r := s.Run(context.Background(), stub.env)
	wantStatus(t, r, Fail)
	wantEvidence(t, r, "forbidden_offered", map[string][]string{"kex": {"ecdh-sha2-nistp256"}, "macs": {"umac-128-etm@openssh.com"}})
	wantEvidence(t, r, "policy", "default")
}

func TestSSHBannerMismatch(t *testing.T) {
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-dropbear_2022.83", sshGoodKex, []string{"ssh-ed25519"}, sshGoodCiphers, sshGoodMACs)})
	s := stub.spec()
	s.Banner = `^SSH-2\.0-OpenSSH_9\.`
	r := s.Run(context.Background(), stub.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, `identification "SSH-2.0-dropbear_2022.83" does not match banner ^SSH-2\.0-OpenSSH_9\.`)
	wantEvidence(t, r, "software", "dropbear_2022.83")
	wantEvidence(t, r, "forbidden_offered", map[string][]string{}) // the algorithms are still judged
}

func TestSSHProtocol1(t *testing.T) {
	t.Run("1.5 only", func(t *testing.T) {
		stub := serveSSH(t, sshScript{send: []byte("SSH-1.5-Cisco-1.25\r\n")})
		r := stub.spec().Run(context.Background(), stub.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "speaks only the broken SSH protocol 1 (identification SSH-1.5)")
		wantEvidence(t, r, "protocol", "1.5")
		wantEvidence(t, r, "software", "Cisco-1.25")
		if c := stub.wait(t, 1)[0]; len(c.after) != 0 {
			t.Errorf("sent an SSH-2 packet to an SSH-1 server: %q", c.after)
		}
	})
	t.Run("1.99 compatibility", func(t *testing.T) {
		stub := serveSSH(t, sshScript{send: sshHello("SSH-1.99-OpenSSH_3.9p1", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
		r := stub.spec().Run(context.Background(), stub.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "also accepts the broken SSH protocol 1 (identification SSH-1.99)")
		wantEvidence(t, r, "kex", sshGoodKex) // read anyway: the SSH-2 side is judged too
	})
}

func TestSSHPreBannerLines(t *testing.T) {
	pre := "Authorized use only\r\nrobot gateway \xe6\x89\x8b\xe8\xa1\x93\xe5\xae\xa4 \x1b[31mred\x1b[0m\n"
	stub := serveSSH(t, sshScript{send: append([]byte(pre), sshHello("SSH-2.0-OpenSSH_9.6", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)...)})
	r := stub.spec().Run(context.Background(), stub.env)
	wantStatus(t, r, Pass)
	// Text from the server is kept as printable text: the Japanese stays, the terminal escapes do not.
	wantEvidence(t, r, "pre_banner", []string{"Authorized use only", `robot gateway 手術室 \x1b[31mred\x1b[0m`})
	wantEvidence(t, r, "pre_banner_lines", 2)
}

func TestSSHNotAnSSHServer(t *testing.T) {
	for _, tc := range []struct {
		name, send string
		summary    string
		received   string
	}{
		{"http", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "closed the connection after sending text", "HTTP/1.1 400 Bad Request"},
		{"tls alert", "\x15\x03\x03\x00\x02\x02\x46", "closed the connection after sending text", `\x15\x03\x03\x00\x02\x02F`},
		{"endless line", strings.Repeat("A", 5000), "a line longer than 1024 bytes", "AAAA"},
		{"nul", "220 ready\x00\r\n", "a NUL byte", `220 ready\x00`},
		{"chatty", strings.Repeat("* OK hello there\r\n", 1200), "more than 16384 bytes", "* OK hello"},
		{"long identification", "SSH-2.0-" + strings.Repeat("x", 300) + "\r\n", "its identification is 310 bytes, more than the 255", "SSH-2.0-xxx"},
		{"empty software", "SSH-2.0-\r\n", "malformed identification", "SSH-2.0-"},
		{"control characters", "SSH-2.0-Open\x1b[2JSSH\r\n", `characters other than printable US-ASCII`, `\x1b[2J`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := serveSSH(t, sshScript{send: []byte(tc.send), closeAfter: true})
			r := stub.spec().Run(context.Background(), stub.env)
			wantStatus(t, r, Fail)
			wantSummary(t, r, "is not an SSH server", tc.summary)
			if got, _ := r.Evidence["received"].(string); !strings.Contains(got, tc.received) || len(got) > 4*256 {
				t.Errorf("received = %q, want it to show %q", got, tc.received)
			}
			if strings.ContainsRune(r.Summary, 0x1b) || strings.ContainsRune(r.Summary, 0) {
				t.Errorf("summary carries raw control characters: %q", r.Summary)
			}
		})
	}
}

func TestSSHMalformedPackets(t *testing.T) {
	ident := []byte("SSH-2.0-OpenSSH_9.6\r\n")
	good := sshKexinitPayload(sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)
	for _, tc := range []struct {
		name    string
		packets []byte
		summary string
	}{
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 4}, "length 4294967295 is more than the 262144 bytes"},
		{"short padding", sshRawPacket(good, 2), "2 bytes of padding, RFC 4253 requires at least 4"},
		{"no payload", []byte{0, 0, 0, 5, 4, 0, 0, 0, 0}, "leaves no room for a payload"},
		{"truncated", sshPacket(good)[:100], "connection closed before the server's KEXINIT was complete"},
		{"name-list past the end", sshPacket(append(slices.Clone(good[:17]), 0, 0, 0x10, 0, 'a')), "kex_algorithms: length 4096 runs past the end"},
		{"control character in a name", sshPacket(sshKexinitPayload([]string{"curve25519-sha256\x1b"}, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)), "byte 0x1b is not allowed in a name"},
		{"empty name", sshPacket(sshKexinitPayload([]string{"curve25519-sha256", ""}, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)), "kex_algorithms: empty name"},
		{"no trailer", sshPacket(good[:len(good)-5]), "ends before first_kex_packet_follows"},
		{"wrong message", sshPacket([]byte{21}), "message type 21, not KEXINIT"},
		{"disconnect", disconnectPacket("Too many connections \x1b[0m"), `disconnected before key exchange (reason 11: "Too many connections \x1b[0m")`},
		{"endless ignores", bytes.Repeat(sshPacket([]byte{sshMsgIgnore, 0, 0, 0, 0}), 10), "more than 8 IGNORE/DEBUG packets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := serveSSH(t, sshScript{send: append(slices.Clone(ident), tc.packets...), closeAfter: true})
			r := stub.spec().Run(context.Background(), stub.env)
			wantStatus(t, r, Error)
			wantSummary(t, r, "could not read the server's algorithms", tc.summary)
			wantEvidence(t, r, "software", "OpenSSH_9.6")
		})
	}
	t.Run("ignore and debug before kexinit", func(t *testing.T) {
		pkts := append(sshPacket([]byte{sshMsgIgnore, 0, 0, 0, 1, 'x'}), sshPacket([]byte{sshMsgDebug, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})...)
		stub := serveSSH(t, sshScript{send: slices.Concat(ident, pkts, sshPacket(good))})
		wantStatus(t, stub.spec().Run(context.Background(), stub.env), Pass)
	})
	t.Run("a decided failure outranks a bad packet", func(t *testing.T) {
		stub := serveSSH(t, sshScript{send: append(slices.Clone(ident), 0xff, 0xff, 0xff, 0xff, 4), closeAfter: true})
		s := stub.spec()
		s.Banner = "^SSH-2.0-dropbear"
		r := s.Run(context.Background(), stub.env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "does not match banner", "could not read the server's algorithms")
	})
}

func TestSSHDirections(t *testing.T) {
	// A server whose directions differ: the union is judged, both lists are recorded, and a required
	// cipher offered in one direction only does not count.
	k := sshKexinitPayload(sshGoodKex, sshGoodHostKey, nil, nil)
	k = sshKexinitLists(k[:17], [][]string{sshGoodKex, sshGoodHostKey,
		{"aes256-gcm@openssh.com"}, {"aes256-gcm@openssh.com", "aes128-ctr"}, sshGoodMACs, sshGoodMACs,
		{"none"}, {"none", "zlib@openssh.com"}, {"en-US"}, {}})
	stub := serveSSH(t, sshScript{send: append([]byte("SSH-2.0-OpenSSH_9.6\r\n"), sshPacket(k)...)})
	s := stub.spec()
	s.RequireAlgorithms.Ciphers = []string{"aes128-ctr"}
	r := s.Run(context.Background(), stub.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "offers none of the required ciphers algorithms (aes128-ctr)")
	wantEvidence(t, r, "ciphers", []string{"aes256-gcm@openssh.com", "aes128-ctr"})
	wantEvidence(t, r, "ciphers_by_direction", map[string][]string{"client_to_server": {"aes256-gcm@openssh.com"}, "server_to_client": {"aes256-gcm@openssh.com", "aes128-ctr"}})
	wantEvidence(t, r, "compression_by_direction", map[string][]string{"client_to_server": {"none"}, "server_to_client": {"none", "zlib@openssh.com"}})
	wantEvidence(t, r, "languages", []string{"en-US"})
	wantEvidence(t, r, "missing_required", map[string][]string{"ciphers": {"aes128-ctr"}})
}

func TestSSHRequireAlgorithms(t *testing.T) {
	pq := []string{"mlkem768x25519-sha256", "sntrup761x25519-sha512*"}
	for _, tc := range []struct {
		name string
		kex  []string
		want Status
	}{
		{"post-quantum offered", sshGoodKex, Pass},
		{"classical only", []string{"curve25519-sha256", sshStrictKex}, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.6", tc.kex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
			s := stub.spec()
			s.RequireAlgorithms = SSHRequire{Kex: pq, HostKey: []string{"ssh-ed25519"}}
			r := s.Run(context.Background(), stub.env)
			wantStatus(t, r, tc.want)
			if tc.want == Pass {
				wantSummary(t, r, "offers a required kex algorithm", "offers a required host_key algorithm")
				wantEvidence(t, r, "missing_required", map[string][]string{})
			} else {
				wantSummary(t, r, "offers none of the required kex algorithms (mlkem768x25519-sha256, sntrup761x25519-sha512*)")
				wantEvidence(t, r, "missing_required", map[string][]string{"kex": pq})
			}
		})
	}
}

func TestSSHTerrapin(t *testing.T) {
	loose := slices.DeleteFunc(slices.Clone(sshGoodKex), func(k string) bool { return k == sshStrictKex })
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.5", loose, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
	r := stub.spec().Run(context.Background(), stub.env)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "open to the Terrapin attack (CVE-2023-48795): offers chacha20-poly1305@openssh.com without strict key exchange")
	wantEvidence(t, r, "strict_kex", false)
	wantEvidence(t, r, "terrapin_vulnerable", true)
	wantEvidence(t, r, "forbidden_offered", map[string][]string{})

	s := stub.spec()
	s.Policy, s.Banner = "none", "^SSH-2.0-"
	r = s.Run(context.Background(), stub.env)
	wantStatus(t, r, Pass) // recorded, not judged, without the built-in policy
	wantEvidence(t, r, "terrapin_vulnerable", true)
}

func TestSSHSilentServerIsError(t *testing.T) {
	t.Run("no identification", func(t *testing.T) {
		stub := serveSSH(t, sshScript{})
		s := stub.spec()
		s.Timeout = Duration(200 * time.Millisecond)
		start := time.Now()
		r := s.Run(context.Background(), stub.env)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("took %s with a 200ms timeout", d)
		}
		wantStatus(t, r, Error)
		wantSummary(t, r, "could not decide", "sent no SSH identification within 200ms")
		wantEvidence(t, r, "outcome", "timeout")
		stub.wait(t, 1) // it did get our identification: the server, not the probe, was silent
	})
	t.Run("no kexinit", func(t *testing.T) {
		stub := serveSSH(t, sshScript{send: []byte("SSH-2.0-OpenSSH_9.6\r\n")})
		s := stub.spec()
		s.Timeout = Duration(200 * time.Millisecond)
		r := s.Run(context.Background(), stub.env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "could not decide: no KEXINIT within 200ms")
		wantEvidence(t, r, "software", "OpenSSH_9.6")
	})
	t.Run("slow drip", func(t *testing.T) {
		// One byte every 50ms never ends a read by itself; the deadline covers the whole identification.
		stub := serveSSH(t, sshScript{drip: []byte("Welcome, this line never ends ...............")})
		s := stub.spec()
		s.Timeout = Duration(300 * time.Millisecond)
		start := time.Now()
		r := s.Run(context.Background(), stub.env)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("a dripping server held the probe for %s", d)
		}
		wantStatus(t, r, Error)
	})
}

func TestSSHClosedWithoutIdentification(t *testing.T) {
	stub := serveSSH(t, sshScript{closeAfter: true})
	r := stub.spec().Run(context.Background(), stub.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "closed the connection without an identification", "MaxStartups")
	wantEvidence(t, r, "outcome", "closed")
}

func TestSSHRefused(t *testing.T) {
	port := freePorts(t, 1)[0]
	closeTCP(t, port)
	env := loopbackEnv(t, map[string]Target{"srv": loopback})
	r := (&SSHSpec{Target: "srv", Port: port}).Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "cannot connect", "refused")
	wantEvidence(t, r, "outcome", "refused")
}

func TestSSHScope(t *testing.T) {
	stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.6", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
	// In scope first, so we know the stub counts this probe's connections at all.
	wantStatus(t, stub.spec().Run(context.Background(), stub.env), Pass)
	stub.wait(t, 1)
	stub.env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	r := stub.spec().Run(context.Background(), stub.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "outside the profile's scope", "no packet was sent")
	s := stub.spec()
	s.Target = "nowhere"
	r = s.Run(context.Background(), stub.env)
	wantStatus(t, r, Error)
	wantSummary(t, r, `unknown target "nowhere"`)
	time.Sleep(50 * time.Millisecond) // give a stray connection time to show up
	if n := len(stub.probes()); n != 1 {
		t.Errorf("the stub saw %d connections from the probe, want only the in-scope one", n)
	}
}

func TestSSHCancelled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		stub := serveSSH(t, sshScript{send: sshHello("SSH-2.0-OpenSSH_9.6", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs)})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		wantStatus(t, stub.spec().Run(ctx, stub.env), Error)
	})
	t.Run("while waiting", func(t *testing.T) {
		stub := serveSSH(t, sshScript{})
		s := stub.spec()
		s.Timeout = Duration(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		r := s.Run(ctx, stub.env)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("took %s after the context ended at 100ms", d)
		}
		wantStatus(t, r, Error)
		wantSummary(t, r, "deadline exceeded before 127.0.0.1:")
	})
}

func TestSSHParsesCapturedOpenSSH(t *testing.T) {
	// Bytes captured from Debian 12's sshd (OpenSSH 9.2p1, ed25519 host key, stock algorithms).
	b, err := os.ReadFile("testdata/ssh/openssh-9.2p1-debian12.bin")
	if err != nil {
		t.Fatal(err)
	}
	id, k, err := readServerHello(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if id.Line != "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10" || id.Software != "OpenSSH_9.2p1" {
		t.Errorf("identification %+v", id)
	}
	if len(k.Kex) != 12 || k.Kex[0] != "sntrup761x25519-sha512" || k.Kex[11] != sshStrictKex {
		t.Errorf("kex %v", k.Kex)
	}
	if !slices.Equal(k.HostKey, []string{"ssh-ed25519"}) || len(k.CiphersC2S) != 6 || len(k.MACsS2C) != 10 ||
		!slices.Equal(k.CompC2S, []string{"none", "zlib@openssh.com"}) || len(k.LangC2S) != 0 || k.FirstKexFollows {
		t.Errorf("parsed %+v", k)
	}
}

func TestSSHCheck(t *testing.T) {
	targets := map[string]Target{"srv": loopback}
	good := func() SSHSpec { return SSHSpec{Target: "srv"} }
	for _, tc := range []struct {
		name   string
		mod    func(*SSHSpec)
		fields []string
	}{
		{"good minimal", func(*SSHSpec) {}, nil},
		{"good full", func(s *SSHSpec) {
			s.Port, s.Banner, s.Policy, s.Timeout = 2222, `^SSH-2\.0-OpenSSH_9\.`, "default", Duration(time.Second)
			s.ForbidAlgorithms = []string{"*-cbc", "hmac-sha1*", "ecdh-sha2-nistp[0-9]*"}
			s.RequireAlgorithms = SSHRequire{Kex: []string{"mlkem768x25519-sha256"}, HostKey: []string{"ssh-ed25519"}}
		}, nil},
		{"policy none with a list", func(s *SSHSpec) { s.Policy, s.ForbidAlgorithms = "none", []string{"*-cbc"} }, nil},
		{"policy none with a banner", func(s *SSHSpec) { s.Policy, s.Banner = "none", "^SSH-2.0-" }, nil},
		{"missing target", func(s *SSHSpec) { s.Target = "" }, []string{"target"}},
		{"unknown target", func(s *SSHSpec) { s.Target = "robot" }, []string{"target"}},
		{"port too big", func(s *SSHSpec) { s.Port = 65536 }, []string{"port"}},
		{"negative port", func(s *SSHSpec) { s.Port = -22 }, []string{"port"}},
		{"bad banner regexp", func(s *SSHSpec) { s.Banner = "^SSH-2.0-(OpenSSH" }, []string{"banner"}},
		{"unknown policy", func(s *SSHSpec) { s.Policy = "mozilla" }, []string{"policy"}},
		{"policy none judges nothing", func(s *SSHSpec) { s.Policy = "none" }, []string{"policy"}},
		{"bad patterns", func(s *SSHSpec) {
			s.ForbidAlgorithms = []string{"aes128-cbc", "", "aes128-cbc,3des-cbc", "hmac-[sha1", "arcfour *"}
		}, []string{"forbid_algorithms[1]", "forbid_algorithms[2]", "forbid_algorithms[3]", "forbid_algorithms[4]"}},
		{"bad required", func(s *SSHSpec) { s.RequireAlgorithms = SSHRequire{Kex: []string{"ok", "a b"}, MACs: []string{"[x"}} },
			[]string{"require_algorithms.kex[1]", "require_algorithms.macs[0]"}},
		{"required but forbidden", func(s *SSHSpec) {
			s.RequireAlgorithms = SSHRequire{Ciphers: []string{"aes128-ctr", "aes256-cbc"}, HostKey: []string{"ssh-rsa"}}
		}, []string{"require_algorithms.host_key[0]", "require_algorithms.ciphers[1]"}},
		{"required and forbidden by the profile", func(s *SSHSpec) {
			s.ForbidAlgorithms, s.RequireAlgorithms.Kex = []string{"curve25519-*"}, []string{"curve25519-sha256"}
		}, []string{"require_algorithms.kex[0]"}},
		{"required, forbidden, but policy none", func(s *SSHSpec) { s.Policy, s.RequireAlgorithms.HostKey = "none", []string{"ssh-rsa"} }, nil},
		{"negative timeout", func(s *SSHSpec) { s.Timeout = -1 }, []string{"timeout"}},
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
		})
	}
}

// TestSSHOpenSSH runs the probe against Debian's real sshd, started by the test on a loopback port.
func TestSSHOpenSSH(t *testing.T) {
	env := loopbackEnv(t, map[string]Target{"srv": loopback})
	t.Run("hardened", func(t *testing.T) {
		// Stock algorithms minus the SHA-1 MACs: the one line hardening guides add to a current OpenSSH.
		d := startSSHD(t, "MACs -hmac-sha1*")
		r := (&SSHSpec{Target: "srv", Port: d.port, Banner: `^SSH-2\.0-OpenSSH_`}).Run(context.Background(), env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "forbidden_offered", map[string][]string{})
		wantEvidence(t, r, "host_key", []string{"ssh-ed25519"})
		wantEvidence(t, r, "strict_kex", true)
		if sw, _ := r.Evidence["software"].(string); !strings.HasPrefix(sw, "OpenSSH_") {
			t.Errorf("software %q", sw)
		}
		// The server logs a goodbye from the probe, not a connection dropped in the middle of the handshake.
		d.waitLog(t, "Received disconnect from 127.0.0.1 port", "preflight probe done")
	})
	t.Run("stock defaults offer SHA-1 MACs", func(t *testing.T) {
		// OpenSSH 9.x still offers hmac-sha1 and hmac-sha1-etm@openssh.com by default; ssh-audit grades
		// them "fail", Mozilla and BSI TR-02102-4 leave them out. Nothing else of the defaults is forbidden.
		d := startSSHD(t)
		r := (&SSHSpec{Target: "srv", Port: d.port}).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		forbidden, _ := r.Evidence["forbidden_offered"].(map[string][]string)
		if len(forbidden) != 1 || len(forbidden["macs"]) == 0 {
			t.Fatalf("forbidden_offered = %v, want only SHA-1 MACs", forbidden)
		}
		for _, m := range forbidden["macs"] {
			if !sshMatch("hmac-sha1*", m) {
				t.Errorf("the stock defaults fail on %s, not a SHA-1 MAC", m)
			}
		}
		wantSummary(t, r, "hmac-sha1 (SHA-1 MAC)")
	})
	t.Run("cbc and sha1", func(t *testing.T) {
		d := startSSHD(t, "Ciphers aes128-cbc,aes256-ctr", "MACs hmac-sha1,hmac-sha2-256")
		r := (&SSHSpec{Target: "srv", Port: d.port}).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "ciphers aes128-cbc (CBC mode)", "macs hmac-sha1 (SHA-1 MAC)")
		wantEvidence(t, r, "ciphers", []string{"aes128-cbc", "aes256-ctr"})
		wantEvidence(t, r, "macs", []string{"hmac-sha1", "hmac-sha2-256"})
		wantEvidence(t, r, "forbidden_offered", map[string][]string{"ciphers": {"aes128-cbc"}, "macs": {"hmac-sha1"}})
	})
}

// FuzzParseKexinit feeds arbitrary server bytes to the identification and KEXINIT parser: it must never
// panic or hang, and what it accepts must be well-formed.
func FuzzParseKexinit(f *testing.F) {
	if b, err := os.ReadFile("testdata/ssh/openssh-9.2p1-debian12.bin"); err == nil {
		f.Add(b)
	}
	f.Add(sshHello("SSH-2.0-OpenSSH_9.9", sshGoodKex, sshGoodHostKey, sshGoodCiphers, sshGoodMACs))
	f.Add(append([]byte("banner\r\nSSH-1.99-x\r\n"), sshPacket([]byte{sshMsgIgnore, 0, 0, 0, 0})...))
	f.Add(append([]byte("SSH-2.0-x\r\n"), disconnectPacket("bye")...))
	f.Add([]byte("SSH-2.0-x\r\n\x00\x00\x00\x0c\x04\x14"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, k, err := readServerHello(bytes.NewReader(data))
		if id.Line != "" && (!strings.HasPrefix(id.Line, "SSH-") || len(id.Line) > sshMaxIdentLen || strings.ContainsFunc(id.Line, func(r rune) bool { return r < ' ' || r > '~' })) {
			t.Fatalf("accepted identification %q", id.Line)
		}
		if len(id.Pre) > sshMaxPreKept {
			t.Fatalf("kept %d pre-banner lines", len(id.Pre))
		}
		if k == nil {
			return
		}
		if err != nil {
			t.Fatalf("returned a KEXINIT and an error %v", err)
		}
		lists := [][]string{k.Kex, k.HostKey, k.CiphersC2S, k.CiphersS2C, k.MACsC2S, k.MACsS2C, k.CompC2S, k.CompS2C, k.LangC2S, k.LangS2C}
		for _, l := range lists {
			for _, n := range l {
				if n == "" || strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }) {
					t.Fatalf("accepted name %q", n)
				}
			}
		}
		// What was accepted encodes back to a KEXINIT that parses to the same lists.
		again, err := parseKexinit(sshKexinitLists(make([]byte, 17), lists))
		if err != nil || !slices.EqualFunc(lists, [][]string{again.Kex, again.HostKey, again.CiphersC2S, again.CiphersS2C,
			again.MACsC2S, again.MACsS2C, again.CompC2S, again.CompS2C, again.LangC2S, again.LangS2C}, slices.Equal) {
			t.Fatalf("round trip: %v, %+v vs %+v", err, k, again)
		}
	})
}

// sshScript is what the stub SSH server does with each connection: write send at once (or drip, one byte
// every 50ms), optionally close its side, and record what the client sent until the client closes.
type sshScript struct {
	send       []byte
	drip       []byte
	closeAfter bool
}

// sshConn is what one client sent the stub: its first line and the bytes after it.
type sshConn struct {
	ident string
	after []byte
}

// sshStub is an in-process SSH server on 127.0.0.1:0 that speaks only as far as the script says.
type sshStub struct {
	port int
	env  *Env
	mu   sync.Mutex
	seen []sshConn
}

func serveSSH(t *testing.T, sc sshScript) *sshStub {
	t.Helper()
	l := listen(t)
	st := &sshStub{port: portOf(l), env: loopbackEnv(t, map[string]Target{"srv": loopback})}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() }) // before listen's own cleanup, or Accept never returns
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { st.handle(c, sc) })
		}
	})
	return st
}

func (st *sshStub) handle(c net.Conn, sc sshScript) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(sc.send)
	for _, b := range sc.drip {
		time.Sleep(50 * time.Millisecond)
		if _, err := c.Write([]byte{b}); err != nil {
			break
		}
	}
	if sc.closeAfter {
		c.(*net.TCPConn).CloseWrite()
	}
	all, _ := io.ReadAll(c)
	line, after, _ := bytes.Cut(all, []byte("\r\n"))
	st.mu.Lock()
	st.seen = append(st.seen, sshConn{ident: string(line), after: after})
	st.mu.Unlock()
}

// probes returns the connections on which the client sent preflight's identification. Connections of
// other kinds (a port sweep from another test process) are not counted.
func (st *sshStub) probes() []sshConn {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []sshConn
	for _, c := range st.seen {
		if strings.HasPrefix(c.ident, "SSH-2.0-preflight_") {
			out = append(out, c)
		}
	}
	return out
}

// wait returns the probe's connections once n of them have ended.
func (st *sshStub) wait(t *testing.T, n int) []sshConn {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c := st.probes(); len(c) >= n {
			return c
		}
	}
	t.Fatalf("the stub saw %d probe connections, want %d", len(st.probes()), n)
	return nil
}

func (st *sshStub) spec() *SSHSpec {
	return &SSHSpec{Target: "srv", Port: st.port, Timeout: Duration(2 * time.Second)}
}

// sshHello is an identification line followed by a KEXINIT packet with the same lists in both directions.
func sshHello(ident string, kex, hostKey, ciphers, macs []string) []byte {
	return append([]byte(ident+"\r\n"), sshPacket(sshKexinitPayload(kex, hostKey, ciphers, macs))...)
}

func sshKexinitPayload(kex, hostKey, ciphers, macs []string) []byte {
	head := append([]byte{sshMsgKexinit}, "0123456789abcdef"...)
	return sshKexinitLists(head, [][]string{kex, hostKey, ciphers, ciphers, macs, macs,
		{"none", "zlib@openssh.com"}, {"none", "zlib@openssh.com"}, {}, {}})
}

// sshKexinitLists appends the name-lists, first_kex_packet_follows and the reserved field to head.
func sshKexinitLists(head []byte, lists [][]string) []byte {
	p := slices.Clone(head)
	if len(p) > 0 {
		p[0] = sshMsgKexinit
	}
	for _, l := range lists {
		s := strings.Join(l, ",")
		p = binary.BigEndian.AppendUint32(p, uint32(len(s)))
		p = append(p, s...)
	}
	return append(p, 0, 0, 0, 0, 0)
}

// sshRawPacket frames payload with the given padding length, right or wrong.
func sshRawPacket(payload []byte, padding int) []byte {
	p := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+padding))
	p = append(p, byte(padding))
	p = append(p, payload...)
	return append(p, make([]byte, padding)...)
}

// sshd is a Debian openssh-server process started by a test.
type sshd struct {
	port int
	mu   sync.Mutex
	log  bytes.Buffer
}

// startSSHD starts /usr/sbin/sshd in the foreground on a free loopback port with a fresh ed25519 host
// key and a minimal configuration plus extra lines; it is killed (by PID) when the test ends.
func startSSHD(t *testing.T, extra ...string) *sshd {
	t.Helper()
	const bin, keygen = "/usr/sbin/sshd", "/usr/bin/ssh-keygen"
	for _, b := range []string{bin, keygen} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("needs %s: install the Debian package openssh-server (apt-get install openssh-server)", b)
		}
	}
	// Debian's sshd refuses to start without its privilege-separation directory, which only the
	// package's service unit creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd needs /run/sshd and it cannot be created (run the tests as root): %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "preflight-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	cfg := filepath.Join(dir, "sshd_config")
	lines := append([]string{"HostKey " + key, "PidFile none", "UsePAM no", "StrictModes no",
		"AuthorizedKeysFile none", "PasswordAuthentication no", "KbdInteractiveAuthentication no"}, extra...)
	if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // the free port may be taken between the check and sshd's bind
		d, err := runSSHD(t, bin, cfg)
		if err == nil {
			return d
		}
		lastErr = err
	}
	t.Fatalf("sshd did not start: %v", lastErr)
	return nil
}

func runSSHD(t *testing.T, bin, cfg string) (*sshd, error) {
	d := &sshd{port: freePorts(t, 1)[0]}
	cmd := exec.Command(bin, "-D", "-e", "-f", cfg, "-p", strconv.Itoa(d.port), "-o", "ListenAddress=127.0.0.1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if strings.Contains(sc.Text(), fmt.Sprintf("Server listening on 127.0.0.1 port %d.", d.port)) {
				close(ready)
			}
		}
	}()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { <-logged; cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	select {
	case <-ready:
		t.Cleanup(stop)
		return d, nil
	case <-logged: // stderr closed: sshd exited
	case <-time.After(5 * time.Second):
	}
	stop()
	return nil, fmt.Errorf("no 'Server listening' line; log:\n%s", d.logText())
}

func (d *sshd) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// waitLog waits until a line of the sshd log contains every part.
func (d *sshd) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for line := range strings.SplitSeq(d.logText(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return
			}
		}
	}
	t.Errorf("sshd log has no line with %q:\n%s", parts, d.logText())
}
