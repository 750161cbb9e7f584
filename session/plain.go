package session

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/report"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Exit codes of `preflight run` (DESIGN.md).
const (
	ExitGO         = 0
	ExitNoGo       = 1
	ExitUsage      = 2
	ExitIncomplete = 3
	// ExitNotReady: GO at this facility, but the profile names a peer facility and the joint verdict is not
	// OPERATION READY (the peer is not GO yet, unreachable, unverifiable, or a sign-off is stale).
	ExitNotReady = 4
)

// ExitCode maps a verdict to the process exit code.
func ExitCode(verdict string) int {
	switch verdict {
	case runlog.GO:
		return ExitGO
	case runlog.Incomplete:
		return ExitIncomplete
	}
	return ExitNoGo
}

// PlainOptions configure a run without the TUI.
type PlainOptions struct {
	Format   string // text | json | junit
	Lang     string
	Color    bool
	Attest   *runlog.Attestations
	Stdout   io.Writer // the report
	Stderr   io.Writer // progress
	Progress bool      // print one line per finished item to Stderr
	// Store, when set, journals every event of the run and seals the record into the facility log.
	Store *runlog.Store
	// Key, when set, signs the run off at the end (unless it was interrupted) with the key's name and
	// role; Store seals the sign-off signed with it.
	Key *runlog.Key
}

// RunPlain probes every item, applies the answers file, signs off when a key is given, seals the record
// into the store, and prints the report in the chosen format. It returns the verdict's exit code.
func (s *Session) RunPlain(ctx context.Context, o PlainOptions) (int, error) {
	if o.Store != nil {
		if err := s.UseStore(o.Store); err != nil {
			return ExitUsage, err
		}
	}
	total := len(s.Profile.ProbeItems())
	done := 0
	s.Probe(ctx, func(u checks.Update) {
		if u.Phase != checks.Finished || !o.Progress {
			return
		}
		done++
		fmt.Fprintf(o.Stderr, "[%2d/%d] %-7s %-28s %s (%s)\n", done, total, u.Result.Status, u.ID,
			oneLine(u.Result.Summary, 90), u.Result.Duration.Round(time.Millisecond))
	})
	var failed error // ends the run as interrupted, still sealed
	if o.Attest != nil {
		if err := o.Attest.Apply(s.Record, s.Answer, s.Attest, s.Waive, s.Now()); err != nil {
			failed = fmt.Errorf("answers file %s: %w", o.Attest.Path, err)
		}
	}
	s.Record.Finish(s.Now())
	switch {
	case failed != nil:
		s.Interrupt(failed.Error())
	case ctx.Err() != nil:
		s.Interrupt(context.Cause(ctx).Error())
		fmt.Fprintf(o.Stderr, "preflight: run interrupted (%v); unfinished items are recorded as skipped\n", context.Cause(ctx))
	case o.Key != nil:
		if err := s.Sign(runlog.Signoff{Name: o.Key.Name, Role: o.Key.Role, UserID: o.Key.UserID}); err != nil {
			failed = err
			s.Interrupt("sign-off refused: " + err.Error())
		}
	}
	var sealErr error
	if o.Store != nil {
		where, sum, err := o.Store.Seal(s.Record, o.Key)
		if err == nil {
			fmt.Fprintf(o.Stderr, "preflight: run %s sealed in %s (sha256 %s%s)\n", s.Record.RunID, where, sum[:12], signedBy(s.Record))
		}
		sealErr = err
	}
	if failed != nil {
		return ExitUsage, failed
	}
	if err := s.Render(o.Stdout, o.Format, o.Lang, o.Color); err != nil {
		return ExitUsage, err
	}
	if sealErr != nil {
		return ExitNoGo, fmt.Errorf("the run finished but its record could not be sealed into the run log: %w", sealErr)
	}
	return ExitCode(s.Record.Verdict), nil
}

// UseStore begins the run's journal in the store and subscribes it to the session's events. Call it
// before probing; seal with Store.Seal or the function Store.SealFunc returns (the TUI's Save).
func (s *Session) UseStore(st *runlog.Store) error {
	j, err := st.Begin(s.Record, s.Profile.Raw)
	if err != nil {
		return fmt.Errorf("start the run log: %w", err)
	}
	s.Subscribe(j.Event)
	return nil
}

func signedBy(r *runlog.Record) string {
	if r.Signature == "" || r.Signoff == nil {
		return ", not signed"
	}
	return fmt.Sprintf(", signed %s by %s", r.Signoff.Meaning, r.Signoff.Name)
}

// Subscribe adds f to the receivers of the session's events (the run journal's Event method).
func (s *Session) Subscribe(f func(Event)) {
	prev := s.OnEvent
	s.OnEvent = func(e Event) {
		f(e)
		if prev != nil {
			prev(e)
		}
	}
}

// Render writes the record in a report format.
func (s *Session) Render(w io.Writer, format, lang string, color bool) error {
	titles := map[string]string{}
	for _, sec := range s.Profile.Sections {
		titles[sec.ID] = sec.Title.In(lang)
	}
	switch format {
	case "", "text":
		return report.Text(w, s.Record, titles, report.TextOptions{Lang: lang, Color: color})
	case "json":
		return report.JSON(w, s.Record)
	case "junit":
		return report.JUnit(w, s.Record, titles, lang)
	}
	return fmt.Errorf("unknown format %q: use text, json or junit", format)
}

func oneLine(s string, n int) string {
	for i, r := range s {
		if r == '\n' {
			s = s[:i]
			break
		}
	}
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}
