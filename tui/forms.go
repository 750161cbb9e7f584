package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

// The forms take text (evidence, a waiver's reason, the signer's name and role) and end in a message
// to the top-level model: answerMsg, waiveMsg, signMsg or cancelMsg. The model applies it to the
// session, so a form never changes the record itself.

// newInput is a one-line text field. No placeholder: bubbles' placeholder rendering miscounts double-width
// characters, so examples go in the field's label instead.
func newInput(c *common, limit int) textinput.Model {
	in := textinput.New()
	in.Prompt = "> "
	in.CharLimit = limit
	in.SetStyles(c.styles.Input)
	return in
}

// answerForm confirms the answer to a manual item, with its evidence (required for yes when the profile
// says so; the hint says what to record).
type answerForm struct {
	c             *common
	id, answer    string
	input         textinput.Model
	err           string
	width, height int
}

func newAnswerForm(c *common, id, answer string) (answerForm, tea.Cmd) {
	f := answerForm{c: c, id: id, answer: answer, input: newInput(c, 500)}
	return f, f.input.Focus()
}

func (f answerForm) required() bool {
	d := f.c.defs[f.id]
	return f.answer == runlog.Yes && d != nil && d.Manual != nil && d.Manual.Evidence == "required"
}

func (f answerForm) hint() string {
	if d := f.c.defs[f.id]; d != nil && d.Manual != nil {
		if h := d.Manual.Hint.In(f.c.lang); h != "" {
			return h
		}
	}
	return f.c.t("default-hint")
}

func (f answerForm) Update(msg tea.Msg) (answerForm, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, f.c.keys.Cancel):
			return f, send(cancelMsg{})
		case key.Matches(k, f.c.keys.Submit):
			ev := strings.TrimSpace(f.input.Value())
			if f.required() && ev == "" {
				f.err = f.c.t("evidence-needed", f.hint())
				return f, nil
			}
			return f, send(answerMsg{id: f.id, a: runlog.Answer{Answer: f.answer, Evidence: ev}})
		}
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	return f, cmd
}

func (f *answerForm) SetSize(w, h int) {
	f.width, f.height = w, h
	f.input.SetWidth(max(10, w-4))
}

func (f answerForm) View() string {
	c, st := f.c, f.c.styles
	it, d := c.sess.Record.Item(f.id), c.defs[f.id]
	word := map[string]string{runlog.Yes: "answer-yes", runlog.No: "answer-no", runlog.NA: "answer-na"}[f.answer]
	var b []string
	b = append(b, st.FormTitle.Render(c.t("answer-title", c.t(word))), "")
	b = append(b, st.Bold.Render(fit(it.Title.In(c.lang), f.width)))
	if d != nil && d.Manual != nil {
		b = append(b, wrap(d.Manual.Question.In(c.lang), f.width)...)
	}
	b = append(b, "")
	label := c.t("note-field")
	if f.answer == runlog.Yes {
		label = c.t("evidence-field")
	}
	need := c.t("evidence-optional")
	if f.required() {
		need = c.t("evidence-required")
	}
	b = append(b, st.FormLabel.Render(fit(label, f.width)))
	for _, l := range wrap(need+" · "+c.t("record-hint", f.hint()), f.width) {
		b = append(b, st.FormHint.Render(l))
	}
	b = append(b, f.input.View())
	b = append(b, errLines(st, f.err, f.width)...)
	b = append(b, "", st.FormHint.Render(fit(c.t("form-keys"), f.width)))
	return strings.Join(b, "\n")
}

// lineForm takes one line of text about an item — a waiver's reason, or what the operator reads off a
// device — and sends the message submit makes of it.
type lineForm struct {
	c             *common
	id            string
	input         textinput.Model
	err           string
	width, height int
	title, label  string
	needed        string                        // the error shown when the line is empty
	context       func(f lineForm) []string     // lines about the item, above the field
	submit        func(id, text string) tea.Msg // the message a confirmed line becomes
}

func (f lineForm) start() (lineForm, tea.Cmd) { return f, f.input.Focus() }

// newWaiveForm takes the reason for waiving a failed warning-level item.
func newWaiveForm(c *common, id string) (lineForm, tea.Cmd) {
	return lineForm{c: c, id: id, input: newInput(c, 500), title: "waive-title", label: "reason-field",
		needed: "reason-needed",
		context: func(f lineForm) []string {
			it := f.c.sess.Record.Item(f.id)
			glyph, word, paint := f.c.state(it)
			return append([]string{fit(paint(glyph+" "+word)+"  "+f.c.styles.Bold.Render(it.Title.In(f.c.lang)), f.width)},
				wrap(it.Summary, f.width)...)
		},
		submit: func(id, text string) tea.Msg { return waiveMsg{w: runlog.Waiver{Item: id, Reason: text}} },
	}.start()
}

// newValueForm takes what the operator reads off a device for a probe item that asks for it (a firmware
// version from the appliance's admin screen); the probe judges it by its own rules.
func newValueForm(c *common, id string) (lineForm, tea.Cmd) {
	return lineForm{c: c, id: id, input: newInput(c, 200), title: "value-title", label: "value-field",
		needed: "value-needed",
		context: func(f lineForm) []string {
			it := f.c.sess.Record.Item(f.id)
			return append([]string{f.c.styles.Bold.Render(fit(it.Title.In(f.c.lang), f.width))},
				wrap(f.c.sess.Prompt(f.id), f.width)...)
		},
		submit: func(id, text string) tea.Msg { return valueMsg{id: id, value: text} },
	}.start()
}

func (f lineForm) Update(msg tea.Msg) (lineForm, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, f.c.keys.Cancel):
			return f, send(cancelMsg{})
		case key.Matches(k, f.c.keys.Submit):
			text := strings.TrimSpace(f.input.Value())
			if text == "" {
				f.err = f.c.t(f.needed)
				return f, nil
			}
			return f, send(f.submit(f.id, text))
		}
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	return f, cmd
}

func (f *lineForm) SetSize(w, h int) {
	f.width, f.height = w, h
	f.input.SetWidth(max(10, w-4))
}

func (f lineForm) View() string {
	st := f.c.styles
	b := []string{st.FormTitle.Render(f.c.t(f.title)), ""}
	b = append(b, f.context(f)...)
	b = append(b, "", st.FormLabel.Render(fit(f.c.t(f.label), f.width)), f.input.View())
	b = append(b, errLines(st, f.err, f.width)...)
	b = append(b, "", st.FormHint.Render(fit(f.c.t("form-keys"), f.width)))
	return strings.Join(b, "\n")
}

// signForm is the sign-off: the statement being signed, the verdict and the waivers it includes, and the
// signer's printed name and role.
type signForm struct {
	c             *common
	name, role    textinput.Model
	focus         int // 0 name, 1 role
	err           string
	width, height int
}

func newSignForm(c *common) (signForm, tea.Cmd) {
	f := signForm{c: c, name: newInput(c, 120), role: newInput(c, 120)}
	if c.signer != nil {
		f.name.SetValue(c.signer.Name)
		f.role.SetValue(c.signer.Role)
	}
	return f, f.name.Focus()
}

func (f signForm) Update(msg tea.Msg) (signForm, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		km := f.c.keys
		switch {
		case key.Matches(k, km.Cancel):
			return f, send(cancelMsg{})
		case key.Matches(k, km.NextField), key.Matches(k, km.PrevField):
			return f.focusOn(1 - f.focus)
		case key.Matches(k, km.Submit):
			name, role := strings.TrimSpace(f.name.Value()), strings.TrimSpace(f.role.Value())
			if f.focus == 0 && role == "" {
				return f.focusOn(1)
			}
			if name == "" || role == "" {
				f.err = f.c.t("sign-needs")
				return f, nil
			}
			so := runlog.Signoff{Name: name, Role: role}
			if f.c.signer != nil {
				so.UserID = f.c.signer.UserID
			}
			return f, send(signMsg{so: so})
		}
	}
	var cmd tea.Cmd
	if f.focus == 0 {
		f.name, cmd = f.name.Update(msg)
	} else {
		f.role, cmd = f.role.Update(msg)
	}
	return f, cmd
}

func (f signForm) focusOn(i int) (signForm, tea.Cmd) {
	f.focus = i
	if i == 0 {
		f.role.Blur()
		return f, f.name.Focus()
	}
	f.name.Blur()
	return f, f.role.Focus()
}

func (f *signForm) SetSize(w, h int) {
	f.width, f.height = w, h
	f.name.SetWidth(max(10, w-4))
	f.role.SetWidth(max(10, w-4))
}

func (f signForm) View() string {
	c, st, rec := f.c, f.c.styles, f.c.sess.Record
	b := []string{st.FormTitle.Render(c.t("sign-title")), ""}
	b = append(b, st.FormLabel.Render(c.t("verdict-now"))+": "+st.Bold.Render(c.t(rec.Verdict)))
	b = append(b, st.FormLabel.Render(fit(c.t("statement"), f.width)))
	for _, l := range wrap(session.Statement(rec), f.width-2) {
		b = append(b, "  "+l)
	}
	if c.lang == "ja" { // the record keeps the English sentence; a gloss helps the signer read it
		conf := c.t("not-confirmed-ja")
		if rec.Verdict == runlog.GO {
			conf = c.t("confirmed-ja")
		}
		op := rec.OperationID
		if op == "" {
			op = c.t("no-operation")
		}
		for _, l := range wrap(c.t("statement-ja", op, rec.Facility.ID, c.t(rec.Facility.Role), conf, rec.RunID), f.width-2) {
			b = append(b, "  "+st.Dim.Render(l))
		}
	}
	b = append(b, st.FormLabel.Render(fit(c.t("waivers-included"), f.width)))
	if len(rec.Waivers) == 0 {
		b = append(b, "  "+c.t("none"))
	}
	for _, w := range rec.Waivers {
		b = append(b, fit("  - "+w.Item+": "+w.Reason, f.width))
	}
	if rec.Verdict != runlog.GO {
		for _, l := range wrap(c.t("sign-nogo"), f.width) {
			b = append(b, st.FormError.Render(l))
		}
	}
	b = append(b, "", st.FormLabel.Render(c.t("name-field")), f.name.View())
	b = append(b, st.FormLabel.Render(c.t("role-field")), f.role.View())
	b = append(b, errLines(st, f.err, f.width)...)
	b = append(b, st.FormHint.Render(fit(c.t("sign-keys"), f.width)))
	return strings.Join(b, "\n")
}

// errLines renders a form's error, wrapped; none when there is no error.
func errLines(st *Styles, err string, w int) []string {
	if err == "" {
		return nil
	}
	var out []string
	for _, l := range wrap(err, w) {
		out = append(out, st.FormError.Render(l))
	}
	return out
}
