package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/session"
)

// screen is what the body of the frame shows.
type screen int

const (
	screenList   screen = iota // the checklist (and, on wide terminals, the detail beside it)
	screenDetail               // the detail pane has the keys
	screenAnswer
	screenWaive
	screenValue
	screenSign
	screenSaved
	screenQuit
	screenHelp
	screenPeer // the other facility and every reason of the joint verdict
)

// Model is the interactive checklist: the top-level bubbletea model holding the child components. It
// is the one owner of the session while the program runs: runner updates, answers, waivers and the
// sign-off all reach the session from Update, in order.
type Model struct {
	c     *common
	ctx   context.Context
	saver *saver
	keys  KeyMap
	st    Styles

	width, height int
	screen, back  screen

	header header
	banner banner
	list   checklist
	detail detail
	answer answerForm
	waive  lineForm
	value  lineForm
	sign   signForm
	peer   peerPanel
	help   help.Model
	spin   spinner.Model

	peerSrc  PeerSource // nil without a peer
	streams  int
	spinning bool
	message  string
	saved    *saveResult
	saving   bool
	done     bool // the record is kept for good (signed and written, or interrupted and written)
}

// New builds the model for session s. Probes start when the program calls Init.
func New(ctx context.Context, s *session.Session, o Options) *Model {
	o = o.withDefaults()
	m := &Model{ctx: ctx, saver: &saver{fn: o.Save}, keys: DefaultKeyMap(o.Lang), st: DefaultStyles()}
	m.c = newCommon(s, o.Lang, &m.st, &m.keys, o.Now(), o.Location)
	m.c.signer = o.Signer
	m.header = header{c: m.c}
	m.banner = newBanner(m.c)
	m.list = checklist{c: m.c}
	m.detail = newDetail(m.c)
	m.peerSrc, m.peer = o.Peer, peerPanel{c: m.c}
	m.help = help.New()
	m.help.Styles = m.st.Help
	m.help.ShortSeparator = " · "
	m.spin = spinner.New(spinner.WithSpinner(spinner.MiniDot))
	m.c.frame = m.spin.Spinner.Frames[0]
	m.setSize(80, 24)
	return m
}

// Init starts every probe and the clock.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.start(), tickClock(m.c.now)}
	if m.peerSrc != nil {
		cmds = append(cmds, pollPeer(m.ctx, m.peerSrc, true))
	}
	return tea.Batch(cmds...)
}

// start hands probes to the runner (all, or the ids given) and listens to the stream it returns.
func (m *Model) start(ids ...string) tea.Cmd {
	ch := m.c.sess.Start(m.ctx, ids...)
	for _, it := range m.c.sess.Profile.ProbeItems() {
		if len(ids) == 0 || contains(ids, it.ID) {
			m.c.queued[it.ID] = true
		}
	}
	m.streams++
	return tea.Batch(listen(ch), m.spinStart())
}

func (m *Model) spinStart() tea.Cmd {
	if m.spinning {
		return nil
	}
	m.spinning = true
	return m.spin.Tick
}

// Update applies one message. It is the only place the session changes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	m.sync()
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.setSize(msg.Width, msg.Height)
	case resultMsg:
		m.c.sess.Apply(msg.u)
		if msg.u.Phase == checks.Finished {
			delete(m.c.queued, msg.u.ID)
		}
		return listen(msg.ch)
	case streamDoneMsg:
		m.streams--
	case spinner.TickMsg:
		if m.streams == 0 && m.c.runningCount() == 0 {
			m.spinning = false
			return nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		m.c.frame = m.spin.View()
		return cmd
	case clockMsg:
		m.c.now = time.Time(msg)
		return tickClock(m.c.now)
	case InterruptMsg:
		return m.stop(msg.Reason)
	case answerMsg:
		if err := m.c.sess.Answer(msg.id, msg.a); err != nil {
			m.answer.err = err.Error()
			return nil
		}
		m.screen = m.back
		_, word, _ := m.c.state(m.c.sess.Record.Item(msg.id))
		m.message = m.c.t("msg-answered", msg.id, word)
	case waiveMsg:
		if err := m.c.sess.Waive(msg.w); err != nil {
			m.waive.err = err.Error()
			return nil
		}
		m.screen = m.back
		m.message = m.c.t("msg-waived", msg.w.Item)
	case valueMsg:
		if err := m.c.sess.Attest(msg.id, msg.value, ""); err != nil {
			m.value.err = err.Error()
			return nil
		}
		m.screen = m.back
		_, word, _ := m.c.state(m.c.sess.Record.Item(msg.id))
		m.message = m.c.t("msg-valued", msg.id, word)
	case signMsg:
		if err := m.c.sess.Sign(msg.so); err != nil {
			m.sign.err = err.Error()
			return nil
		}
		m.screen = screenSaved
		return m.write()
	case savedMsg:
		m.saving = false
		m.saved = &msg.res
		m.done = msg.res.err == nil
		if m.done && m.peerSrc != nil { // the sealed record is what the peer link reads: look now
			return pollPeer(m.ctx, m.peerSrc, false)
		}
	case peerStatusMsg:
		m.peer, _ = m.peer.Update(msg)
		if msg.again {
			return tea.Tick(m.peerSrc.Interval(), func(time.Time) tea.Msg { return peerTickMsg{} })
		}
	case peerTickMsg:
		return pollPeer(m.ctx, m.peerSrc, true)
	case cancelMsg:
		m.screen = m.back
	case tea.KeyPressMsg:
		m.message = ""
		return m.key(msg)
	default:
		return m.forward(msg)
	}
	return nil
}

// forward passes other messages (cursor blinks, pastes) to the open form.
func (m *Model) forward(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch m.screen {
	case screenAnswer:
		m.answer, cmd = m.answer.Update(msg)
	case screenWaive:
		m.waive, cmd = m.waive.Update(msg)
	case screenValue:
		m.value, cmd = m.value.Update(msg)
	case screenSign:
		m.sign, cmd = m.sign.Update(msg)
	}
	return cmd
}

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	km := &m.keys
	if key.Matches(k, km.Interrupt) {
		return m.stop("Ctrl-C")
	}
	switch m.screen {
	case screenAnswer, screenWaive, screenValue, screenSign:
		return m.forward(k)
	case screenHelp:
		if key.Matches(k, km.Help, km.Back, km.Quit) {
			m.screen = m.back
		}
		return nil
	case screenPeer:
		if key.Matches(k, km.Peer, km.Back, km.Quit) {
			m.screen = m.back
		}
		return nil
	case screenQuit:
		switch {
		case key.Matches(k, km.Confirm):
			return m.stop("quit without sign-off")
		case key.Matches(k, km.Deny):
			m.screen = m.back
		}
		return nil
	case screenSaved:
		switch {
		case key.Matches(k, km.Quit):
			return m.stop("quit")
		case key.Matches(k, km.Lang):
			m.toggleLang()
		case key.Matches(k, km.Peer) && m.peerSrc != nil: // after signing, watch the joint verdict
			m.back, m.screen = screenSaved, screenPeer
		case key.Matches(k, km.Submit) && m.saved != nil && m.saved.err != nil:
			m.screen = screenSaved
			return m.write()
		}
		return nil
	}
	it := m.selected()
	switch {
	case key.Matches(k, km.Lang):
		m.toggleLang()
	case key.Matches(k, km.Help):
		m.back, m.screen = m.screen, screenHelp
	case key.Matches(k, km.Peer):
		if m.peerSrc == nil {
			m.message = m.c.t("msg-no-peer")
			return nil
		}
		m.back, m.screen = m.screen, screenPeer
	case key.Matches(k, km.Quit):
		if m.c.sess.Record.Signoff != nil {
			return m.stop("quit")
		}
		m.back, m.screen = m.screen, screenQuit
	case key.Matches(k, km.Detail) && m.screen == screenList:
		m.screen = screenDetail
	case key.Matches(k, km.Back) && m.screen == screenDetail:
		m.screen = screenList
	case key.Matches(k, km.Sign):
		return m.openSign()
	case key.Matches(k, km.Rerun):
		return m.rerun(it)
	case key.Matches(k, km.RerunAll):
		return m.rerunAll()
	case key.Matches(k, km.Yes):
		return m.openAnswer(it, "yes")
	case key.Matches(k, km.No):
		return m.openAnswer(it, "no")
	case key.Matches(k, km.NA):
		return m.openAnswer(it, "na")
	case key.Matches(k, km.Waive):
		return m.openWaive(it)
	case key.Matches(k, km.Value):
		return m.openValue(it)
	case m.screen == screenDetail:
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(k)
		return cmd
	default:
		var cmd tea.Cmd
		m.list, cmd = m.list.Update(k)
		return cmd
	}
	return nil
}

func (m *Model) selected() string {
	items := m.c.items()
	if len(items) == 0 {
		return ""
	}
	return items[m.list.selected()].ID
}

func (m *Model) signed() bool {
	if m.c.sess.Record.Signoff != nil {
		m.message = m.c.t("msg-signed")
		return true
	}
	return false
}

// open shows a form's screen over the current body; cmd is the form's first command (its cursor).
func (m *Model) open(sc screen, cmd tea.Cmd) tea.Cmd {
	m.back, m.screen = m.body(), sc
	m.layout()
	return cmd
}

func (m *Model) openAnswer(id, answer string) tea.Cmd {
	if m.signed() {
		return nil
	}
	if it := m.c.sess.Record.Item(id); it == nil || !m.c.manual(it) {
		m.message = m.c.t("msg-not-manual", id)
		return nil
	}
	var cmd tea.Cmd
	m.answer, cmd = newAnswerForm(m.c, id, answer)
	return m.open(screenAnswer, cmd)
}

func (m *Model) openWaive(id string) tea.Cmd {
	if m.signed() {
		return nil
	}
	it := m.c.sess.Record.Item(id)
	switch {
	case it == nil:
		return nil
	case it.Severity == profiles.Blocker:
		m.message = m.c.t("msg-blocker", id)
		return nil
	case m.c.sess.Record.Waived(id) != nil:
		m.message = m.c.t("msg-already", id)
		return nil
	case it.Status != checks.Fail && it.Status != checks.Error:
		_, word, _ := m.c.state(it)
		m.message = m.c.t("msg-not-waivable", id, word)
		return nil
	}
	var cmd tea.Cmd
	m.waive, cmd = newWaiveForm(m.c, id)
	return m.open(screenWaive, cmd)
}

func (m *Model) openValue(id string) tea.Cmd {
	if m.signed() {
		return nil
	}
	if m.c.sess.Prompt(id) == "" {
		m.message = m.c.t("msg-no-value", id)
		return nil
	}
	var cmd tea.Cmd
	m.value, cmd = newValueForm(m.c, id)
	return m.open(screenValue, cmd)
}

func (m *Model) openSign() tea.Cmd {
	if m.signed() {
		return nil
	}
	if n := m.c.runningCount(); n > 0 {
		m.message = m.c.t("msg-sign-wait", n)
		return nil
	}
	var cmd tea.Cmd
	m.sign, cmd = newSignForm(m.c)
	return m.open(screenSign, cmd)
}

// rerun runs one probe item again.
func (m *Model) rerun(id string) tea.Cmd {
	if m.signed() {
		return nil
	}
	it := m.c.sess.Record.Item(id)
	switch {
	case it == nil:
		return nil
	case m.c.manual(it):
		m.message = m.c.t("msg-manual-run", id)
		return nil
	case running(it) || m.c.queued[id]:
		m.message = m.c.t("msg-running", id)
		return nil
	}
	m.message = m.c.t("msg-rerun", id)
	return m.start(id)
}

// rerunAll runs every probe again, once nothing is running.
func (m *Model) rerunAll() tea.Cmd {
	if m.signed() {
		return nil
	}
	if m.c.runningCount() > 0 {
		m.message = m.c.t("msg-busy")
		return nil
	}
	m.message = m.c.t("msg-rerun-all")
	return m.start()
}

// body is the screen a form returns to.
func (m *Model) body() screen {
	if m.screen == screenDetail {
		return screenDetail
	}
	return screenList
}

// write saves the signed record as a command, so the terminal stays live while the disk syncs. Nothing
// changes the record meanwhile: after the sign-off every key that would is refused.
func (m *Model) write() tea.Cmd {
	m.saving = true
	rec, sv := m.c.sess.Record, m.saver
	return func() tea.Msg { return savedMsg{sv.save(rec)} }
}

// stop ends the program keeping the record: unless it is signed, it is marked interrupted with the
// reason and anything typed into an open form, and written, before the terminal is given back.
func (m *Model) stop(reason string) tea.Cmd {
	m.finish(reason)
	return tea.Quit
}

// finish makes sure the record is kept. It is called from Update when the operator or a signal stops
// the program, and by Run after the program has ended for any other reason (input lost, context
// cancelled); it does nothing the second time.
func (m *Model) finish(reason string) {
	if m.done || m.saver.signedAndKept() {
		m.done = true
		return
	}
	if rec := m.c.sess.Record; rec.Signoff == nil && rec.Interrupted == "" { // a retry keeps the first reason
		if d := m.drafts(); d != "" {
			reason += "; " + d
		}
		m.c.sess.Interrupt(reason)
	}
	res := m.saver.save(m.c.sess.Record)
	m.saved = &res
	m.done = res.err == nil
}

// drafts describes text typed into a form that was not confirmed, so an interruption does not lose it.
func (m *Model) drafts() string {
	var d []string
	switch m.screen {
	case screenAnswer:
		if v := strings.TrimSpace(m.answer.input.Value()); v != "" {
			d = append(d, fmt.Sprintf("unconfirmed answer to %s: %s, evidence %q", m.answer.id, m.answer.answer, v))
		}
	case screenWaive:
		if v := strings.TrimSpace(m.waive.input.Value()); v != "" {
			d = append(d, fmt.Sprintf("unconfirmed waiver of %s: %q", m.waive.id, v))
		}
	case screenValue:
		if v := strings.TrimSpace(m.value.input.Value()); v != "" {
			d = append(d, fmt.Sprintf("unconfirmed value for %s: %q", m.value.id, v))
		}
	case screenSign:
		if n, r := strings.TrimSpace(m.sign.name.Value()), strings.TrimSpace(m.sign.role.Value()); n != "" || r != "" {
			d = append(d, fmt.Sprintf("unconfirmed sign-off by %q (%q)", n, r))
		}
	}
	return strings.Join(d, "; ")
}

func (m *Model) toggleLang() {
	if m.c.lang == "ja" {
		m.c.lang = "en"
	} else {
		m.c.lang = "ja"
	}
	m.keys.SetLang(m.c.lang)
	m.layout()
}

// sync brings derived state up to date after every message: sizes (the banner is compact beside forms),
// the list's scroll and the detail's text.
func (m *Model) sync() {
	m.layout()
	m.detail.refresh(m.selected())
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
