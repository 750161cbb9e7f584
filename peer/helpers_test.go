package peer

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Personal keys cost a scrypt each to make and to open: made once per test binary.
var (
	keysOnce sync.Once
	keys     = map[string]*runlog.Key{}
	keysErr  error
)

func personalKey(t testing.TB, who string) *runlog.Key {
	t.Helper()
	keysOnce.Do(func() {
		dir, err := os.MkdirTemp("", "peer-test-keys-")
		if err != nil {
			keysErr = err
			return
		}
		defer os.RemoveAll(dir)
		for _, k := range [][3]string{{"hsato", "Hanako Sato", "Network engineer"}, {"ttanaka", "Taro Tanaka", "Network engineer"}, {"mallory", "Mallory", "Nobody"}} {
			f, line, err := runlog.GenerateKey(rand.Reader, k[1], k[0], k[2], []byte("correct horse battery"), time.Now())
			if err != nil {
				keysErr = err
				return
			}
			path, _, err := runlog.WriteKeyFiles(dir, k[0], f, line)
			if err != nil {
				keysErr = err
				return
			}
			if keys[k[0]], err = runlog.LoadKey(path, []byte("correct horse battery")); err != nil {
				keysErr = err
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys[who]
}

// fac is one facility of a test: its log, identity, signer and peer server.
type fac struct {
	id, role string
	dir      string
	store    *runlog.Store
	ident    *Identity
	signer   *runlog.Key
	server   *Server
	addr     string
	profile  *profiles.Profile
}

// newFac makes a facility log with a TLS identity and one rostered signer.
func newFac(t testing.TB, id, role, signer string) *fac {
	t.Helper()
	f := &fac{id: id, role: role, dir: t.TempDir(), signer: personalKey(t, signer)}
	var err error
	if f.store, err = runlog.Open(f.dir, id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	if f.ident, _, err = EnsureIdentity(f.store); err != nil {
		t.Fatal(err)
	}
	k := f.signer
	if err := f.store.AddSigner(runlog.Signer{Key: k.Verifier, Name: k.Name, Role: k.Role}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fac) pin() *Pin { return NewPin(f.id, f.role, f.ident.Key.Public) }

// serve starts f's peer server on 127.0.0.1:0 for peer, with its clock moved by skew.
func (f *fac) serve(t testing.TB, peer *Pin, skew time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.server = &Server{Dir: f.dir, Identity: f.ident, Facility: Facility{ID: f.id, Role: f.role}, Peer: peer,
		Now: func() time.Time { return time.Now().Add(skew) }}
	done := make(chan error, 1)
	go func() { done <- f.server.Serve(ln) }()
	t.Cleanup(func() {
		f.server.Close()
		if err := <-done; err != nil {
			t.Errorf("server of %s: %v", f.id, err)
		}
	})
}

// useProfile gives f a profile whose peer block points at other (endpoint, pinned key) with extra
// peer settings.
func (f *fac) useProfile(t testing.TB, other *fac, pinKey, extra string) {
	t.Helper()
	if pinKey == "" {
		pinKey = other.ident.Key.Pin()
	}
	y := fmt.Sprintf(`preflight: 1
facility: {id: %s, role: %s, name: "%s"}
peer: {id: %s, endpoint: "%s", key: "%s", timeout: 2s%s}
scope: ["127.0.0.0/8"]
targets: {robot: {address: 127.0.0.1}}
sections:
  - id: s
    title: Closed network
    items:
      - {id: robot-port, title: "Robot service port closed", guideline: "V(1)-1", probe: {kind: connect, target: robot, port: 9, expect: closed}, remedy: "Filter it"}
      - {id: plan, title: "Maintenance plan approved", guideline: "V(3)-2", manual: {question: "Approved?"}}
`, f.id, f.role, f.id, other.id, other.addr, pinKey, extra)
	p, err := profiles.Parse(f.id+".yaml", []byte(y), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.profile = p
}

// runOpts say how a test run ends.
type runOpts struct {
	op       string
	fail     bool          // the robot port is open: NO-GO
	sign     bool          // sign off with the facility's signer
	signedAt time.Duration // sign-off time relative to now
	unsealed bool          // leave the run in progress, one item done
}

// sealRun makes a run of f's profile through its store, without probing.
func (f *fac) sealRun(t testing.TB, o runOpts) *runlog.Record {
	t.Helper()
	now := time.Now()
	r := runlog.New(f.profile, o.op, "test", "host", now.Add(-time.Minute))
	j, err := f.store.Begin(r, f.profile.Raw)
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Result{Status: checks.Pass, Summary: "refused, as expected", Evidence: checks.Evidence{"outcome": "refused"}}
	if o.fail {
		res = checks.Result{Status: checks.Fail, Summary: "open, expected closed", Evidence: checks.Evidence{"outcome": "open"}}
	}
	if err := r.SetResult("robot-port", res); err != nil {
		t.Fatal(err)
	}
	j.Event(runlog.Event{Type: runlog.EvFinished, Item: "robot-port", Data: res})
	if o.unsealed {
		return r
	}
	a := runlog.Answer{Answer: runlog.Yes, At: now}
	if err := r.SetAnswer(f.profile, "plan", a); err != nil {
		t.Fatal(err)
	}
	j.Event(runlog.Event{Type: runlog.EvAnswer, Item: "plan", Data: a})
	r.Finish(now)
	var key *runlog.Key
	if o.sign {
		key = f.signer
		r.Signoff = &runlog.Signoff{Name: key.Name, Role: key.Role, UserID: key.UserID, At: now.Add(o.signedAt).UTC(),
			Statement: "test sign-off"}
	}
	if _, _, err := f.store.Seal(r, key); err != nil {
		t.Fatal(err)
	}
	return r
}

// pair is two facilities serving each other, with profiles pointing at each other.
func pair(t *testing.T) (patient, surgeon *fac) { return pairTB(t) }

func pairTB(t testing.TB) (patient, surgeon *fac) {
	t.Helper()
	patient = newFac(t, "patient-site", "patient-side", "hsato")
	surgeon = newFac(t, "surgeon-site", "surgeon-side", "ttanaka")
	patient.serve(t, surgeon.pin(), 0)
	surgeon.serve(t, patient.pin(), 0)
	patient.useProfile(t, surgeon, "", "")
	surgeon.useProfile(t, patient, "", "")
	return patient, surgeon
}

func (f *fac) link(t *testing.T, op string) *Link {
	t.Helper()
	l := NewLink(f.profile, op, f.store)
	if l.Problem != "" {
		t.Fatalf("link of %s: %s", f.id, l.Problem)
	}
	t.Cleanup(l.Client.Close)
	return l
}

func mustVerifyClean(t *testing.T, dir string) *runlog.Verification {
	t.Helper()
	v, err := runlog.Verify(dir, runlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Worst() != 0 {
		var s string
		for _, p := range v.Problems {
			s += "\n  " + p.String()
		}
		t.Fatalf("log verify %s:%s", dir, s)
	}
	return v
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, runlog.RunsDir))
	return len(ents)
}

// canonical encodes v as record.json is written.
func canonical(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// forkOf opens a copy of f's log (taken earlier) as the same facility, serving it to peer: what an
// insider holding the facility key can present after rewriting the log.
func forkOf(t testing.TB, f *fac, dir string, peer *Pin) *fac {
	t.Helper()
	g := &fac{id: f.id, role: f.role, dir: dir, signer: f.signer, profile: f.profile}
	var err error
	if g.store, err = runlog.Open(dir, f.id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.store.Close() })
	if g.ident, err = LoadIdentity(dir); err != nil {
		t.Fatal(err)
	}
	g.serve(t, peer, 0)
	return g
}
