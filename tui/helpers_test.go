package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
	"github.com/telesurgery-preflight/preflight/session"
)

// fixed is the wall clock of every golden frame.
var fixed = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)

// ward loads the test profile; withClock adds an ntp item so the header shows the clock offset (added in
// code, so the fixture does not depend on the ntp probe's parameters).
func ward(t *testing.T, withClock bool) *profiles.Profile {
	t.Helper()
	p, err := profiles.Load("testdata/ward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if withClock {
		sec := p.Sections[0]
		sec.Items = append(sec.Items, &profiles.Item{
			ID: "clock-sync", Guideline: "V(0)", Severity: profiles.Warning, Section: sec.ID,
			Title:  profiles.Text{En: "Clock agrees with the facility's time server", Ja: "時刻が施設の時刻サーバと一致"},
			Probe:  &profiles.Probe{Kind: "ntp"},
			Remedy: profiles.Text{En: "Synchronise the engineer's host with the facility NTP server"},
		})
	}
	return p
}

// newSession is a session with a fixed run id and clock, for frames that compare byte for byte.
func newSession(p *profiles.Profile) *session.Session {
	s := session.New(p, "OP-2026-118")
	s.Now = func() time.Time { return fixed }
	s.Record.RunID = "20261204T093000Z-0123456789ab"
	s.Record.StartedAt = fixed
	return s
}

// harness drives a Model through Update directly, running the commands it returns (and the messages
// they produce) the way the program would, except for the spinner's and clock's timers.
type harness struct {
	t     *testing.T
	m     *Model
	quit  bool
	mu    sync.Mutex
	saves []runlog.Record // copies of what Save was given
	wait  time.Duration   // how long a command may take to produce its message
}

func newHarness(t *testing.T, s *session.Session, lang string, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, wait: 3 * time.Second}
	save := func(r *runlog.Record) (string, string, error) {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		b, err := json.Marshal(r) // a deep copy: what would be on disk at this moment
		if err != nil {
			return "", "", err
		}
		var c runlog.Record
		if err := json.Unmarshal(b, &c); err != nil {
			return "", "", err
		}
		hs.saves = append(hs.saves, c)
		return "/var/lib/preflight/runs/" + r.RunID + "/record.json", strings.Repeat("ab", 32), nil
	}
	hs.m = New(context.Background(), s, Options{Lang: lang, Save: save, Now: func() time.Time { return fixed }, Location: time.UTC})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

func (h *harness) send(msgs ...tea.Msg) {
	h.t.Helper()
	for _, msg := range msgs {
		_, cmd := h.m.Update(msg)
		h.run(cmd)
	}
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	out := make(chan tea.Msg, 1)
	go func() { out <- cmd() }()
	select {
	case msg := <-out:
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			for _, c := range msg {
				h.run(c)
			}
		case tea.QuitMsg:
			h.quit = true
		case spinner.TickMsg, clockMsg, peerTickMsg:
			// timers: frames must not depend on when the test ran
		default:
			h.send(msg)
		}
	case <-time.After(h.wait):
	}
}

func (h *harness) keys(ks ...string) {
	h.t.Helper()
	for _, k := range ks {
		h.send(press(k))
	}
}

func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// selectItem moves the cursor to item id.
func (h *harness) selectItem(id string) {
	h.t.Helper()
	h.keys("g")
	for range h.m.c.items() {
		if h.m.selected() == id {
			return
		}
		h.keys("j")
	}
	h.t.Fatalf("no item %q", id)
}

func (h *harness) lastSave() runlog.Record {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.saves) == 0 {
		h.t.Fatal("the record was never saved")
	}
	return h.saves[len(h.saves)-1]
}

// frame renders the current frame through a colour profile, as the terminal would receive it: NoTTY is
// plain text, Ascii keeps bold and reverse but no colour (NO_COLOR).
func (h *harness) frame(p colorprofile.Profile) string {
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: p}
	_, _ = w.WriteString(h.m.render())
	return b.String()
}

func press(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func windowSize(w, h int) tea.Msg { return tea.WindowSizeMsg{Width: w, Height: h} }

func started(id string) tea.Msg {
	return resultMsg{u: checks.Update{ID: id, Phase: checks.Started}}
}

func finished(id string, r checks.Result) tea.Msg {
	return resultMsg{u: checks.Update{ID: id, Phase: checks.Finished, Result: r}}
}

// results are made-up probe results shaped like the real probes' evidence.
func results() map[string]checks.Result {
	ms := time.Millisecond
	return map[string]checks.Result{
		"robot-ports": {Status: checks.Fail, Summary: "1 port(s) open that the allow-list does not name: [18023]", Duration: 1027 * ms,
			Evidence: checks.Evidence{"address": "127.77.1.10", "allow": []int{18443, 18444}, "open": []int{18023, 18443, 18444},
				"unexpected": []int{18023}, "ports": "18000-18999", "scanned": 1000, "refused": 997, "filtered": 0, "unreachable": 0, "target": "robot"}},
		"dns-no-leak": {Status: checks.Fail, Summary: "telemetry.vendor.example. A over udp: resolved to [192.0.2.80] (NOERROR), expected refused — the name leaks through this resolver", Duration: 7 * ms,
			Evidence: checks.Evidence{"address": "127.77.5.53:18053", "queries": []map[string]any{
				{"name": "www.example.com.", "type": "A", "transport": "udp", "rcode": "REFUSED", "answers": []string{}, "expect": "refused", "status": "pass", "rtt_ms": 1.4},
				{"name": "telemetry.vendor.example.", "type": "A", "transport": "udp", "rcode": "NOERROR", "answers": []string{"192.0.2.80"}, "expect": "refused", "status": "fail", "rtt_ms": 3.3},
			}}},
		"cloud-api-tls": {Status: checks.Pass, Summary: "TLS 1.3 only, no weak suite, chain verified, 364 days left, client certificate requested", Duration: 11 * ms,
			Evidence: checks.Evidence{"accepted_versions": []string{"1.3"}, "client_cert_requested": true, "chain_verified": true, "chain_error": "",
				"days_left": 364, "not_after": "2027-12-04T09:00:00Z", "subject": "CN=api.cloud.lab.test", "weak_suites_accepted": []string{}}},
		"video-relay-tls": {Status: checks.Fail, Summary: "certificate expires in 9 days (minimum 14)", Duration: 15 * ms,
			Evidence: checks.Evidence{"accepted_versions": []string{"1.3"}, "days_left": 9, "not_after": "2026-12-13T09:00:00Z", "chain_verified": true, "client_cert_requested": true}},
		"vpn-tls": {Status: checks.Fail, Summary: "TLS 1.0, 1.1 accepted (minimum 1.2); weak cipher suites accepted: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Duration: 27 * ms,
			Evidence: checks.Evidence{"accepted_versions": []string{"1.0", "1.1", "1.2", "1.3"}, "weak_suites_accepted": []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
				"client_cert_requested": false, "chain_verified": true, "chain_error": "", "days_left": 364, "not_after": "2027-12-04T09:00:00Z",
				"versions": map[string]any{
					"1.0": map[string]any{"outcome": "accepted", "cipher_suite": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
					"1.1": map[string]any{"outcome": "accepted", "cipher_suite": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
					"1.2": map[string]any{"outcome": "accepted", "cipher_suite": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
					"1.3": map[string]any{"outcome": "accepted", "cipher_suite": "TLS_AES_128_GCM_SHA256"},
				}}},
		"clock-sync": {Status: checks.Pass, Summary: "offset +3.2 ms within 50 ms", Duration: 40 * ms,
			Evidence: checks.Evidence{"offset_ms": 3.2, "rtt_ms": 0.8, "stratum": 2}},
	}
}

// finishAll delivers a result for every probe item, the made-up one where there is one, else a pass.
func (h *harness) finishAll(override map[string]checks.Result) {
	h.t.Helper()
	rs := results()
	for id, r := range override {
		rs[id] = r
	}
	for _, it := range h.m.c.sess.Profile.ProbeItems() {
		r, ok := rs[it.ID]
		if !ok {
			r = checks.Result{Status: checks.Pass, Summary: "as expected", Duration: time.Millisecond}
		}
		h.send(finished(it.ID, r))
	}
}
