package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// PeerSource is the link to the other facility (a *peer.Link): Poll looks once — asks the peer, verifies
// what it says, reads this facility's sealed record, reaches and keeps the joint verdict — and may block
// up to the link's timeout, so it only ever runs in a command.
type PeerSource interface {
	Poll(ctx context.Context) peer.Status
	Interval() time.Duration
}

// peerStatusMsg carries what one look at the peer found; again says it belongs to the polling loop and
// the next look is to be scheduled.
type peerStatusMsg struct {
	st    peer.Status
	again bool
}

// peerTickMsg asks for the next look at the peer.
type peerTickMsg struct{}

// pollPeer looks at the peer once, in the command's goroutine.
func pollPeer(ctx context.Context, src PeerSource, again bool) tea.Cmd {
	return func() tea.Msg { return peerStatusMsg{st: src.Poll(ctx), again: again} }
}

// peerPanel is the other facility and the joint verdict, under the banner: a line for what the peer
// shows (verified over the link, or why it cannot be), a line for the joint verdict with the first thing
// that holds it. One line beside forms on small screens. p shows every reason.
type peerPanel struct {
	c             *common
	st            *peer.Status
	width, height int
}

func (p peerPanel) Update(msg tea.Msg) (peerPanel, tea.Cmd) {
	if m, ok := msg.(peerStatusMsg); ok {
		st := m.st
		p.st = &st
	}
	return p, nil
}

func (p *peerPanel) SetSize(w, h int) { p.width, p.height = w, h }

// peerHeight is how many lines the full panel takes.
const peerHeight = 2

func (p peerPanel) View() string {
	if p.height == 1 {
		return fit(p.jointLine(true), p.width)
	}
	return fit(p.peerLine(), p.width) + "\n" + fit(p.jointLine(false), p.width)
}

// peerLine says what the other facility shows.
func (p peerPanel) peerLine() string {
	c, st := p.c, p.c.styles
	if p.st == nil {
		return st.Dim.Render(c.t("peer-asking"))
	}
	s := p.st.Peer
	head := c.t("peer") + " " + st.Bold.Render(orText(s.Facility, "?")) + " · "
	return head + p.describe(s, false)
}

// describe is a side's state as glyph, word and detail; short leaves the detail out.
func (p peerPanel) describe(s peer.Side, short bool) string {
	c, st := p.c, p.c.styles
	at := func(t time.Time) string { return t.In(c.loc).Format("15:04:05") }
	switch s.State {
	case peer.StateGo:
		if s.Signature != runlog.SigValid {
			return st.Warn.Render("✔ GO") + " " + c.t("peer-not-signed", orText(s.Signature, "none"))
		}
		if short {
			return st.Pass.Render("✔ GO")
		}
		return st.Pass.Render("✔ GO") + " " + c.t("peer-signed-by", s.Signer, at(s.SignedAt)) + " · " + c.t("peer-verified")
	case peer.StateNoGo:
		if short {
			return st.Fail.Render("✘ NO-GO")
		}
		return st.Fail.Render("✘ NO-GO") + " " + c.t("peer-blocks", blockIDs(s.Blocking, c))
	case peer.StateIncomplete:
		if short {
			return st.Ask.Render("✎ " + c.t("incomplete"))
		}
		return st.Ask.Render("✎ "+c.t("incomplete")) + " " + c.t("peer-waiting", blockIDs(s.Blocking, c))
	case peer.StateInterrupted:
		return st.Error.Render("? " + c.t("peer-interrupted"))
	case peer.StateRunning:
		if short {
			return st.Running.Render(c.frame + " " + c.t("peer-running", s.Done, s.Total))
		}
		line := st.Running.Render(c.frame+" "+c.t("peer-running", s.Done, s.Total)) + " · "
		if s.Verdict == runlog.NoGo {
			line += st.Fail.Render(c.t("peer-nogo-so-far")) + " · "
		}
		return line + c.t("peer-live")
	case peer.StateNotStarted:
		return st.Dim.Render("– " + c.t("peer-not-started"))
	}
	word := map[string]string{peer.StateUnreachable: "peer-unreachable", peer.StateUnverifiable: "peer-unverifiable",
		peer.StateSplitView: "peer-split", peer.StateNotConfigured: "peer-not-configured"}[s.State]
	out := st.Error.Render("! " + c.t(word))
	if !short {
		problem := s.Problem
		for _, e := range []error{runlog.ErrSplitView, runlog.ErrRollback} {
			problem = strings.TrimPrefix(problem, e.Error()+": ")
		}
		out += " " + problem
	}
	return out
}

// jointLine is the joint verdict word and what holds it; compact folds the peer's state in.
func (p peerPanel) jointLine(compact bool) string {
	c, st := p.c, p.c.styles
	if p.st == nil {
		return c.t("joint") + " " + st.VerdictOpen.Render(c.t("joint-waiting"))
	}
	s := p.st
	word, why := st.VerdictNoGo.Render(c.t("joint-not-ready")), ""
	switch {
	case s.Ready():
		left := s.Freshness - max(s.At.Sub(s.Local.SignedAt), s.At.Sub(s.Peer.SignedAt))
		word, why = st.VerdictGo.Render(c.t("joint-ready")), c.t("joint-ready-why", int(left.Minutes()))
	case pending(s.Local.State) && pending(s.Peer.State):
		word = st.VerdictOpen.Render(c.t("joint-waiting"))
	}
	if why == "" {
		why = c.t("joint-here") + " " + p.describe(p.here(s.Local), true) + " · " + c.t("joint-peer") + " " + p.describe(s.Peer, true)
		if s.Local.State == peer.StateGo && s.Peer.State == peer.StateGo && len(s.Reasons) > 0 {
			why = s.Reasons[0]
		}
	}
	line := c.t("joint") + " " + word + " " + why
	if compact {
		line = c.t("joint") + " " + word + " " + c.t("joint-peer") + " " + p.describe(s.Peer, true)
	}
	return line
}

// here is this facility as the joint line shows it: while its run is not sealed, the checklist on this
// screen is newer than what the link last read from the log.
func (p peerPanel) here(s peer.Side) peer.Side {
	if s.State != peer.StateRunning && s.State != peer.StateNotStarted {
		return s
	}
	rec := p.c.sess.Record
	s.State, s.Total, s.Done, s.Verdict = peer.StateRunning, len(rec.Items), 0, rec.Verdict
	for _, it := range rec.Items {
		if it.Status != checks.Pending {
			s.Done++
		}
	}
	return s
}

// pending states are on their way to a verdict: nothing is wrong yet.
func pending(state string) bool {
	return state == peer.StateGo || state == peer.StateRunning || state == peer.StateNotStarted || state == peer.StateIncomplete
}

// blockIDs lists the item ids of blocking lines, the first two and how many more.
func blockIDs(lines []string, c *common) string {
	var ids []string
	for _, l := range lines {
		id, _, _ := strings.Cut(l, ":")
		ids = append(ids, id)
	}
	if len(ids) > 2 {
		return strings.Join(ids[:2], ", ") + " " + c.t("more", len(ids)-2)
	}
	return strings.Join(ids, ", ")
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// peerView is the p screen: both sides and every reason of the joint verdict, as the link found them.
func (m *Model) peerView(w int) string {
	c, st := m.c, &m.st
	lines := []string{st.FormTitle.Render(c.t("peer-title", m.c.sess.Record.OperationID)), ""}
	s := m.peer.st
	if s == nil {
		return strings.Join(append(lines, c.t("peer-asking")), "\n")
	}
	var b strings.Builder
	_ = peer.WriteStatus(&b, *s)
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		indent := len(l) - len(strings.TrimLeft(l, " "))
		for i, wl := range wrap(strings.TrimLeft(l, " "), max(10, w-indent-2)) {
			pre := strings.Repeat(" ", indent)
			if i > 0 {
				pre += "  "
			}
			lines = append(lines, pre+wl)
		}
	}
	lines = append(lines, "")
	for _, l := range wrap(c.t("peer-looked", s.At.In(c.loc).Format("15:04:05"), fmt.Sprint(m.peerSrc.Interval())), w) {
		lines = append(lines, st.Dim.Render(l))
	}
	lines = append(lines, st.FormHint.Render(c.t("peer-close")))
	return strings.Join(lines, "\n")
}
