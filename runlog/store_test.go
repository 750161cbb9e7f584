package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSealedLogVerifiesClean(t *testing.T) {
	dir := t.TempDir()
	ids := threeRuns(t, dir)
	v := mustVerify(t, dir, VerifyOptions{})
	if v.Worst() != 0 || v.ExitCode() != VerifyClean {
		t.Fatalf("a fresh log does not verify clean:%s", problemsText(v))
	}
	if v.Size != 3 || v.Checkpoint == nil || v.Checkpoint.Size != 3 || v.Checkpoint.Origin != "preflight/test-site" {
		t.Fatalf("size %d checkpoint %+v", v.Size, v.Checkpoint)
	}
	for _, st := range v.Runs {
		if st.Signature.Status != SigValid || st.Signature.Signer == nil || st.Signature.Signer.Name != "Hanako Sato" || st.Events != 10 {
			t.Errorf("%s: signature %+v, %d events", st.RunID, st.Signature, st.Events)
		}
	}
	// The chain: each record names the one before it; the first names none.
	var prev string
	for _, id := range ids {
		data, err := os.ReadFile(filepath.Join(dir, RunsDir, id, RecordFile))
		if err != nil {
			t.Fatal(err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Prev != prev {
			t.Errorf("%s: prev %q, want %q", id, r.Prev, prev)
		}
		prev = r.SHA256
		// What sha256 covers, as documented: record.json with the sha256 and signature values emptied.
		blank := regexp.MustCompile(`(?m)^  "(sha256|signature)": ".*"(,?)$`).ReplaceAll(data, []byte(`  "$1": ""$2`))
		if sum := sha256.Sum256(blank); hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("%s: sha256 is not the hash of the record with sha256 and signature emptied", id)
		}
		if !strings.HasPrefix(r.Signature, signoffHeader+"\nrecord-sha256 "+r.SHA256+"\n") || r.Signoff.Meaning == "" || r.Signoff.Key == "" {
			t.Errorf("%s: signature %q meaning %q", id, r.Signature, r.Signoff.Meaning)
		}
		if want, _ := os.ReadFile(filepath.Join(dir, RunsDir, id, ProfileFile)); string(want) != testProfileYAML {
			t.Errorf("%s: profile.yaml is not the exact profile bytes", id)
		}
	}
	runs, err := List(dir, ListFilter{})
	if err != nil || len(runs) != 3 || runs[2].Verdict != GO || runs[0].Verdict != NoGo || runs[0].Signer != "Hanako Sato" || !runs[0].Signed {
		t.Fatalf("list: %v %+v", err, runs)
	}
	for _, tc := range []struct {
		f    ListFilter
		want int
	}{
		{ListFilter{Verdict: GO}, 1}, {ListFilter{Verdict: NoGo}, 2}, {ListFilter{Verdict: "interrupted"}, 0},
		{ListFilter{Since: testStart.Add(90 * time.Minute)}, 1}, {ListFilter{Operation: "OP-nope"}, 0}, {ListFilter{Operation: "OP-2026-118"}, 3},
	} {
		if got, _ := List(dir, tc.f); len(got) != tc.want {
			t.Errorf("list %+v: %d runs, want %d", tc.f, len(got), tc.want)
		}
	}
}

func TestJournalLinesChainExactBytes(t *testing.T) {
	dir := t.TempDir()
	ids := threeRuns(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, RunsDir, ids[0], JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines = lines[:len(lines)-1]
	prev := ""
	for i, ln := range lines {
		var m map[string]any
		if err := json.Unmarshal(ln, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"seq", "ts", "type", "actor", "data", "prev"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q", i+1, k)
			}
		}
		if m["prev"] != prev || m["seq"] != float64(i+1) || !strings.HasSuffix(m["ts"].(string), "Z") {
			t.Errorf("line %d: seq %v prev %v ts %v, want prev %s", i+1, m["seq"], m["prev"], m["ts"], prev)
		}
		prev = lineHash(ln)
	}
	if lines[0] == nil || !bytes.Contains(lines[0], []byte(`"type":"run-started"`)) {
		t.Errorf("first line: %s", lines[0])
	}
}

func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	_, err := Open(dir, "test-site")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), "one writer per facility log") {
		t.Fatalf("second store in the same process: %v", err)
	}
	s.Close()
	// Another process holding the lock: the child opens the store and waits until told to exit.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "RUNLOG_HOLD_LOCK="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked" {
		t.Fatalf("child: %q %v", buf, err)
	}
	_, err = Open(dir, "test-site")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("store held by another process: %v", err)
	}
	if v := mustVerify(t, dir, VerifyOptions{}); !strings.Contains(v.WriterActive, "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("verify does not say a writer is active: %q", v.WriterActive)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, "test-site")
	if err != nil {
		t.Fatalf("after the other writer ended: %v", err)
	}
	s2.Close()
	if _, err := Open(dir, "other-site"); err == nil || !strings.Contains(err.Error(), "is the log of test-site, not of facility other-site") {
		t.Errorf("another facility's log: %v", err)
	}
}

// TestHelperProcess is the child of the lock test: it holds the store until stdin closes.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("RUNLOG_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process for TestSecondWriterRefused")
	}
	s, err := Open(dir, "test-site")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked")
	_, _ = os.Stdin.Read(make([]byte, 1))
	s.Close()
}

func TestSealRefusals(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	defer s.Close()
	p := testProfile(t)
	r := New(p, "OP-1", "test", "h", testStart)
	if _, _, err := s.Seal(r, nil); err == nil || !strings.Contains(err.Error(), "was not begun") {
		t.Errorf("seal without begin: %v", err)
	}
	if _, err := s.Begin(r, []byte("other bytes")); err == nil || !strings.Contains(err.Error(), "profile bytes") {
		t.Errorf("begin with other profile bytes: %v", err)
	}
	r.RunID = "../escape"
	if _, err := s.Begin(r, p.Raw); err == nil {
		t.Error("a run id naming another directory was accepted")
	}
	// Approving a NO-GO run is refused; the key's owner must match the sign-off.
	k := testKey(t, "hsato")
	r = New(p, "OP-1", "test", "h", testStart)
	if _, err := s.Begin(r, p.Raw); err != nil {
		t.Fatal(err)
	}
	r.Signoff = &Signoff{Name: "Someone Else", Role: "x", At: testStart}
	if _, _, err := s.Seal(r, k); err == nil || !strings.Contains(err.Error(), "belongs to") {
		t.Errorf("signing another person's sign-off: %v", err)
	}
	r2 := New(p, "OP-1", "test", "h", testStart.Add(time.Second))
	if _, err := s.Begin(r2, p.Raw); err != nil {
		t.Fatal(err)
	}
	r2.Signoff = &Signoff{Name: k.Name, Role: k.Role, Meaning: Approve, At: testStart}
	if _, _, err := s.Seal(r2, k); err == nil || !strings.Contains(err.Error(), "cannot be approved") {
		t.Errorf("approving an incomplete run: %v", err)
	}
}

func TestSaveJSONExport(t *testing.T) {
	dir := t.TempDir()
	r := New(testProfile(t), "OP-1", "test", "h", testStart)
	path, err := SaveJSON(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if b, err := os.ReadFile(path); err != nil || json.Unmarshal(b, &back) != nil || back.RunID != r.RunID {
		t.Fatalf("export: %v", err)
	}
}
