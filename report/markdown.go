package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Markdown writes the run report for an incident file: verdict, signers, every item with its evidence
// and guideline reference, waivers, and the verification state.
func Markdown(w io.Writer, d Document) error {
	r, lang := d.Record, d.Lang
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Preflight run report — %s\n\n", Label(lang, r.Verdict))
	if r.Interrupted != "" {
		fmt.Fprintf(b, "> **Interrupted:** %s\n\n", mdText(r.Interrupted))
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, kv := range headerRows(d) {
		fmt.Fprintf(b, "| %s | %s |\n", kv[0], mdCell(kv[1]))
	}
	if len(r.Blocking) > 0 {
		fmt.Fprintf(b, "\n**%s:**\n\n", Label(lang, "blocking"))
		for _, l := range r.Blocking {
			fmt.Fprintf(b, "- %s\n", mdText(l))
		}
	}
	b.WriteString("\n## Sign-off\n\n")
	if so := r.Signoff; so == nil {
		b.WriteString("No sign-off.\n")
	} else {
		b.WriteString("| Name | User ID | Role | Meaning | Signed at | Clock offset | Signature |\n|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n\n> %s\n", mdCell(so.Name), mdCell(orDash(so.UserID)), mdCell(so.Role),
			mdCell(orDash(so.Meaning)), SignedAt(so), mdCell(ClockOffset(so)), mdCell(d.SignatureLine()), mdText(so.Statement))
	}
	c := Count(r)
	fmt.Fprintf(b, "\n## Items\n\n"+Label(lang, "summary")+" (of %d)\n", c.Passed, c.Failed, c.Errors, c.Waiting, c.Total)
	for _, sec := range sections(r) {
		fmt.Fprintf(b, "\n### %s\n\n", mdText(titleOf(d, sec.id)))
		b.WriteString("| Result | Guideline | Item | Severity | Summary |\n|---|---|---|---|---|\n")
		for _, it := range sec.items {
			fmt.Fprintf(b, "| %s | %s | %s (`%s`) | %s | %s |\n", status(lang, it.Status), it.Guideline, mdCell(it.Title.In(lang)), it.ID,
				severity(lang, it), mdCell(it.Summary))
		}
		for _, it := range sec.items {
			fmt.Fprintf(b, "\n#### %s %s — %s\n\n", Glyph(it.Status), it.ID, mdText(it.Title.In(lang)))
			fmt.Fprintf(b, "- **Result:** %s — %s\n", Label(lang, string(it.Status)), mdText(it.Summary))
			fmt.Fprintf(b, "- **Guideline:** %s · %s · %s · %d ms", it.Guideline, severity(lang, it), it.Kind, it.DurationMS)
			if it.Attempts > 1 {
				fmt.Fprintf(b, " · run %d times", it.Attempts)
			}
			b.WriteString("\n")
			if a := it.Answer; a != nil {
				fmt.Fprintf(b, "- **Answer:** %s%s (%s)\n", a.Answer, mdSuffix(" — ", a.Evidence), mdText(answeredBy(a)))
			}
			if wv := r.Waived(it.ID); wv != nil {
				fmt.Fprintf(b, "- **Waived:** %s (%s)\n", mdText(wv.Reason), orDash(wv.By))
			} else if rem := it.Remedy.In(lang); rem != "" && (it.Status == checks.Fail || it.Status == checks.Error) {
				fmt.Fprintf(b, "- **Remedy:** %s\n", mdText(rem))
			}
			if rows := evidenceRows(it.Evidence); len(rows) > 0 && it.Kind != "manual" {
				b.WriteString("- **Evidence:**\n")
				for _, row := range rows {
					if row.Nested {
						fmt.Fprintf(b, "  - `%s`:\n\n    ```json\n    %s\n    ```\n\n", row.Key, strings.ReplaceAll(row.Value, "\n", "\n    "))
					} else {
						fmt.Fprintf(b, "  - `%s`: %s\n", row.Key, mdText(row.Value))
					}
				}
			}
		}
	}
	if len(r.Waivers) > 0 {
		b.WriteString("\n## Waivers\n\n| Item | Reason | By | At |\n|---|---|---|---|\n")
		for _, wv := range r.Waivers {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", wv.Item, mdCell(wv.Reason), mdCell(orDash(wv.By)), wv.At.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	b.WriteString("\n## Verification\n\n")
	_, line := d.VerifiedLine()
	fmt.Fprintf(b, "%s\n", mdText(line))
	if d.Verify != nil && len(d.Verify.Problems) > 0 {
		b.WriteString("\n")
		for _, p := range d.Verify.Problems {
			fmt.Fprintf(b, "- **%s** `%s`: %s\n", p.Severity, p.File, mdText(p.Msg))
		}
	}
	if d.Checkpoint != nil {
		fmt.Fprintf(b, "\nLog checkpoint signed when the run was sealed: %s. Keep a copy: `preflight log verify --checkpoint FILE` proves\nlater that the facility log still holds this run and every run before it, unchanged.\n", d.Checkpoint)
		if len(d.CheckpointNote) > 0 {
			fmt.Fprintf(b, "\n```\n%s```\n", d.CheckpointNote)
		}
	}
	if !d.Generated.IsZero() {
		fmt.Fprintf(b, "\n---\nReport generated %s by preflight.\n", d.Generated.UTC().Format("2006-01-02 15:04 UTC"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// headerRows are the facts at the top of both printable reports.
func headerRows(d Document) [][2]string {
	r, lang := d.Record, d.Lang
	_, verified := d.VerifiedLine()
	return [][2]string{
		{"Facility", fmt.Sprintf("%s (%s, %s)", orDash(r.Facility.Name.In(lang)), r.Facility.ID, Label(lang, r.Facility.Role))},
		{"Operation", orDash(r.OperationID)},
		{"Run", r.RunID},
		{"Started", r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")},
		{"Finished", fmt.Sprintf("%s (%s)", r.FinishedAt.UTC().Format("2006-01-02 15:04:05 UTC"), duration(r.StartedAt, r.FinishedAt))},
		{"Profile", fmt.Sprintf("%s, sha256 %s", orDash(r.Profile.Path), r.Profile.SHA256)},
		{"Tool / host", orDash(r.ToolVersion) + " / " + orDash(r.Host)},
		{"Record sha256", orDash(r.SHA256)},
		{"Verification", verified},
	}
}

type section struct {
	id    string
	items []*runlog.ItemResult
}

func sections(r *runlog.Record) []section {
	var out []section
	for _, it := range r.Items {
		if len(out) == 0 || out[len(out)-1].id != it.Section {
			out = append(out, section{id: it.Section})
		}
		out[len(out)-1].items = append(out[len(out)-1].items, it)
	}
	return out
}

func titleOf(d Document, id string) string {
	if t := d.Titles[id]; t != "" {
		return t
	}
	return id
}

func severity(lang string, it *runlog.ItemResult) string {
	s := Label(lang, it.Severity)
	if it.Kind == "manual" {
		s += "/" + Label(lang, "manual")
	}
	return s
}

// mdText keeps text from starting Markdown structure inline.
func mdText(s string) string {
	return strings.NewReplacer("\n", " ", "*", `\*`, "_", `\_`, "`", "'", "<", "&lt;", ">", "&gt;").Replace(s)
}

func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

func mdSuffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + mdText(s)
}

// answeredBy says who answered a manual item and when.
func answeredBy(a *runlog.Answer) string {
	at := a.At.UTC().Format("2006-01-02 15:04 UTC")
	if a.By == "" {
		return at
	}
	return "by " + a.By + ", " + at
}
