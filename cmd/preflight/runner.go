package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
	"github.com/telesurgery-preflight/preflight/tui"
)

// facility is one facility's run as wired: its session, run log, signing key, answers and peer link.
type facility struct {
	p     *profiles.Profile
	sess  *session.Session
	store *runlog.Store
	key   *runlog.Key
	att   *runlog.Attestations
	link  *peer.Link // nil when the profile names no peer
}

// newFacility wires a run of p into store (nil: not kept) with the answers file attest and the unlocked
// key; the advisory set comes from f.
func newFacility(p *profiles.Profile, f *runFlags, store *runlog.Store, attest string, key *runlog.Key) (*facility, error) {
	fa := &facility{p: p, store: store, key: key, sess: session.New(p, f.operation)}
	if attest != "" {
		var err error
		if fa.att, err = runlog.LoadAttestations(attest, p); err != nil {
			return nil, err
		}
	}
	if f.advisories != "" {
		set, err := profiles.LoadAdvisories(f.advisories)
		if err != nil {
			return nil, err
		}
		fa.sess.UseAdvisories(set)
	}
	if p.Peer != nil {
		fa.link = peer.NewLink(p, f.operation, store)
	}
	return fa, nil
}

// interactive reports whether the checklist TUI runs: a terminal, and neither --no-tui, an answers file
// nor a machine format.
func interactive(cmd *cobra.Command, f *runFlags) bool {
	return !f.noTUI && f.attest == "" && f.format == "text" && isTerminal(cmd.OutOrStdout())
}

// runProfile runs p: in the interactive checklist when stdout is a terminal (and neither --no-tui, an
// answers file nor a machine format was asked for), otherwise with the plain runner. Ctrl-C, SIGTERM
// and SIGHUP end either one with the record kept, marked interrupted. With a log directory, the run is
// journaled and sealed into the facility log; with --sign it is signed off with the key, unlocked before
// anything is probed. With a peer, the peer panel and the joint verdict join in.
func runProfile(cmd *cobra.Command, p *profiles.Profile, f *runFlags) error {
	if p.Peer != nil && f.operation == "" {
		return usageErr("the profile names a peer facility (%s): give --operation ID, the operation both facilities check for", p.Peer.ID)
	}
	var key *runlog.Key
	if f.sign {
		var err error
		if key, err = unlockKey(cmd, f.key); err != nil {
			return &exitError{code: session.ExitUsage, err: err}
		}
	}
	var store *runlog.Store
	if f.logDir != "" {
		var err error
		if store, err = runlog.Open(f.logDir, p.Facility.ID); err != nil {
			return &exitError{code: session.ExitUsage, err: fmt.Errorf("open the run log: %w", err)}
		}
		defer store.Close()
		for _, n := range store.Notes {
			fmt.Fprintln(cmd.ErrOrStderr(), "preflight: run log:", n)
		}
	}
	fa, err := newFacility(p, f, store, f.attest, key)
	if err != nil {
		return &exitError{code: session.ExitUsage, err: err}
	}
	if interactive(cmd, f) {
		return runTUI(cmd, fa, f)
	}
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	code, err := fa.runPlain(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err == nil && fa.link != nil && ctx.Err() == nil {
		code = fa.joint(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr(), code)
	}
	return exitWith(code, err)
}

// signalContext is cancelled by Ctrl-C, SIGTERM or SIGHUP; a second Ctrl-C ends the process the default way.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { <-ctx.Done(); stop() }()
	return ctx, stop
}

func exitWith(code int, err error) error {
	if err != nil || code != 0 {
		return &exitError{code: code, err: err}
	}
	return nil
}

// runPlain probes, applies the answers, signs, seals and prints the report.
func (fa *facility) runPlain(ctx context.Context, f *runFlags, stdout, stderr io.Writer) (int, error) {
	return fa.sess.RunPlain(ctx, session.PlainOptions{
		Format: f.format, Lang: f.lang, Color: f.format == "text" && colorOK(stdout),
		Attest: fa.att, Stdout: stdout, Stderr: stderr, Progress: true, Store: fa.store, Key: fa.key,
	})
}

// joint looks at the peer after the run is sealed — waiting up to --peer-wait for OPERATION READY, or
// until waiting cannot change the outcome —, prints what it found (after the report in text, on stderr
// otherwise), and turns a GO into ExitNotReady when the joint verdict is not ready.
func (fa *facility) joint(ctx context.Context, f *runFlags, stdout, stderr io.Writer, code int) int {
	st := waitPeer(ctx, fa.link, f.peerWait, fa.sess.Record.StartedAt)
	w := stderr
	if f.format == "text" {
		w = stdout
		fmt.Fprintln(w)
	}
	_ = peer.WriteStatus(w, st)
	if code == session.ExitGO && !st.Ready() {
		return session.ExitNotReady
	}
	return code
}

// waitPeer looks at the peer (at least once) until the joint verdict is settled for the run that began
// at began, or wait has passed.
func waitPeer(ctx context.Context, l *peer.Link, wait time.Duration, began time.Time) peer.Status {
	deadline := time.Now().Add(wait)
	for {
		st := l.Poll(ctx)
		left := time.Until(deadline)
		if settled(st, began) || left <= 0 || ctx.Err() != nil {
			return st
		}
		select {
		case <-ctx.Done():
			return st
		case <-time.After(min(left, l.Interval())):
		}
	}
}

// settled reports whether looking at the peer again cannot change what the run that began at began ends
// with, so that --peer-wait need not wait on:
//   - the operation is ready;
//   - the peer has sealed a run since this one began: the two runs of this round are judged, each side
//     keeps the verdict in its log as it looks, and only a new run can change it;
//   - this side's run is not GO, so it can never be ready, and the peer is not running a checklist whose
//     record the verdict could still be kept with;
//   - the peer link is not configured.
//
// A peer still running, not started, unreachable, or showing a run sealed before this one began (its
// engineer may be running it again) is waited for.
func settled(st peer.Status, began time.Time) bool {
	running := st.Peer.State == peer.StateRunning || st.Peer.State == peer.StateNotStarted
	switch {
	case st.Ready(), st.Peer.State == peer.StateNotConfigured:
		return true
	case sealedState(st.Peer.State) && !st.Peer.FinishedAt.Before(began):
		return true
	}
	return sealedState(st.Local.State) && st.Local.State != peer.StateGo && !running
}

// sealedState reports whether a side's state is that of a sealed run.
func sealedState(s string) bool {
	return s == peer.StateGo || s == peer.StateNoGo || s == peer.StateIncomplete || s == peer.StateInterrupted
}

// runTUI runs one facility's checklist in the terminal.
func runTUI(cmd *cobra.Command, fa *facility, f *runFlags) error {
	o, err := fa.tuiOptions(f, signer(fa.key))
	if err != nil {
		return err
	}
	out, err := tui.Run(cmd.Context(), fa.sess, o)
	return fa.tuiExit(cmd.ErrOrStderr(), out, err)
}

// tuiOptions begins the run's journal and says how the TUI keeps the record and sees the peer.
func (fa *facility) tuiOptions(f *runFlags, sg *tui.Signer) (tui.Options, error) {
	o := tui.Options{Lang: f.lang, Signer: sg}
	if fa.store != nil {
		if err := fa.sess.UseStore(fa.store); err != nil {
			return o, &exitError{code: session.ExitUsage, err: err}
		}
		o.Save = fa.store.SealFunc(fa.key)
	}
	if fa.link != nil {
		o.Peer = fa.link
	}
	return o, nil
}

// tuiExit prints how the checklist ended and maps it to the exit code.
func (fa *facility) tuiExit(stderr io.Writer, out tui.Outcome, err error) error {
	fmt.Fprintln(stderr, "preflight:", out.Summary())
	code := session.ExitCode(out.Verdict)
	if fa.link != nil {
		fmt.Fprintf(stderr, "preflight: joint verdict for operation %s: %s\n", fa.sess.Record.OperationID, jointWord(out.Joint))
		for _, r := range out.JointReasons {
			fmt.Fprintln(stderr, "  -", r)
		}
		if code == session.ExitGO && out.Joint != runlog.JointReady {
			code = session.ExitNotReady
		}
	}
	switch {
	case err != nil:
		return &exitError{code: max(code, session.ExitNoGo), err: err}
	case out.SaveErr != nil:
		return &exitError{code: max(code, session.ExitNoGo)}
	}
	return exitWith(code, nil)
}

func jointWord(v string) string {
	switch v {
	case runlog.JointReady:
		return "OPERATION READY"
	case "":
		return "not reached (the peer was never looked at)"
	}
	return "NOT READY"
}

// lockedWriter serialises writes to one writer from two runs.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// prefixWriter starts every line with a prefix (the other facility's lines on stderr); it writes whole
// lines only, so two runs' lines never mix.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := p.w.Write(append([]byte(p.prefix), p.buf[:i+1]...)); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}
