package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

// These flows run the real program with real probes (the ward profile's targets are closed ports on
// 127.0.0.1, so they finish at once) and watch the model from the program's own goroutine through a
// message filter, which is where bubbletea lets code outside Update look at it safely.

// snapshot is what the flows wait for.
type snapshot struct {
	unfinished int               // probe items not finished
	attempts   int               // probe runs finished, over all items
	answers    map[string]string // manual item → evidence
	screen     screen
	saved      bool
}

type observer struct {
	mu   sync.Mutex
	snap snapshot
}

func (o *observer) filter(m tea.Model, msg tea.Msg) tea.Msg {
	mm := m.(*Model)
	s := snapshot{answers: map[string]string{}, screen: mm.screen, saved: mm.saved != nil && mm.saved.err == nil}
	for _, it := range mm.c.items() {
		if it.Kind != "manual" && it.Status == checks.Pending {
			s.unfinished++
		}
		s.attempts += it.Attempts
		if it.Answer != nil {
			s.answers[it.ID] = it.Evidence["evidence"].(string)
		}
	}
	o.mu.Lock()
	o.snap = s
	o.mu.Unlock()
	return msg
}

func (o *observer) waitFor(t *testing.T, what string, cond func(snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		ok := cond(o.snap)
		o.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

// The whole operator flow in one program: probes resolve, a manual item is answered with evidence, the
// run is signed, and the signed record is what Save receives.
func TestFlowAnswerAndSignWithTeatest(t *testing.T) {
	s := session.New(ward(t, false), "OP-2026-118")
	var mu sync.Mutex
	var saved []byte
	save := func(r *runlog.Record) (string, string, error) {
		mu.Lock()
		defer mu.Unlock()
		saved, _ = json.Marshal(r)
		return "/records/x.json", "hash", nil
	}
	m := New(context.Background(), s, Options{Save: save})
	var o observer
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithFilter(o.filter), tea.WithColorProfile(colorprofile.NoTTY)))

	o.waitFor(t, "every probe has finished", func(s snapshot) bool { return s.answers != nil && s.unfinished == 0 })
	for _, k := range []string{"j", "j", "y"} { // monitoring is the third item
		tm.Send(press(k))
	}
	tm.Type("SOC ticket 4411")
	tm.Send(press("enter"))
	o.waitFor(t, "the answer is recorded", func(s snapshot) bool { return s.answers["monitoring"] == "SOC ticket 4411" })
	tm.Send(press("s"))
	tm.Type("Hanako Sato")
	tm.Send(press("tab"))
	tm.Type("network engineer on duty")
	tm.Send(press("enter"))
	o.waitFor(t, "the record is written", func(s snapshot) bool { return s.saved })
	tm.Send(press("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

	mu.Lock()
	defer mu.Unlock()
	var r runlog.Record
	if err := json.Unmarshal(saved, &r); err != nil {
		t.Fatal(err)
	}
	if r.Signoff == nil || r.Signoff.Name != "Hanako Sato" || r.Interrupted != "" {
		t.Fatalf("signoff %+v interrupted %q", r.Signoff, r.Interrupted)
	}
	for _, it := range r.Items {
		if it.Kind != "manual" && (it.Status == checks.Pending || it.Attempts != 1) {
			t.Errorf("%s: %s after %d attempts", it.ID, it.Status, it.Attempts)
		}
	}
	if a := item(r, "monitoring").Answer; a == nil || a.Evidence != "SOC ticket 4411" {
		t.Errorf("answer %+v", a)
	}
	// The ward's TLS and DNS targets are closed ports: those probes cannot decide, so this is no GO.
	if r.Verdict == runlog.GO || !strings.Contains(r.Signoff.Statement, "NOT confirmed") {
		t.Errorf("verdict %s statement %q", r.Verdict, r.Signoff.Statement)
	}
}

// Re-running one item and then all of them goes through the runner again and lands in the record.
func TestFlowRerunWithTeatest(t *testing.T) {
	s := session.New(ward(t, false), "OP-1")
	probes := len(s.Profile.ProbeItems())
	m := New(context.Background(), s, Options{})
	var o observer
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24), teatest.WithProgramOptions(tea.WithFilter(o.filter)))
	o.waitFor(t, "every probe has finished", func(s snapshot) bool { return s.attempts == probes && s.unfinished == 0 })
	tm.Send(press("r")) // robot-ports, the first item
	o.waitFor(t, "robot-ports has run again", func(s snapshot) bool { return s.attempts == probes+1 && s.unfinished == 0 })
	tm.Send(press("R"))
	o.waitFor(t, "every probe has run again", func(s snapshot) bool { return s.attempts == 2*probes+1 && s.unfinished == 0 })
	tm.Send(press("q"))
	tm.Send(press("y"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	fm := tm.FinalModel(t).(*Model)
	for _, it := range fm.c.items() {
		want := 2
		switch {
		case it.Kind == "manual":
			want = 0
		case it.ID == "robot-ports":
			want = 3
		}
		if it.Attempts != want {
			t.Errorf("%s ran %d times, want %d", it.ID, it.Attempts, want)
		}
	}
}

// Run, the way the command calls it, with a real program on a pipe: keys arrive as bytes, and a SIGHUP
// (the terminal closing) ends it with the record sealed into the run log, marked interrupted, the
// answer in it (in the journal too), and the hash Run reports equal to the sealed record's.
func TestRunKeepsRecordOnSIGHUP(t *testing.T) {
	s := session.New(ward(t, false), "OP-2026-118")
	store := openStore(t, s)
	in, keys := io.Pipe()
	defer keys.Close()
	var o observer
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(context.Background(), s, Options{Save: store.SealFunc(nil), Input: in, Output: io.Discard,
			Program: []tea.ProgramOption{tea.WithWindowSize(80, 24), tea.WithFilter(o.filter)}})
		done <- result{out, err}
	}()
	o.waitFor(t, "every probe has finished", func(s snapshot) bool { return s.answers != nil && s.unfinished == 0 })
	if _, err := io.WriteString(keys, "jjySOC ticket 4411\r"); err != nil {
		t.Fatal(err)
	}
	o.waitFor(t, "the answer is recorded", func(s snapshot) bool { return s.answers["monitoring"] == "SOC ticket 4411" })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil { // Run has its handler installed by now
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after SIGHUP")
	}
	if res.err != nil || res.out.Interrupted != "SIGHUP (terminal closed)" || res.out.Signed || res.out.SaveErr != nil {
		t.Fatalf("outcome %+v err %v", res.out, res.err)
	}
	b, err := os.ReadFile(res.out.Where)
	if err != nil {
		t.Fatal(err)
	}
	var r runlog.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.SHA256 != res.out.Hash {
		t.Errorf("reported hash %s is not the sealed record's %s", res.out.Hash, r.SHA256)
	}
	// Intact, and honestly incomplete: the only problem verify names is the interruption.
	if v, err := runlog.Verify(store.Dir, runlog.VerifyOptions{Run: r.RunID}); err != nil || len(v.Problems) != 1 ||
		!strings.Contains(fmt.Sprint(v.Problems[0]), "INCOMPLETE") || !strings.Contains(fmt.Sprint(v.Problems[0]), "interrupted: SIGHUP") {
		t.Errorf("verify of the kept run: %v %+v", err, v)
	}
	if r.Interrupted != "SIGHUP (terminal closed)" || item(r, "monitoring").Answer == nil || r.FinishedAt.IsZero() {
		t.Fatalf("kept record: interrupted %q answer %+v", r.Interrupted, item(r, "monitoring").Answer)
	}
	if !strings.Contains(res.out.Summary(), "not signed (SIGHUP (terminal closed))") {
		t.Errorf("summary %q", res.out.Summary())
	}
}

// Cancelling Run's context (the caller shutting down) keeps the record the same way.
func TestRunKeepsRecordWhenCancelled(t *testing.T) {
	s := session.New(ward(t, false), "OP-1")
	store := openStore(t, s)
	in, keys := io.Pipe()
	defer keys.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var o observer
	done := make(chan Outcome, 1)
	go func() {
		out, _ := Run(ctx, s, Options{Save: store.SealFunc(nil), Input: in, Output: io.Discard,
			Program: []tea.ProgramOption{tea.WithWindowSize(80, 24), tea.WithFilter(o.filter)}})
		done <- out
	}()
	o.waitFor(t, "the program runs", func(s snapshot) bool { return s.answers != nil })
	cancel()
	select {
	case out := <-done:
		if !strings.HasPrefix(out.Interrupted, "stopped: context canceled") || out.Where == "" {
			t.Fatalf("outcome %+v", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// openStore opens a run log in a temporary directory and journals s into it, as the command does.
func openStore(t *testing.T, s *session.Session) *runlog.Store {
	t.Helper()
	store, err := runlog.Open(t.TempDir(), s.Profile.Facility.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := s.UseStore(store); err != nil {
		t.Fatal(err)
	}
	return store
}
