package runlog

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
)

// The log-wide checks of verify: trust (roster, facility key), checkpoints, and the writer lock.

// loadTrust reads the roster (trusted copy or LOGDIR/roster), and checks the facility key against it.
func (vr *verifier) loadTrust(trusted string) {
	local, err := readFileLimited(filepath.Join(vr.dir, RosterFile), maxSmall)
	if err != nil {
		vr.readErr(RosterFile, "", err)
	}
	anchor := ""
	if trusted != "" {
		msg, err := readFileLimited(trusted, maxSmall)
		if err != nil {
			vr.add(Unreadable, trusted, "", "cannot read the trusted roster: %v", err)
		} else if r, err := parseRoster(msg, ""); err != nil {
			vr.add(Unreadable, trusted, "", "the trusted roster is not valid: %v", err)
		} else {
			vr.roster, anchor = r, r.Facility
		}
	}
	if local != nil {
		r, err := parseRoster(local, anchor)
		if err != nil {
			vr.add(Tampered, RosterFile, "", "%v: the roster was altered", err)
		}
		if vr.roster == nil && r != nil {
			vr.roster = r
		}
	}
	if vr.roster == nil {
		vr.roster = &Roster{}
		if skey, err := os.ReadFile(filepath.Join(vr.dir, FacilityKeyFile)); err == nil {
			if _, vkey, err := facilityKey(string(skey)); err == nil {
				vr.roster.Facility = vkey // to keep checking checkpoints; sign-offs cannot be trusted
			}
		}
	}
	vr.v.Facility = vr.roster.Facility
	skey, err := readFileLimited(filepath.Join(vr.dir, FacilityKeyFile), maxSmall)
	if err != nil {
		vr.readErr(FacilityKeyFile, "", err)
		return
	}
	if _, vkey, err := facilityKey(string(skey)); err != nil || vkey != vr.roster.Facility {
		vr.add(Tampered, FacilityKeyFile, "", "is not the private half of the facility key %s that the roster names", keyID(vr.roster.Facility))
	}
}

// loadCheckpoint reads and verifies the log checkpoint.
func (vr *verifier) loadCheckpoint() {
	msg, err := readFileLimited(filepath.Join(vr.dir, CheckpointFile), maxSmall)
	if err != nil {
		vr.readErr(CheckpointFile, "", err)
		return
	}
	c, err := ParseCheckpoint(msg, vr.roster.Facility)
	if err != nil {
		vr.add(Tampered, CheckpointFile, "", "%v", err)
		return
	}
	vr.v.Checkpoint = &c
}

// attributeLeaves decides, for each run whose record.json does not hash to the leaf the index lists,
// which of the two was altered: when the records as they are hash to the root the facility key
// signed, the index was; otherwise the record.
func (vr *verifier) attributeLeaves(tr *Tree, entries []IndexEntry, checked []*runCheck) {
	c := vr.v.Checkpoint
	recordsSigned := false
	if c != nil && c.Size <= tr.n {
		root, err := tr.root(c.Size)
		recordsSigned = err == nil && root == c.Root
	}
	for _, st := range checked {
		e := entries[st.Leaf]
		if !st.ok || base64.StdEncoding.EncodeToString(st.leaf[:]) == e.LeafHash {
			continue
		}
		if recordsSigned && st.Leaf < c.Size {
			vr.add(Tampered, IndexFile, e.RunID, "line %d: its leaf hash is not that of the run's record.json, which matches the signed checkpoint: the index was altered", st.Leaf+1)
			continue
		}
		p := Problem{Tampered, rel(e.RunID, RecordFile), e.RunID, sprintf("its bytes differ from the record sealed as leaf %d of the log: the record was altered after sealing", st.Leaf)}
		st.Problems = append(st.Problems, p)
		vr.add(p.Severity, p.File, p.Run, "%s", p.Msg)
	}
}

// checkLogCheckpoint compares the log checkpoint with the log.
func (vr *verifier) checkLogCheckpoint(tr *Tree, entries []IndexEntry) {
	if vr.v.Checkpoint == nil {
		return
	}
	c := *vr.v.Checkpoint
	n := int64(len(entries))
	switch {
	case c.Size > n:
		vr.add(Tampered, CheckpointFile, "", "the signed checkpoint covers %d runs, but the log holds %d: runs were deleted", c.Size, n)
		if vr.indexTorn {
			vr.add(Tampered, IndexFile, "", "its last line is cut short, but the signed checkpoint covers it: the index was altered")
		}
		return
	case c.Size < n:
		last := entries[n-1]
		if c.Size == n-1 && !fileExists(filepath.Join(vr.dir, rel(last.RunID, RunCkptFile))) {
			vr.add(Unfinished, CheckpointFile, last.RunID, "the seal of the last run stopped before the log checkpoint was signed; the next preflight run signs it")
		} else {
			vr.add(Tampered, CheckpointFile, entries[c.Size].RunID, "the signed checkpoint covers %d runs, but the log holds %d: an older checkpoint was put back (runs from %s on are not covered by it)",
				c.Size, n, entries[c.Size].RunID)
		}
	}
	if root, err := tr.root(c.Size); err != nil || root != c.Root {
		vr.add(Tampered, CheckpointFile, "", "the first %d runs of the log do not hash to the root the facility key signed: a record was altered, removed, inserted or reordered (the runs marked above say which)", c.Size)
	}
}

func (vr *verifier) checkHeldCheckpoint(tr *Tree, msg []byte) {
	c, err := ParseCheckpoint(msg, vr.roster.Facility)
	if err != nil {
		vr.add(Tampered, "(held checkpoint)", "", "%v", err)
		return
	}
	switch root, err := tr.root(c.Size); {
	case c.Size > tr.n:
		vr.add(Tampered, "(held checkpoint)", "", "the checkpoint you hold covers %d runs, but this log holds only %d: runs were removed after it was signed", c.Size, tr.n)
	case err != nil || root != c.Root:
		vr.add(Tampered, "(held checkpoint)", "", "the first %d runs of this log differ from those the checkpoint you hold covers: the log's history was rewritten", c.Size)
	}
}

func writerActive(dir string) string {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	busy, err := flock(f, false)
	if err != nil || !busy {
		return ""
	}
	b := make([]byte, 200)
	n, _ := f.Read(b)
	return strings.TrimSpace(strings.ReplaceAll(string(bytes.TrimSpace(b[:n])), "\n", ", "))
}
