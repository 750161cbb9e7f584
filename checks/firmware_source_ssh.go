package checks

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxOutput bounds what the ssh_command source reads from the command.
const maxOutput = 64 << 10

// readSSH logs in with the key, runs the command and finds the version in its output. The appliance's host
// key must be the pinned one or listed in known_hosts: an unknown key is refused, never learnt.
func (s *FirmwareSpec) readSSH(ctx context.Context, env *Env, src Evidence) (reading, error) {
	port := cmp.Or(s.Source.Port, 22)
	addr, _, err := env.Addr(s.Source.Target, port)
	src["target"], src["address"], src["user"], src["command"] = s.Source.Target, addr, s.Source.User, s.Source.Command
	if err != nil {
		return reading{}, err
	}
	// Local files first: a missing key or known_hosts is the profile's fault, found before any packet.
	signer, err := loadSSHKey(env.Path(s.Source.KeyFile))
	if err != nil {
		return reading{}, err
	}
	hostKey, err := s.Source.hostKeyCallback(env, src)
	if err != nil {
		return reading{}, err
	}
	timeout := s.timeout(env)
	conn, err := env.Dialer(timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return reading{}, fmt.Errorf("connect %s: %s (%w)", addr, Classify(err), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetDeadline(time.Now().Add(timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: s.Source.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKey, Timeout: timeout,
	})
	if err != nil {
		return reading{}, fmt.Errorf("ssh to %s: %w", addr, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return reading{}, fmt.Errorf("ssh session on %s: %w", addr, err)
	}
	defer sess.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	out := &capped{limit: maxOutput}
	sess.Stdout, sess.Stderr = out, out
	runErr := sess.Run(s.Source.Command)
	var exit *ssh.ExitError
	if errors.As(runErr, &exit) {
		src["exit_status"] = exit.ExitStatus()
	}
	// Appliance shells often end a good answer with an odd status; the version in the output decides.
	v, err := s.Source.extract(string(out.buf))
	if err != nil && runErr != nil {
		return reading{raw: bounded(out.buf)}, fmt.Errorf("command %q on %s: %w", s.Source.Command, addr, runErr)
	}
	return reading{version: v, raw: bounded(out.buf)}, err
}

// hostKeyCallback accepts only the pinned fingerprint or a key listed in known_hosts.
func (src *FirmwareSource) hostKeyCallback(env *Env, ev Evidence) (ssh.HostKeyCallback, error) {
	record := func(key ssh.PublicKey) { ev["host_key"] = ssh.FingerprintSHA256(key) }
	if src.HostKey != "" {
		return func(_ string, _ net.Addr, key ssh.PublicKey) error {
			record(key)
			got := ssh.FingerprintSHA256(key)
			if subtle.ConstantTimeCompare([]byte(got), []byte(src.HostKey)) != 1 {
				return fmt.Errorf("host key %s does not match the pinned %s: refusing to log in (a changed key may mean an impostor; confirm it on the console)", got, src.HostKey)
			}
			return nil
		}, nil
	}
	path := env.Path(src.KnownHosts)
	check, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		record(key)
		err := check(host, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("host key %s of %s is not in %s: add it after confirming it on the appliance's console; unknown keys are never accepted", ssh.FingerprintSHA256(key), host, path)
		case errors.As(err, &ke):
			return fmt.Errorf("host key %s of %s differs from the one in %s: refusing to log in (a changed key may mean an impostor)", ssh.FingerprintSHA256(key), host, path)
		}
		return err
	}, nil
}

// loadSSHKey reads a private key; an encrypted one is opened with the passphrase from SSHPassphraseEnv.
func loadSSHKey(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		pass := os.Getenv(SSHPassphraseEnv)
		if pass == "" {
			return nil, fmt.Errorf("key_file %s is encrypted: put its passphrase in the environment variable %s", path, SSHPassphraseEnv)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(pass))
	}
	if err != nil {
		return nil, fmt.Errorf("key_file %s: %w", path, err)
	}
	return signer, nil
}

// validFingerprint accepts "SHA256:" and the unpadded base64 of 32 bytes, as ssh-keygen -lf prints it.
func validFingerprint(fp string) bool {
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	return ok && err == nil && len(raw) == 32
}

// capped keeps the first limit bytes written to it and discards the rest. The SSH session copies stdout
// and stderr into it from two goroutines.
type capped struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}
