package peer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// States a facility can show on the link. Only StateGo can count towards OPERATION READY, and only when
// its sign-off verified against the facility's roster.
const (
	StateNotConfigured = "not-configured" // the profile does not say how to reach or trust the peer
	StateUnreachable   = "unreachable"    // no answer, a refused handshake (wrong key), a refusal
	StateUnverifiable  = "unverifiable"   // an answer whose signatures, hashes or proofs do not check out
	StateSplitView     = "split-view"     // a log that does not extend what was witnessed of it
	StateNotStarted    = "not-started"    // no run of the operation yet
	StateRunning       = "running"        // a run in progress: live, unsigned
	StateNoGo          = runlog.NoGo
	StateIncomplete    = runlog.Incomplete
	StateInterrupted   = "interrupted"
	StateGo            = runlog.GO
)

// Side is one facility's state for the operation, as verified.
type Side struct {
	Facility string
	Role     string
	State    string
	Problem  string // why it is unreachable, unverifiable or split

	RunID       string
	Verdict     string
	Blocking    []string // one line per item that blocks GO (the record's own words)
	Interrupted string
	Done, Total int       // a run in progress
	StartedAt   time.Time // of the run in progress
	FinishedAt  time.Time // of the sealed run, by its facility's clock

	Signer, SignerRole, UserID, Meaning string
	SignedAt                            time.Time
	Signature                           string // valid | unsigned | invalid | none
	RecordSHA256, ProfileSHA256         string
	Leaf                                int64
	Checkpoint                          string // the signed checkpoint the record was proved to be in

	record []byte // the sealed record as received
}

// sealedSide reads a checked sealed record into a Side. A signature that does not verify makes the side
// unverifiable: it is never shown as GO.
func sealedSide(s *runlog.Sealed, leaf int64, checkpoint string) Side {
	r := s.Record
	sd := Side{Facility: r.Facility.ID, Role: r.Facility.Role, RunID: r.RunID, Verdict: r.Verdict, Blocking: r.Blocking,
		Interrupted: r.Interrupted, FinishedAt: r.FinishedAt, Signature: s.Signature.Status, RecordSHA256: r.SHA256, ProfileSHA256: r.Profile.SHA256,
		Leaf: leaf, Checkpoint: checkpoint, record: s.Data}
	if so := r.Signoff; so != nil {
		sd.Signer, sd.SignerRole, sd.UserID, sd.Meaning, sd.SignedAt = so.Name, so.Role, so.UserID, so.Meaning, so.At
		if s.Signature.Signer != nil {
			sd.Signer, sd.SignerRole = s.Signature.Signer.Name, s.Signature.Signer.Role
		}
	}
	switch {
	case s.Signature.Status == runlog.SigInvalid:
		sd.State, sd.Problem = StateUnverifiable, "its sign-off does not verify: "+strings.Join(s.Signature.Problems, "; ")
	case r.Interrupted != "":
		sd.State = StateInterrupted
	default:
		sd.State = r.Verdict
	}
	return sd
}

// liveSide applies a run in progress: newer than the sealed one, it is what the facility is doing now.
func liveSide(sd Side, l *runlog.Live) Side {
	if l == nil {
		return sd
	}
	sd.State, sd.RunID, sd.Done, sd.Total, sd.StartedAt, sd.Verdict = StateRunning, l.RunID, l.Done, l.Total, l.StartedAt, l.Verdict
	sd.Blocking, sd.Signer, sd.Signature, sd.RecordSHA256 = nil, "", "", ""
	return sd
}

// checked is a peer's answer verified on its own: signatures, record hash and inclusion. Consistency
// with what was witnessed before is checked by the caller, which keeps the witness.
type checked struct {
	side        Side
	checkpoint  runlog.Checkpoint
	note        []byte
	consistency tlog.TreeProof
	from        int64
	witness     []byte
}

// errUnverifiable marks an answer that does not check out.
var errUnverifiable = errors.New("unverifiable")

// check verifies a peer's state for operation op against the pin.
func check(st *State, pin *Pin, op string) (*checked, error) {
	bad := func(format string, args ...any) (*checked, error) {
		return nil, fmt.Errorf("%w: %s", errUnverifiable, fmt.Sprintf(format, args...))
	}
	switch {
	case st.Schema != Schema:
		return bad("schema %q, want %s", st.Schema, Schema)
	case st.Facility.ID != pin.ID:
		return bad("it says it is facility %q, but the pinned peer is %s", st.Facility.ID, pin.ID)
	case pin.Role != "" && st.Facility.Role != pin.Role:
		return bad("it says it is the %s, but the operation's other side is the %s", st.Facility.Role, pin.Role)
	case op != "" && st.Operation != op:
		return bad("it answered for operation %q, not %q", st.Operation, op)
	}
	roster, err := runlog.ParseRoster([]byte(st.Roster), pin.Verifier)
	if err != nil {
		return bad("its roster: %v", err)
	}
	c, err := runlog.ParseCheckpoint([]byte(st.Checkpoint), pin.Verifier)
	if err != nil {
		return bad("its checkpoint: %v", err)
	}
	ck := &checked{checkpoint: c, note: []byte(st.Checkpoint), witness: []byte(st.Witness),
		side: Side{Facility: pin.ID, Role: pin.Role, State: StateNotStarted}}
	if p := st.Consistency; p != nil {
		if ck.consistency, err = runlog.DecodeHashes(p.Hashes); err != nil {
			return bad("its consistency proof: %v", err)
		}
		ck.from = p.From
	}
	if r := st.Run; r != nil {
		sealed, err := runlog.CheckSealed(r.Record, roster)
		if err != nil {
			return bad("its record for %s: %v", op, err)
		}
		proof, err := runlog.DecodeHashes(r.Inclusion)
		if err == nil {
			if r.Leaf < 0 || r.Leaf >= c.Size {
				err = fmt.Errorf("leaf %d is outside its log of %d", r.Leaf, c.Size)
			} else {
				err = tlog.CheckRecord(proof, c.Size, c.Root, r.Leaf, sealed.Leaf)
			}
		}
		if err != nil {
			return bad("its record %s is not in the log its checkpoint signs (%v): the record was altered, or swapped", sealed.Record.RunID, err)
		}
		rec := sealed.Record
		if rec.Facility.ID != pin.ID || rec.OperationID != op {
			return bad("its record %s is of facility %s, operation %s", rec.RunID, rec.Facility.ID, rec.OperationID)
		}
		ck.side = sealedSide(sealed, r.Leaf, st.Checkpoint)
		if ck.side.State == StateUnverifiable {
			return bad("%s", ck.side.Problem)
		}
	}
	ck.side = liveSide(ck.side, st.Live)
	ck.side.Facility, ck.side.Role = pin.ID, st.Facility.Role
	return ck, nil
}

// LocalSide reads this facility's own state for op from its log: the latest sealed run, checked against
// the facility's own roster, or a run in progress.
func LocalSide(dir, op string) Side {
	v, err := runlog.OpenView(dir)
	if err != nil {
		return Side{State: StateUnverifiable, Problem: "this facility's log: " + err.Error()}
	}
	sd := Side{Facility: v.Facility.ID, State: StateNotStarted}
	msg, err := runlog.ReadRoster(dir)
	if err != nil {
		sd.State, sd.Problem = StateUnverifiable, "this facility's roster: "+err.Error()
		return sd
	}
	roster, err := runlog.ParseRoster(msg, v.Facility.Verifier)
	if err != nil {
		sd.State, sd.Problem = StateUnverifiable, "this facility's roster: "+err.Error()
		return sd
	}
	e, data, err := v.LatestRun(op)
	var after time.Time
	switch {
	case err != nil:
		sd.State, sd.Problem = StateUnverifiable, err.Error()
		return sd
	case e != nil:
		sealed, err := runlog.CheckSealed(data, roster)
		if err != nil {
			sd.State, sd.Problem = StateUnverifiable, fmt.Sprintf("run %s: %v", e.RunID, err)
			return sd
		}
		sd = sealedSide(sealed, e.Leaf, string(v.CheckpointNote))
		after = sealed.Record.StartedAt
	}
	return liveSide(sd, v.LiveRun(op, after))
}
