package runlog

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// crashChild is the child side of the crash suite: with RUNLOG_CRASH=point:n:mode:dir:keyfile it opens
// the store and (mode run) makes a signed run, killing itself with SIGKILL the n-th time it reaches the
// write point — the way kill -9, an OOM kill or a crash stops preflight.
func crashChild() bool {
	spec := os.Getenv("RUNLOG_CRASH")
	if spec == "" {
		return false
	}
	f := strings.SplitN(spec, ":", 5)
	point, mode, dir, keyFile := f[0], f[2], f[3], f[4]
	n, _ := strconv.Atoi(f[1])
	count := 0
	crashPoint = func(p string) {
		if p == point {
			if count++; count == n {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	s, err := Open(dir, "test-site")
	if err != nil {
		fail(err)
	}
	if mode == "run" {
		p, err := profiles.Parse("test-site.yaml", []byte(testProfileYAML), dir)
		if err != nil {
			fail(err)
		}
		k, err := LoadKey(keyFile, testPass)
		if err != nil {
			fail(err)
		}
		if _, err := fakeRun(s, p, runOpts{start: time.Now().UTC(), key: k, good: true}); err != nil {
			fail(err)
		}
	}
	s.Close()
	os.Exit(0)
	return true
}

// crashAt runs the child and expects it to die by SIGKILL.
func crashAt(t *testing.T, dir, point string, n int, mode string) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "hsato.key")
	if err := os.WriteFile(keyFile, keyFiles["hsato"], 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("RUNLOG_CRASH=%s:%d:%s:%s:%s", point, n, mode, dir, keyFile))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed at %s #%d: %v\n%s", point, n, err, out)
	}
}

// TestCrashAtEveryWritePoint kills a run at each write point of the store, then checks that verify
// and show tell the truth (interrupted, with the completed items; nothing reported as tampered), and
// that the next run seals the crashed one and works.
func TestCrashAtEveryWritePoint(t *testing.T) {
	// The journal of a run has 10 lines: run-started, 3 item-started, 3 item-finished, answer, waiver, signoff.
	cases := []struct {
		point    string
		n        int
		events   int    // complete journal lines left
		torn     bool   // a torn last line left
		state    string // what verify says about the crashed run
		done     []string
		complete bool // the crashed run's record was written: it ends up signed, not interrupted
	}{
		{"run-dir", 1, 0, false, "interrupted: never sealed", nil, false},
		{"profile", 1, 0, false, "interrupted: never sealed", nil, false},
		{"journal-created", 1, 0, false, "interrupted: never sealed", nil, false},
		{"event-torn", 1, 0, true, "torn last line", nil, false},
		{"event", 1, 1, false, "1 complete events kept", nil, false},
		{"event-torn", 5, 4, true, "4 complete events kept; a torn last line", nil, false},
		{"event", 6, 6, false, "6 complete events kept", []string{"robot-ports", "vpn-tls"}, false},
		{"event", 10, 10, false, "10 complete events kept", []string{"robot-ports", "vpn-tls", "relay-cert", "plan"}, false},
		{"record", 1, 10, false, "seal stopped before the run was added to the log", nil, true},
		{"index", 1, 10, false, "stopped before the log checkpoint was signed", nil, true},
		{"checkpoint", 1, 10, false, "not signed yet", nil, true},
		{"run-checkpoint", 1, 10, false, "", nil, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s#%d", tc.point, tc.n), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := newTestStore(t, dir)
			first, err := fakeRun(s, testProfile(t), runOpts{id: "20261204T090000Z-000000000000", start: testStart, key: testKey(t, "hsato")})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			crashAt(t, dir, tc.point, tc.n, "run")

			v := mustVerify(t, dir, VerifyOptions{})
			if v.Worst() >= Unreadable {
				t.Fatalf("a crash is reported as tampering:%s", problemsText(v))
			}
			if tc.state == "" {
				if v.Worst() != 0 {
					t.Fatalf("a run killed after its last write does not verify clean:%s", problemsText(v))
				}
			} else if v.ExitCode() != VerifyIncomplete || !strings.Contains(problemsText(v), tc.state) {
				t.Fatalf("exit %d, want %d with %q:%s", v.ExitCode(), VerifyIncomplete, tc.state, problemsText(v))
			}
			crashed := crashedRun(t, dir, first.RunID)
			rf, err := LoadRun(dir, crashed)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.complete {
				if rf.Sealed || rf.Record.Interrupted == "" || len(rf.Events) != tc.events || (len(rf.Journal.Torn) > 0) != tc.torn {
					t.Fatalf("show: sealed %v interrupted %q, %d events (torn %d bytes), want %d", rf.Sealed, rf.Record.Interrupted, len(rf.Events), len(rf.Journal.Torn), tc.events)
				}
			}
			for _, id := range tc.done {
				if it := rf.Record.Item(id); it == nil || it.Status == "pending" {
					t.Errorf("completed item %s not shown: %+v", id, it)
				}
			}

			// The next writer completes or seals the crashed run, and a new run works.
			s2, err := Open(dir, "test-site")
			if err != nil {
				t.Fatalf("the next run cannot open the log: %v", err)
			}
			if (len(s2.Notes) == 0) != (tc.state == "") {
				t.Errorf("recovery notes: %q", s2.Notes)
			}
			if _, err := fakeRun(s2, testProfile(t), runOpts{start: time.Now().UTC(), key: testKey(t, "hsato"), good: true}); err != nil {
				t.Fatalf("a new run after the crash: %v", err)
			}
			s2.Close()
			v = mustVerify(t, dir, VerifyOptions{})
			want := VerifyIncomplete
			if tc.complete {
				want = VerifyClean
			}
			if v.ExitCode() != want || v.Size != 3 {
				t.Fatalf("after the next run: exit %d (want %d), size %d:%s", v.ExitCode(), want, v.Size, problemsText(v))
			}
			rf, _ = LoadRun(dir, crashed)
			if !rf.Sealed || tc.complete != (rf.Record.Interrupted == "") {
				t.Fatalf("crashed run after recovery: sealed %v interrupted %q", rf.Sealed, rf.Record.Interrupted)
			}
			if q := rf.Record.Journal.Quarantined; tc.torn != (q != nil) || tc.torn && !fileExists(filepath.Join(dir, RunsDir, crashed, TornFile)) {
				t.Fatalf("quarantine: %+v", q)
			}
		})
	}
}

// TestCrashDuringRecovery kills the writer that is quarantining a torn line: the next one finishes.
func TestCrashDuringRecovery(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	s.Close()
	testKey(t, "hsato")
	crashAt(t, dir, "event-torn", 3, "run")
	crashAt(t, dir, "quarantine", 1, "open")
	if v := mustVerify(t, dir, VerifyOptions{}); v.ExitCode() != VerifyIncomplete {
		t.Fatalf("exit %d:%s", v.ExitCode(), problemsText(v))
	}
	s, err := Open(dir, "test-site")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	v := mustVerify(t, dir, VerifyOptions{})
	if v.ExitCode() != VerifyIncomplete || v.Size != 1 || !strings.Contains(problemsText(v), "torn line") {
		t.Fatalf("exit %d size %d:%s", v.ExitCode(), v.Size, problemsText(v))
	}
}

func crashedRun(t *testing.T, dir, not string) string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	for _, e := range ents {
		if e.Name() != not {
			return e.Name()
		}
	}
	t.Fatal("the crashed run left no directory")
	return ""
}
