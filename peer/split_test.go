package peer

import (
	"context"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// TestSplitViewDetected: the patient side witnessed the surgeon's log at two runs. The surgeon side
// then presents another history — a log of the same size with another second run, a longer log that does
// not extend the one witnessed, a log cut back to one run — each signed with its real facility key. Each
// is caught, the joint verdict is held at NOT READY and kept with the reason, and what was witnessed
// stays as it was.
func TestSplitViewDetected(t *testing.T) {
	patient, surgeon := pair(t)
	ctx := context.Background()
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, sign: true, fail: true})
	snap1, snap2 := t.TempDir(), t.TempDir()
	copyDir(t, surgeon.dir, snap1) // the surgeon's log at one run
	copyDir(t, surgeon.dir, snap2)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	pl := patient.link(t, op)
	if s := pl.Poll(ctx); !s.Ready() || s.Witnessed == nil || s.Witnessed.Size != 2 {
		t.Fatalf("before the split: %s %q", s.Verdict, s.Reasons)
	}

	fork := forkOf(t, surgeon, snap1, patient.pin())
	fork.sealRun(t, runOpts{op: op, sign: true}) // another second run
	look := func(f *fac, want string) Status {
		t.Helper()
		patient.useProfile(t, f, surgeon.ident.Key.Pin(), "")
		s := patient.link(t, op).Poll(ctx)
		if s.Ready() || s.Peer.State != StateSplitView || !strings.Contains(s.Peer.Problem, want) {
			t.Fatalf("%s %+v", s.Verdict, s.Peer)
		}
		if !strings.Contains(strings.Join(s.Reasons, "\n"), "split view") {
			t.Errorf("reasons %q", s.Reasons)
		}
		return s
	}
	s := look(fork, "its history was rewritten")
	if s.Recorded == "" {
		t.Error("a split view was not kept in the log")
	}
	fork.sealRun(t, runOpts{op: op, sign: true})
	look(fork, "does not extend the 2 witnessed")
	rolled := forkOf(t, surgeon, snap2, patient.pin())
	look(rolled, "runs were dropped")

	if last, err := patient.store.LastWitnessed("surgeon-site"); err != nil || last.Size != 2 {
		t.Fatalf("what was witnessed changed: %v %v", last, err)
	}
	j, err := runlog.LatestJoint(patient.dir, op)
	if err != nil || j == nil || j.Peer.State != StateSplitView || j.Verdict != runlog.JointNotReady {
		t.Fatalf("kept: %+v %v", j, err)
	}
	mustVerifyClean(t, patient.dir)
	// The real log, still consistent, is accepted again.
	patient.useProfile(t, surgeon, "", "")
	if s := patient.link(t, op).Poll(ctx); !s.Ready() {
		t.Fatalf("the consistent log again: %s %q", s.Verdict, s.Reasons)
	}
}
