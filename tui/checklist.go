package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// checklist is the list of items by section, in profile order, with the selected one marked. Each row
// reads: marker, status glyph and word, severity, guideline reference, title.
type checklist struct {
	c             *common
	cursor        int // index into the record's items
	offset        int // first line shown
	width, height int
}

// row is one line of the checklist: a section heading (item < 0) or an item.
type row struct {
	section string
	item    int
}

func (l checklist) rows() []row {
	var out []row
	sec := ""
	for i, it := range l.c.items() {
		if it.Section != sec {
			sec = it.Section
			out = append(out, row{section: sec, item: -1})
		}
		out = append(out, row{item: i})
	}
	return out
}

func (l checklist) Update(msg tea.Msg) (checklist, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return l, nil
	}
	n := len(l.c.items())
	page := max(1, l.height-1)
	switch km := l.c.keys; {
	case key.Matches(k, km.Up):
		l.cursor--
	case key.Matches(k, km.Down):
		l.cursor++
	case key.Matches(k, km.PageUp):
		l.cursor -= page
	case key.Matches(k, km.PageDown):
		l.cursor += page
	case key.Matches(k, km.Top):
		l.cursor = 0
	case key.Matches(k, km.Bottom):
		l.cursor = n - 1
	}
	l.cursor = max(0, min(n-1, l.cursor))
	l.scroll()
	return l, nil
}

func (l *checklist) SetSize(w, h int) {
	l.width, l.height = w, h
	l.scroll()
}

// scroll keeps the selected row in view, with its section heading when there is room.
func (l *checklist) scroll() {
	rows := l.rows()
	at := 0
	for i, r := range rows {
		if r.item == l.cursor {
			at = i
		}
	}
	top := at
	if at > 0 && rows[at-1].item < 0 {
		top = at - 1
	}
	if top < l.offset {
		l.offset = top
	}
	if l.height > 0 && at >= l.offset+l.height {
		l.offset = at - l.height + 1
	}
	l.offset = max(0, min(l.offset, len(rows)-l.height))
}

func (l checklist) selected() int { return l.cursor }

func (l checklist) View() string {
	c, st := l.c, l.c.styles
	rows := l.rows()
	sw := c.statusWidth()
	sevW := max(cellWidth(c.t("blocker")), cellWidth(c.t("warning")))
	glW := 7
	columns := l.width >= 50 // below that, status and title only
	end := min(len(rows), l.offset+l.height)
	lines := make([]string, 0, l.height)
	for i := l.offset; i < end; i++ {
		r := rows[i]
		if r.item < 0 {
			title := r.section
			if s := c.sess.Profile.Section(r.section); s != nil {
				title = s.Title.In(c.lang)
			}
			lines = append(lines, fit(st.Section.Render(title), l.width))
			continue
		}
		it := c.items()[r.item]
		glyph, word, paint := c.state(it)
		marker, rowStyle := "  ", st.Row
		if r.item == l.cursor {
			marker, rowStyle = st.Cursor.Render("> "), st.Selected
		}
		line := marker + paint(pad(glyph+" "+word, sw))
		if columns {
			line += " " + st.Dim.Render(pad(c.t(it.Severity), sevW)) + " " + pad(it.Guideline, glW)
		}
		line += " " + rowStyle.Render(it.Title.In(c.lang))
		lines = append(lines, fit(line, l.width))
	}
	// Arrows at the right edge say there is more above or below.
	if len(lines) > 0 && l.offset > 0 {
		lines[0] = pad(lines[0], l.width-1) + "↑"
	}
	if len(lines) > 0 && end < len(rows) {
		lines[len(lines)-1] = pad(lines[len(lines)-1], l.width-1) + "↓"
	}
	return strings.Join(lines, "\n")
}
