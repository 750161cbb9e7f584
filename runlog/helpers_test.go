package runlog

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
)

// Test keys are made with the lowest scrypt cost LoadKey accepts, to keep the suite fast under -race.
func init() { keyLog2N = 10 }

// detRand is a deterministic byte stream (SHA-256 in counter mode): keys and signatures made from it
// are the same on every run, so golden files can hold them.
type detRand struct {
	seed string
	n    uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.n)
			r.n++
			s := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = s[:]
		}
		p[i], r.buf = r.buf[0], r.buf[1:]
	}
	return len(p), nil
}

const testProfileYAML = `preflight: 1
facility: {id: test-site, role: patient-side, name: {en: "Test hospital", ja: "試験病院"}}
scope: ["127.0.0.0/8"]
targets: {robot: {address: 127.0.0.1}, vpn: {address: 127.0.0.2}}
sections:
  - id: intra
    title: {en: "Inside the facility", ja: "施設内"}
    items:
      - {id: robot-ports, title: "Robot exposes only allowed ports", guideline: "V(1)-1", probe: {kind: ports, target: robot, ports: "1-1024", allow: [443]}, remedy: "Close port 23"}
      - {id: vpn-tls, title: "VPN portal TLS", guideline: "V(2)-3", probe: {kind: tls, target: vpn, port: 443}, remedy: "Disable old TLS"}
      - {id: relay-cert, title: "Relay certificate", guideline: "V(2)-3", severity: warning, probe: {kind: tls, target: vpn, port: 8443}, remedy: "Renew"}
  - id: maint
    title: Maintenance
    items:
      - {id: plan, title: "Maintenance plan approved", guideline: "V(3)-2", manual: {question: "Approved?", evidence: required}}
`

func testProfile(t testing.TB) *profiles.Profile {
	t.Helper()
	p, err := profiles.Parse("test-site.yaml", []byte(testProfileYAML), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	keyOnce   sync.Once
	keyMu     sync.Mutex
	keyCache  = map[string]*Key{}
	keyFiles  = map[string][]byte{}
	keyErr    error
	testPass  = []byte("correct horse battery")
	testStart = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
)

// testKey returns a deterministic personal key: "hsato" (Hanako Sato) or "intruder".
func testKey(t testing.TB, who string) *Key {
	t.Helper()
	keyOnce.Do(func() {
		for _, k := range [][3]string{{"hsato", "Hanako Sato", "Network engineer"}, {"intruder", "Mallory", "Nobody"}} {
			f, _, err := GenerateKey(&detRand{seed: k[0]}, k[1], k[0], k[2], testPass, testStart)
			if err != nil {
				keyErr = err
				return
			}
			keyFiles[k[0]] = f
		}
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	keyMu.Lock()
	defer keyMu.Unlock()
	if k := keyCache[who]; k != nil {
		return k
	}
	path := filepath.Join(t.TempDir(), who+".key")
	if err := os.WriteFile(path, keyFiles[who], 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path, testPass)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[who] = k
	return k
}

func signerOf(k *Key) Signer { return Signer{Key: k.Verifier, Name: k.Name, Role: k.Role} }

// runOpts describe a fake run: what its probes report and how it ends.
type runOpts struct {
	id        string
	start     time.Time
	good      bool   // every item passes (GO) instead of the robot showing port 23 (NO-GO)
	key       *Key   // sign off with it
	interrupt string // end interrupted instead of signed
	operation string
}

// fakeRun makes the events a session makes — results, an answer, a waiver, a sign-off — through the
// store, without probing anything.
func fakeRun(s *Store, p *profiles.Profile, o runOpts) (*Record, error) {
	r := New(p, orDefault(o.operation, "OP-2026-118"), "test", "engineer-laptop", o.start)
	if o.id != "" {
		r.RunID = o.id
	}
	j, err := s.Begin(r, p.Raw)
	if err != nil {
		return nil, err
	}
	at := o.start
	tick := func() time.Time { at = at.Add(250 * time.Millisecond); return at }
	results := map[string]checks.Result{
		"robot-ports": {Status: checks.Fail, Summary: "1 port(s) open that the allow-list does not name: [23]",
			Evidence: checks.Evidence{"open": []int{23, 443}, "unexpected": []int{23}, "allow": []int{443}}, Duration: 1200 * time.Millisecond},
		"vpn-tls": {Status: checks.Warn, Summary: "TLS 1.2 accepted (policy wants 1.3 only)",
			Evidence: checks.Evidence{"accepted_versions": []string{"1.2", "1.3"}, "not_after": "2027-06-01T00:00:00Z"}, Duration: 80 * time.Millisecond},
		"relay-cert": {Status: checks.Fail, Summary: "certificate expires in 20 days (minimum 30)",
			Evidence: checks.Evidence{"days_left": 20, "not_after": "2026-12-24T00:00:00Z"}, Duration: 60 * time.Millisecond},
	}
	if o.good {
		results["robot-ports"] = checks.Result{Status: checks.Pass, Summary: "open ports [443] are all allowed",
			Evidence: checks.Evidence{"open": []int{443}, "unexpected": []int{}, "allow": []int{443}}, Duration: time.Second}
	}
	for _, id := range []string{"robot-ports", "vpn-tls", "relay-cert"} {
		if err := j.Append(Event{Type: EvStarted, Item: id, At: tick()}); err != nil {
			return nil, err
		}
	}
	for _, id := range []string{"robot-ports", "vpn-tls", "relay-cert"} {
		res := results[id]
		if err := r.SetResult(id, res); err != nil {
			return nil, err
		}
		if err := j.Append(Event{Type: EvFinished, Item: id, Data: res, At: tick()}); err != nil {
			return nil, err
		}
	}
	a := Answer{Answer: Yes, Evidence: "MP-2026-014 approved by CISO", By: "Sato", At: tick()}
	if err := r.SetAnswer(p, "plan", a); err != nil {
		return nil, err
	}
	if err := j.Append(Event{Type: EvAnswer, Item: "plan", Actor: "Sato", Data: a, At: at}); err != nil {
		return nil, err
	}
	w := Waiver{Item: "relay-cert", Reason: "renewal booked for 12-10; relay carries the room camera only", By: "Tanaka", At: tick()}
	if err := r.Waive(w); err != nil {
		return nil, err
	}
	if err := j.Append(Event{Type: EvWaiver, Item: w.Item, Actor: w.By, Data: w, At: at}); err != nil {
		return nil, err
	}
	r.Finish(tick())
	switch {
	case o.interrupt != "":
		r.Interrupted = o.interrupt
		if err := j.Append(Event{Type: EvInterrupted, Data: map[string]string{"reason": o.interrupt}, At: at}); err != nil {
			return nil, err
		}
	case o.key != nil:
		so := Signoff{Name: o.key.Name, Role: o.key.Role, UserID: o.key.UserID, At: tick(), UTCOffset: "+09:00",
			Statement: fmt.Sprintf("Network readiness %s for operation %s.", map[bool]string{true: "confirmed", false: "NOT confirmed"}[r.Verdict == GO], r.OperationID),
			Waivers:   append([]Waiver{}, r.Waivers...)}
		r.Signoff = &so
		if err := j.Append(Event{Type: EvSignoff, Actor: so.Name, Data: so, At: at}); err != nil {
			return nil, err
		}
	}
	if _, _, err := s.Seal(r, o.key); err != nil {
		return nil, err
	}
	return r, nil
}

// newTestStore opens a store in a new directory with deterministic keys and a fixed clock, with
// hsato in the roster.
func newTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := open(dir, "test-site", &detRand{seed: "facility"}, func() time.Time { return testStart })
	if err != nil {
		t.Fatal(err)
	}
	if len(s.roster.Signers) == 0 {
		if err := s.AddSigner(signerOf(testKey(t, "hsato"))); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// threeRuns makes a log of three signed runs (NO-GO, NO-GO, GO) and returns their ids.
func threeRuns(t testing.TB, dir string) []string {
	t.Helper()
	s := newTestStore(t, dir)
	defer s.Close()
	p, k := testProfile(t), testKey(t, "hsato")
	var ids []string
	for i, good := range []bool{false, false, true} {
		id := fmt.Sprintf("20261204T0%d3000Z-00000000000%d", 9+i, i)
		if _, err := fakeRun(s, p, runOpts{id: id, start: testStart.Add(time.Duration(i) * time.Hour), good: good, key: k}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
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
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode())
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// problemsText joins what verify found, for failure messages.
func problemsText(v *Verification) string {
	var b strings.Builder
	for _, p := range v.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

func mustVerify(t testing.TB, dir string, opt VerifyOptions) *Verification {
	t.Helper()
	v, err := Verify(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
