package session

import (
	"context"
	"testing"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// The TUI interrupts without draining the stream: an item that was running is kept as an error and one
// never started as skipped, never as pending or "running", and the verdict is not GO.
func TestInterruptSealsUnfinishedItems(t *testing.T) {
	s := New(parse(t, base), "OP-1")
	s.Apply(checks.Update{ID: "a", Phase: checks.Started})
	s.Interrupt("SIGHUP (terminal closed)")
	a, b := s.Record.Item("a"), s.Record.Item("b")
	if a.Status != checks.Error || b.Status != checks.Skipped {
		t.Fatalf("a %s %q, b %s %q", a.Status, a.Summary, b.Status, b.Summary)
	}
	if s.Record.Verdict == runlog.GO || s.Record.Interrupted != "SIGHUP (terminal closed)" {
		t.Fatalf("verdict %s interrupted %q", s.Record.Verdict, s.Record.Interrupted)
	}
	// Finished items are left as they are.
	s2 := New(parse(t, base), "OP-2")
	s2.Probe(context.Background(), nil)
	s2.Interrupt("SIGTERM")
	if s2.Record.Item("a").Status != checks.Pass {
		t.Fatalf("a finished item changed: %+v", s2.Record.Item("a"))
	}
}
