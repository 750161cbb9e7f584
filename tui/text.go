package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Every width here is in terminal cells, measured by x/ansi as lipgloss does: Japanese characters take
// two cells, escape sequences none. Cutting by bytes or runes is what breaks borders.

func cellWidth(s string) int { return ansi.StringWidth(s) }

// fit cuts s to at most w cells, marking the cut with an ellipsis.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// pad fits s to exactly w cells.
func pad(s string, w int) string {
	s = fit(s, w)
	if n := cellWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

// wrap breaks s into lines of at most w cells, at spaces where it can (Japanese text has none, so it
// breaks between characters). Hyphens do not break a line: ids such as "ward-7" or a run id stay whole
// unless they are longer than the line.
func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		para = strings.ReplaceAll(para, "-", nbHyphen)
		for _, l := range strings.Split(ansi.Wrap(para, w, ""), "\n") {
			out = append(out, strings.ReplaceAll(l, nbHyphen, "-"))
		}
	}
	return out
}

// nbHyphen stands in for "-" while wrapping (x/ansi always breaks after a hyphen); it is one cell wide.
const nbHyphen = "\u2011"

// frame cuts a rendered block to w×h cells and pads it to exactly h lines, so the composed screen never
// exceeds the terminal and a border is never pushed onto a second line.
func frame(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if cellWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// join lists words separated by ", ", cut to w cells with a "+N more" tail when they do not all fit.
func joinFit(words []string, w int, more func(n int) string) string {
	s := ""
	for i, word := range words {
		next := s
		if i > 0 {
			next += ", "
		}
		next += word
		tail := ""
		if i < len(words)-1 {
			tail = " " + more(len(words)-i-1)
		}
		if cellWidth(next+tail) > w && i > 0 {
			return s + " " + more(len(words)-i)
		}
		s = next
	}
	return fit(s, w)
}
