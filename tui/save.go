package tui

import (
	"sync"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// SaveFunc writes a run record somewhere durable and says where, with a hash a reviewer can check the
// stored copy against: the run-log store's (*runlog.Store).SealFunc.
type SaveFunc func(r *runlog.Record) (where, hash string, err error)

// saveResult is the outcome of one write.
type saveResult struct {
	where, hash string
	err         error
	notKept     bool // there is nowhere to write (a demo without --log-dir)
	signed      bool // the record written carried the sign-off
}

// saver serialises writes of the record: the sign-off's write runs as a command, and an interruption
// arriving meanwhile must wait for it rather than change the record under it.
type saver struct {
	mu   sync.Mutex
	fn   SaveFunc
	last *saveResult
}

func (s *saver) save(r *runlog.Record) saveResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := saveResult{notKept: s.fn == nil, signed: r.Signoff != nil}
	if s.fn != nil {
		res.where, res.hash, res.err = s.fn(r)
	}
	s.last = &res
	return res
}

// signedAndKept reports whether the signed record has already been handled (written, or there is
// nowhere to write it), so that nothing is left to do on exit.
func (s *saver) signedAndKept() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last != nil && s.last.signed && s.last.err == nil
}

// lastResult returns the last write's outcome, if any.
func (s *saver) lastResult() *saveResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
