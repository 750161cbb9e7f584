package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

func testSigningKey(t *testing.T) *runlog.Key {
	t.Helper()
	file, _, err := runlog.GenerateKey(rand.Reader, "Hanako Sato", "hsato", "Network engineer", []byte("long passphrase"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hsato.key")
	os.WriteFile(path, file, 0o600)
	k, err := runlog.LoadKey(path, []byte("long passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRunPlainWritesThroughTheStore: every event reaches the journal, the run is signed and sealed,
// and the log verifies.
func TestRunPlainWritesThroughTheStore(t *testing.T) {
	dir := t.TempDir()
	p := parse(t, base)
	st, err := runlog.Open(dir, p.Facility.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := testSigningKey(t)
	if err := st.AddSigner(runlog.Signer{Key: k.Verifier, Name: k.Name, Role: k.Role}); err != nil {
		t.Fatal(err)
	}
	s := New(p, "OP-1")
	var seen []string
	s.OnEvent = func(e Event) { seen = append(seen, e.Type) } // an earlier subscriber keeps its events
	var out, errb bytes.Buffer
	code, err := s.RunPlain(context.Background(), PlainOptions{Format: "json", Lang: "en", Stdout: &out, Stderr: &errb, Store: st, Key: k})
	if err != nil || code != ExitGO {
		t.Fatalf("exit %d %v\n%s", code, err, errb.String())
	}
	if len(seen) != 5 || seen[4] != EvSignoff {
		t.Errorf("subscriber saw %v", seen)
	}
	r := s.Record
	if r.SHA256 == "" || r.Signature == "" || r.Signoff.Meaning != runlog.Approve || r.Signoff.UserID != "hsato" || r.Journal.Lines != 6 {
		t.Fatalf("record not sealed and signed: %+v journal %+v", r.Signoff, r.Journal)
	}
	if !strings.Contains(out.String(), `"sha256": "`+r.SHA256) || !strings.Contains(errb.String(), "signed approve by Hanako Sato") {
		t.Errorf("the printed record is not the sealed one\n%s", errb.String())
	}
	journal, _ := os.ReadFile(filepath.Join(dir, "runs", r.RunID, "events.jsonl"))
	for _, want := range []string{`"type":"run-started"`, `"type":"item-started","actor":"","item":"a"`, `"type":"item-finished","actor":"","item":"b"`, `"type":"signoff","actor":"Hanako Sato"`} {
		if !bytes.Contains(journal, []byte(want)) {
			t.Errorf("journal lacks %s", want)
		}
	}
	if v, err := runlog.Verify(dir, runlog.VerifyOptions{}); err != nil || v.ExitCode() != runlog.VerifyClean {
		t.Fatalf("verify: %v %+v", err, v.Problems)
	}
}

func TestInterruptedRunIsSealedUnsigned(t *testing.T) {
	dir := t.TempDir()
	p := parse(t, base)
	st, err := runlog.Open(dir, p.Facility.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("SIGHUP: terminal closed"))
	s := New(p, "OP-1")
	var errb bytes.Buffer
	code, err := s.RunPlain(ctx, PlainOptions{Format: "text", Lang: "en", Stdout: new(bytes.Buffer), Stderr: &errb, Store: st, Key: testSigningKey(t)})
	if err != nil || code == ExitGO {
		t.Fatalf("exit %d %v", code, err)
	}
	if s.Record.Interrupted != "SIGHUP: terminal closed" || s.Record.Signoff != nil || s.Record.Signature != "" || s.Record.SHA256 == "" {
		t.Fatalf("interrupted %q signoff %+v sealed %q", s.Record.Interrupted, s.Record.Signoff, s.Record.SHA256)
	}
	v, _ := runlog.Verify(dir, runlog.VerifyOptions{})
	if v.ExitCode() != runlog.VerifyIncomplete {
		t.Fatalf("verify of an interrupted run: exit %d %+v", v.ExitCode(), v.Problems)
	}
}

func TestSignMeaning(t *testing.T) {
	s := New(parse(t, base), "OP-1")
	if err := s.Sign(runlog.Signoff{Name: "A", Role: "B", Meaning: runlog.Approve}); err == nil || !strings.Contains(err.Error(), "cannot be approved") {
		t.Fatalf("approving an incomplete run: %v", err)
	}
	if err := s.Sign(runlog.Signoff{Name: "A", Role: "B", Meaning: "maybe"}); err == nil {
		t.Fatal("meaning maybe accepted")
	}
	if err := s.Sign(runlog.Signoff{Name: "A", Role: "B"}); err != nil || s.Record.Signoff.Meaning != runlog.Reject {
		t.Fatalf("default meaning of a run that is not GO: %v %+v", err, s.Record.Signoff)
	}
}
