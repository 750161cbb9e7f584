package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Document is a stored run with what verifying it found: the input of `log show` and of the Markdown
// and HTML reports.
type Document struct {
	Record         *runlog.Record
	Titles         map[string]string // section id → title
	Lang           string
	Sealed         bool
	Events         []runlog.Entry
	Journal        *runlog.JournalScan
	Verify         *runlog.Verification // of this run; nil when not verified
	Checkpoint     *runlog.Checkpoint   // signed after the run was sealed
	CheckpointNote []byte               // the same, as the signed note to keep
	Generated      time.Time            // when the report was made (zero: not printed)
}

// NewDocument builds the document of a stored run.
func NewDocument(rf *runlog.RunFiles, v *runlog.Verification, lang string) Document {
	return Document{Record: rf.Record, Titles: SectionTitles(rf.Profile, lang), Lang: lang, Sealed: rf.Sealed,
		Events: rf.Events, Journal: rf.Journal, Verify: v, Checkpoint: rf.Checkpoint, CheckpointNote: rf.CheckpointNote}
}

// SectionTitles reads the section titles from a profile's bytes (leniently: a stored profile is shown
// even if this build would no longer accept it).
func SectionTitles(profile []byte, lang string) map[string]string {
	var p struct {
		Sections []struct {
			ID    string `yaml:"id"`
			Title any    `yaml:"title"`
		} `yaml:"sections"`
	}
	out := map[string]string{}
	if yaml.Unmarshal(profile, &p) != nil {
		return out
	}
	for _, s := range p.Sections {
		switch t := s.Title.(type) {
		case string:
			out[s.ID] = t
		case map[string]any:
			if v, ok := t[lang].(string); ok && v != "" {
				out[s.ID] = v
			} else if v, ok := t["en"].(string); ok {
				out[s.ID] = v
			}
		}
	}
	return out
}

// status is the verification of the document's run, nil when it was not verified.
func (d Document) status() *runlog.RunStatus {
	if d.Verify == nil {
		return nil
	}
	for _, s := range d.Verify.Runs {
		if s.RunID == d.Record.RunID {
			return s
		}
	}
	return nil
}

// VerifiedLine says in one line what verifying the run found.
func (d Document) VerifiedLine() (ok bool, line string) {
	if d.Verify == nil {
		return false, "not verified"
	}
	var bad, unfinished int
	for _, p := range d.Verify.Problems {
		if p.Severity >= runlog.Unreadable {
			bad++
		} else {
			unfinished++
		}
	}
	switch {
	case bad > 0:
		return false, fmt.Sprintf("✘ NOT INTACT — %d problem(s): %s", bad+unfinished, firstProblem(d.Verify, runlog.Unreadable))
	case !d.Sealed:
		return false, "! NOT SEALED — the run is in progress or ended without sealing; its journal chain is intact"
	case unfinished > 0:
		return true, "! INTACT, INCOMPLETE — " + firstProblem(d.Verify, runlog.Unfinished)
	}
	return true, "✔ INTACT — record hash, journal chain, profile, signature and log inclusion verify"
}

func firstProblem(v *runlog.Verification, min runlog.Severity) string {
	for _, p := range v.Problems {
		if p.Severity >= min {
			return p.File + ": " + p.Msg
		}
	}
	return ""
}

// SignatureLine says what verifying the sign-off found.
func (d Document) SignatureLine() string {
	st := d.status()
	so := d.Record.Signoff
	switch {
	case so == nil:
		return "no sign-off"
	case d.Record.Signature == "":
		return "! not signed — the sign-off was recorded without a key"
	case st == nil:
		return "signed (not verified)"
	case st.Signature.Status == runlog.SigValid && st.Signature.Signer != nil:
		return fmt.Sprintf("✔ valid — key %s, registered to %s (%s)", st.Signature.KeyID, st.Signature.Signer.Name, st.Signature.Signer.Role)
	case st.Signature.Status == runlog.SigValid:
		return "✔ valid — key " + st.Signature.KeyID
	}
	return "✘ INVALID — " + strings.Join(st.Signature.Problems, "; ")
}

// SignedAt formats the sign-off time in UTC and in the signer's local time.
func SignedAt(so *runlog.Signoff) string {
	s := so.At.UTC().Format("2006-01-02 15:04:05 UTC")
	if off, err := time.Parse("-07:00", so.UTCOffset); err == nil {
		_, secs := off.Zone()
		s += " (local " + so.At.In(time.FixedZone("", secs)).Format("15:04:05 -07:00") + ")"
	}
	return s
}

// ClockOffset formats the measured clock offset of a sign-off.
func ClockOffset(so *runlog.Signoff) string {
	if so.ClockOffsetMS == nil {
		return "not measured"
	}
	return fmt.Sprintf("%+.1f ms (item %s)", *so.ClockOffsetMS, so.ClockSource)
}

// EventDetail summarises a journal line's data in one line.
func EventDetail(e runlog.Entry) string {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	str := func(k string) string { s, _ := d[k].(string); return s }
	parts := []string{}
	switch e.Type {
	case runlog.EvRunStarted:
		if e.Actor != "" {
			parts = append(parts, "by "+e.Actor)
		}
	case runlog.EvFinished:
		parts = append(parts, str("status")+" — "+cut(str("summary"), 70))
	case runlog.EvAnswer:
		parts = append(parts, str("answer"))
		if ev := str("evidence"); ev != "" {
			parts = append(parts, "— "+cut(ev, 60))
		}
	case runlog.EvWaiver:
		parts = append(parts, cut(str("reason"), 70))
	case runlog.EvInterrupted:
		parts = append(parts, str("reason"))
	case runlog.EvSignoff:
		parts = append(parts, str("meaning"))
	}
	if e.Actor != "" && e.Type != runlog.EvRunStarted {
		parts = append(parts, "(by "+e.Actor+")")
	}
	return strings.Join(parts, " ")
}

func cut(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// evidenceRow is one evidence key for the printable reports: flat values on one line, nested ones as
// indented JSON.
type evidenceRow struct {
	Key, Value string
	Nested     bool
}

func evidenceRows(ev checks.Evidence) []evidenceRow {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows := make([]evidenceRow, 0, len(keys))
	for _, k := range keys {
		v := ev[k]
		if s, ok := v.(string); ok {
			rows = append(rows, evidenceRow{Key: k, Value: s})
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			rows = append(rows, evidenceRow{Key: k, Value: fmt.Sprint(v)})
			continue
		}
		if len(b) <= 100 && !bytes.ContainsAny(b, "{") {
			rows = append(rows, evidenceRow{Key: k, Value: strings.ReplaceAll(string(b), ",", ", ")})
			continue
		}
		if lines, ok := objectLines(v); ok {
			rows = append(rows, evidenceRow{Key: k, Value: lines, Nested: true})
			continue
		}
		var pretty bytes.Buffer
		enc := json.NewEncoder(&pretty)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		rows = append(rows, evidenceRow{Key: k, Value: strings.TrimSpace(pretty.String()), Nested: true})
	}
	return rows
}

// objectLines renders a list of small objects (per-query or per-version evidence) one object per line.
func objectLines(v any) (string, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return "", false
	}
	lines := make([]string, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return "", false
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(m) != nil || b.Len() > 240 {
			return "", false
		}
		lines[i] = strings.NewReplacer(`","`, `", "`, `":`, `": `, `,"`, `, "`).Replace(strings.TrimSpace(b.String()))
	}
	return strings.Join(lines, "\n"), true
}

func duration(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return ""
	}
	return b.Sub(a).Round(time.Second).String()
}
