// Package tui is the interactive checklist: live probe results, manual attestations, the GO / NO-GO
// banner and the sign-off, in a bubbletea program. It consumes the same session (and result stream) as
// the plain runner; it never probes, judges or writes on its own account — the session, runlog and the
// SaveFunc it is given do.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/telesurgery-preflight/preflight/session"
)

// Options configure the TUI.
type Options struct {
	Lang string // "en" or "ja"; L switches while running
	// Save writes the record after the sign-off, and on any interruption. Nil means the record is not
	// kept (a demo without --log-dir), and the screens say so.
	Save SaveFunc
	// Signer, when set, is the owner of the unlocked signing key (--sign --key): the sign-off form starts
	// with their name and role, and the sign-off carries their user ID, which the store checks.
	Signer *Signer
	// Peer, when set, is the link to the other facility: the peer panel shows what it finds, and p every
	// reason of the joint verdict.
	Peer     PeerSource
	Now      func() time.Time // the clock; time.Now by default
	Location *time.Location   // the clock's zone; time.Local by default

	// For tests and embedding: where the program reads keys and draws (default the terminal), and any
	// further program options (window size, colour profile).
	Input   io.Reader
	Output  io.Writer
	Program []tea.ProgramOption
}

// Signer is who signs with the unlocked key.
type Signer struct{ Name, Role, UserID string }

func (o Options) withDefaults() Options {
	if o.Lang != "ja" {
		o.Lang = "en"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	return o
}

// Outcome is how a TUI session ended.
type Outcome struct {
	Verdict     string // of the record as kept
	RunID       string
	Signed      bool
	Interrupted string // why it ended unsigned, as recorded
	Where, Hash string // where the record was written and the SHA-256 the saver reported
	NotKept     bool   // there was nowhere to write it
	SaveErr     error  // the record could not be written
	// Joint is the last joint verdict the peer panel showed (runlog.JointReady or JointNotReady), with its
	// reasons; empty without a peer.
	Joint        string
	JointReasons []string
}

// Summary is one line for the terminal after the TUI has closed.
func (o Outcome) Summary() string {
	state := "signed"
	if !o.Signed {
		state = "not signed (" + o.Interrupted + ")"
	}
	switch {
	case o.SaveErr != nil:
		return fmt.Sprintf("run %s: verdict %s, %s — the record could NOT be written: %v", o.RunID, o.Verdict, state, o.SaveErr)
	case o.NotKept:
		return fmt.Sprintf("run %s: verdict %s, %s — not kept (give --log-dir to keep it)", o.RunID, o.Verdict, state)
	}
	return fmt.Sprintf("run %s: verdict %s, %s — record written to %s (sha256 of the file %s)", o.RunID, o.Verdict, state, o.Where, o.Hash)
}

// Run shows the checklist for s until the operator quits or a signal stops it, and keeps the record
// through o.Save in every case: signed after a sign-off, otherwise marked interrupted with everything
// entered so far. SIGHUP (terminal closed), SIGTERM and SIGINT end it that way too, and the terminal
// is restored. Cancelling ctx stops the probes and the program.
func Run(ctx context.Context, s *session.Session, o Options) (Outcome, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops probes still running when the program ends
	m := New(ctx, s, o)
	err := runProgram(ctx, m, o, m.finish)
	return m.outcome(), err
}

// runProgram runs a model on the terminal with our own signal handling, then calls finish with why it
// ended, so the records are kept whatever ended it.
func runProgram(ctx context.Context, model tea.Model, o Options, finish func(reason string)) error {
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithoutSignalHandler()}
	if o.Input != nil {
		opts = append(opts, tea.WithInput(o.Input))
	}
	if o.Output != nil {
		opts = append(opts, tea.WithOutput(o.Output))
	}
	if noColor() {
		opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
	}
	p := tea.NewProgram(model, append(opts, o.Program...)...)

	// Our own signal handling, so that SIGHUP is caught too and every signal goes through Update, which
	// marks the record interrupted and writes it before the program lets go of the terminal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	stopped := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				p.Send(InterruptMsg{Reason: signalReason(sig)})
			case <-stopped:
				return
			}
		}
	}()
	_, err := p.Run()
	signal.Stop(sigs)
	close(stopped)

	// Whatever ended the program, the record is kept; finish does nothing when Update already did it.
	reason := "stopped"
	switch {
	case ctx.Err() != nil:
		reason = "stopped: " + context.Cause(ctx).Error()
	case err != nil:
		reason = "terminal lost: " + err.Error()
	}
	finish(reason)
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted) {
		err = nil // the record says why; the terminal was restored
	}
	return err
}

func (m *Model) outcome() Outcome {
	rec := m.c.sess.Record
	o := Outcome{Verdict: rec.Verdict, RunID: rec.RunID, Signed: rec.Signoff != nil, Interrupted: rec.Interrupted}
	if r := m.saver.lastResult(); r != nil {
		o.Where, o.Hash, o.NotKept, o.SaveErr = r.where, r.hash, r.notKept, r.err
	}
	if st := m.peer.st; st != nil {
		o.Joint, o.JointReasons = st.Verdict, st.Reasons
	}
	return o
}

func signalReason(sig os.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "SIGHUP (terminal closed)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT (Ctrl-C)"
	}
	return sig.String()
}

// noColor honours NO_COLOR as no-color.org defines it (set and not empty); colorprofile only takes the
// values strconv.ParseBool reads as true.
func noColor() bool { return os.Getenv("NO_COLOR") != "" }
