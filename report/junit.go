package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// JUnit writes the record as JUnit XML: one suite per section, one test case per item named by its title,
// failures for fail (and unwaived warnings), errors for error, skipped for pending and not applicable.
func JUnit(w io.Writer, r *runlog.Record, sectionTitles map[string]string, lang string) error {
	out := junitSuites{Name: fmt.Sprintf("preflight %s %s", r.Facility.ID, r.RunID)}
	idx := map[string]int{}
	for _, it := range r.Items {
		i, ok := idx[it.Section]
		if !ok {
			name := sectionTitles[it.Section]
			if name == "" {
				name = it.Section
			}
			out.Suites = append(out.Suites, junitSuite{Name: name, Timestamp: r.StartedAt.Format("2006-01-02T15:04:05Z"),
				Properties: []junitProperty{{"facility", r.Facility.ID}, {"operation", r.OperationID}, {"verdict", r.Verdict}}})
			i = len(out.Suites) - 1
			idx[it.Section] = i
		}
		s := &out.Suites[i]
		c := junitCase{
			Name:      fmt.Sprintf("%s [%s] %s", it.Guideline, it.ID, it.Title.In(lang)),
			Classname: "preflight." + it.Section,
			Time:      fmt.Sprintf("%.3f", float64(it.DurationMS)/1000),
			SystemOut: it.Summary,
		}
		detail := strings.TrimSpace(it.Summary + "\n" + compactEvidence(it.Evidence) + "\n" + Label(lang, "remedy") + ": " + it.Remedy.In(lang))
		switch it.Status {
		case checks.Fail:
			if r.Waived(it.ID) != nil {
				c.SystemOut += " (waived: " + r.Waived(it.ID).Reason + ")"
				break
			}
			c.Failure = &junitProblem{Message: it.Summary, Type: it.Severity, Body: detail}
			s.Failures++
			out.Failures++
		case checks.Error:
			c.Error = &junitProblem{Message: it.Summary, Type: "could-not-decide", Body: detail}
			s.Errors++
			out.Errors++
		case checks.Pending, checks.Skipped:
			c.Skipped = &junitProblem{Message: it.Summary}
			s.Skipped++
			out.Skipped++
		}
		s.Tests++
		out.Tests++
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
