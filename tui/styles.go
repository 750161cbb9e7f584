package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"

	"github.com/telesurgery-preflight/preflight/checks"
)

// Styles are every style the TUI draws with, built once by DefaultStyles. Colours are the terminal's own
// 16 ANSI colours, so a light or dark theme keeps its contrast, and no meaning rests on colour alone:
// every status also has a glyph and a word, the selected row a marker, the verdict a word. Under
// NO_COLOR or a monochrome terminal the renderer drops the colours and keeps bold and reverse.
type Styles struct {
	Title, Info, Dim, Bold lipgloss.Style

	Section             lipgloss.Style
	Row, Selected       lipgloss.Style
	Cursor              lipgloss.Style
	Pass, Warn, Fail    lipgloss.Style
	Error, Skip, Wait   lipgloss.Style
	Running, Ask, Waive lipgloss.Style

	// Banner boxes and the verdict word inside them.
	BannerGo, BannerNoGo, BannerOpen    lipgloss.Style
	VerdictGo, VerdictNoGo, VerdictOpen lipgloss.Style

	Pane, PaneFocused lipgloss.Style
	Heading           lipgloss.Style
	Key               lipgloss.Style
	Remedy            lipgloss.Style

	Form, FormTitle, FormLabel, FormHint, FormError lipgloss.Style
	Message                                         lipgloss.Style
	PairFocus                                       lipgloss.Style // the side with the keys, in a Pair

	ProgressFull, ProgressEmpty lipgloss.Style

	Help  help.Styles
	Input textinput.Styles
}

// DefaultStyles returns the TUI's styles.
func DefaultStyles() Styles {
	base := lipgloss.NewStyle()
	bold := base.Bold(true)
	dim := base.Faint(true)
	box := base.Border(lipgloss.RoundedBorder()).Padding(0, 1)
	s := Styles{
		Title: bold,
		Info:  base,
		Dim:   dim,
		Bold:  bold,

		Section:  bold.Underline(true),
		Row:      base,
		Selected: bold,
		Cursor:   bold,
		Pass:     base.Foreground(lipgloss.Green),
		Warn:     base.Foreground(lipgloss.Yellow),
		Fail:     bold.Foreground(lipgloss.Red),
		Error:    bold.Foreground(lipgloss.Magenta),
		Skip:     dim,
		Wait:     dim,
		Running:  base.Foreground(lipgloss.Cyan),
		Ask:      bold.Foreground(lipgloss.Blue),
		Waive:    base.Foreground(lipgloss.Yellow),

		BannerGo:    box.BorderForeground(lipgloss.Green),
		BannerNoGo:  box.BorderForeground(lipgloss.Red),
		BannerOpen:  box.BorderForeground(lipgloss.Yellow),
		VerdictGo:   bold.Reverse(true).Foreground(lipgloss.Green).Padding(0, 1),
		VerdictNoGo: bold.Reverse(true).Foreground(lipgloss.Red).Padding(0, 1),
		VerdictOpen: bold.Reverse(true).Foreground(lipgloss.Yellow).Padding(0, 1),

		Pane:        base.Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.BrightBlack).Padding(0, 1),
		PaneFocused: base.Border(lipgloss.ThickBorder()).Padding(0, 1),
		Heading:     bold,
		Key:         dim,
		Remedy:      bold,

		Form:      base.Border(lipgloss.RoundedBorder()).Padding(0, 1),
		FormTitle: bold,
		FormLabel: bold,
		FormHint:  dim,
		FormError: bold.Foreground(lipgloss.Red),
		Message:   base.Foreground(lipgloss.Yellow),
		PairFocus: bold.Underline(true),

		ProgressFull:  base.Foreground(lipgloss.Green),
		ProgressEmpty: dim,
	}
	s.Help = help.Styles{
		ShortKey: bold, ShortDesc: base, ShortSeparator: dim, Ellipsis: dim,
		FullKey: bold, FullDesc: base, FullSeparator: dim,
	}
	s.Input = textinput.DefaultDarkStyles()
	s.Input.Focused.Prompt = bold
	s.Input.Focused.Text = base
	s.Input.Focused.Placeholder = dim
	s.Input.Blurred.Prompt = dim
	s.Input.Blurred.Text = base
	s.Input.Blurred.Placeholder = dim
	s.Input.Cursor.Blink = false // calm, and frames stay the same from one second to the next
	return s
}

// status returns the style of a status.
func (s *Styles) status(st checks.Status) lipgloss.Style {
	switch st {
	case checks.Pass:
		return s.Pass
	case checks.Warn:
		return s.Warn
	case checks.Fail:
		return s.Fail
	case checks.Error:
		return s.Error
	case checks.Skipped:
		return s.Skip
	}
	return s.Wait
}
