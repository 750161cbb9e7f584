package runlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Severity says how bad a problem verify found is; the worst one decides the exit code.
type Severity int

// Severities, from least to most serious.
const (
	Unfinished Severity = iota + 1 // a run did not finish: interrupted, never sealed, a seal cut short
	Unreadable                     // a file could not be read (permissions, I/O): verify cannot decide
	Tampered                       // something was altered, removed, inserted, reordered or forged
)

func (s Severity) String() string {
	return map[Severity]string{Unfinished: "INCOMPLETE", Unreadable: "UNREADABLE", Tampered: "TAMPERED"}[s]
}

// Problem is one thing verify found, with the file (relative to the log directory) and run it concerns.
type Problem struct {
	Severity Severity
	File     string
	Run      string
	Msg      string
}

func (p Problem) String() string {
	where := p.File
	if p.Run != "" {
		where += " (run " + p.Run + ")"
	}
	return fmt.Sprintf("%-10s %s: %s", p.Severity, where, p.Msg)
}

// RunStatus is what verify found about one run.
type RunStatus struct {
	RunID       string
	Leaf        int64 // position in the facility log; -1 when the run is not in it
	Sealed      bool  // a record.json exists
	Verdict     string
	Interrupted string
	Signature   SignatureState
	Events      int // complete journal lines
	Problems    []Problem
}

// Intact reports whether nothing about the run was found altered.
func (r *RunStatus) Intact() bool {
	return !slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Severity >= Unreadable })
}

// Verification is the result of verifying a log (or one run of it).
type Verification struct {
	Dir          string
	Facility     string // the trusted facility verifier key
	Checkpoint   *Checkpoint
	Size         int64  // leaves in the log index
	WriterActive string // the lock holder, when a writer is running now
	Runs         []*RunStatus
	Problems     []Problem // every problem, the runs' included, in the order found
}

// Worst is the most serious severity found, 0 when the log verified clean.
func (v *Verification) Worst() Severity {
	var w Severity
	for _, p := range v.Problems {
		w = max(w, p.Severity)
	}
	return w
}

// VerifyOptions select what to verify and what to trust.
type VerifyOptions struct {
	Run         string   // only this run (and the log's checkpoint); empty: the whole log
	Roster      string   // a trusted copy of the roster; empty: LOGDIR/roster
	Checkpoints [][]byte // signed checkpoints held outside the log, which it must still be consistent with
}

type verifier struct {
	v          *Verification
	dir        string
	roster     *Roster
	indexLines [][]byte
	indexTorn  bool
	mu         sync.Mutex
}

func (vr *verifier) add(sev Severity, file, run, format string, args ...any) {
	vr.mu.Lock()
	defer vr.mu.Unlock()
	vr.v.Problems = append(vr.v.Problems, Problem{sev, file, run, fmt.Sprintf(format, args...)})
}

// readErr reports a file that could not be read: missing is tampering (deletion), anything else unreadable.
func (vr *verifier) readErr(file, run string, err error) {
	if errors.Is(err, os.ErrNotExist) {
		vr.add(Tampered, file, run, "missing: it was deleted")
		return
	}
	vr.add(Unreadable, file, run, "cannot read: %v", err)
}

// Verify checks a facility log: every record's hashes and chain, every journal's chain, every profile,
// every sign-off against the roster, and the tree against the signed checkpoints. The error is for
// usage problems only (no such log, no such run); everything found is in the Verification.
func Verify(dir string, opt VerifyOptions) (*Verification, error) {
	if !fileExists(filepath.Join(dir, FacilityKeyFile)) && !fileExists(filepath.Join(dir, RosterFile)) && !fileExists(filepath.Join(dir, IndexFile)) {
		return nil, fmt.Errorf("%s is not a preflight log directory (no %s, %s or %s): name the facility's log with --log-dir", dir, RosterFile, CheckpointFile, IndexFile)
	}
	vr := &verifier{v: &Verification{Dir: dir}, dir: dir}
	vr.v.WriterActive = writerActive(dir)
	vr.loadTrust(opt.Roster)
	entries := vr.loadIndex()
	vr.loadCheckpoint()
	var checked []*runCheck
	var unindexed []string
	if opt.Run != "" {
		i := slices.IndexFunc(entries, func(e IndexEntry) bool { return e.RunID == opt.Run })
		switch {
		case i >= 0:
			checked = []*runCheck{vr.checkRun(entries[i])}
		case fileExists(filepath.Join(dir, RunsDir, opt.Run)):
			unindexed = []string{opt.Run}
		default:
			return nil, fmt.Errorf("no run %s in %s (preflight log list shows the runs)", opt.Run, dir)
		}
	} else {
		checked = vr.checkAll(entries)
	}
	leaves := vr.leafHashesFromIndex(entries)
	for _, st := range checked {
		vr.v.Runs = append(vr.v.Runs, st.RunStatus)
		if st.ok {
			leaves[st.Leaf] = st.leaf
		}
		vr.checkPrev(entries, int(st.Leaf), st.header)
	}
	tr := &tree{}
	vr.buildTree(tr, leaves)
	vr.attributeLeaves(tr, entries, checked)
	for _, st := range checked {
		vr.checkRunCheckpoint(tr, entries[st.Leaf], st.RunStatus)
	}
	if opt.Run == "" {
		unindexed = vr.checkFiles(entries)
	}
	vr.checkLogCheckpoint(tr, entries)
	for _, msg := range opt.Checkpoints {
		vr.checkHeldCheckpoint(tr, msg)
	}
	for _, id := range unindexed {
		vr.v.Runs = append(vr.v.Runs, vr.checkUnsealed(id, entries))
	}
	return vr.v, nil
}

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

func (vr *verifier) loadIndex() []IndexEntry {
	entries, lines, torn, _, err := readIndex(vr.dir)
	vr.indexLines = lines
	switch {
	case errors.Is(err, os.ErrNotExist):
		vr.readErr(IndexFile, "", err)
	case err != nil:
		vr.add(Tampered, IndexFile, "", "%v", strings.TrimPrefix(err.Error(), IndexFile+" "))
	case len(torn) > 0:
		vr.indexTorn = true
		vr.add(Unfinished, IndexFile, "", "a torn last line (%d bytes): a seal was cut short; the next preflight run completes it", len(torn))
	}
	vr.v.Size = int64(len(entries))
	return entries
}

// checkAll checks every indexed run, in parallel: they are independent until the chain and the tree.
func (vr *verifier) checkAll(entries []IndexEntry) []*runCheck {
	out := make([]*runCheck, len(entries))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				out[i] = vr.checkRun(entries[i])
			}
		})
	}
	for i := range entries {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (vr *verifier) leafHashesFromIndex(entries []IndexEntry) []tlog.Hash {
	leaves := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		leaves[i], _ = decodeLeafHash(e.LeafHash) // a bad one shows up as a tree mismatch
	}
	return leaves
}

func (vr *verifier) buildTree(tr *tree, leaves []tlog.Hash) {
	for _, l := range leaves {
		_ = tr.add(l)
	}
}

// checkPrev checks that run i names the run before it in the log.
func (vr *verifier) checkPrev(entries []IndexEntry, i int, h *sealedHeader) {
	if h == nil {
		return
	}
	want := ""
	if i > 0 {
		want = entries[i-1].SHA256
	}
	if h.Prev != want {
		what := "the first run of the log should have none"
		if i > 0 {
			what = fmt.Sprintf("the run before it in the log, %s, is %s", entries[i-1].RunID, short(want))
		}
		vr.add(Tampered, rel(entries[i].RunID, RecordFile), entries[i].RunID, "prev is %s, but %s: the chain of records is broken (a run was removed, inserted or reordered)", short(h.Prev), what)
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
func (vr *verifier) attributeLeaves(tr *tree, entries []IndexEntry, checked []*runCheck) {
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
func (vr *verifier) checkLogCheckpoint(tr *tree, entries []IndexEntry) {
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

func (vr *verifier) checkHeldCheckpoint(tr *tree, msg []byte) {
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

// checkFiles reports files that preflight does not write, and returns run directories not in the index.
func (vr *verifier) checkFiles(entries []IndexEntry) []string {
	top, _ := os.ReadDir(vr.dir)
	for _, e := range top {
		switch n := e.Name(); {
		case slices.Contains([]string{LockFile, FacilityKeyFile, RosterFile, CheckpointFile, IndexFile, RunsDir}, n):
		case strings.HasPrefix(n, ".tmp-"):
			vr.add(Unfinished, n, "", "an unfinished write of a stopped writer; the next run removes it")
		default:
			vr.add(Tampered, n, "", "an unexpected file: preflight does not write it")
		}
	}
	indexed := make(map[string]bool, len(entries))
	for _, e := range entries {
		indexed[e.RunID] = true
	}
	runs, _ := os.ReadDir(filepath.Join(vr.dir, RunsDir))
	var out []string
	for _, e := range runs {
		switch {
		case indexed[e.Name()]:
		case e.IsDir() && validRunID(e.Name()):
			out = append(out, e.Name())
		default:
			vr.add(Tampered, filepath.Join(RunsDir, e.Name()), "", "an unexpected file: preflight does not write it")
		}
	}
	return out
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

func rel(run, file string) string { return filepath.Join(RunsDir, run, file) }

var sprintf = fmt.Sprintf

// Exit codes of `preflight log verify`.
const (
	VerifyClean      = 0 // every file verified: nothing altered, every run complete
	VerifyTampered   = 1 // something was altered, removed, inserted, reordered or forged
	VerifyUsage      = 2 // bad flags, no such log or run
	VerifyIncomplete = 3 // nothing altered, but a run was interrupted or never sealed, or a seal was cut short
	VerifyUnreadable = 4 // a file could not be read: verify could not decide
)

// ExitCode maps the worst problem to the exit code of `log verify`.
func (v *Verification) ExitCode() int {
	switch v.Worst() {
	case Tampered:
		return VerifyTampered
	case Unreadable:
		return VerifyUnreadable
	case Unfinished:
		return VerifyIncomplete
	}
	return VerifyClean
}
