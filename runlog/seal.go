package runlog

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// seal writes r as the next leaf of the log. The write order makes every crash recoverable by the next
// writer: record.json (temp, fsync, rename, fsync dir) → index line (append, fsync) → the run's checkpoint
// and LOGDIR/checkpoint (each temp, fsync, rename, fsync dir).
func (s *Store) seal(r *Record, key *Key) (string, error) {
	if s.broken != nil {
		return "", fmt.Errorf("the log is not writable after an earlier failure (%v): the next preflight run completes the seal", s.broken)
	}
	dir := s.runDir(r.RunID)
	scan, err := readJournal(dir, false)
	if errors.Is(err, os.ErrNotExist) { // a run that crashed before its journal existed: no events
		scan, err = &JournalScan{}, nil
	}
	if err != nil {
		return "", fmt.Errorf("read journal of run %s: %w", r.RunID, err)
	}
	if len(scan.Breaks) > 0 {
		return "", fmt.Errorf("the journal of run %s is broken (%s): it is left unsealed — run preflight log verify", r.RunID, scan.Breaks[0])
	}
	r.Journal = &JournalRef{Lines: scan.Lines, Head: scan.Head}
	if len(scan.Torn) > 0 {
		if r.Journal.Quarantined, err = quarantine(dir, scan); err != nil {
			return "", err
		}
	}
	if r.Signoff != nil {
		if err := prepareSignoff(r, key); err != nil {
			return "", err
		}
	}
	r.Prev, r.SHA256, r.Signature = s.head(), "", ""
	body, err := encodeRecord(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	r.SHA256 = hex.EncodeToString(sum[:])
	if r.Signoff != nil && key != nil {
		sig, err := note.Sign(&note.Note{Text: signoffText(r)}, key.signer)
		if err != nil {
			return "", fmt.Errorf("sign run %s: %w", r.RunID, err)
		}
		r.Signature = string(sig)
	}
	data, err := encodeRecord(r)
	if err != nil {
		return "", err
	}
	if got, _, _, err := recordHash(data); err != nil || got != r.SHA256 {
		return "", fmt.Errorf("seal run %s: the canonical form does not round-trip (%v)", r.RunID, err)
	}
	path := filepath.Join(dir, RecordFile)
	if err := writeDurably(path, data); err != nil {
		return "", fmt.Errorf("write record of run %s: %w", r.RunID, err)
	}
	reach("record")
	h, _ := readHeader(data) // just written in canonical form
	if err := s.appendLeaf(h, data); err != nil {
		s.broken = err
		return "", err
	}
	return path, nil
}

// appendLeaf adds a written record to the tree and index, then signs the checkpoints.
func (s *Store) appendLeaf(h *sealedHeader, data []byte) error {
	leaf := tlog.RecordHash(data)
	if err := s.tree.add(leaf); err != nil {
		return err
	}
	e := indexEntry(int64(len(s.index)), h, base64.StdEncoding.EncodeToString(leaf[:]))
	if err := appendDurably(filepath.Join(s.Dir, IndexFile), e.line()); err != nil {
		return fmt.Errorf("add run %s to the log index: %w", h.RunID, err)
	}
	s.index = append(s.index, e)
	reach("index")
	return s.checkpointRun(e)
}

// checkpointRun signs the log checkpoint, then the run's own copy. In that order a crash can leave the
// log checkpoint one run behind only while the run has no checkpoint of its own — so an old checkpoint
// put back while later ones exist is told apart from a cut-short seal.
func (s *Store) checkpointRun(e IndexEntry) error {
	if err := s.writeCheckpoint(filepath.Join(s.Dir, CheckpointFile), int64(len(s.index))); err != nil {
		return fmt.Errorf("log checkpoint: %w", err)
	}
	reach("checkpoint")
	if err := s.writeCheckpoint(filepath.Join(s.runDir(e.RunID), RunCkptFile), e.Leaf+1); err != nil {
		return fmt.Errorf("checkpoint of run %s: %w", e.RunID, err)
	}
	reach("run-checkpoint")
	return nil
}

func (s *Store) head() string {
	if len(s.index) == 0 {
		return ""
	}
	return s.index[len(s.index)-1].SHA256
}

// quarantine moves a journal's torn tail, byte for byte, to events.jsonl.torn and cuts the journal back
// to its last complete line. Nothing is dropped and nothing is completed: the sealed record says where
// the bytes were and what they hash to.
func quarantine(dir string, scan *JournalScan) (*Quarantine, error) {
	sum := sha256.Sum256(scan.Torn)
	q := &Quarantine{File: TornFile, Offset: scan.TornOffset, Bytes: len(scan.Torn), SHA256: hex.EncodeToString(sum[:])}
	if err := writeDurably(filepath.Join(dir, TornFile), scan.Torn); err != nil {
		return nil, fmt.Errorf("quarantine torn journal line: %w", err)
	}
	reach("quarantine")
	if err := truncateDurably(filepath.Join(dir, JournalFile), scan.TornOffset); err != nil {
		return nil, fmt.Errorf("quarantine torn journal line: %w", err)
	}
	return q, nil
}

// recover completes what an earlier writer left: records written but not indexed, checkpoints not
// signed, runs never sealed. Each step is reported in Notes.
func (s *Store) recover() error {
	s.removeTemps(s.Dir)
	ents, err := os.ReadDir(filepath.Join(s.Dir, RunsDir))
	if err != nil {
		return err
	}
	indexed := make(map[string]bool, len(s.index))
	for _, e := range s.index {
		indexed[e.RunID] = true
	}
	var sealed []*sealedHeader
	var sealedData = map[string][]byte{}
	var unsealed []string
	for _, e := range ents {
		id := e.Name()
		if indexed[id] || !e.IsDir() || !validRunID(id) {
			continue
		}
		s.removeTemps(s.runDir(id))
		data, err := readFileLimited(filepath.Join(s.runDir(id), RecordFile), maxRecord)
		if errors.Is(err, os.ErrNotExist) {
			unsealed = append(unsealed, id)
			continue
		}
		if err != nil {
			return err
		}
		h, err := readHeader(data)
		if err != nil {
			return fmt.Errorf("run %s: record.json is not in the index and %v: run preflight log verify", id, err)
		}
		sealed, sealedData[id] = append(sealed, h), data
	}
	// A record written but not indexed is the last seal, cut short: it must extend the chain.
	for len(sealed) > 0 {
		i := slices.IndexFunc(sealed, func(h *sealedHeader) bool { return h.Prev == s.head() })
		if i < 0 {
			return fmt.Errorf("run %s has a sealed record that is not in the log and does not follow its last run: the log is inconsistent — run preflight log verify, and keep new runs in another --log-dir", sealed[0].RunID)
		}
		h := sealed[i]
		sealed = slices.Delete(sealed, i, i+1)
		if err := s.appendLeaf(h, sealedData[h.RunID]); err != nil {
			return err
		}
		s.Notes = append(s.Notes, fmt.Sprintf("run %s: its seal was cut short after the record was written; added to the log and checkpointed", h.RunID))
	}
	if err := s.completeCheckpoints(); err != nil {
		return err
	}
	slices.Sort(unsealed)
	for _, id := range unsealed {
		if err := s.sealInterrupted(id); err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("run %s: left unsealed: %v", id, err))
		}
	}
	return nil
}

// completeCheckpoints signs the checkpoints a crash kept the last seal from writing. It refuses anything
// else — a checkpoint that does not verify, or one more than one run behind — rather than sign over it.
func (s *Store) completeCheckpoints() error {
	msg, err := readFileLimited(filepath.Join(s.Dir, CheckpointFile), maxSmall)
	if err != nil {
		return fmt.Errorf("read %s: %w — run preflight log verify", CheckpointFile, err)
	}
	c, err := ParseCheckpoint(msg, s.fvkey)
	if err != nil {
		return fmt.Errorf("%s: %w — run preflight log verify", CheckpointFile, err)
	}
	n := int64(len(s.index))
	if n == 0 && c.Size == 0 {
		return nil
	}
	lastCk := ""
	if n > 0 {
		lastCk = filepath.Join(s.runDir(s.index[n-1].RunID), RunCkptFile)
	}
	switch {
	case c.Size == n && fileExists(lastCk):
		return nil
	case c.Size == n:
		if err := s.writeCheckpoint(lastCk, n); err != nil {
			return err
		}
		s.Notes = append(s.Notes, fmt.Sprintf("run %s: its seal stopped before its own checkpoint was written; signed now", s.index[n-1].RunID))
		return nil
	case c.Size != n-1 || fileExists(lastCk):
		return fmt.Errorf("%s covers %d runs but the log index lists %d: the log was altered — run preflight log verify, and keep new runs in another --log-dir", CheckpointFile, c.Size, n)
	}
	if err := s.checkpointRun(s.index[n-1]); err != nil {
		return err
	}
	s.Notes = append(s.Notes, fmt.Sprintf("run %s: its seal stopped before the checkpoint was signed; signed now", s.index[n-1].RunID))
	return nil
}

// sealInterrupted seals a run that never reached its seal, as interrupted, from its journal.
func (s *Store) sealInterrupted(id string) error {
	dir := s.runDir(id)
	data, err := readFileLimited(filepath.Join(dir, JournalFile), maxJournal)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	scan := scanJournal(data, true)
	if len(scan.Breaks) > 0 {
		return fmt.Errorf("its journal is broken (%s)", scan.Breaks[0])
	}
	r, err := rebuild(scan.Entries)
	if err != nil {
		r = bareRecord(id, dir)
	}
	why := fmt.Sprintf("the run ended without being sealed (process killed, crashed or lost power) after %d complete journal line(s)", scan.Lines)
	if len(scan.Torn) > 0 {
		why += fmt.Sprintf(" and a torn line of %d bytes (quarantined in %s)", len(scan.Torn), TornFile)
	}
	why += fmt.Sprintf("; sealed from its journal by the next writer at %s", s.Now().UTC().Format(time.RFC3339))
	r.Interrupted = strings.TrimPrefix(r.Interrupted+"; "+why, "; ")
	if r.FinishedAt.IsZero() {
		r.FinishedAt = r.StartedAt
	}
	r.Verdict, r.Blocking = r.Judge()
	if _, err := s.seal(r, nil); err != nil {
		return err
	}
	s.Notes = append(s.Notes, fmt.Sprintf("run %s was interrupted (%d events kept); sealed as interrupted", id, scan.Lines))
	return nil
}

// bareRecord stands for a run that crashed before its first journal line: nothing was probed.
func bareRecord(id, dir string) *Record {
	r := &Record{Schema: Schema, RunID: id, Verdict: Incomplete}
	if t, err := time.Parse("20060102T150405Z", strings.SplitN(id, "-", 2)[0]); err == nil {
		r.StartedAt = t
	}
	if b, err := os.ReadFile(filepath.Join(dir, ProfileFile)); err == nil {
		sum := sha256.Sum256(b)
		r.Profile = ProfileRef{Path: ProfileFile, SHA256: hex.EncodeToString(sum[:])}
	}
	return r
}

// removeTemps deletes temp files of durable writes that a crash kept from being renamed into place:
// they never became part of the store.
func (s *Store) removeTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, t := range tmps {
		if os.Remove(t) == nil {
			rel, _ := filepath.Rel(s.Dir, t)
			s.Notes = append(s.Notes, fmt.Sprintf("removed %s, an unfinished write of a stopped writer", rel))
		}
	}
}
