package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RunSummary is one row of `log list`.
type RunSummary struct {
	RunID       string
	StartedAt   time.Time
	OperationID string
	Verdict     string
	Interrupted string // why the run ended early; "not sealed" for a run that never reached its seal
	Signer      string
	Meaning     string
	Signed      bool
	Leaf        int64  // -1: not in the log (in progress or never sealed)
	Kind        string // "joint" for a joint verdict of the two facilities; empty for a run
}

// ListFilter selects runs: by operation, by start time, by verdict (go, no-go, incomplete, or
// interrupted for runs that ended early).
type ListFilter struct {
	Operation string
	Since     time.Time
	Verdict   string
}

func (f ListFilter) match(s RunSummary) bool {
	switch {
	case f.Operation != "" && s.OperationID != f.Operation:
		return false
	case !f.Since.IsZero() && s.StartedAt.Before(f.Since):
		return false
	case f.Verdict == "interrupted":
		return s.Interrupted != ""
	case f.Verdict != "" && s.Verdict != f.Verdict:
		return false
	}
	return true
}

// List reads the runs of a log from its index (one file, however many runs) plus the runs not in it.
func List(dir string, f ListFilter) ([]RunSummary, error) {
	entries, _, _, _, err := readIndex(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w — run preflight log verify", err)
	}
	if errors.Is(err, os.ErrNotExist) && !fileExists(filepath.Join(dir, RunsDir)) {
		return nil, fmt.Errorf("%s is not a preflight log directory: name the facility's log with --log-dir", dir)
	}
	var out []RunSummary
	indexed := make(map[string]bool, len(entries))
	for _, e := range entries {
		indexed[e.RunID] = true
		t, _ := time.Parse(time.RFC3339Nano, e.StartedAt)
		s := RunSummary{RunID: e.RunID, StartedAt: t, OperationID: e.OperationID, Verdict: e.Verdict, Interrupted: e.Interrupted,
			Signer: e.Signer, Meaning: e.Meaning, Signed: e.Signed, Leaf: e.Leaf, Kind: e.Kind}
		if f.match(s) {
			out = append(out, s)
		}
	}
	runs, _ := os.ReadDir(filepath.Join(dir, RunsDir))
	for _, d := range runs {
		if indexed[d.Name()] || !d.IsDir() || !validRunID(d.Name()) {
			continue
		}
		s := RunSummary{RunID: d.Name(), Leaf: -1, Interrupted: "not sealed", Verdict: Incomplete}
		if rf, err := LoadRun(dir, d.Name()); err == nil {
			r := rf.Record
			s.StartedAt, s.OperationID, s.Verdict = r.StartedAt, r.OperationID, r.Verdict
			if r.Signoff != nil {
				s.Signer, s.Meaning = r.Signoff.Name, r.Signoff.Meaning
			}
		}
		if f.match(s) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b RunSummary) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}

// RunFiles is a run as stored: the record (sealed, or rebuilt from the journal of a run never sealed),
// the events timeline, the exact profile bytes and the checkpoint signed after it.
type RunFiles struct {
	Record     *Record
	Sealed     bool
	Events     []Entry
	Journal    *JournalScan
	Profile    []byte
	Checkpoint *Checkpoint // nil when missing or not verifiable
	// CheckpointNote is the signed checkpoint as stored: a copy kept elsewhere (printed in the report)
	// can be given to `log verify --checkpoint` later.
	CheckpointNote []byte
}

// LoadRun reads a run's files for show, report and diff. It does not verify them: Verify does.
func LoadRun(dir, id string) (*RunFiles, error) {
	if !validRunID(id) {
		return nil, fmt.Errorf("bad run id %q", id)
	}
	rd := filepath.Join(dir, RunsDir, id)
	if _, err := os.Stat(rd); err != nil {
		return nil, fmt.Errorf("no run %s in %s (preflight log list shows the runs)", id, dir)
	}
	rf := &RunFiles{Journal: &JournalScan{}}
	if data, err := readFileLimited(filepath.Join(rd, JournalFile), maxJournal); err == nil {
		rf.Journal = scanJournal(data, true)
		rf.Events = rf.Journal.Entries
	}
	rf.Profile, _ = readFileLimited(filepath.Join(rd, ProfileFile), maxRecord)
	data, err := readFileLimited(filepath.Join(rd, RecordFile), maxRecord)
	switch {
	case err == nil:
		rf.Record, rf.Sealed = &Record{}, true
		if jerr := json.Unmarshal(data, rf.Record); jerr != nil {
			// A reviewer still needs what happened: show the state the journal holds, saying why.
			if rf.Record, err = rebuild(rf.Events); err != nil {
				return nil, fmt.Errorf("%s: %v, and the journal cannot stand in for it (%v) — run preflight log verify %s", filepath.Join(rd, RecordFile), jerr, err, id)
			}
			rf.Record.Interrupted = fmt.Sprintf("record.json is unreadable (%v): shown as rebuilt from events.jsonl", jerr)
		}
	case errors.Is(err, os.ErrNotExist):
		if rf.Record, err = rebuild(rf.Events); err != nil {
			rf.Record = bareRecord(id, rd)
		}
		rf.Record.Interrupted = strings.TrimPrefix(rf.Record.Interrupted+"; not sealed: the run is in progress, or its process ended without sealing it", "; ")
	default:
		return nil, err
	}
	if skey, err := os.ReadFile(filepath.Join(dir, FacilityKeyFile)); err == nil {
		if _, vkey, err := facilityKey(string(skey)); err == nil {
			if msg, err := os.ReadFile(filepath.Join(rd, RunCkptFile)); err == nil {
				if c, err := ParseCheckpoint(msg, vkey); err == nil {
					rf.Checkpoint, rf.CheckpointNote = &c, msg
				}
			}
		}
	}
	return rf, nil
}

// ResolveRun turns what a user typed into a run id: a full id, a unique prefix, or "latest".
func ResolveRun(dir, ref string) (string, error) {
	runs, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil {
		return "", fmt.Errorf("%s is not a preflight log directory (%v): name the facility's log with --log-dir", dir, err)
	}
	var ids []string
	for _, d := range runs {
		if d.IsDir() && validRunID(d.Name()) {
			ids = append(ids, d.Name())
		}
	}
	slices.Sort(ids)
	if ref == "latest" { // the latest run: joint verdicts are named by their ids
		for i := len(ids) - 1; i >= 0; i-- {
			if !IsJoint(dir, ids[i]) {
				return ids[i], nil
			}
		}
	}
	var match []string
	for _, id := range ids {
		if id == ref {
			return id, nil
		}
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("no run %q in %s (preflight log list shows the runs)", ref, dir)
	}
	return "", fmt.Errorf("%q matches %d runs (%s …): give more of the run id", ref, len(match), strings.Join(match[:min(3, len(match))], ", "))
}
