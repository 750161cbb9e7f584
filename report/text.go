package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// TextOptions control the plain text report.
type TextOptions struct {
	Lang  string // en | ja
	Color bool   // ANSI colours; callers decide from the terminal and NO_COLOR
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiAmber = "\x1b[33m"
	ansiBlue  = "\x1b[34m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

func statusColor(s checks.Status) string {
	switch s {
	case checks.Pass:
		return ansiGreen
	case checks.Warn:
		return ansiAmber
	case checks.Fail:
		return ansiRed + ansiBold
	case checks.Error:
		return ansiAmber + ansiBold
	}
	return ansiDim
}

// Text writes the human report: header, items by section with summary, evidence and remedy of every
// problem, and the verdict with what blocks it.
func Text(w io.Writer, r *runlog.Record, sectionTitles map[string]string, opt TextOptions) error {
	lang, p := opt.Lang, painter(opt.Color)
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s — %s (%s)\n", p.paint(ansiBold, "preflight"), r.Facility.Name.In(lang), Label(lang, r.Facility.Role))
	fmt.Fprintf(b, "%s %s · %s %s · %s %s (sha256 %s)\n", Label(lang, "operation"), orDash(r.OperationID),
		Label(lang, "run"), r.RunID, Label(lang, "profile"), r.Profile.Path, short(r.Profile.SHA256))
	if r.Clock != nil {
		fmt.Fprintf(b, "%s %+.1f ms (%s, %s)\n", Label(lang, "clock"), r.Clock.OffsetMS, r.Clock.Server, r.Clock.Item)
	}
	section := ""
	for _, it := range r.Items {
		if it.Section != section {
			section = it.Section
			title := sectionTitles[section]
			if title == "" {
				title = section
			}
			fmt.Fprintf(b, "\n%s\n", p.paint(ansiBold+ansiBlue, title))
		}
		word := Glyph(it.Status) + " " + Pad(Label(lang, string(it.Status)), 8)
		sev := Label(lang, it.Severity)
		if it.Kind == "manual" {
			sev += "/" + Label(lang, "manual")
		}
		fmt.Fprintf(b, "  %s %-7s %s %s\n", p.paint(statusColor(it.Status), word), it.Guideline, Pad(sev, 16), it.Title.In(lang))
		fmt.Fprintf(b, "      %s\n", p.paint(ansiDim, it.ID+": "+it.Summary))
		if it.Status == checks.Fail || it.Status == checks.Error || it.Status == checks.Warn {
			if ev := compactEvidence(it.Evidence); ev != "" {
				fmt.Fprintf(b, "      %s: %s\n", Label(lang, "evidence"), ev)
			}
			if w := r.Waived(it.ID); w != nil {
				fmt.Fprintf(b, "      %s: %s\n", Label(lang, "waived"), w.Reason)
			} else if rem := it.Remedy.In(lang); rem != "" && it.Status != checks.Warn {
				fmt.Fprintf(b, "      %s %s: %s\n", p.paint(ansiBold, "→"), Label(lang, "remedy"), rem)
			}
		}
	}
	c := Count(r)
	fmt.Fprintf(b, "\n"+Label(lang, "summary")+"\n", c.Passed, c.Failed, c.Errors, c.Waiting)
	vcol := ansiRed + ansiBold
	if r.Verdict == runlog.GO {
		vcol = ansiGreen + ansiBold
	} else if r.Verdict == runlog.Incomplete {
		vcol = ansiAmber + ansiBold
	}
	fmt.Fprintf(b, "%s: %s\n", Label(lang, "verdict"), p.paint(vcol, Label(lang, r.Verdict)))
	if len(r.Blocking) > 0 {
		fmt.Fprintf(b, "%s:\n", Label(lang, "blocking"))
		for _, l := range r.Blocking {
			fmt.Fprintf(b, "  - %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Counts are the tallies shown under a checklist.
type Counts struct{ Passed, Failed, Errors, Waiting, Total int }

// Count tallies a record's items; pass and warn count as passed, answered "not applicable" too.
func Count(r *runlog.Record) Counts {
	c := Counts{Total: len(r.Items)}
	for _, it := range r.Items {
		switch it.Status {
		case checks.Pass, checks.Warn, checks.Skipped:
			c.Passed++
		case checks.Fail:
			c.Failed++
		case checks.Error:
			c.Errors++
		default:
			c.Waiting++
		}
	}
	return c
}

// compactEvidence renders the flat part of evidence as key=value pairs on one line; nested details
// (per-version handshakes, per-query answers) stay in the JSON record and the detail pane.
func compactEvidence(ev checks.Evidence) string {
	keys := make([]string, 0, len(ev))
	for k, v := range ev {
		if k == "stack" || !flat(v) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(strings.Fields(fmt.Sprint(ev[k])), " "))
	}
	return strings.Join(parts, " ")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// flat reports whether v is a scalar, or a list of scalars, that reads well on one line.
func flat(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != "" && len(x) <= 120
	case []string, []int, bool, int, int64, float64:
		return true
	}
	return false
}

// Pad right-pads s with spaces to n terminal cells; Japanese characters take two cells.
func Pad(s string, n int) string {
	if w := ansi.StringWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
