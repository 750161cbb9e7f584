package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// resultMsg carries one update of a runner stream into Update, the only place the session is changed.
type resultMsg struct {
	u  checks.Update
	ch <-chan checks.Update
}

// streamDoneMsg says a runner stream closed: every item it was given has finished.
type streamDoneMsg struct{ ch <-chan checks.Update }

// clockMsg moves the header clock on.
type clockMsg time.Time

// savedMsg reports how writing the record went.
type savedMsg struct{ res saveResult }

// InterruptMsg stops the TUI at once, keeping the record marked interrupted with everything entered so
// far (sent on SIGHUP, SIGTERM and SIGINT).
type InterruptMsg struct{ Reason string }

// answerMsg is a manual item's answer, confirmed in the answer form.
type answerMsg struct {
	id string
	a  runlog.Answer
}

// waiveMsg is a waiver, confirmed in the waiver form.
type waiveMsg struct{ w runlog.Waiver }

// valueMsg is what the operator read off a device, confirmed in the value form.
type valueMsg struct{ id, value string }

// signMsg is the sign-off, confirmed in the sign-off form.
type signMsg struct{ so runlog.Signoff }

// cancelMsg closes a form without changing anything.
type cancelMsg struct{}

// listen reads one update from a runner stream; Update re-issues it after each one (bubbletea's
// realtime example), so no goroutine but Update's ever touches the session.
func listen(ch <-chan checks.Update) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return streamDoneMsg{ch}
		}
		return resultMsg{u, ch}
	}
}

// tickClock moves the clock on at the next whole second.
func tickClock(now time.Time) tea.Cmd {
	d := now.Truncate(time.Second).Add(time.Second).Sub(now)
	return tea.Tick(d, func(t time.Time) tea.Msg { return clockMsg(t) })
}

func send(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }
