package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// detail is the pane for the selected item: what was checked, the result, the evidence in words, why it
// matters and the remedy, or for a manual item the question, what to record and the answer. It
// scrolls; its text is rebuilt in Update (refresh), never in View.
type detail struct {
	c             *common
	vp            viewport.Model
	id, content   string
	width, height int
}

func newDetail(c *common) detail {
	vp := viewport.New()
	vp.KeyMap = viewport.KeyMap{} // scrolling keys come from our KeyMap
	return detail{c: c, vp: vp}
}

func (d detail) Update(msg tea.Msg) (detail, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return d, nil
	}
	switch km := d.c.keys; {
	case key.Matches(k, km.Up):
		d.vp.ScrollUp(1)
	case key.Matches(k, km.Down):
		d.vp.ScrollDown(1)
	case key.Matches(k, km.PageUp):
		d.vp.PageUp()
	case key.Matches(k, km.PageDown):
		d.vp.PageDown()
	case key.Matches(k, km.Top):
		d.vp.GotoTop()
	case key.Matches(k, km.Bottom):
		d.vp.GotoBottom()
	}
	return d, nil
}

func (d *detail) SetSize(w, h int) {
	if w != d.width {
		d.content = "" // re-wrap
	}
	d.width, d.height = w, h
	d.vp.SetWidth(w)
	d.vp.SetHeight(h)
}

// refresh shows item id, rebuilding the text when anything in it changed; a new item starts at the top.
func (d *detail) refresh(id string) {
	content := detailText(d.c, id, d.width)
	if id != d.id {
		d.id = id
		d.content = content
		d.vp.SetContent(content)
		d.vp.GotoTop()
		return
	}
	if content != d.content {
		d.content = content
		d.vp.SetContent(content)
	}
}

// View shows the visible part, with a last line saying there is more below when there is.
func (d detail) View() string {
	v := d.vp.View()
	if d.vp.AtBottom() || d.height < 3 {
		return v
	}
	lines := strings.Split(v, "\n")
	lines[len(lines)-1] = d.c.styles.Dim.Render(fit("  ↓ "+d.c.t("more-below"), d.width))
	return strings.Join(lines, "\n")
}

// detailText builds the detail of item id for a pane w cells wide.
func detailText(c *common, id string, w int) string {
	it := c.sess.Record.Item(id)
	def := c.defs[id]
	if it == nil || def == nil || w <= 0 {
		return c.t("nothing-selected")
	}
	st := c.styles
	b := &textBlock{w: w, st: st}
	glyph, word, paint := c.state(it)
	b.line(paint(glyph+" "+word) + "  " + st.Bold.Render(it.Title.In(c.lang)))
	meta := []string{it.ID, it.Kind, c.t(it.Severity), it.Guideline}
	if it.Attempts > 0 {
		meta = append(meta, c.t("attempts", it.Attempts, (time.Duration(it.DurationMS)*time.Millisecond).String()))
	}
	b.dim(strings.Join(meta, " · "))

	if def.Manual != nil {
		manualText(c, b, it, def)
	} else {
		b.heading(c.t("result"))
		b.para(it.Summary)
	}
	// What to do comes before the evidence: at the cart, the remedy is what the operator needs first.
	if w := c.sess.Record.Waived(id); w != nil {
		b.heading(c.t("waiver"))
		b.para(w.Reason + byAt(c, w.By, w.At))
	} else if it.Status == checks.Fail || it.Status == checks.Error {
		if rem := it.Remedy.In(c.lang); rem != "" {
			b.heading(c.t("remedy"))
			b.hanging(st.Remedy.Render("→ "), rem)
		}
		if it.Severity == profiles.Warning {
			b.dim(c.t("waivable"))
		} else {
			b.dim(c.t("not-waivable"))
		}
	}
	if def.Manual == nil {
		probeText(c, b, it)
	}
	if why := def.Why.In(c.lang); why != "" {
		b.heading(c.t("why"))
		b.para(why)
	}
	return strings.Join(b.lines, "\n")
}

func probeText(c *common, b *textBlock, it *runlog.ItemResult) {
	fields := evidenceFields(it.Kind, it.Evidence, c.lang)
	if len(fields) > 0 || it.Status != checks.Pending {
		b.heading(c.t("evidence"))
		if len(fields) == 0 {
			b.dim(c.t("no-evidence"))
		}
		b.fields(fields)
	}
	b.heading(c.t("checked"))
	doc, passes := it.Kind, ""
	if p, ok := checks.Probers[it.Kind]; ok {
		doc, passes = p.Doc, p.Passes
	}
	if ja, ok := kindDocs[it.Kind]; ok && c.lang == "ja" {
		doc, passes = ja, ""
	}
	b.para(doc)
	if passes != "" {
		b.dim(c.t("passes-when", passes))
	}
}

func manualText(c *common, b *textBlock, it *runlog.ItemResult, def *profiles.Item) {
	b.heading(c.t("question"))
	b.para(def.Manual.Question.In(c.lang))
	need := c.t("evidence-optional")
	if def.Manual.Evidence == "required" {
		need = c.t("evidence-required")
	}
	if h := def.Manual.Hint.In(c.lang); h != "" {
		need += " · " + c.t("record-hint", h)
	}
	b.dim(need)
	b.heading(c.t("answer"))
	if it.Answer == nil {
		b.para(c.styles.Ask.Render(c.t("no-answer")))
		return
	}
	_, word, paint := c.state(it)
	ans := paint(word)
	if it.Answer.Evidence != "" {
		ans += " — " + it.Answer.Evidence
	}
	b.para(ans + byAt(c, it.Answer.By, it.Answer.At))
}

func byAt(c *common, by string, at time.Time) string {
	var parts []string
	if by != "" {
		parts = append(parts, by)
	}
	if !at.IsZero() {
		parts = append(parts, at.In(c.loc).Format("15:04:05"))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// textBlock accumulates wrapped lines of a given width.
type textBlock struct {
	w     int
	st    *Styles
	lines []string
}

func (b *textBlock) line(s string) { b.lines = append(b.lines, fit(s, b.w)) }

func (b *textBlock) heading(s string) {
	b.lines = append(b.lines, "", b.st.Heading.Render(fit(s, b.w)))
}

func (b *textBlock) para(s string) { b.hanging("", s) }

// hanging wraps s after a prefix, continuation lines indented under the text.
func (b *textBlock) hanging(prefix, s string) {
	pw := cellWidth(prefix)
	for i, l := range wrap(s, b.w-2-pw) {
		if i == 0 {
			b.lines = append(b.lines, "  "+prefix+l)
			continue
		}
		b.lines = append(b.lines, "  "+strings.Repeat(" ", pw)+l)
	}
}

func (b *textBlock) dim(s string) {
	for _, l := range wrap(s, b.w-2) {
		b.lines = append(b.lines, "  "+b.st.Dim.Render(l))
	}
}

// fields lays evidence out as label and value columns; a label too long for its column goes on its own
// line with the value under it.
func (b *textBlock) fields(fs []field) {
	lw := 0
	for _, f := range fs {
		lw = max(lw, cellWidth(f.label))
	}
	lw = min(lw, max(8, (b.w-2)/3))
	vw := max(10, b.w-2-lw-2)
	for _, f := range fs {
		label := f.label
		indent := strings.Repeat(" ", 2+lw+2)
		vals := wrap(f.value, vw)
		if cellWidth(label) > lw {
			b.lines = append(b.lines, "  "+b.st.Key.Render(fit(label, b.w-2)))
			label = ""
		}
		for i, v := range vals {
			if i == 0 && label != "" {
				b.lines = append(b.lines, "  "+b.st.Key.Render(pad(label, lw))+"  "+v)
				continue
			}
			b.lines = append(b.lines, indent+v)
		}
	}
}
