// Package runlog holds run records: the record of one run of a profile (items, answers, waivers,
// verdict, sign-off), and the store that keeps them for incident review.
package runlog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
)

// Schema identifies the record format.
const Schema = "preflight.run/v1"

// Verdicts of a run.
const (
	GO         = "go"
	NoGo       = "no-go"
	Incomplete = "incomplete"
)

// Record is one run of a profile at one facility, as DESIGN.md specifies.
type Record struct {
	Schema      string        `json:"schema"`
	RunID       string        `json:"run_id"`
	OperationID string        `json:"operation_id"`
	Facility    FacilityRef   `json:"facility"`
	Profile     ProfileRef    `json:"profile"`
	ToolVersion string        `json:"tool_version"`
	Host        string        `json:"host"`
	Clock       *Clock        `json:"clock,omitempty"` // this host's clock against the facility's time server
	StartedAt   time.Time     `json:"started_at"`
	FinishedAt  time.Time     `json:"finished_at"`
	Items       []*ItemResult `json:"items"`
	Verdict     string        `json:"verdict"`
	Blocking    []string      `json:"blocking,omitempty"` // why the verdict is not GO, one line per item
	Waivers     []Waiver      `json:"waivers,omitempty"`
	Interrupted string        `json:"interrupted,omitempty"` // why the run ended early (SIGHUP, SIGTERM, Ctrl-C)
	Signoff     *Signoff      `json:"signoff,omitempty"`
	// Journal binds the run's events.jsonl to the record; set when the store seals the run.
	Journal *JournalRef `json:"journal,omitempty"`
	// Prev, SHA256 and Signature are set when the store seals the run (seal.go documents what each
	// covers). They stay last and always present: the hash is computed over the record with the last two
	// empty.
	Prev      string `json:"prev"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
}

// Clock is the measured offset of this host's clock, so that the two facilities' logs can be lined up
// in an incident review.
type Clock struct {
	Item     string  `json:"item"`      // the ntp item that measured it
	Server   string  `json:"server"`    // its address
	OffsetMS float64 `json:"offset_ms"` // server minus this host: positive means this host is behind
}

// FacilityRef names the facility the run was made at.
type FacilityRef struct {
	ID   string        `json:"id"`
	Role string        `json:"role"`
	Name profiles.Text `json:"name"`
}

// ProfileRef identifies the exact profile bytes used.
type ProfileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ItemResult is one checklist item's outcome.
type ItemResult struct {
	ID         string          `json:"id"`
	Section    string          `json:"section"`
	Guideline  string          `json:"guideline"`
	Severity   string          `json:"severity"`
	Kind       string          `json:"kind"`
	Title      profiles.Text   `json:"title"`
	Status     checks.Status   `json:"status"`
	Summary    string          `json:"summary"`
	Evidence   checks.Evidence `json:"evidence"`
	DurationMS int64           `json:"duration_ms"`
	Remedy     profiles.Text   `json:"remedy,omitzero"`
	Answer     *Answer         `json:"answer,omitempty"`
	Attempts   int             `json:"attempts,omitempty"` // how many times the probe ran (re-runs)
}

// Answer is the engineer's answer to a manual item.
type Answer struct {
	Answer   string    `json:"answer"` // yes | no | na
	Evidence string    `json:"evidence,omitempty"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at"`
}

// Answers a manual item accepts.
const (
	Yes = "yes"
	No  = "no"
	NA  = "na"
)

// Waiver accepts a failed warning-level item for this run, with a reason.
type Waiver struct {
	Item   string    `json:"item"`
	Reason string    `json:"reason"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// Signoff is the signer's statement over the record: the elements of an electronic signature (21 CFR
// 11.50) — printed name, user ID, role, meaning, date and time — plus the clock offset when the run
// measured one, so the two facilities' logs can be lined up.
type Signoff struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Statement string    `json:"statement"`
	At        time.Time `json:"at"`
	Waivers   []Waiver  `json:"waivers"`
	UserID    string    `json:"user_id,omitempty"` // the signing key's name
	Meaning   string    `json:"meaning,omitempty"` // approve | reject
	UTCOffset string    `json:"utc_offset,omitempty"`
	// ClockOffsetMS is this host's clock offset measured by an ntp item of the run (its evidence
	// offset_ms), and ClockSource that item's id; nil when no ntp item measured one.
	ClockOffsetMS *float64 `json:"clock_offset_ms,omitempty"`
	ClockSource   string   `json:"clock_source,omitempty"`
	Key           string   `json:"key,omitempty"` // the signer's verifier key (name+hash+data)
}

// Meanings of a sign-off.
const (
	Approve = "approve" // the network is ready: only for a GO record
	Reject  = "reject"  // the signer records that the network is not ready
)

// JournalRef binds a sealed record to its events.jsonl: how many complete lines it holds and the SHA-256
// of the last one. Quarantined is set when a torn last line was set aside.
type JournalRef struct {
	Lines       int         `json:"lines"`
	Head        string      `json:"head"`
	Quarantined *Quarantine `json:"quarantined,omitempty"`
}

// Quarantine describes the torn tail of a journal (a line cut short by a crash), moved byte for byte to
// File so that the journal holds complete lines only and nothing is dropped.
type Quarantine struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"` // where the torn bytes began in events.jsonl
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// New starts a record for a run of p: every probe item pending, every manual item waiting for an answer.
func New(p *profiles.Profile, operationID, toolVersion, host string, now time.Time) *Record {
	r := &Record{
		Schema: Schema, RunID: NewRunID(now), OperationID: operationID,
		Facility:    FacilityRef{ID: p.Facility.ID, Role: p.Facility.Role, Name: p.Facility.Name},
		Profile:     ProfileRef{Path: p.Path, SHA256: p.SHA256},
		ToolVersion: toolVersion, Host: host, StartedAt: now.UTC(),
	}
	for _, it := range p.Items() {
		r.Items = append(r.Items, &ItemResult{
			ID: it.ID, Section: it.Section, Guideline: it.Guideline, Severity: it.Severity,
			Kind: it.Kind(), Title: it.Title, Remedy: it.Remedy, Status: checks.Pending,
			Summary: pendingSummary(it), Evidence: checks.Evidence{},
		})
	}
	r.Verdict, r.Blocking = r.Judge()
	return r
}

func pendingSummary(it *profiles.Item) string {
	if it.Manual != nil {
		return "waiting for an answer"
	}
	return "not run yet"
}

// NewRunID returns a sortable, unique run id: UTC time and 48 random bits.
func NewRunID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Item returns the result for id, or nil.
func (r *Record) Item(id string) *ItemResult {
	for _, it := range r.Items {
		if it.ID == id {
			return it
		}
	}
	return nil
}

// SetResult records a probe's result for an item.
func (r *Record) SetResult(id string, res checks.Result) error {
	it := r.Item(id)
	if it == nil {
		return fmt.Errorf("no item %q in this run", id)
	}
	it.Status, it.Summary, it.Evidence = res.Status, res.Summary, res.Evidence
	if it.Evidence == nil {
		it.Evidence = checks.Evidence{}
	}
	it.DurationMS = res.Duration.Milliseconds()
	it.Attempts++
	if off, ok := res.Evidence["offset_ms"].(float64); ok && it.Kind == "ntp" && (r.Clock == nil || r.Clock.Item == id) {
		addr, _ := res.Evidence["address"].(string)
		r.Clock = &Clock{Item: id, Server: addr, OffsetMS: off}
	}
	r.Verdict, r.Blocking = r.Judge()
	return nil
}

// SetAnswer records the answer to a manual item. Evidence is required when the profile says so.
func (r *Record) SetAnswer(p *profiles.Profile, id string, a Answer) error {
	it := r.Item(id)
	if it == nil || it.Kind != "manual" {
		return fmt.Errorf("%q is not a manual item of this profile", id)
	}
	var def *profiles.Item
	for _, pi := range p.Items() {
		if pi.ID == id {
			def = pi
		}
	}
	switch a.Answer {
	case Yes, No, NA:
	default:
		return fmt.Errorf("item %q: answer %q: answer yes, no or na", id, a.Answer)
	}
	if a.Answer == Yes && def.Manual.Evidence == "required" && a.Evidence == "" {
		return fmt.Errorf("item %q: evidence is required for a yes (%s)", id, orDefault(def.Manual.Hint.En, "a document ID, approver or ledger location"))
	}
	it.attest(a)
	r.Verdict, r.Blocking = r.Judge()
	return nil
}

// attest sets a manual item's outcome from its (already checked) answer.
func (it *ItemResult) attest(a Answer) {
	it.Answer = &a
	switch a.Answer {
	case Yes:
		it.Status, it.Summary = checks.Pass, "attested: yes"
	case No:
		it.Status, it.Summary = checks.Fail, "attested: no"
	case NA:
		it.Status, it.Summary = checks.Skipped, "attested: not applicable"
	}
	if a.Evidence != "" {
		it.Summary += " — " + a.Evidence
	}
	it.Evidence = checks.Evidence{"answer": a.Answer, "evidence": a.Evidence}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Waive accepts a failed warning-level item. Blockers cannot be waived.
func (r *Record) Waive(w Waiver) error {
	it := r.Item(w.Item)
	switch {
	case it == nil:
		return fmt.Errorf("no item %q in this run", w.Item)
	case it.Severity == profiles.Blocker:
		return fmt.Errorf("item %q is a blocker: blockers cannot be waived — fix the network and re-run it", w.Item)
	case w.Reason == "":
		return fmt.Errorf("item %q: a waiver needs a reason", w.Item)
	case !needsWaiver(it):
		return fmt.Errorf("item %q is %s: only a failed warning-level item can be waived", w.Item, it.Status)
	}
	r.Waivers = append(r.Waivers, w)
	r.Verdict, r.Blocking = r.Judge()
	return nil
}

// Waived returns the waiver for item id, if any.
func (r *Record) Waived(id string) *Waiver {
	for i := range r.Waivers {
		if r.Waivers[i].Item == id {
			return &r.Waivers[i]
		}
	}
	return nil
}

func needsWaiver(it *ItemResult) bool {
	return it.Status == checks.Fail || it.Status == checks.Error
}

// Judge computes the verdict: GO only when every blocker passed (pass or warn), every manual item is
// answered, and every failed warning-level item is waived; NO-GO when anything blocks; otherwise
// incomplete. It also returns one line per blocking or missing item.
func (r *Record) Judge() (string, []string) {
	var blocking, missing []string
	for _, it := range r.Items {
		switch it.Status {
		case checks.Pass, checks.Warn:
			continue
		case checks.Skipped:
			if it.Answer != nil { // not applicable, as attested
				continue
			}
			blocking = append(blocking, fmt.Sprintf("%s: not run — %s", it.ID, it.Summary))
		case checks.Pending:
			missing = append(missing, fmt.Sprintf("%s: %s", it.ID, it.Summary))
		case checks.Fail, checks.Error:
			if it.Severity == profiles.Warning && r.Waived(it.ID) != nil {
				continue
			}
			note := ""
			if it.Severity == profiles.Warning {
				note = " (warning: waive with a reason, or fix)"
			}
			blocking = append(blocking, fmt.Sprintf("%s: %s — %s%s", it.ID, it.Status, it.Summary, note))
		}
	}
	switch {
	case len(blocking) > 0:
		return NoGo, append(blocking, missing...)
	case len(missing) > 0:
		return Incomplete, missing
	}
	return GO, nil
}

// Finish stamps the end time and the final verdict.
func (r *Record) Finish(now time.Time) {
	r.FinishedAt = now.UTC()
	r.Verdict, r.Blocking = r.Judge()
}
