package peer

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// Describe says in one line what a side shows: not started, running (n of m), NO-GO and what blocks,
// GO signed by NAME at TIME — or why it cannot be shown (unreachable, unverifiable, split view). Nothing
// unverified ever reads as "GO signed by".
func Describe(s Side, loc *time.Location) string {
	at := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05 MST") }
	switch s.State {
	case StateGo:
		if s.Signature != runlog.SigValid {
			return fmt.Sprintf("GO, but the sign-off is %s: it does not count", orText(s.Signature, "missing"))
		}
		return fmt.Sprintf("GO signed by %s (%s) at %s — verified", s.Signer, s.SignerRole, at(s.SignedAt))
	case StateNoGo:
		line := "NO-GO — blocks: " + blockers(s.Blocking)
		if s.Signer != "" && s.Signature == runlog.SigValid {
			line += fmt.Sprintf(" (signed %s by %s at %s)", s.Meaning, s.Signer, at(s.SignedAt))
		}
		return line
	case StateIncomplete:
		return "INCOMPLETE — waiting for: " + blockers(s.Blocking)
	case StateInterrupted:
		return "INTERRUPTED — " + s.Interrupted
	case StateRunning:
		if s.Verdict == runlog.NoGo {
			return fmt.Sprintf("running (%d of %d), NO-GO so far — live, not signed", s.Done, s.Total)
		}
		return fmt.Sprintf("running (%d of %d) — live, not signed", s.Done, s.Total)
	case StateNotStarted:
		return "not started for this operation"
	}
	return strings.ToUpper(strings.ReplaceAll(s.State, "-", " ")) + " — " + s.Problem
}

// WriteStatus prints what the peer link found, for the plain runner and the import command.
func WriteStatus(w io.Writer, s Status) error {
	b := &strings.Builder{}
	loc := time.UTC
	fmt.Fprintf(b, "Peer %s (%s), via %s:\n  %s\n", orText(s.Peer.Facility, "(not configured)"),
		orText(strings.ReplaceAll(s.Peer.Role, "-", " "), "other side"), s.Via, Describe(s.Peer, loc))
	if s.Peer.RecordSHA256 != "" && s.Witnessed != nil && (s.Peer.State == StateGo || s.Peer.State == StateNoGo || s.Peer.State == StateIncomplete) {
		fmt.Fprintf(b, "  record %s is leaf %d of %s's signed log (%d runs, witnessed here)\n", short(s.Peer.RecordSHA256), s.Peer.Leaf, s.Peer.Facility, s.Witnessed.Size)
	}
	if s.OffsetKnown {
		fmt.Fprintf(b, "  clock offset %s (the peer's clock minus this one; limit %s)\n", signed(s.Offset), s.MaxClockOffset)
	}
	fmt.Fprintf(b, "This side %s: %s\n", s.Local.Facility, Describe(s.Local, loc))
	if s.Ready() {
		fmt.Fprintf(b, "Joint verdict for operation %s: OPERATION READY — both facilities GO, signed by rostered people within %s\n", s.Operation, s.Freshness)
	} else {
		fmt.Fprintf(b, "Joint verdict for operation %s: NOT READY\n", s.Operation)
		for _, r := range s.Reasons {
			fmt.Fprintf(b, "  - %s\n", r)
		}
	}
	if s.Recorded != "" {
		fmt.Fprintf(b, "  kept in this facility's log: %s\n", s.Recorded)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(b, "  note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJoint prints a joint verdict kept in the log (`log show` of one).
func WriteJoint(w io.Writer, j *runlog.Joint) error {
	b := &strings.Builder{}
	verdict := "OPERATION READY"
	if j.Verdict != runlog.JointReady {
		verdict = "NOT READY"
	}
	fmt.Fprintf(b, "Joint verdict %s\n  operation   %s\n  verdict     %s\n  decided     %s by %s, via %s\n  freshness   %s\n",
		j.RunID, j.OperationID, verdict, j.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"), j.Facility.ID, j.Via, j.Freshness)
	if j.ClockOffsetMS != nil {
		fmt.Fprintf(b, "  clocks      the peer's minus this one: %+.3f ms\n", *j.ClockOffsetMS)
	}
	for _, r := range j.Reasons {
		fmt.Fprintf(b, "  - %s\n", r)
	}
	for _, sd := range []struct {
		name string
		s    runlog.JointSide
	}{{"this side", j.Local}, {"peer", j.Peer}} {
		s := sd.s
		fmt.Fprintf(b, "%s: %s (%s) — %s\n", sd.name, s.Facility, orText(s.Role, "-"), strings.ToUpper(s.State))
		if s.Problem != "" {
			fmt.Fprintf(b, "  problem     %s\n", s.Problem)
		}
		if s.RunID != "" {
			fmt.Fprintf(b, "  run         %s · record sha256 %s · profile sha256 %s\n", s.RunID, short(s.RecordSHA256), short(s.ProfileSHA256))
		}
		if s.Signer != "" {
			at := ""
			if s.SignedAt != nil {
				at = " at " + s.SignedAt.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			fmt.Fprintf(b, "  sign-off    %s by %s%s (signature %s)\n", s.Meaning, s.Signer, at, s.Signature)
		}
		if s.Checkpoint != "" {
			first := strings.SplitN(s.Checkpoint, "\n", 3)
			if len(first) >= 2 {
				fmt.Fprintf(b, "  checkpoint  %s size %s\n", first[0], first[1])
			}
		}
	}
	fmt.Fprintf(b, "sha256 %s · prev %s\n", j.SHA256, short(j.Prev))
	_, err := io.WriteString(w, b.String())
	return err
}
