package checks

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fortiStatus is what FortiOS prints for `get system status`.
func fortiStatus(version string) string {
	return "Version: FortiGate-60F " + version + " (GA.F)\r\n" +
		"Firmware Signature: certified\r\nSerial-Number: FGT60FTK0000000\r\nHostname: FGT-HOSP-01\r\n" +
		"Operation Mode: NAT\r\nSystem time: Fri Dec  4 09:00:00 2026\r\n"
}

func TestFirmwareSSHCommand(t *testing.T) {
	env := firmwareEnv(t)
	client := newSSHKey(t)
	writeKey(t, env.Dir, "id_ed25519", client, "")
	spec := func(port int, hostKey string) *FirmwareSpec {
		return &FirmwareSpec{Vendor: "fortinet", Product: "fortios", Timeout: Duration(2e9), Source: FirmwareSource{
			Method: "ssh_command", Target: "vpn", Port: port, User: "audit", KeyFile: "id_ed25519", HostKey: hostKey,
			Command: "get system status", Pattern: `Version: \S+ v(\d+\.\d+\.\d+,build\d+)`}}
	}
	t.Run("pass with pinned host key", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		r := spec(srv.port, srv.fingerprint).Run(context.Background(), env)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "version", "7.4.3,build2573")
		src, _ := r.Evidence["source"].(Evidence)
		if src["host_key"] != srv.fingerprint || src["command"] != "get system status" || src["user"] != "audit" {
			t.Errorf("source evidence %v", src)
		}
		if srv.commands.Load() != 1 {
			t.Errorf("%d commands run, want 1", srv.commands.Load())
		}
	})
	t.Run("fail names the CVE", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.2.5,build1517,230606"))
		r := spec(srv.port, srv.fingerprint).Run(context.Background(), env)
		wantStatus(t, r, Fail)
		wantSummary(t, r, "CVE-2024-21762 [KEV] (fix: 7.2.7)")
		wantEvidence(t, r, "advisories", []string{"CVE-2024-21762"})
	})
	t.Run("known_hosts", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		line := knownhosts.Line([]string{knownhosts.Normalize(fmt.Sprintf("127.0.0.1:%d", srv.port))}, srv.hostKey.PublicKey())
		os.WriteFile(filepath.Join(env.Dir, "known_hosts"), []byte(line+"\n"), 0o600)
		s := spec(srv.port, "")
		s.Source.KnownHosts = "known_hosts"
		wantStatus(t, s.Run(context.Background(), env), Pass)

		other := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		s = spec(other.port, "")
		s.Source.KnownHosts = "known_hosts"
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "is not in", "unknown keys are never accepted")
		if other.commands.Load() != 0 {
			t.Error("a command ran on a host with an unknown key")
		}
	})
	t.Run("wrong pinned host key is error", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		impostor := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		r := spec(impostor.port, srv.fingerprint).Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "does not match the pinned "+srv.fingerprint)
		if impostor.commands.Load() != 0 {
			t.Error("a command ran on an impostor")
		}
	})
	t.Run("key the appliance does not accept is error", func(t *testing.T) {
		srv := sshAppliance(t, newSSHKey(t).pub, fortiStatus("v7.4.3,build2573,240201"))
		r := spec(srv.port, srv.fingerprint).Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "unable to authenticate")
	})
	t.Run("encrypted key", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		writeKey(t, env.Dir, "id_encrypted", client, "correct horse")
		s := spec(srv.port, srv.fingerprint)
		s.Source.KeyFile = "id_encrypted"
		t.Setenv(SSHPassphraseEnv, "")
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "is encrypted: put its passphrase in the environment variable PREFLIGHT_SSH_PASSPHRASE")
		if srv.conns.Load() != 0 {
			t.Error("connected although the key could not be opened")
		}
		t.Setenv(SSHPassphraseEnv, "correct horse")
		wantStatus(t, s.Run(context.Background(), env), Pass)
	})
	t.Run("command without a version is error", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.4.3,build2573,240201"))
		s := spec(srv.port, srv.fingerprint)
		s.Source.Command = "get system performance status"
		r := s.Run(context.Background(), env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "Process exited with status 1")
		wantEvidence(t, r, "raw", "Command fail. Return code -61\n")
	})
	t.Run("cancelled during the handshake is error", func(t *testing.T) {
		port, _ := bannerServer(t, "") // accepts and never speaks
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		r := spec(port, "SHA256:"+strings.Repeat("A", 43)).Run(ctx, env)
		wantStatus(t, r, Error)
		wantSummary(t, r, "run cancelled")
		if time.Since(start) > time.Second {
			t.Errorf("cancellation took %s", time.Since(start))
		}
	})
	t.Run("out of scope sends nothing", func(t *testing.T) {
		srv := sshAppliance(t, client.pub, fortiStatus("v7.2.5,build1517,230606"))
		narrow := *env
		narrow.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
		r := spec(srv.port, srv.fingerprint).Run(context.Background(), &narrow)
		wantStatus(t, r, Error)
		wantSummary(t, r, "outside the profile's scope")
		if n := srv.conns.Load(); n != 0 {
			t.Errorf("%d connections to an out-of-scope target; want none", n)
		}
	})
}

type sshKey struct {
	priv ed25519.PrivateKey
	pub  ssh.PublicKey
}

func newSSHKey(t *testing.T) sshKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshKey{priv: priv, pub: sp}
}

// writeKey stores the private key in OpenSSH format, encrypted when passphrase is set.
func writeKey(t *testing.T, dir, name string, k sshKey, passphrase string) {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(k.priv, "audit@preflight")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k.priv, "audit@preflight", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sshServer is an in-process SSH server standing in for an appliance's management shell.
type sshServer struct {
	port            int
	hostKey         ssh.Signer
	fingerprint     string
	conns, commands atomic.Int32
}

// sshAppliance listens on 127.0.0.1:0, accepts only the user key, and answers `get system status` with
// status (any other command fails as FortiOS does).
func sshAppliance(t *testing.T, user ssh.PublicKey, status string) *sshServer {
	t.Helper()
	hk := newSSHKey(t)
	signer, err := ssh.NewSignerFromKey(hk.priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) == string(user.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(signer)
	s := &sshServer{hostKey: signer, fingerprint: ssh.FingerprintSHA256(signer.PublicKey())}
	l := listen(t)
	s.port = portOf(l)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					if nc.ChannelType() != "session" {
						nc.Reject(ssh.UnknownChannelType, "session only")
						continue
					}
					ch, creqs, err := nc.Accept()
					if err != nil {
						return
					}
					go s.session(ch, creqs, status)
				}
			}()
		}
	}()
	return s
}

func (s *sshServer) session(ch ssh.Channel, reqs <-chan *ssh.Request, status string) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		var cmd struct{ Command string }
		ssh.Unmarshal(req.Payload, &cmd)
		req.Reply(true, nil)
		s.commands.Add(1)
		code := uint32(0)
		if cmd.Command == "get system status" {
			ch.Write([]byte(status))
		} else {
			ch.Write([]byte("Command fail. Return code -61\n"))
			code = 1
		}
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
		return
	}
}
