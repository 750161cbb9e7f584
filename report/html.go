package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// The HTML report is one self-contained file: inline CSS, no scripts, no fonts, images or links to
// fetch, so it prints the same anywhere and can be attached to an incident file as it is.
//
//go:embed report.html.tmpl
var htmlSource string

var htmlTmpl = template.Must(template.New("report").Parse(htmlSource))

type htmlView struct {
	Title, Subtitle, Verdict, VerdictClass string
	Interrupted                            string
	Facts                                  [][2]string
	Blocking                               []string
	BlockingLabel                          string
	Signoff                                *htmlSignoff
	Summary                                string
	Sections                               []htmlSection
	Waivers                                []runlog.Waiver
	VerifyOK                               bool
	VerifyLine                             string
	Problems                               []runlog.Problem
	Checkpoint                             string
	RunID, SHA256, Generated               string
	Lang                                   string
}

type htmlSignoff struct {
	Name, UserID, Role, Meaning, At, Clock, Statement, Signature string
	SigOK                                                        bool
}

type htmlSection struct {
	Title string
	Items []htmlItem
}

type htmlItem struct {
	ID, Title, Guideline, Severity, Kind, Status, StatusClass, Summary string
	Answer, Waiver, Remedy                                             string
	Evidence                                                           []evidenceRow
	DurationMS                                                         int64
}

// HTML writes the printable, self-contained run report.
func HTML(w io.Writer, d Document) error {
	r, lang := d.Record, d.Lang
	v := htmlView{Title: "Preflight run report", Subtitle: fmt.Sprintf("Telesurgery network readiness · %s · operation %s",
		orDash(r.Facility.Name.In(lang)), orDash(r.OperationID)), Verdict: Label(lang, r.Verdict), VerdictClass: r.Verdict,
		Interrupted: r.Interrupted, Facts: headerRows(d), Blocking: r.Blocking, BlockingLabel: Label(lang, "blocking"),
		RunID: r.RunID, SHA256: orDash(r.SHA256), Lang: lang}
	if r.Interrupted != "" {
		v.VerdictClass = "interrupted"
	}
	if so := r.Signoff; so != nil {
		st := d.SignatureLine()
		v.Signoff = &htmlSignoff{Name: so.Name, UserID: orDash(so.UserID), Role: so.Role, Meaning: orDash(so.Meaning),
			At: SignedAt(so), Clock: ClockOffset(so), Statement: so.Statement, Signature: st, SigOK: strings.HasPrefix(st, "✔")}
	}
	c := Count(r)
	v.Summary = sprintfLabel(lang, c)
	for _, sec := range sections(r) {
		hs := htmlSection{Title: titleOf(d, sec.id)}
		for _, it := range sec.items {
			hi := htmlItem{ID: it.ID, Title: it.Title.In(lang), Guideline: it.Guideline, Severity: severity(lang, it), Kind: it.Kind,
				Status: Glyph(it.Status) + " " + Label(lang, string(it.Status)), StatusClass: string(it.Status), Summary: it.Summary,
				DurationMS: it.DurationMS}
			if a := it.Answer; a != nil {
				hi.Answer = a.Answer
				if a.Evidence != "" {
					hi.Answer += " — " + a.Evidence
				}
				hi.Answer += " (" + answeredBy(a) + ")"
			}
			if wv := r.Waived(it.ID); wv != nil {
				hi.Waiver = wv.Reason + " (" + orDash(wv.By) + ")"
				hi.StatusClass = "waived"
			} else if rem := it.Remedy.In(lang); rem != "" && (it.Status == checks.Fail || it.Status == checks.Error) {
				hi.Remedy = rem
			}
			if it.Kind != "manual" {
				hi.Evidence = evidenceRows(it.Evidence)
			}
			hs.Items = append(hs.Items, hi)
		}
		v.Sections = append(v.Sections, hs)
	}
	v.Waivers = r.Waivers
	v.VerifyOK, v.VerifyLine = d.VerifiedLine()
	if d.Verify != nil {
		v.Problems = d.Verify.Problems
	}
	if d.Checkpoint != nil {
		v.Checkpoint = d.Checkpoint.String()
		if len(d.CheckpointNote) > 0 {
			v.Checkpoint = string(d.CheckpointNote)
		}
	}
	if !d.Generated.IsZero() {
		v.Generated = d.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	return htmlTmpl.Execute(w, v)
}

func sprintfLabel(lang string, c Counts) string {
	return fmt.Sprintf(Label(lang, "summary"), c.Passed, c.Failed, c.Errors, c.Waiting)
}
