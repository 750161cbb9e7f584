// Package session runs a profile: it checks the vantage point, streams probe results into a run record,
// and applies answers and waivers. The plain runner and the TUI share it.
package session

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Version is the tool version recorded in every run; set with -ldflags "-X …/session.Version=v1.2.3".
var Version = ""

// ToolVersion returns Version, or the module version and VCS revision from the build info.
func ToolVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

// Session is one run of a profile in progress. It is not safe for concurrent use: one goroutine (the
// plain runner's loop, or the TUI's Update) reads the probe stream and calls Apply, Answer, Waive and Sign.
type Session struct {
	Profile *profiles.Profile
	Record  *runlog.Record
	Env     *checks.Env
	Now     func() time.Time
	// OnEvent, when set, receives every event in order as it happens (the run journal subscribes here).
	OnEvent func(Event)
}

// Event is one thing that happened in a run: an item started or finished, an answer, a waiver, a re-run,
// an interruption, a sign-off. It is the run journal's event type.
type Event = runlog.Event

// Event types.
const (
	EvStarted     = runlog.EvStarted
	EvFinished    = runlog.EvFinished
	EvAnswer      = runlog.EvAnswer
	EvWaiver      = runlog.EvWaiver
	EvRerun       = runlog.EvRerun
	EvInterrupted = runlog.EvInterrupted
	EvSignoff     = runlog.EvSignoff
	EvAttest      = runlog.EvAttest // a value read off a device and typed in (firmware version)
)

// New starts a session: a fresh record with every item pending. Firmware is judged against the advisory
// set embedded in this build until UseAdvisories names another.
func New(p *profiles.Profile, operationID string) *Session {
	host, _ := os.Hostname()
	now := time.Now
	env := p.Env()
	// The embedded set is checked by the tests of every build; were it broken anyway, firmware items
	// would report an error ("no advisory set loaded"), never a pass.
	env.Advisories, _ = profiles.DefaultAdvisories()
	return &Session{
		Profile: p,
		Record:  runlog.New(p, operationID, ToolVersion(), host, now()),
		Env:     env,
		Now:     now,
	}
}

// UseAdvisories makes firmware items judge against set (from --advisories FILE).
func (s *Session) UseAdvisories(set *checks.AdvisorySet) { s.Env.Advisories = set }

func (s *Session) emit(typ, item, actor string, data any) {
	if s.OnEvent != nil {
		s.OnEvent(Event{Type: typ, Item: item, Actor: actor, Data: data, At: s.Now().UTC()})
	}
}

// VantageError says the profile is being run from the wrong network segment.
type VantageError struct {
	Want  netip.Prefix
	Local []netip.Addr
}

func (e *VantageError) Error() string {
	addrs := make([]string, len(e.Local))
	for i, a := range e.Local {
		addrs[i] = a.String()
	}
	return fmt.Sprintf("this profile must be run from a host in %s, but this host's addresses are [%s]: "+
		"isolation results mean nothing from the wrong segment — run preflight on the engineer's host in the telesurgery segment",
		e.Want, strings.Join(addrs, " "))
}

// CheckVantage verifies that a local interface address lies in the profile's vantage network.
func CheckVantage(p *profiles.Profile) error {
	if p.Vantage == nil || !p.Vantage.Network.IsValid() {
		return nil
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("check vantage: list interface addresses: %w", err)
	}
	ve := &VantageError{Want: p.Vantage.Network.Prefix}
	for _, a := range ifaddrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		if p.Vantage.Network.Contains(pfx.Addr().Unmap()) {
			return nil
		}
		ve.Local = append(ve.Local, pfx.Addr())
	}
	return ve
}

// Start launches every probe item (or only the ids given, as a re-run) and returns the runner's stream.
// The caller passes each update to Apply from the one goroutine that owns the session.
func (s *Session) Start(ctx context.Context, ids ...string) <-chan checks.Update {
	items := s.Profile.ProbeItems()
	if len(ids) > 0 {
		items = filter(items, ids)
		for _, it := range items {
			s.emit(EvRerun, it.ID, "", nil)
		}
	}
	return checks.Run(ctx, s.Env, items, s.Profile.RunOptions())
}

// Apply records one update of the stream.
func (s *Session) Apply(u checks.Update) {
	if u.Phase == checks.Started {
		if it := s.Record.Item(u.ID); it != nil {
			it.Status, it.Summary = checks.Pending, "running"
		}
		s.emit(EvStarted, u.ID, "", nil)
		return
	}
	_ = s.Record.SetResult(u.ID, u.Result) // ids come from the same profile
	s.emit(EvFinished, u.ID, "", u.Result)
}

// Probe runs the probes (all, or the ids given) to the end, applying each update and then passing it to
// progress (which may be nil).
func (s *Session) Probe(ctx context.Context, progress func(checks.Update), ids ...string) {
	for u := range s.Start(ctx, ids...) {
		s.Apply(u)
		if progress != nil {
			progress(u)
		}
	}
}

// Answer records an answer to a manual item.
func (s *Session) Answer(id string, a runlog.Answer) error {
	if a.At.IsZero() {
		a.At = s.Now().UTC()
	}
	if err := s.Record.SetAnswer(s.Profile, id, a); err != nil {
		return err
	}
	s.emit(EvAnswer, id, a.By, a)
	return nil
}

// Prompt returns what the operator must type in for a probe item whose fact is read off a device (a
// firmware version from the admin screen), or "" when the item measures it itself.
func (s *Session) Prompt(id string) string {
	if it := s.item(id); it != nil && it.Probe != nil {
		if a, ok := it.Probe.Spec.(checks.Attestable); ok {
			return a.Prompt()
		}
	}
	return ""
}

// Attest judges what the operator read off a device for a probe item that asks for it, by the probe's own
// rules, and records it as attested by.
func (s *Session) Attest(id, input, by string) error {
	it := s.item(id)
	if s.Prompt(id) == "" {
		return fmt.Errorf("item %q does not take a typed-in value", id)
	}
	if strings.TrimSpace(input) == "" {
		return fmt.Errorf("item %q: type what the device shows: %s", id, s.Prompt(id))
	}
	start := s.Now()
	res := it.Probe.Spec.(checks.Attestable).JudgeInput(s.Env, input)
	res.Start, res.Duration = start, s.Now().Sub(start)
	if res.Evidence == nil {
		res.Evidence = checks.Evidence{}
	}
	res.Evidence["attested_by"] = by
	_ = s.Record.SetResult(id, res)
	s.emit(EvAttest, id, by, map[string]any{"input": input, "result": res})
	return nil
}

func (s *Session) item(id string) *profiles.Item {
	for _, it := range s.Profile.Items() {
		if it.ID == id {
			return it
		}
	}
	return nil
}

// Waive accepts a failed warning-level item with a reason.
func (s *Session) Waive(w runlog.Waiver) error {
	if w.At.IsZero() {
		w.At = s.Now().UTC()
	}
	if err := s.Record.Waive(w); err != nil {
		return err
	}
	s.emit(EvWaiver, w.Item, w.By, w)
	return nil
}

// Interrupt marks the run as interrupted (terminal closed, SIGTERM, Ctrl-C) and seals the verdict as it
// stands; everything answered so far stays in the record. A probe still running is recorded as an error
// (it could not decide) and one not started as skipped, as the runner records them when it is cancelled,
// so no unfinished item reads "running" in the kept record. (The plain runner drains the stream before
// it interrupts, so only the TUI, which stops at once, leaves such items.)
func (s *Session) Interrupt(reason string) {
	for _, it := range s.Record.Items {
		switch {
		case it.Kind == "manual" || it.Status != checks.Pending:
		case it.Summary == "running":
			it.Status, it.Summary = checks.Error, "run interrupted before the probe finished: "+reason
		default:
			it.Status, it.Summary = checks.Skipped, "not run: run interrupted: "+reason
		}
	}
	s.Record.Interrupted = reason
	s.Record.Finish(s.Now())
	s.emit(EvInterrupted, "", "", map[string]string{"reason": reason})
}

// Sign attaches the sign-off (with the waivers in force) and finishes the record. Meaning defaults to
// approve for a GO record and reject otherwise; only a GO record can be approved. The store signs the
// sign-off with the signer's key when it seals the run (Store.Seal, Store.SealFunc).
func (s *Session) Sign(so runlog.Signoff) error {
	if so.Name == "" || so.Role == "" {
		return fmt.Errorf("a sign-off needs the signer's printed name and role")
	}
	s.Record.Finish(s.Now())
	switch so.Meaning {
	case "":
		so.Meaning = runlog.Reject
		if s.Record.Verdict == runlog.GO {
			so.Meaning = runlog.Approve
		}
	case runlog.Approve:
		if s.Record.Verdict != runlog.GO {
			return fmt.Errorf("a %s run cannot be approved: sign it as reject, or fix what blocks GO and re-run", s.Record.Verdict)
		}
	case runlog.Reject:
	default:
		return fmt.Errorf("sign-off meaning %q: use approve or reject", so.Meaning)
	}
	if so.At.IsZero() {
		so.At = s.Now().UTC()
	}
	if so.Statement == "" {
		so.Statement = Statement(s.Record)
	}
	so.Waivers = append([]runlog.Waiver{}, s.Record.Waivers...)
	s.Record.Signoff = &so
	s.emit(EvSignoff, "", so.Name, so)
	return nil
}

// Statement is the sentence a signer signs for this record.
func Statement(r *runlog.Record) string {
	op := r.OperationID
	if op == "" {
		op = "(no operation ID)"
	}
	return fmt.Sprintf("Network readiness %s for operation %s at facility %s (%s), run %s.",
		map[bool]string{true: "confirmed", false: "NOT confirmed"}[r.Verdict == runlog.GO], op, r.Facility.ID, r.Facility.Role, r.RunID)
}

func filter(items []checks.Item, ids []string) []checks.Item {
	var out []checks.Item
	for _, it := range items {
		for _, id := range ids {
			if it.ID == id {
				out = append(out, it)
			}
		}
	}
	return out
}
