package peer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Status is what one look at the peer found: both facilities' states for the operation, the joint
// verdict and every reason it is not ready, and what was kept in this facility's log.
type Status struct {
	Operation   string
	At          time.Time // by this facility's clock
	Via         string    // "peer link ADDR" or "bundle FILE"
	Local, Peer Side
	Verdict     string // runlog.JointReady or runlog.JointNotReady
	Reasons     []string
	Offset      time.Duration // the peer's clock minus this one
	OffsetKnown bool
	Freshness   time.Duration
	// MaxClockOffset is how far apart the clocks may be.
	MaxClockOffset time.Duration
	Witnessed      *runlog.Checkpoint // the peer's log as witnessed on this look
	Recorded       string             // where the joint verdict was sealed on this look, if it was
	Notes          []string           // what could not be kept or checked here: never hidden
}

// Ready reports OPERATION READY.
func (s Status) Ready() bool { return s.Verdict == runlog.JointReady }

// Link is this facility's side of the peer link for one operation: it asks the peer, verifies what it
// says, witnesses its checkpoint, reads this facility's own sealed record, reaches the joint verdict and
// keeps it (with the peer record it rests on) in this facility's log. It is safe for concurrent use.
type Link struct {
	Operation string
	Facility  Facility
	Pin       *Pin
	Client    *Client
	Store     *runlog.Store // keeps the witness and the joint verdicts; nil keeps nothing
	Dir       string        // this facility's log
	Policy    Policy
	Now       func() time.Time
	Every     time.Duration // how often to ask
	Problem   string        // why the link is not configured, when it is not

	mu       sync.Mutex
	seen     *runlog.Checkpoint // the last checkpoint witnessed, when there is no store
	recorded string             // what the last joint verdict kept was about
	loaded   bool
}

// NewLink makes the link of profile p's facility for operation op, keeping what it sees in st. A peer
// block that is missing or incomplete makes a link that says so on every look.
func NewLink(p *profiles.Profile, op string, st *runlog.Store) *Link {
	l := &Link{Operation: op, Facility: Facility{ID: p.Facility.ID, Role: p.Facility.Role}, Store: st, Now: time.Now,
		Policy: Policy{Freshness: profiles.DefaultFreshness.D(), MaxClockOffset: profiles.DefaultMaxClockOffset.D(), LocalProfile: p.SHA256},
		Every:  profiles.DefaultPoll.D()}
	if st != nil {
		l.Dir = st.Dir
	}
	pe := p.Peer
	if pe != nil {
		l.Policy.Freshness = pe.Freshness.Or(l.Policy.Freshness)
		l.Policy.MaxClockOffset = pe.MaxClockOffset.Or(l.Policy.MaxClockOffset)
		l.Policy.PeerProfiles = pe.Profiles
		l.Every = pe.Poll.Or(l.Every)
	}
	pin, err := PinOf(p)
	switch {
	case err != nil:
		l.Problem = err.Error()
		return l
	case st == nil:
		l.Problem = "no run log: the peer link keeps what it witnesses in this facility's log (give --log-dir)"
		return l
	}
	l.Pin = pin
	id, _, err := EnsureIdentity(st)
	switch {
	case err != nil:
		l.Problem = "this facility's TLS identity: " + err.Error()
	case pe.Endpoint == "":
		l.Problem = "peer.endpoint is missing: the address:port of " + pe.ID + "'s preflight serve"
	default:
		l.Client = NewClient(pe.Endpoint, id, pin, pe.Timeout.Or(profiles.DefaultPeerTimeout.D()))
	}
	return l
}

// Interval is how often the peer panel asks.
func (l *Link) Interval() time.Duration { return l.Every }

// Poll asks the peer once and returns what it found. It blocks for at most the client's timeout.
func (l *Link) Poll(ctx context.Context) Status {
	if l.Problem != "" || l.Client == nil {
		pin := ""
		if l.Pin != nil {
			pin = l.Pin.ID
		}
		return l.decide(Side{Facility: pin, State: StateNotConfigured, Problem: l.Problem}, nil, Exchange{}, false, "not configured", nil)
	}
	since, _ := l.lastSeen()
	st, ex, err := l.Client.Fetch(ctx, l.Operation, since)
	via := "peer link " + l.Client.Endpoint
	if err != nil {
		return l.decide(Side{Facility: l.Pin.ID, Role: l.Pin.Role, State: StateUnreachable, Problem: err.Error()}, nil, ex, false, via, nil)
	}
	return l.Apply(st, ex, true, via)
}

// Apply verifies a state the peer served (live, or from a bundle), witnesses its checkpoint and reaches
// the joint verdict. offsetKnown says whether ex measured the clocks (a bundle cannot).
func (l *Link) Apply(st *State, ex Exchange, offsetKnown bool, via string) Status {
	var notes []string
	ck, err := check(st, l.Pin, l.Operation)
	if err != nil {
		return l.decide(Side{Facility: l.Pin.ID, Role: l.Pin.Role, State: StateUnverifiable,
			Problem: strings.TrimPrefix(err.Error(), errUnverifiable.Error()+": ")}, nil, ex, offsetKnown, via, nil)
	}
	side := ck.side
	if c, err := l.witness(ck); err != nil {
		state := StateUnverifiable
		if errors.Is(err, runlog.ErrSplitView) || errors.Is(err, runlog.ErrRollback) {
			state = StateSplitView
		}
		side = Side{Facility: l.Pin.ID, Role: l.Pin.Role, State: state, Problem: err.Error()}
	} else {
		ck.checkpoint = c
	}
	if len(ck.witness) > 0 && l.Store != nil {
		if _, err := l.Store.KeepCosigned(l.Pin.ID, l.Pin.Verifier, ck.witness); err != nil {
			notes = append(notes, "this facility's checkpoint as "+l.Pin.ID+" witnessed it: "+err.Error())
		}
	}
	return l.decide(side, ck, ex, offsetKnown, via, notes)
}

// decide reads this facility's own state, judges, and keeps the joint verdict.
func (l *Link) decide(peer Side, ck *checked, ex Exchange, offsetKnown bool, via string, notes []string) Status {
	now := l.Now()
	s := Status{Operation: l.Operation, At: now.UTC(), Via: via, Peer: peer, Offset: ex.Offset, OffsetKnown: offsetKnown,
		Freshness: l.Policy.Freshness, MaxClockOffset: l.Policy.MaxClockOffset, Notes: notes}
	if l.Dir != "" {
		s.Local = LocalSide(l.Dir, l.Operation)
	} else {
		s.Local = Side{Facility: l.Facility.ID, State: StateNotStarted}
	}
	s.Local.Facility, s.Local.Role = l.Facility.ID, l.Facility.Role
	if ck != nil && peer.State != StateSplitView && peer.State != StateUnverifiable {
		s.Witnessed = &ck.checkpoint
	}
	s.Verdict, s.Reasons = Judge(s.Local, s.Peer, s.Offset, s.OffsetKnown, now, l.Policy)
	for _, n := range s.Notes {
		if strings.Contains(n, runlog.ErrRollback.Error()) {
			s.Verdict = runlog.JointNotReady
			s.Reasons = append(s.Reasons, n)
		}
	}
	l.keep(&s)
	return s
}

// lastSeen is the size of the peer's log last witnessed.
func (l *Link) lastSeen() (int64, *runlog.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Store == nil {
		if l.seen == nil {
			return 0, nil
		}
		return l.seen.Size, l.seen
	}
	c, err := l.Store.LastWitnessed(l.Pin.ID)
	if err != nil || c == nil {
		return 0, nil
	}
	return c.Size, c
}

// witness checks the peer's checkpoint against the last one witnessed and keeps it.
func (l *Link) witness(ck *checked) (runlog.Checkpoint, error) {
	size, last := l.lastSeen()
	c := ck.checkpoint
	if last != nil && size > 0 && c.Size > size && (len(ck.consistency) == 0 || ck.from != size) {
		return c, fmt.Errorf("%s did not prove that its log of %d runs extends the %d witnessed here (no consistency proof from %d)", l.Pin.ID, c.Size, size, size)
	}
	if l.Store != nil {
		c, _, err := l.Store.Witness(l.Pin.ID, l.Pin.Verifier, ck.note, ck.consistency, l.Now())
		return c, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen != nil {
		switch {
		case c.Size < l.seen.Size:
			return c, fmt.Errorf("%w: the peer's log shrank from %d to %d runs", runlog.ErrRollback, l.seen.Size, c.Size)
		case c.Size == l.seen.Size && c.Root != l.seen.Root:
			return c, fmt.Errorf("%w: the peer's log of %d runs has another root than before", runlog.ErrSplitView, c.Size)
		case c.Size > l.seen.Size && l.seen.Size > 0:
			if err := tlog.CheckTree(ck.consistency, c.Size, c.Root, l.seen.Size, l.seen.Root); err != nil {
				return c, fmt.Errorf("%w: the peer's log does not extend the one seen before: %v", runlog.ErrSplitView, err)
			}
		}
	}
	l.seen = &c
	return c, nil
}

// keep seals the joint verdict into this facility's log when both sides have sealed records (or the
// peer's log split), once for each pair of records and verdict.
func (l *Link) keep(s *Status) {
	if l.Store == nil {
		return
	}
	var key string
	switch {
	case s.Peer.State == StateSplitView:
		key = "split|" + s.Peer.Problem
	case sealed(s.Local.State) && sealed(s.Peer.State):
		key = s.Local.RecordSHA256 + "|" + s.Peer.RecordSHA256 + "|" + s.Verdict
	default:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.loaded {
		if j, err := runlog.LatestJoint(l.Dir, l.Operation); err == nil && j != nil {
			l.recorded = jointKey(j)
		}
		l.loaded = true
	}
	if key == l.recorded {
		return
	}
	if s.Peer.record != nil {
		if err := l.Store.KeepPeerRecord(s.Peer.Facility, s.Peer.RunID, s.Peer.record); err != nil {
			s.Notes = append(s.Notes, "the peer's record could not be kept: "+err.Error())
		}
	}
	j := &runlog.Joint{OperationID: l.Operation, Facility: runlog.FacilityRef{ID: l.Facility.ID, Role: l.Facility.Role},
		StartedAt: s.At, Verdict: s.Verdict, Reasons: s.Reasons, Freshness: l.Policy.Freshness.String(), Via: s.Via,
		Local: jointSide(s.Local), Peer: jointSide(s.Peer)}
	if s.OffsetKnown {
		ms := math.Round(float64(s.Offset)/1e3) / 1e3
		j.ClockOffsetMS = &ms
	}
	where, err := l.Store.SealJoint(j)
	if err != nil {
		s.Notes = append(s.Notes, "the joint verdict could not be kept in this facility's log: "+err.Error())
		return
	}
	s.Recorded, l.recorded = where, key
}

func sealed(state string) bool {
	return state == StateGo || state == StateNoGo || state == StateIncomplete || state == StateInterrupted
}

func jointKey(j *runlog.Joint) string {
	if j.Peer.State == StateSplitView {
		return "split|" + j.Peer.Problem
	}
	return j.Local.RecordSHA256 + "|" + j.Peer.RecordSHA256 + "|" + j.Verdict
}

func jointSide(s Side) runlog.JointSide {
	js := runlog.JointSide{Facility: s.Facility, Role: s.Role, State: s.State, Problem: s.Problem, RunID: s.RunID,
		RecordSHA256: s.RecordSHA256, ProfileSHA256: s.ProfileSHA256, Verdict: s.Verdict, Signer: s.Signer,
		UserID: s.UserID, Meaning: s.Meaning, Signature: s.Signature, Checkpoint: s.Checkpoint}
	if !s.SignedAt.IsZero() {
		t := s.SignedAt.UTC()
		js.SignedAt = &t
	}
	if s.RecordSHA256 != "" {
		leaf := s.Leaf
		js.Leaf = &leaf
	}
	return js
}

// Import verifies a bundle file's bytes (name is for messages) and applies it like a live answer: the
// same checks, the witness, the joint verdict kept in this facility's log. The error says why a bundle
// was refused; a bundle that verifies but shows a peer that is not GO is not an error.
func (l *Link) Import(data []byte, name string) (Status, error) {
	if l.Pin == nil {
		return Status{}, errors.New(l.Problem)
	}
	last, _ := l.lastSeen()
	st, err := ReadBundle(data, l.Pin, last)
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", name, err)
	}
	s := l.Apply(st, Exchange{}, false, "bundle "+name)
	if s.Peer.State == StateUnverifiable || s.Peer.State == StateSplitView {
		return s, fmt.Errorf("%s: %s", name, s.Peer.Problem)
	}
	return s, nil
}
