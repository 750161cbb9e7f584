package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/telesurgery-preflight/preflight/checks"
)

// Layout: two header lines; the verdict banner (a four-line box and the progress line, or one compact
// line beside forms and the detail on small screens); the body; one line at the bottom for the help
// bar, or for a message after a key did not apply. At 120 columns and more the checklist and the detail
// sit side by side; below that the detail and the forms take the body in turn.

const wideWidth = 120

func (m *Model) wide() bool { return m.width >= wideWidth }

func (m *Model) setSize(w, h int) {
	m.width, m.height = max(1, w), max(1, h)
	m.layout()
}

// compact reports whether the banner takes one line, to leave room for a form or the detail.
func (m *Model) compact() bool {
	if m.height < 18 {
		return true
	}
	return !m.wide() && m.screen != screenList
}

func (m *Model) bodyHeight() int {
	h := m.height - 2 - 1 - m.peerLines()
	if m.compact() {
		return max(1, h-1)
	}
	return max(1, h-bannerHeight)
}

// peerLines is the height of the peer panel: none without a peer, one line where the banner is compact.
func (m *Model) peerLines() int {
	switch {
	case m.peerSrc == nil:
		return 0
	case m.compact():
		return 1
	}
	return peerHeight
}

// panes returns the widths of the left and right panes on a wide screen.
func (m *Model) panes() (int, int) {
	lw := m.width / 2
	return lw, m.width - lw
}

func (m *Model) layout() {
	w, bh := m.width, m.bodyHeight()
	m.header.SetSize(w, 2)
	if m.compact() {
		m.banner.SetSize(w, 1)
	} else {
		m.banner.SetSize(w, bannerHeight)
	}
	pane, form := m.st.Pane, m.st.Form
	pw, ph := pane.GetHorizontalFrameSize(), pane.GetVerticalFrameSize()
	fw, fh := form.GetHorizontalFrameSize(), form.GetVerticalFrameSize()
	if m.wide() {
		lw, rw := m.panes()
		m.list.SetSize(lw-pw, bh-ph)
		m.detail.SetSize(rw-pw, bh-ph)
		m.answer.SetSize(rw-fw, bh-fh)
		m.waive.SetSize(rw-fw, bh-fh)
		m.value.SetSize(rw-fw, bh-fh)
		m.sign.SetSize(rw-fw, bh-fh)
	} else {
		m.list.SetSize(w, bh)
		m.detail.SetSize(w-pw, bh-ph)
		m.answer.SetSize(w-fw, bh-fh)
		m.waive.SetSize(w-fw, bh-fh)
		m.value.SetSize(w-fw, bh-fh)
		m.sign.SetSize(w-fw, bh-fh)
	}
	m.peer.SetSize(w, m.peerLines())
	m.help.SetWidth(w)
}

// View returns the frame. The alternate screen keeps the operator's scrollback clean.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "preflight — " + m.c.t(m.c.sess.Record.Verdict)
	return v
}

// render composes the frame as text: what View shows and what the golden tests compare.
func (m *Model) render() string {
	parts := []string{m.header.View(), m.banner.View()}
	if m.peerSrc != nil {
		parts = append(parts, m.peer.View())
	}
	parts = append(parts, m.bodyView(), m.bottomLine())
	return frame(strings.Join(parts, "\n"), m.width, m.height)
}

func (m *Model) bodyView() string {
	w, h := m.width, m.bodyHeight()
	st := &m.st
	switch m.screen {
	case screenHelp:
		text := m.c.styles.FormTitle.Render(m.c.t("help-title")) + "\n\n" + m.help.FullHelpView(m.fullHelp()) +
			"\n\n" + st.Dim.Render(m.c.t("help-close"))
		return box(st.Form, text, w, h)
	case screenQuit:
		return box(st.Form, m.quitView(w-st.Form.GetHorizontalFrameSize()), w, h)
	case screenSaved:
		return box(st.Form, m.savedView(w-st.Form.GetHorizontalFrameSize()), w, h)
	case screenPeer:
		return box(st.Form, m.peerView(w-st.Form.GetHorizontalFrameSize()), w, h)
	}
	right, rightStyle := m.detail.View(), st.Pane
	switch m.screen {
	case screenAnswer:
		right, rightStyle = m.answer.View(), st.Form
	case screenWaive:
		right, rightStyle = m.waive.View(), st.Form
	case screenValue:
		right, rightStyle = m.value.View(), st.Form
	case screenSign:
		right, rightStyle = m.sign.View(), st.Form
	case screenDetail:
		rightStyle = st.PaneFocused
	}
	if m.wide() {
		lw, rw := m.panes()
		left := st.Pane
		if m.screen == screenList {
			left = st.PaneFocused
		}
		return lipgloss.JoinHorizontal(lipgloss.Top, box(left, m.list.View(), lw, h), box(rightStyle, right, rw, h))
	}
	if m.screen == screenList {
		return frame(m.list.View(), w, h)
	}
	return box(rightStyle, right, w, h)
}

// box draws content in a bordered style of exactly w×h cells, cutting the content to fit inside.
func box(st lipgloss.Style, content string, w, h int) string {
	iw, ih := w-st.GetHorizontalFrameSize(), h-st.GetVerticalFrameSize()
	if iw < 1 || ih < 1 {
		return frame("", w, h)
	}
	return st.Width(w).Height(h).Render(frame(content, iw, ih))
}

func (m *Model) quitView(w int) string {
	c, st := m.c, &m.st
	lines := []string{st.FormTitle.Render(c.t("quit-title")), ""}
	lines = append(lines, wrap(c.t("quit-body"), w)...)
	if m.saver.fn == nil {
		lines = append(lines, wrap(c.t("quit-not-kept"), w)...)
	}
	lines = append(lines, "", st.FormHint.Render(c.t("quit-keys")))
	return strings.Join(lines, "\n")
}

func (m *Model) savedView(w int) string {
	c, st, rec := m.c, &m.st, m.c.sess.Record
	lines := []string{}
	if so := rec.Signoff; so != nil {
		lines = append(lines, st.FormTitle.Render(c.t("sign-title"))+"  "+st.Bold.Render(c.t(rec.Verdict)), "")
		lines = append(lines, wrap(c.t("signed-by", so.Name, so.Role, so.At.In(c.loc).Format("2006-01-02 15:04:05 MST")), w)...)
		lines = append(lines, wrap(so.Statement, w)...)
		lines = append(lines, "")
	}
	switch r := m.saved; {
	case m.saving || r == nil:
		lines = append(lines, c.t("saving"))
	case r.err != nil:
		lines = append(lines, st.FormError.Render(c.t("save-failed", r.err)))
		lines = append(lines, "", st.FormHint.Render(c.t("save-retry")))
		return strings.Join(lines, "\n")
	case r.notKept:
		lines = append(lines, wrap(c.t("not-kept"), w)...)
	default:
		lines = append(lines, st.FormTitle.Render(c.t("saved-title")))
		lines = append(lines, st.FormLabel.Render(c.t("where")), "  "+r.where)
		lines = append(lines, st.FormLabel.Render(c.t("hash")), "  "+r.hash)
	}
	lines = append(lines, "", st.FormHint.Render(c.t("saved-keys")))
	return strings.Join(lines, "\n")
}

// bottomLine is the message left by the last key, or the help bar for the current screen and item.
func (m *Model) bottomLine() string {
	if m.message != "" {
		return fit(m.st.Message.Render(m.message), m.width)
	}
	return fit(m.help.ShortHelpView(m.shortHelp()), m.width)
}

func (m *Model) shortHelp() []key.Binding {
	k := &m.keys
	switch m.screen {
	case screenAnswer, screenWaive, screenValue:
		return []key.Binding{k.Submit, k.Cancel}
	case screenSign:
		return []key.Binding{k.Submit, k.NextField, k.Cancel}
	case screenQuit:
		return []key.Binding{k.Confirm, k.Deny}
	case screenSaved:
		if m.peerSrc != nil {
			return []key.Binding{k.Peer, k.Quit, k.Lang}
		}
		return []key.Binding{k.Quit, k.Lang}
	case screenHelp:
		return []key.Binding{k.Help, k.Back}
	case screenPeer:
		return []key.Binding{k.Peer, k.Back}
	}
	var b []key.Binding
	if m.screen == screenList {
		b = append(b, k.Detail)
	} else {
		b = append(b, k.Back)
	}
	if it := m.c.sess.Record.Item(m.selected()); it != nil && m.c.sess.Record.Signoff == nil {
		switch {
		case m.c.manual(it):
			b = append(b, k.Yes, k.No, k.NA)
		case m.c.sess.Prompt(it.ID) != "":
			b = append(b, k.Value)
		default:
			b = append(b, k.Rerun)
		}
		if (it.Status == checks.Fail || it.Status == checks.Error) && it.Severity == "warning" && m.c.sess.Record.Waived(it.ID) == nil {
			b = append(b, k.Waive)
		}
		b = append(b, k.Sign)
	}
	if m.peerSrc != nil {
		b = append(b, k.Peer)
	}
	return append(b, k.Help, k.Quit, k.Lang)
}

// fullHelp is the ? screen; the peer key is listed only where there is a peer.
func (m *Model) fullHelp() [][]key.Binding {
	cols := m.keys.FullHelp()
	if m.peerSrc != nil {
		cols[1] = append(cols[1], m.keys.Peer)
	}
	return cols
}
