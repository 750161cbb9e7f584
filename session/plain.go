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
	LogDir   string    // where the record is written; empty: not written
	Progress bool      // print one line per finished item to Stderr
}

// RunPlain probes every item, applies the answers file, prints the report in the chosen format and
// writes the record. It returns the verdict's exit code.
func (s *Session) RunPlain(ctx context.Context, o PlainOptions) (int, error) {
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
	if o.Attest != nil {
		if err := o.Attest.Apply(s.Record, s.Answer, s.Attest, s.Waive, s.Now()); err != nil {
			return ExitUsage, err
		}
	}
	s.Record.Finish(s.Now())
	if ctx.Err() != nil {
		s.Interrupt(context.Cause(ctx).Error())
		fmt.Fprintf(o.Stderr, "preflight: run interrupted (%v); unfinished items are recorded as skipped\n", context.Cause(ctx))
	}
	if err := s.Render(o.Stdout, o.Format, o.Lang, o.Color); err != nil {
		return ExitUsage, err
	}
	if o.LogDir != "" {
		path, err := runlog.SaveJSON(o.LogDir, s.Record)
		if err != nil {
			return ExitNoGo, fmt.Errorf("the run finished but its record could not be saved: %w", err)
		}
		fmt.Fprintf(o.Stderr, "preflight: record %s written to %s\n", s.Record.RunID, path)
	}
	return ExitCode(s.Record.Verdict), nil
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
