package tui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/telesurgery-preflight/preflight/session"
)

// Pair shows the two facilities of one operation in one terminal (the demo plays both): each side is a
// whole checklist with its own peer panel, which shows the other side as the peer link verified it, not
// as this process knows it. From 160 columns the two sit side by side, each 80 wide — the layout an
// engineer already knows from one facility; below that one is shown at a time and tab switches. A line
// on top names the sides and marks the one that has the keys.
type Pair struct {
	sides         [2]*Model
	focus         int
	width, height int
	tab           key.Binding
}

// PairSide is one facility of a Pair: its session and the options of its checklist.
type PairSide struct {
	Session *session.Session
	Options Options
}

// sideMsg is a message produced by one side's command, routed back to that side.
type sideMsg struct {
	i   int
	msg tea.Msg
}

// pairWide is the width from which both sides are shown at once.
const pairWide = 160

// NewPair builds the two checklists; focus (0 or 1) has the keys first.
func NewPair(ctx context.Context, a, b PairSide, focus int) *Pair {
	p := &Pair{focus: focus % 2, tab: key.NewBinding(key.WithKeys("tab"))}
	for i, s := range []PairSide{a, b} {
		p.sides[i] = New(ctx, s.Session, s.Options)
	}
	p.resize(80, 24)
	return p
}

// Init starts both sides' probes, clocks and peer links.
func (p *Pair) Init() tea.Cmd {
	return tea.Batch(tagSide(0, p.sides[0].Init()), tagSide(1, p.sides[1].Init()))
}

// tagSide tags the message a side's command produces with the side, so it comes back to it; batches are
// wrapped command by command, and a quit passes through (quitting ends the demo).
func tagSide(i int, cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg {
		switch msg := cmd().(type) {
		case nil:
			return nil
		case tea.BatchMsg:
			out := make(tea.BatchMsg, len(msg))
			for j, c := range msg {
				out[j] = tagSide(i, c)
			}
			return out
		case tea.QuitMsg:
			return msg
		default:
			return sideMsg{i, msg}
		}
	}
}

// Update routes a message: a side's own messages back to it, keys to the side that has them (tab
// switches unless a form is taking text), the window size to both, an interruption to both.
func (p *Pair) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case sideMsg:
		_, cmd := p.sides[msg.i].Update(msg.msg)
		return p, tagSide(msg.i, cmd)
	case tea.WindowSizeMsg:
		p.resize(msg.Width, msg.Height)
		return p, nil
	case InterruptMsg:
		_, a := p.sides[0].Update(msg)
		_, b := p.sides[1].Update(msg)
		return p, tea.Batch(tagSide(0, a), tagSide(1, b))
	case tea.KeyPressMsg:
		if key.Matches(msg, p.tab) && !p.sides[p.focus].takesText() {
			p.focus = 1 - p.focus
			return p, nil
		}
	}
	_, cmd := p.sides[p.focus].Update(msg)
	return p, tagSide(p.focus, cmd)
}

func (p *Pair) wide() bool { return p.width >= pairWide }

func (p *Pair) resize(w, h int) {
	p.width, p.height = max(1, w), max(2, h)
	for i, m := range p.sides {
		sw := p.width
		if p.wide() {
			sw = p.paneWidth(i)
		}
		m.setSize(sw, p.height-1)
	}
}

// paneWidth is the width of side i on a wide screen: the right one gets 80 of 160, the left one what is
// left after a column between them.
func (p *Pair) paneWidth(i int) int {
	right := p.width / 2
	if i == 1 {
		return right
	}
	return p.width - right - 1
}

// View is both sides (or the focused one) under the line naming them.
func (p *Pair) View() tea.View {
	v := tea.NewView(p.render())
	v.AltScreen = true
	m := p.sides[p.focus]
	v.WindowTitle = "preflight — " + m.c.sess.Record.Facility.ID + " " + m.c.t(m.c.sess.Record.Verdict)
	return v
}

func (p *Pair) render() string {
	body := p.sides[p.focus].render()
	if p.wide() {
		gap := strings.TrimSuffix(strings.Repeat(" \n", p.height-1), "\n")
		body = lipgloss.JoinHorizontal(lipgloss.Top, p.sides[0].render(), gap, p.sides[1].render())
	}
	return frame(p.strip()+"\n"+body, p.width, p.height)
}

// strip names both sides with their verdicts, the one with the keys marked (and underlined: not by
// colour alone), and says how to switch.
func (p *Pair) strip() string {
	parts := make([]string, 2)
	for i, m := range p.sides {
		c, rec := m.c, m.c.sess.Record
		label := rec.Facility.ID + " " + c.t(rec.Verdict)
		if i == p.focus {
			label = c.styles.PairFocus.Render("▶ " + label)
		} else {
			label = "  " + label
		}
		parts[i] = label
	}
	hint := p.sides[p.focus].c.t("pair-tab")
	if p.wide() {
		left := p.paneWidth(0) + 1
		return pad(parts[0], left) + spread(parts[1], hint, p.width-left)
	}
	return spread(strings.Join(parts, "  |  "), hint, p.width)
}

// takesText reports whether a form has the keys (tab moves between its fields there).
func (m *Model) takesText() bool {
	switch m.screen {
	case screenAnswer, screenWaive, screenValue, screenSign:
		return true
	}
	return false
}

// RunPair runs two facilities' checklists in one terminal until the operator quits or a signal stops
// it, and keeps both records as Run does (signed, or marked interrupted).
func RunPair(ctx context.Context, a, b PairSide, focus int) ([2]Outcome, error) {
	a.Options, b.Options = a.Options.withDefaults(), b.Options.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := NewPair(ctx, a, b, focus)
	err := runProgram(ctx, p, a.Options, func(reason string) {
		p.sides[0].finish(reason)
		p.sides[1].finish(reason)
	})
	return [2]Outcome{p.sides[0].outcome(), p.sides[1].outcome()}, err
}
