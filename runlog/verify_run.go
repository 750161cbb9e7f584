package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type runCheck struct {
	*RunStatus
	header *sealedHeader
	leaf   tlog.Hash
	ok     bool // leaf was recomputed from record.json
}

// checkRun verifies one sealed run's files against its index line.
func (vr *verifier) checkRun(e IndexEntry) *runCheck {
	st := &runCheck{RunStatus: &RunStatus{RunID: e.RunID, Leaf: e.Leaf, Verdict: e.Verdict, Kind: e.Kind, Interrupted: e.Interrupted}}
	add := func(sev Severity, file, format string, args ...any) {
		st.Problems = append(st.Problems, Problem{sev, rel(e.RunID, file), e.RunID, sprintf(format, args...)})
		vr.add(sev, rel(e.RunID, file), e.RunID, format, args...)
	}
	dir := filepath.Join(vr.dir, RunsDir, e.RunID)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		add(Tampered, "", "missing: the run (leaf %d of the log) was deleted", e.Leaf)
		return st
	}
	data, err := readFileLimited(filepath.Join(dir, RecordFile), maxRecord)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			add(Tampered, RecordFile, "missing: the sealed record was deleted")
		} else {
			add(Unreadable, RecordFile, "cannot read: %v", err)
		}
		return st
	}
	st.Sealed, st.leaf, st.ok = true, tlog.RecordHash(data), true // compared with the index in attributeLeaves
	sum, sha, _, err := recordHash(data)
	if err != nil {
		add(Tampered, RecordFile, "%v: the record was rewritten", err)
		return st
	}
	if sum != sha {
		add(Tampered, RecordFile, "sha256 is %s but the record hashes to %s: its content was changed", short(sha), short(sum))
	}
	h, err := readHeader(data)
	if err != nil {
		add(Tampered, RecordFile, "cannot be read as a run record (%v): it was rewritten", err)
		return st
	}
	st.header = h
	st.Verdict, st.Interrupted = h.Verdict, h.Interrupted
	if h.RunID != e.RunID {
		add(Tampered, RecordFile, "is the record of run %s, in the directory of run %s: records were swapped", h.RunID, e.RunID)
	}
	if want := indexEntry(e.Leaf, h, e.LeafHash); !bytes.Equal(want.line(), vr.indexLines[e.Leaf]) {
		vr.add(Tampered, IndexFile, e.RunID, "line %d does not match the run's record.json (index: %s %s, record: %s %s): the index or the record was altered",
			e.Leaf+1, e.Verdict, short(e.SHA256), want.Verdict, short(want.SHA256))
	}
	st.Signature = checkSignoff(h, sum, vr.roster)
	for _, p := range st.Signature.Problems {
		add(Tampered, RecordFile, "sign-off: %s", p)
	}
	if h.Interrupted != "" {
		add(Unfinished, RecordFile, "the run was interrupted: %s", h.Interrupted)
	}
	vr.checkJournal(st, dir, h.Journal, add)
	vr.checkProfile(dir, h.Profile.SHA256, add)
	vr.checkRunDir(dir, add)
	return st
}

type addFunc func(sev Severity, file, format string, args ...any)

// checkJournal replays the journal's chain and compares it with what the record sealed.
func (vr *verifier) checkJournal(st *runCheck, dir string, ref *JournalRef, add addFunc) {
	data, err := readFileLimited(filepath.Join(dir, JournalFile), maxJournal)
	if errors.Is(err, os.ErrNotExist) && ref != nil && ref.Lines == 0 {
		return // the run crashed before its journal was created, and was sealed so
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			add(Tampered, JournalFile, "missing: the events timeline was deleted")
		} else {
			add(Unreadable, JournalFile, "cannot read: %v", err)
		}
		return
	}
	scan := scanJournal(data, false)
	st.Events = scan.Lines
	for _, b := range scan.Breaks {
		add(Tampered, JournalFile, "%s", b)
	}
	if ref == nil {
		add(Tampered, RecordFile, "has no journal reference: the record was rewritten")
		return
	}
	if scan.Lines != ref.Lines || scan.Head != ref.Head {
		add(Tampered, JournalFile, "holds %d complete lines ending in %s, but the record sealed %d lines ending in %s: lines were added, removed or altered",
			scan.Lines, short(scan.Head), ref.Lines, short(ref.Head))
	}
	if len(scan.Torn) > 0 {
		add(Tampered, JournalFile, "ends in %d bytes without a newline at offset %d, after the run was sealed: the journal was altered", len(scan.Torn), scan.TornOffset)
	}
	q := ref.Quarantined
	torn, err := os.ReadFile(filepath.Join(dir, TornFile))
	switch {
	case q == nil && err == nil:
		add(Tampered, TornFile, "an unexpected file: the record quarantined no torn line")
	case q != nil && err != nil:
		add(Tampered, TornFile, "missing: the record says a torn line of %d bytes was quarantined here", q.Bytes)
	case q != nil:
		sum := sha256.Sum256(torn)
		if hex.EncodeToString(sum[:]) != q.SHA256 || len(torn) != q.Bytes {
			add(Tampered, TornFile, "does not hold the %d quarantined bytes the record names (sha256 %s): it was altered", q.Bytes, short(q.SHA256))
		}
	}
}

func (vr *verifier) checkProfile(dir, want string, add addFunc) {
	b, err := readFileLimited(filepath.Join(dir, ProfileFile), maxRecord)
	if errors.Is(err, os.ErrNotExist) && want == "" {
		return // the run crashed before its profile was kept, and was sealed so
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			add(Tampered, ProfileFile, "missing: the profile the run used was deleted")
		} else {
			add(Unreadable, ProfileFile, "cannot read: %v", err)
		}
		return
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		add(Tampered, ProfileFile, "hashes to %s, not to the profile sha256 %s in the record: the profile was altered", short(hex.EncodeToString(sum[:])), short(want))
	}
}

func (vr *verifier) checkRunDir(dir string, add addFunc) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch n := e.Name(); {
		case n == JournalFile || n == TornFile || n == ProfileFile || n == RecordFile || n == RunCkptFile:
		case strings.HasPrefix(n, ".tmp-"):
			add(Unfinished, n, "an unfinished write of a stopped writer; the next run removes it")
		default:
			add(Tampered, n, "an unexpected file: preflight does not write it")
		}
	}
}

// checkRunCheckpoint checks the checkpoint signed right after the run was sealed.
func (vr *verifier) checkRunCheckpoint(tr *Tree, e IndexEntry, st *RunStatus) {
	file := rel(e.RunID, RunCkptFile)
	add := func(sev Severity, format string, args ...any) {
		st.Problems = append(st.Problems, Problem{sev, file, e.RunID, sprintf(format, args...)})
		vr.add(sev, file, e.RunID, format, args...)
	}
	msg, err := readFileLimited(filepath.Join(vr.dir, file), maxSmall)
	switch {
	case errors.Is(err, os.ErrNotExist) && e.Leaf == tr.n-1:
		add(Unfinished, "not signed yet: the seal of the last run stopped early; the next preflight run signs it")
		return
	case err != nil:
		if _, serr := os.Stat(filepath.Join(vr.dir, RunsDir, e.RunID)); serr == nil {
			if errors.Is(err, os.ErrNotExist) {
				add(Tampered, "missing: the run's checkpoint was deleted")
			} else {
				add(Unreadable, "cannot read: %v", err)
			}
		}
		return
	}
	c, err := ParseCheckpoint(msg, vr.roster.Facility)
	if err != nil {
		add(Tampered, "%v", err)
		return
	}
	if c.Size != e.Leaf+1 {
		add(Tampered, "covers %d runs, but the run is leaf %d: checkpoints were swapped", c.Size, e.Leaf)
		return
	}
	if root, err := tr.root(c.Size); err != nil || root != c.Root {
		add(Tampered, "the log up to this run does not hash to the root signed when it was sealed: this run or an earlier one was altered, removed or reordered")
	}
}

// checkUnsealed reports a run directory that is not in the log: a run in progress or interrupted (no
// record), or a seal cut short before the index line was written.
func (vr *verifier) checkUnsealed(id string, entries []IndexEntry) *RunStatus {
	st := &RunStatus{RunID: id, Leaf: -1}
	dir := filepath.Join(vr.dir, RunsDir, id)
	add := func(sev Severity, file, format string, args ...any) {
		st.Problems = append(st.Problems, Problem{sev, rel(id, file), id, sprintf(format, args...)})
		vr.add(sev, rel(id, file), id, format, args...)
	}
	if data, err := readFileLimited(filepath.Join(dir, RecordFile), maxRecord); err == nil {
		st.Sealed = true
		leaf := tlog.RecordHash(data)
		for _, e := range entries {
			if e.LeafHash == base64.StdEncoding.EncodeToString(leaf[:]) {
				vr.add(Tampered, IndexFile, id, "line %d names run %s, but that leaf is the record of run %s: the index was altered", e.Leaf+1, e.RunID, id)
				return st
			}
		}
		h, err := readHeader(data)
		head := ""
		if len(entries) > 0 {
			head = entries[len(entries)-1].SHA256
		}
		if err != nil || h.Prev != head {
			add(Tampered, RecordFile, "a sealed record that is not in the log and does not follow its last run: it was inserted")
			return st
		}
		st.Verdict, st.Interrupted = h.Verdict, h.Interrupted
		add(Unfinished, RecordFile, "sealed, but the seal stopped before the run was added to the log; the next preflight run adds it")
		return st
	}
	data, err := readFileLimited(filepath.Join(dir, JournalFile), maxJournal)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		add(Unreadable, JournalFile, "cannot read: %v", err)
		return st
	}
	scan := scanJournal(data, true)
	st.Events = scan.Lines
	for _, b := range scan.Breaks {
		add(Tampered, JournalFile, "%s", b)
	}
	if r, err := rebuild(scan.Entries); err == nil {
		st.Verdict = r.Verdict
	}
	st.Interrupted = "not sealed"
	state := "interrupted: never sealed (the process was killed, crashed or lost power); the next preflight run seals it as interrupted"
	if vr.v.WriterActive != "" {
		state = "not sealed: in progress (a writer is active: " + vr.v.WriterActive + "), or interrupted"
	}
	msg := sprintf("%s; %d complete events kept", state, scan.Lines)
	if len(scan.Torn) > 0 {
		msg += sprintf("; a torn last line of %d bytes at offset %d is quarantined (not part of the timeline)", len(scan.Torn), scan.TornOffset)
	}
	add(Unfinished, JournalFile, "%s", msg)
	return st
}
