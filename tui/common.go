package tui

import (
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/report"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

// common is what every component shares: the session (read-only outside the top-level Update), the
// language, the styles and keys, the clock and the spinner frame. Components hold a pointer to it, as
// soft-serve's components share common.Common.
type common struct {
	sess   *session.Session
	defs   map[string]*profiles.Item
	lang   string
	styles *Styles
	keys   *KeyMap
	now    time.Time
	loc    *time.Location
	frame  string          // the spinner's current frame
	queued map[string]bool // handed to the runner and not finished yet
	signer *Signer         // owner of the unlocked signing key, if any
}

func newCommon(s *session.Session, lang string, st *Styles, keys *KeyMap, now time.Time, loc *time.Location) *common {
	c := &common{sess: s, defs: map[string]*profiles.Item{}, lang: lang, styles: st, keys: keys, now: now,
		loc: loc, queued: map[string]bool{}}
	for _, it := range s.Profile.Items() {
		c.defs[it.ID] = it
	}
	return c
}

func (c *common) t(key string, args ...any) string { return tr(c.lang, key, args...) }

func (c *common) items() []*runlog.ItemResult { return c.sess.Record.Items }

// running reports whether the runner has started the item and not finished it.
func running(it *runlog.ItemResult) bool {
	return it.Status == checks.Pending && it.Summary == "running"
}

func (c *common) manual(it *runlog.ItemResult) bool { return it.Kind == "manual" }

// runningCount counts probes started or queued and not finished.
func (c *common) runningCount() int {
	n := 0
	for _, it := range c.items() {
		if running(it) || c.queued[it.ID] {
			n++
		}
	}
	return n
}

// state is how an item's status reads in the checklist: a glyph and a word (colour is never the only
// signal) and the style to draw them with.
func (c *common) state(it *runlog.ItemResult) (glyph, word string, st func(...string) string) {
	s := c.styles
	switch {
	case running(it):
		return c.frame, c.t("running"), s.Running.Render
	case it.Status == checks.Pending && c.manual(it):
		return "✎", c.t("ask"), s.Ask.Render
	case it.Status == checks.Pending:
		return report.Glyph(checks.Pending), c.t("queued"), s.Wait.Render
	case (it.Status == checks.Fail || it.Status == checks.Error) && c.sess.Record.Waived(it.ID) != nil:
		return report.Glyph(it.Status), c.t("waived"), s.Waive.Render
	case it.Answer != nil:
		word := map[string]string{runlog.Yes: "yes-word", runlog.No: "no-word", runlog.NA: "na"}[it.Answer.Answer]
		w := c.t(word)
		if word != "na" {
			w = upper(c.lang, w)
		}
		return report.Glyph(it.Status), w, s.status(it.Status).Render
	}
	return report.Glyph(it.Status), c.t(string(it.Status)), s.status(it.Status).Render
}

// upper capitalises English words; Japanese has no case.
func upper(lang, s string) string {
	if lang == "ja" {
		return s
	}
	b := []byte(s)
	for i, ch := range b {
		if 'a' <= ch && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

// statusWidth is the cell width of the widest glyph and word in the current language, so the checklist's
// columns line up in English and in Japanese.
func (c *common) statusWidth() int {
	w := 0
	for _, k := range []string{"pass", "warn", "fail", "error", "skipped", "running", "queued", "ask", "waived", "na", "yes-word", "no-word"} {
		w = max(w, cellWidth(upper(c.lang, c.t(k))))
	}
	return w + 2
}

func (c *common) clock() string {
	return c.now.In(c.loc).Format("15:04:05 MST")
}
