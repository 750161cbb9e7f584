package tui

import (
	"strings"

	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// banner is the verdict, always in view: GO only when every blocker passed, every manual item is
// answered and every failed warning is waived (runlog's Judge decides; the banner only shows it), and
// otherwise what stands in the way. It is recomputed from the record on every frame, so it follows
// re-runs, answers and waivers live. Under it, the progress bar and the counts.
type banner struct {
	c             *common
	width, height int
	bar           progress.Model
}

func newBanner(c *common) banner {
	return banner{c: c, bar: progress.New(progress.WithFillCharacters('█', '░'), progress.WithoutPercentage(),
		progress.WithColors(c.styles.ProgressFull.GetForeground()))}
}

func (b banner) Update(tea.Msg) (banner, tea.Cmd) { return b, nil }

// SetSize sets the banner's size: height 1 is the compact one-line form used beside forms and the
// detail pane on small screens; otherwise a box of four lines and the progress line under it.
func (b *banner) SetSize(w, h int) {
	b.width, b.height = w, h
	b.bar.SetWidth(min(24, max(6, w/6)))
}

// Height is how many lines the full banner takes.
const bannerHeight = 5

func (b banner) View() string {
	c, st, rec := b.c, b.c.styles, b.c.sess.Record
	word, box := st.VerdictOpen, st.BannerOpen
	switch rec.Verdict {
	case runlog.GO:
		word, box = st.VerdictGo, st.BannerGo
	case runlog.NoGo:
		word, box = st.VerdictNoGo, st.BannerNoGo
	}
	blocking, missing, waived := b.tally()
	running := c.runningCount()
	var line1, line2 []string
	switch rec.Verdict {
	case runlog.GO:
		line1 = append(line1, c.t("go-line"))
		if len(waived) > 0 {
			line2 = append(line2, c.t("go-waivers", strings.Join(waived, ", ")))
		} else if rec.Signoff == nil {
			line2 = append(line2, c.t("go-sign"))
		}
	case runlog.NoGo:
		line1 = append(line1, c.t("nogo-line", len(blocking)))
	default:
		line1 = append(line1, c.t("incomplete-line"))
	}
	if n := manualMissing(c); n > 0 {
		line1 = append(line1, c.t("answers-missing", n))
	}
	if running > 0 {
		line1 = append(line1, c.t("probes-running", running))
	}
	inner := max(1, b.width-box.GetHorizontalFrameSize())
	verdict := word.Render(c.t(rec.Verdict))
	head := verdict + " " + strings.Join(line1, " · ")
	if b.height == 1 {
		return fit(head+"  "+b.counts(false), b.width)
	}
	more := func(n int) string { return c.t("more", n) }
	switch {
	case len(blocking) > 0:
		label := c.t("blocks", "")
		line2 = append(line2, label+joinFit(blocking, inner-cellWidth(label), more))
	case len(missing) > 0 && rec.Verdict != runlog.GO:
		label := c.t("waiting-for", "")
		line2 = append(line2, label+joinFit(missing, inner-cellWidth(label), more))
	}
	body := fit(head, inner) + "\n" + fit(strings.Join(line2, " · "), inner)
	return box.Width(b.width).Render(body) + "\n" + fit(b.progress(), b.width)
}

// tally lists the ids of items that block GO, that are not finished or answered, and that are waived.
func (b banner) tally() (blocking, missing, waived []string) {
	rec := b.c.sess.Record
	for _, it := range rec.Items {
		switch it.Status {
		case checks.Pending:
			missing = append(missing, it.ID)
		case checks.Fail, checks.Error:
			if it.Severity == profiles.Warning && rec.Waived(it.ID) != nil {
				waived = append(waived, it.ID)
				continue
			}
			blocking = append(blocking, it.ID)
		case checks.Skipped:
			if it.Answer == nil {
				blocking = append(blocking, it.ID)
			}
		}
	}
	return blocking, missing, waived
}

func manualMissing(c *common) int {
	n := 0
	for _, it := range c.items() {
		if c.manual(it) && it.Answer == nil {
			n++
		}
	}
	return n
}

// progress is the bar and the counts: passed, failed, errors, waived, waiting for the operator, running.
func (b banner) progress() string {
	total, done := 0, 0
	for _, it := range b.c.items() {
		total++
		if it.Status != checks.Pending {
			done++
		}
	}
	pct := 0.0
	if total > 0 {
		pct = float64(done) / float64(total)
	}
	head := b.bar.ViewAs(pct) + " " + b.c.t("count-done", done, total) + " · "
	line := head + b.counts(true)
	if cellWidth(line) > b.width {
		line = head + b.counts(false)
	}
	return line
}

// counts tallies the items; without zeros, it leaves out the counts that are zero, to fit a narrow line.
func (b banner) counts(zeros bool) string {
	c, st := b.c, b.c.styles
	var passed, failed, errs, waived, you int
	for _, it := range c.items() {
		w := c.sess.Record.Waived(it.ID) != nil
		switch {
		case it.Status == checks.Pass || it.Status == checks.Warn || (it.Status == checks.Skipped && it.Answer != nil):
			passed++
		case (it.Status == checks.Fail || it.Status == checks.Error) && w:
			waived++
		case it.Status == checks.Fail:
			failed++
		case it.Status == checks.Error:
			errs++
		case it.Status == checks.Pending && c.manual(it):
			you++
		}
	}
	parts := []string{st.Pass.Render("✔ " + c.t("count-passed", passed))}
	if failed > 0 || zeros {
		parts = append(parts, st.Fail.Render("✘ "+c.t("count-failed", failed)))
	}
	if errs > 0 {
		parts = append(parts, st.Error.Render("? "+c.t("count-error", errs)))
	}
	if waived > 0 {
		parts = append(parts, st.Waive.Render(c.t("count-waived", waived)))
	}
	if you > 0 {
		parts = append(parts, st.Ask.Render("✎ "+c.t("count-you", you)))
	}
	if n := c.runningCount(); n > 0 {
		parts = append(parts, st.Running.Render(c.frame+" "+c.t("count-running", n)))
	}
	return strings.Join(parts, " · ")
}
