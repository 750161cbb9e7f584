package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

var (
	templateOnce sync.Once
	templateDir  string
	templateIDs  []string
)

// tamperTemplate is a three-run log built once; each case works on a copy.
func tamperTemplate(t *testing.T) (string, []string) {
	templateOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runlog-template-")
		if err != nil {
			t.Fatal(err)
		}
		templateDir, templateIDs = dir, threeRuns(t, dir)
	})
	dir := t.TempDir()
	copyDir(t, templateDir, dir)
	return dir, templateIDs
}

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	code := m.Run()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	if benchCleanup {
		os.RemoveAll(benchDir)
		os.Remove(benchDir + ".built")
	}
	os.Exit(code)
}

func edit(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func lines(b []byte) [][]byte {
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// TestTamperDetected changes the store the ways someone covering their tracks would, and expects verify
// to name the file and run, and say what happened.
func TestTamperDetected(t *testing.T) {
	run := func(dir, id, file string) string { return filepath.Join(dir, RunsDir, id, file) }
	var heldCheckpoint []byte
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string, ids []string)
		file   string // relative; %0 %1 %2 stand for the runs' ids
		run    int    // which run the problem names; -1 none
		msg    string
		held   bool // verify with the checkpoint saved before the change
	}{
		{"rewrite a verdict", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[0], RecordFile), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"verdict": "no-go"`), []byte(`"verdict": "go"`), 1)
			})
		}, "runs/%0/record.json", 0, "its content was changed", false},
		{"delete a journal line", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[1], JournalFile), func(b []byte) []byte { l := lines(b); return bytes.Join(append(l[:4:4], l[5:]...), nil) })
		}, "runs/%1/events.jsonl", 1, "line 5 has seq 6", false},
		{"reorder journal lines", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[1], JournalFile), func(b []byte) []byte { l := lines(b); l[3], l[4] = l[4], l[3]; return bytes.Join(l, nil) })
		}, "runs/%1/events.jsonl", 1, "line 4 has seq 5", false},
		{"duplicate a journal line", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[1], JournalFile), func(b []byte) []byte { l := lines(b); return bytes.Join(append(l[:6:6], l[5:]...), nil) })
		}, "runs/%1/events.jsonl", 1, "line 7 has seq 6", false},
		{"append a forged journal line", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[1], JournalFile), func(b []byte) []byte {
				l := lines(b)
				forged, _ := marshalLine(journalLine{Seq: int64(len(l) + 1), TS: "2026-12-04T10:00:00Z", Type: EvAnswer, Data: []byte("null"), Prev: lineHash(l[len(l)-1])})
				return append(b, forged...)
			})
		}, "runs/%1/events.jsonl", 1, "the record sealed 10 lines", false},
		{"truncate a journal", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[2], JournalFile), func(b []byte) []byte { return b[:len(b)-20] })
		}, "runs/%2/events.jsonl", 2, "without a newline", false},
		{"truncate a record", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[2], RecordFile), func(b []byte) []byte { return b[:len(b)/2] })
		}, "runs/%2/record.json", 2, "not in the canonical form", false},
		{"delete a whole run", func(t *testing.T, dir string, ids []string) {
			os.RemoveAll(filepath.Join(dir, RunsDir, ids[1]))
		}, "runs/%1", 1, "the run (leaf 1 of the log) was deleted", false},
		{"delete a whole run and its index line", func(t *testing.T, dir string, ids []string) {
			os.RemoveAll(filepath.Join(dir, RunsDir, ids[1]))
			edit(t, filepath.Join(dir, IndexFile), func(b []byte) []byte {
				l := lines(b)
				var e IndexEntry
				_ = json.Unmarshal(l[2], &e)
				e.Leaf = 1
				return bytes.Join([][]byte{l[0], e.line()}, nil)
			})
		}, "runs/%2/record.json", 2, "the chain of records is broken", false},
		{"move a sign-off onto another record", func(t *testing.T, dir string, ids []string) {
			var a Record
			b0, _ := os.ReadFile(run(dir, ids[0], RecordFile))
			_ = json.Unmarshal(b0, &a)
			edit(t, run(dir, ids[1], RecordFile), func(b []byte) []byte {
				_, _, sig, _ := recordHash(b)
				moved, _ := json.Marshal(a.Signature)
				return bytes.Replace(b, sig, moved, 1)
			})
		}, "runs/%1/record.json", 1, "it was moved from another record", false},
		{"re-sign with an unknown key", func(t *testing.T, dir string, ids []string) {
			intruder := testKey(t, "intruder")
			edit(t, run(dir, ids[1], RecordFile), func(b []byte) []byte {
				var r Record
				_ = json.Unmarshal(b, &r)
				r.Verdict, r.Signoff.Meaning, r.Blocking = GO, Approve, nil
				r.SHA256, r.Signature = "", ""
				body, _ := encodeRecord(&r)
				sum := sha256.Sum256(body)
				r.SHA256 = hex.EncodeToString(sum[:])
				sig, _ := note.Sign(&note.Note{Text: signoffText(&r)}, intruder.Signer())
				r.Signature = string(sig)
				out, _ := encodeRecord(&r)
				return out
			})
		}, "runs/%1/record.json", 1, "which is not in the facility's roster", false},
		{"swap two records", func(t *testing.T, dir string, ids []string) {
			a, _ := os.ReadFile(run(dir, ids[0], RecordFile))
			b, _ := os.ReadFile(run(dir, ids[1], RecordFile))
			os.WriteFile(run(dir, ids[0], RecordFile), b, 0o600)
			os.WriteFile(run(dir, ids[1], RecordFile), a, 0o600)
		}, "runs/%0/record.json", 0, "records were swapped", false},
		{"replace the profile", func(t *testing.T, dir string, ids []string) {
			edit(t, run(dir, ids[0], ProfileFile), func(b []byte) []byte { return bytes.Replace(b, []byte("allow: [443]"), []byte("allow: [23, 443]"), 1) })
		}, "runs/%0/profile.yaml", 0, "the profile was altered", false},
		{"replay an old checkpoint", func(t *testing.T, dir string, ids []string) {
			old, _ := os.ReadFile(run(dir, ids[0], RunCkptFile))
			os.WriteFile(filepath.Join(dir, CheckpointFile), old, 0o600)
		}, "checkpoint", 1, "an older checkpoint was put back", false},
		{"delete the last run and replay the checkpoint before it", func(t *testing.T, dir string, ids []string) {
			heldCheckpoint, _ = os.ReadFile(filepath.Join(dir, CheckpointFile))
			os.RemoveAll(filepath.Join(dir, RunsDir, ids[2]))
			edit(t, filepath.Join(dir, IndexFile), func(b []byte) []byte { l := lines(b); return bytes.Join(l[:2], nil) })
			old, _ := os.ReadFile(run(dir, ids[1], RunCkptFile))
			os.WriteFile(filepath.Join(dir, CheckpointFile), old, 0o600)
		}, "(held checkpoint)", -1, "runs were removed after it was signed", true},
		{"drop the last index line", func(t *testing.T, dir string, ids []string) {
			edit(t, filepath.Join(dir, IndexFile), func(b []byte) []byte { l := lines(b); return bytes.Join(l[:2], nil) })
		}, "checkpoint", -1, "runs were deleted", false},
		{"add a key to the roster", func(t *testing.T, dir string, ids []string) {
			edit(t, filepath.Join(dir, RosterFile), func(b []byte) []byte {
				return bytes.Replace(b, []byte("\n\n"), []byte("\nsigner "+signerOf(testKey(t, "intruder")).line()+"\n\n"), 1)
			})
		}, "roster", -1, "the roster was altered", false},
		{"plant a file", func(t *testing.T, dir string, ids []string) {
			os.WriteFile(run(dir, ids[0], "notes.txt"), []byte("x"), 0o600)
		}, "runs/%0/notes.txt", 0, "an unexpected file", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, ids := tamperTemplate(t)
			tc.mutate(t, dir, ids)
			opt := VerifyOptions{}
			if tc.held {
				opt.Checkpoints = [][]byte{heldCheckpoint}
			}
			v := mustVerify(t, dir, opt)
			file := strings.NewReplacer("%0", ids[0], "%1", ids[1], "%2", ids[2]).Replace(tc.file)
			wantRun := ""
			if tc.run >= 0 {
				wantRun = ids[tc.run]
			}
			found := false
			for _, p := range v.Problems {
				if p.Severity == Tampered && p.File == file && p.Run == wantRun && strings.Contains(p.Msg, tc.msg) {
					found = true
				}
			}
			if !found || v.ExitCode() != VerifyTampered {
				t.Fatalf("want TAMPERED %s (run %q): …%s…; exit %d, got:%s", file, wantRun, tc.msg, v.ExitCode(), problemsText(v))
			}
		})
	}
}

// TestEveryByteFlipDetected flips one bit at a time in every file of the store (every byte of the small
// files, some 60 places of each large one): each change makes verify fail naming that file.
func TestEveryByteFlipDetected(t *testing.T) {
	dir, _ := tamperTemplate(t)
	var files []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() != LockFile {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 16 {
		t.Fatalf("%d files in the store, want 16", len(files))
	}
	checked := 0
	for _, path := range files {
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		relp, _ := filepath.Rel(dir, path)
		n := len(orig)
		// Every byte of the small files (keys, roster, checkpoints); of the others, the first and last 16
		// and 30 spread between.
		var at []int
		for i := range n {
			if n <= 400 || i < 16 || i >= n-16 || i%(n/30) == 0 {
				at = append(at, i)
			}
		}
		for _, at := range at {
			b := bytes.Clone(orig)
			b[at] ^= 0x01
			os.WriteFile(path, b, 0o600)
			v := mustVerify(t, dir, VerifyOptions{})
			named := false
			for _, p := range v.Problems {
				named = named || p.Severity == Tampered && p.File == relp
			}
			if !named || v.ExitCode() != VerifyTampered {
				t.Errorf("%s: flipped byte %d (%q→%q): not reported as TAMPERED naming the file:%s", relp, at, orig[at], b[at], problemsText(v))
			}
			checked++
		}
		os.WriteFile(path, orig, 0o600)
	}
	if v := mustVerify(t, dir, VerifyOptions{}); v.Worst() != 0 {
		t.Fatalf("restored store does not verify:%s", problemsText(v))
	}
	t.Logf("%d one-bit changes in %d files, every one detected", checked, len(files))
}
