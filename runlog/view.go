package runlog

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/telesurgery-preflight/preflight/checks"
)

// What the peer link reads from a facility log, without the writer's lock: the log as its latest signed
// checkpoint covers it, the proofs a peer checks that checkpoint and a record with, the latest sealed run
// of an operation and the live progress of one not sealed yet. Nothing here takes a path from the peer:
// runs are found by operation id in the index, and their directories named by run ids the index holds.

// Sealed is a sealed record checked on its own: canonical form, sha256, and sign-off against a roster.
type Sealed struct {
	Record    *Record
	Data      []byte         // record.json, byte for byte
	Leaf      tlog.Hash      // its RFC 6962 leaf hash: what the facility log's tree holds
	Signature SignatureState // the sign-off against the roster given
}

// CheckSealed checks the bytes of a sealed run record: canonical form, sha256, and the sign-off against
// roster (a roster verified with the facility's key). The error says what is wrong with the bytes; the
// signature's state (valid, unsigned, invalid) is in Signature for the caller to judge.
func CheckSealed(data []byte, roster *Roster) (*Sealed, error) {
	sum, sha, _, err := recordHash(data)
	if err != nil {
		return nil, err
	}
	if sum != sha {
		return nil, fmt.Errorf("sha256 is %s but the record hashes to %s: its content was changed", short(sha), short(sum))
	}
	h, err := readHeader(data)
	if err != nil {
		return nil, fmt.Errorf("not a run record: %v", err)
	}
	if h.Schema != Schema {
		return nil, fmt.Errorf("schema %q: not a run record (%s)", h.Schema, Schema)
	}
	r := &Record{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("not a run record: %v", err)
	}
	if roster == nil {
		roster = &Roster{}
	}
	return &Sealed{Record: r, Data: data, Leaf: tlog.RecordHash(data), Signature: checkSignoff(h, sum, roster)}, nil
}

// LogView is a facility log as its latest signed checkpoint covers it, read without the writer's lock.
type LogView struct {
	Dir            string
	Facility       *FacilityKey
	Checkpoint     Checkpoint
	CheckpointNote []byte
	entries        []IndexEntry // the leaves the checkpoint covers
	tree           Tree
}

// OpenView reads the log in dir at its latest checkpoint, and checks that the index hashes to the root
// the facility key signed: a log that does not is never served.
func OpenView(dir string) (*LogView, error) {
	k, err := LoadFacilityKey(dir)
	if err != nil {
		return nil, err
	}
	msg, err := ReadCheckpoint(dir) // before the index: a seal in progress only adds leaves after it
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(msg, k.Verifier)
	if err != nil {
		return nil, fmt.Errorf("%s: %w — run preflight log verify", CheckpointFile, err)
	}
	entries, _, _, _, err := readIndex(dir)
	if err != nil {
		return nil, fmt.Errorf("read log index: %w — run preflight log verify", err)
	}
	if int64(len(entries)) < c.Size {
		return nil, fmt.Errorf("the checkpoint covers %d runs but the index lists %d — run preflight log verify", c.Size, len(entries))
	}
	v := &LogView{Dir: dir, Facility: k, Checkpoint: c, CheckpointNote: msg, entries: entries[:c.Size]}
	for _, e := range v.entries {
		h, err := decodeLeafHash(e.LeafHash)
		if err != nil {
			return nil, fmt.Errorf("%s leaf %d: %w", IndexFile, e.Leaf, err)
		}
		if err := v.tree.add(h); err != nil {
			return nil, err
		}
	}
	if root, err := v.tree.root(c.Size); err != nil || root != c.Root {
		return nil, errors.New("the log index does not hash to the root of the signed checkpoint — run preflight log verify")
	}
	return v, nil
}

// ConsistencyProof proves that the tree of the first from leaves is a prefix of the checkpoint's tree.
func (v *LogView) ConsistencyProof(from int64) (tlog.TreeProof, error) {
	if from < 0 || from > v.Checkpoint.Size {
		return nil, fmt.Errorf("no tree of size %d in a log of %d", from, v.Checkpoint.Size)
	}
	if from == 0 || from == v.Checkpoint.Size {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(v.Checkpoint.Size, from, &v.tree)
}

// InclusionProof proves that leaf is in the checkpoint's tree.
func (v *LogView) InclusionProof(leaf int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(v.Checkpoint.Size, leaf, &v.tree)
}

// LeafHashes are the leaf hashes of every run the checkpoint covers, in order (a bundle carries them so
// an importer can rebuild the tree).
func (v *LogView) LeafHashes() []tlog.Hash {
	out := make([]tlog.Hash, len(v.entries))
	for i, e := range v.entries {
		out[i], _ = decodeLeafHash(e.LeafHash) // checked in OpenView
	}
	return out
}

// LatestRun returns the index entry and record.json of the last sealed run of operation op that the
// checkpoint covers, or nil when there is none. The bytes must hash to the leaf the checkpoint signed.
func (v *LogView) LatestRun(op string) (*IndexEntry, []byte, error) {
	for i := len(v.entries) - 1; i >= 0; i-- {
		e := v.entries[i]
		if e.OperationID != op || e.Kind != "" {
			continue
		}
		data, err := readFileLimited(filepath.Join(v.Dir, RunsDir, e.RunID, RecordFile), maxRecord)
		if err != nil {
			return nil, nil, fmt.Errorf("run %s: %w", e.RunID, err)
		}
		if leaf := tlog.RecordHash(data); base64.StdEncoding.EncodeToString(leaf[:]) != e.LeafHash {
			return nil, nil, fmt.Errorf("run %s: record.json is not the record sealed as leaf %d — run preflight log verify", e.RunID, e.Leaf)
		}
		return &e, data, nil
	}
	return nil, nil, nil
}

// Live is the progress of a run that is not sealed yet: not signed, and shown only as what it is.
type Live struct {
	RunID     string    `json:"run_id"`
	StartedAt time.Time `json:"started_at"`
	Done      int       `json:"done"`  // items with a result or an answer
	Total     int       `json:"total"` // items of the profile
	Verdict   string    `json:"verdict"`
}

// LiveRun returns the progress of the newest run of operation op that is not sealed, when it started
// after the latest sealed one (nil otherwise).
func (v *LogView) LiveRun(op string, after time.Time) *Live {
	runs, err := List(v.Dir, ListFilter{Operation: op})
	if err != nil {
		return nil
	}
	var best *Live
	for _, s := range runs {
		if s.Leaf >= 0 || !s.StartedAt.After(after) || s.Kind != "" {
			continue
		}
		rf, err := LoadRun(v.Dir, s.RunID)
		if err != nil || rf.Sealed {
			continue
		}
		l := &Live{RunID: s.RunID, StartedAt: rf.Record.StartedAt, Total: len(rf.Record.Items), Verdict: rf.Record.Verdict}
		for _, it := range rf.Record.Items {
			if it.Status != checks.Pending {
				l.Done++
			}
		}
		if best == nil || l.StartedAt.After(best.StartedAt) {
			best = l
		}
	}
	return best
}
