package runlog

import (
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
	Kind        string // "joint" for a joint verdict; empty for a run
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
	Problems     []Problem     // every problem, the runs' included, in the order found
	Peers        []PeerWitness // what the log keeps of the other facility's log (whole-log verify only)
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
	tr := &Tree{}
	vr.buildTree(tr, leaves)
	vr.attributeLeaves(tr, entries, checked)
	for _, st := range checked {
		vr.checkRunCheckpoint(tr, entries[st.Leaf], st.RunStatus)
	}
	if opt.Run == "" {
		unindexed = vr.checkFiles(entries)
	}
	vr.checkLogCheckpoint(tr, entries)
	if opt.Run == "" {
		vr.checkFacilityCert()
		vr.checkPeers(tr)
	}
	for _, msg := range opt.Checkpoints {
		vr.checkHeldCheckpoint(tr, msg)
	}
	for _, id := range unindexed {
		vr.v.Runs = append(vr.v.Runs, vr.checkUnsealed(id, entries))
	}
	return vr.v, nil
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

func (vr *verifier) buildTree(tr *Tree, leaves []tlog.Hash) {
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

// checkFiles reports files that preflight does not write, and returns run directories not in the index.
func (vr *verifier) checkFiles(entries []IndexEntry) []string {
	top, _ := os.ReadDir(vr.dir)
	for _, e := range top {
		switch n := e.Name(); {
		case slices.Contains([]string{LockFile, FacilityKeyFile, FacilityCertFile, RosterFile, CheckpointFile, IndexFile, RunsDir, PeersDir}, n):
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
