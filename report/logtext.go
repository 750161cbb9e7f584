package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// ListText writes the table of `log list`.
func ListText(w io.Writer, runs []runlog.RunSummary) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%-30s %-17s %-16s %-11s %-30s %s\n", "RUN", "STARTED (UTC)", "OPERATION", "VERDICT", "SIGN-OFF", "LOG")
	for _, r := range runs {
		verdict := r.Verdict
		if r.Interrupted != "" {
			verdict = "interrupted"
		}
		sign := "-"
		switch {
		case r.Kind == runlog.KindJoint:
			verdict, sign = strings.ToUpper(strings.ReplaceAll(r.Verdict, "-", " ")), "joint verdict of both sites"
		case r.Signer != "" && r.Signed:
			sign = r.Signer + " (" + r.Meaning + ")"
		case r.Signer != "":
			sign = r.Signer + " (unsigned)"
		}
		leaf := "not sealed"
		if r.Leaf >= 0 {
			leaf = fmt.Sprintf("leaf %d", r.Leaf)
		}
		started := "-"
		if !r.StartedAt.IsZero() {
			started = r.StartedAt.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(b, "%-30s %-17s %-16s %-11s %s %s\n", r.RunID, started, orDash(r.OperationID), verdict, Pad(cut(sign, 30), 30), leaf)
	}
	joint := 0
	for _, r := range runs {
		if r.Kind == runlog.KindJoint {
			joint++
		}
	}
	if joint > 0 {
		fmt.Fprintf(b, "%d run(s), %d joint verdict(s)\n", len(runs)-joint, joint)
	} else {
		fmt.Fprintf(b, "%d run(s)\n", len(runs))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// VerifyText writes what `log verify` found: every problem with its file and run, then a summary.
func VerifyText(w io.Writer, v *runlog.Verification) error {
	b := &strings.Builder{}
	if v.WriterActive != "" {
		fmt.Fprintf(b, "note: a writer is active (%s): a run in progress shows as not sealed\n", v.WriterActive)
	}
	for _, p := range v.Problems {
		fmt.Fprintln(b, p.String())
	}
	var signed, unsigned, invalid, interrupted, unsealed, joint int
	for _, r := range v.Runs {
		switch {
		case r.Kind == runlog.KindJoint:
			joint++
		case r.Leaf < 0:
			unsealed++
		case r.Interrupted != "":
			interrupted++
		case r.Signature.Status == runlog.SigValid:
			signed++
		case r.Signature.Status == runlog.SigInvalid:
			invalid++
		default:
			unsigned++
		}
	}
	ck := "no valid checkpoint"
	if v.Checkpoint != nil {
		ck = fmt.Sprintf("the checkpoint signed by %s covers %d", v.Checkpoint.Origin, v.Checkpoint.Size)
	}
	fmt.Fprintf(b, "%d run(s) checked: %d signed, %d unsigned, %d with a bad signature, %d interrupted, %d not sealed; log size %d, %s\n",
		len(v.Runs)-joint, signed, unsigned, invalid, interrupted, unsealed, v.Size, ck)
	if joint > 0 {
		fmt.Fprintf(b, "%d joint verdict(s) of the two facilities checked\n", joint)
	}
	for _, p := range v.Peers {
		fmt.Fprintf(b, "peer %s: witnessed its log up to %s; it cosigned this log up to %s; %d of its records kept\n",
			p.Peer, sizeOrNone(p.Witnessed), sizeOrNone(p.Cosigned), p.Records)
	}
	switch v.Worst() {
	case 0:
		b.WriteString("verified: intact — every record, journal, profile, sign-off and the log tree check out\n")
	case runlog.Unfinished:
		b.WriteString("verified: nothing altered, but not every run is complete (see INCOMPLETE above)\n")
	case runlog.Unreadable:
		b.WriteString("NOT VERIFIED: some files could not be read (see UNREADABLE above)\n")
	default:
		b.WriteString("TAMPERED: the log does not verify (see TAMPERED above)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sizeOrNone(n int64) string {
	if n < 0 {
		return "(none yet)"
	}
	return fmt.Sprintf("%d run(s)", n)
}

// Show writes `log show`: the record, its sign-off with verification state, the items and the timeline.
func Show(w io.Writer, d Document) error {
	r, lang := d.Record, d.Lang
	b := &strings.Builder{}
	row := func(k, v string) { fmt.Fprintf(b, "  %-11s %s\n", k, v) }
	fmt.Fprintf(b, "Run %s\n", r.RunID)
	row("facility", fmt.Sprintf("%s — %s (%s)", orDash(r.Facility.Name.In(lang)), r.Facility.ID, Label(lang, r.Facility.Role)))
	row("operation", orDash(r.OperationID))
	row("started", fmt.Sprintf("%s · finished %s (%s)", r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		r.FinishedAt.UTC().Format("15:04:05 UTC"), duration(r.StartedAt, r.FinishedAt)))
	row("profile", fmt.Sprintf("%s · sha256 %s", orDash(r.Profile.Path), short(r.Profile.SHA256)))
	row("tool", fmt.Sprintf("%s on host %s", orDash(r.ToolVersion), orDash(r.Host)))
	verdict := Label(lang, r.Verdict)
	if r.Interrupted != "" {
		verdict += " — interrupted: " + r.Interrupted
	}
	row("verdict", verdict)
	if d.Sealed {
		leaf := ""
		if st := d.status(); st != nil && st.Leaf >= 0 {
			leaf = fmt.Sprintf("leaf %d of the facility log · ", st.Leaf)
		}
		prev := "prev " + short(r.Prev)
		if r.Prev == "" {
			prev = "first run of the log"
		}
		row("record", fmt.Sprintf("sealed · %ssha256 %s · %s", leaf, short(r.SHA256), prev))
	} else {
		row("record", "not sealed (rebuilt from the journal)")
	}
	if d.Checkpoint != nil {
		row("checkpoint", d.Checkpoint.String())
	}
	_, line := d.VerifiedLine()
	row("verified", line)
	if so := r.Signoff; so != nil {
		fmt.Fprintf(b, "\nSign-off\n")
		fmt.Fprintf(b, "  %s (user %s) · %s · %s\n", so.Name, orDash(so.UserID), so.Role, orDash(so.Meaning))
		fmt.Fprintf(b, "  at %s · clock offset %s\n", SignedAt(so), ClockOffset(so))
		fmt.Fprintf(b, "  %q\n", so.Statement)
		fmt.Fprintf(b, "  signature  %s\n", d.SignatureLine())
	}
	c := Count(r)
	fmt.Fprintf(b, "\nItems (%d): "+Label(lang, "summary")+"\n", c.Total, c.Passed, c.Failed, c.Errors, c.Waiting)
	for _, it := range r.Items {
		word := Glyph(it.Status) + " " + Pad(Label(lang, string(it.Status)), 6)
		sum := it.Summary
		if wv := r.Waived(it.ID); wv != nil {
			sum += " [" + Label(lang, "waived") + ": " + wv.Reason + "]"
		}
		fmt.Fprintf(b, "  %s %-7s %-26s %s\n", word, it.Guideline, it.ID, cut(sum, 90))
	}
	if len(r.Waivers) > 0 {
		fmt.Fprintf(b, "\nWaivers\n")
		for _, wv := range r.Waivers {
			fmt.Fprintf(b, "  %s — %s (%s, %s)\n", wv.Item, wv.Reason, orDash(wv.By), wv.At.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	if d.Journal != nil {
		state := "chain intact"
		if len(d.Journal.Breaks) > 0 {
			state = fmt.Sprintf("CHAIN BROKEN at %s", d.Journal.Breaks[0])
		}
		fmt.Fprintf(b, "\nTimeline — %s, %d line(s), %s\n", runlog.JournalFile, d.Journal.Lines, state)
		for _, e := range d.Events {
			ln := fmt.Sprintf("  %4d  %s  %-13s %-24s %s", e.Seq, e.At.UTC().Format("15:04:05.000"), e.Type, e.Item, EventDetail(e))
			fmt.Fprintln(b, strings.TrimRight(ln, " "))
		}
		if len(d.Journal.Torn) > 0 {
			fmt.Fprintf(b, "  ----  torn last line: %d bytes at offset %d, quarantined — not part of the timeline\n", len(d.Journal.Torn), d.Journal.TornOffset)
		}
		if q := r.Journal; q != nil && q.Quarantined != nil {
			fmt.Fprintf(b, "  ----  a torn line of %d bytes (offset %d) was quarantined in %s when the run was sealed\n", q.Quarantined.Bytes, q.Quarantined.Offset, q.Quarantined.File)
		}
	}
	if d.Verify != nil && len(d.Verify.Problems) > 0 {
		fmt.Fprintf(b, "\nVerification problems\n")
		for _, p := range d.Verify.Problems {
			fmt.Fprintf(b, "  %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DiffText writes `log diff`.
func DiffText(w io.Writer, d *runlog.Diff, lang string) error {
	b := &strings.Builder{}
	head := func(tag string, r *runlog.Record) {
		fmt.Fprintf(b, "%s %s  %s  %s  %s\n", tag, r.RunID, orDash(r.OperationID), r.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), Label(lang, r.Verdict))
	}
	head("A", d.A)
	head("B", d.B)
	if d.Unchanged() {
		b.WriteString("\nno change: same verdict, profile, item statuses and evidence\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if d.A.Verdict != d.B.Verdict {
		fmt.Fprintf(b, "\nverdict: %s → %s\n", Label(lang, d.A.Verdict), Label(lang, d.B.Verdict))
	}
	if d.ProfileChanged {
		fmt.Fprintf(b, "profile: changed (sha256 %s → %s)\n", short(d.A.Profile.SHA256), short(d.B.Profile.SHA256))
	}
	if len(d.Flipped) > 0 {
		fmt.Fprintf(b, "\nItems that changed status (%d)\n", len(d.Flipped))
		for _, f := range d.Flipped {
			fmt.Fprintf(b, "  %-26s %-7s %s → %s\n      %s\n    → %s\n", f.A.ID, f.A.Guideline, status(lang, f.A.Status), status(lang, f.B.Status),
				cut(f.A.Summary, 100), cut(f.B.Summary, 100))
		}
	}
	if len(d.Ports) > 0 {
		fmt.Fprintf(b, "\nPorts\n")
		for _, p := range d.Ports {
			fmt.Fprintf(b, "  %-26s newly open: %s   closed since: %s\n", p.Item, ports(p.Opened), ports(p.Closed))
		}
	}
	if len(d.Evidence) > 0 {
		fmt.Fprintf(b, "\nEvidence that changed\n")
		for _, e := range d.Evidence {
			fmt.Fprintf(b, "  %-26s %-22s %s → %s\n", e.Item, e.Key, cut(e.From, 60), cut(e.To, 60))
		}
	}
	for _, x := range []struct {
		title string
		items []*runlog.ItemResult
	}{{"Only in A", d.OnlyA}, {"Only in B", d.OnlyB}} {
		if len(x.items) > 0 {
			fmt.Fprintf(b, "\n%s\n", x.title)
			for _, it := range x.items {
				fmt.Fprintf(b, "  %-26s %s\n", it.ID, status(lang, it.Status))
			}
		}
	}
	if len(d.WaiversAdded)+len(d.WaiversDropped) > 0 {
		b.WriteString("\nWaivers\n")
		for _, wv := range d.WaiversAdded {
			fmt.Fprintf(b, "  + %-24s %s (only in B)\n", wv.Item, wv.Reason)
		}
		for _, wv := range d.WaiversDropped {
			fmt.Fprintf(b, "  - %-24s %s (only in A)\n", wv.Item, wv.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func status(lang string, s checks.Status) string { return Glyph(s) + " " + Label(lang, string(s)) }

func ports(ps []int) string {
	if len(ps) == 0 {
		return "-"
	}
	return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ps)), ","), "[]")
}
