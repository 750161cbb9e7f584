package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// A signal (here SIGHUP, as Run sends it) ends the program with the record written, marked interrupted,
// carrying the answers given and the text typed into a form that was still open.
func TestInterruptKeepsEverythingEntered(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.finishAll(nil)
	h.selectItem("monitoring")
	h.keys("y")
	h.typeText("SOC ticket 4411")
	h.keys("enter")
	h.selectItem("maintenance-plan")
	h.keys("y")
	h.typeText("MP-2026-0")
	h.send(InterruptMsg{Reason: "SIGHUP (terminal closed)"})

	if !h.quit {
		t.Fatal("the program did not quit")
	}
	r := h.lastSave()
	if !strings.HasPrefix(r.Interrupted, "SIGHUP (terminal closed)") || !strings.Contains(r.Interrupted, `unconfirmed answer to maintenance-plan: yes, evidence "MP-2026-0"`) {
		t.Errorf("interrupted = %q", r.Interrupted)
	}
	if a := item(r, "monitoring").Answer; a == nil || a.Evidence != "SOC ticket 4411" {
		t.Errorf("answer lost: %+v", a)
	}
	if item(r, "maintenance-plan").Answer != nil {
		t.Error("an unconfirmed answer was recorded as an answer")
	}
	if r.Signoff != nil || r.Verdict == runlog.GO || r.FinishedAt.IsZero() {
		t.Errorf("signoff %v verdict %s finished %v", r.Signoff, r.Verdict, r.FinishedAt)
	}
	// Run calls finish again after the program ends: the record is not written twice.
	h.m.finish("stopped")
	if n := len(h.saves); n != 1 {
		t.Errorf("saved %d times", n)
	}
}

func TestCtrlCStopsAtOnceAndKeepsTheRecord(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.send(started("robot-ports"))
	h.keys("ctrl+c")
	if !h.quit {
		t.Fatal("ctrl+c did not quit")
	}
	r := h.lastSave()
	if r.Interrupted != "Ctrl-C" {
		t.Errorf("interrupted = %q", r.Interrupted)
	}
	// The item that was running could not decide; those not started were not run. Neither reads "running".
	if it := item(r, "robot-ports"); it.Status != checks.Error || !strings.Contains(it.Summary, "interrupted") {
		t.Errorf("robot-ports %s %q", it.Status, it.Summary)
	}
	if it := item(r, "vpn-tls"); it.Status != checks.Skipped {
		t.Errorf("vpn-tls %s %q", it.Status, it.Summary)
	}
}

func TestQuitAsksWhenUnsigned(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.finishAll(nil)
	h.keys("q")
	if h.quit || h.m.screen != screenQuit {
		t.Fatal("q quit without asking")
	}
	h.keys("n")
	if h.quit || h.m.screen != screenList {
		t.Fatal("n did not go back")
	}
	h.keys("q", "y")
	if !h.quit || h.lastSave().Interrupted != "quit without sign-off" {
		t.Fatalf("quit %v, saves %d", h.quit, len(h.saves))
	}
}

func TestAnswerNeedsEvidenceWhenRequired(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.selectItem("maintenance-plan")
	h.keys("y", "enter")
	if h.m.screen != screenAnswer || h.m.answer.err == "" {
		t.Fatal("an empty required evidence was accepted")
	}
	if h.m.c.sess.Record.Item("maintenance-plan").Answer != nil {
		t.Fatal("recorded without evidence")
	}
	h.keys("esc")
	// "no" and "not applicable" need no evidence; optional evidence may stay empty.
	h.keys("n", "enter")
	h.selectItem("byod-ledger")
	h.keys("y", "enter")
	rec := h.m.c.sess.Record
	if a := rec.Item("maintenance-plan").Answer; a == nil || a.Answer != runlog.No {
		t.Errorf("maintenance-plan: %+v", a)
	}
	if a := rec.Item("byod-ledger").Answer; a == nil || a.Answer != runlog.Yes {
		t.Errorf("byod-ledger: %+v", a)
	}
	if rec.Verdict != runlog.NoGo {
		t.Errorf("answered no to a blocker: verdict %s", rec.Verdict)
	}
}

func TestKeysThatDoNotApplySayWhy(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.send(started("robot-ports"))
	for _, tc := range []struct{ item, key, want string }{
		{"robot-ports", "y", "robot-ports is a probe: it is run (r), not answered"},
		{"robot-ports", "r", "robot-ports is already running"},
		{"monitoring", "r", "monitoring is a manual item: answer it with y, n or a"},
		{"monitoring", "s", "1 probe(s) still running: sign off when they have finished"},
		{"cloud-api-tls", "w", "Blockers cannot be waived: fix cloud-api-tls, then re-run it (r)"},
		{"video-relay-tls", "w", "video-relay-tls shows WAIT: only a failed warning-level item can be waived"},
		{"monitoring", "R", "probes are still running: wait for them to finish"},
	} {
		h.selectItem(tc.item)
		h.keys(tc.key)
		if h.m.message != tc.want {
			t.Errorf("%s on %s: message %q, want %q", tc.key, tc.item, h.m.message, tc.want)
		}
		if h.m.screen != screenList {
			t.Errorf("%s on %s opened screen %d", tc.key, tc.item, h.m.screen)
		}
	}
}

func TestSignOffWritesOnceAndLocksTheRecord(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	readyForGO(h)
	if v := h.m.c.sess.Record.Verdict; v != runlog.GO {
		t.Fatalf("verdict %s %v", v, h.m.c.sess.Record.Blocking)
	}
	h.keys("s", "tab")
	h.typeText("network engineer on duty")
	h.keys("enter") // no name: refused
	if h.m.screen != screenSign || h.m.c.sess.Record.Signoff != nil || h.m.sign.err == "" {
		t.Fatal("signed without a name")
	}
	h.keys("tab")
	h.typeText("Hanako Sato")
	h.keys("enter")
	r := h.lastSave()
	if r.Signoff == nil || r.Signoff.Name != "Hanako Sato" || r.Signoff.Role != "network engineer on duty" ||
		!strings.HasPrefix(r.Signoff.Statement, "Network readiness confirmed for operation OP-2026-118") ||
		len(r.Signoff.Waivers) != 1 || r.Interrupted != "" {
		t.Fatalf("signoff %+v interrupted %q", r.Signoff, r.Interrupted)
	}
	if h.m.screen != screenSaved || !strings.Contains(h.frame(colorprofile.NoTTY), strings.Repeat("ab", 32)) {
		t.Error("the saved screen does not show the hash")
	}
	h.m.screen = screenList // nothing may change a signed record
	h.selectItem("monitoring")
	h.keys("n")
	if h.m.message != "the record is signed: nothing can change now" || h.m.c.sess.Record.Item("monitoring").Answer.Answer != runlog.Yes {
		t.Errorf("signed record changed: %q", h.m.message)
	}
	h.keys("q")
	if !h.quit || len(h.saves) != 1 {
		t.Errorf("quit %v after %d saves; a signed, written record needs no second write", h.quit, len(h.saves))
	}
}

// When writing fails at the interruption, Run tries again on the way out, keeping the first reason.
func TestInterruptedWriteIsRetriedWithTheFirstReason(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	var reasons []string
	h.m.saver.fn = func(r *runlog.Record) (string, string, error) {
		reasons = append(reasons, r.Interrupted)
		if len(reasons) == 1 {
			return "", "", fmt.Errorf("disk full")
		}
		return "/x/record.json", "00", nil
	}
	h.keys("ctrl+c")
	h.m.finish("terminal lost: EOF")
	if len(reasons) != 2 || reasons[1] != "Ctrl-C" || h.m.outcome().SaveErr != nil {
		t.Fatalf("writes with reasons %q, outcome %+v", reasons, h.m.outcome())
	}
}

// A demo without --log-dir keeps nothing, and every screen that would claim otherwise says so.
func TestNothingKeptWithoutSave(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.m.saver.fn = nil
	h.finishAll(nil)
	h.keys("q")
	if f := h.frame(colorprofile.NoTTY); !strings.Contains(f, "No log directory was given") {
		t.Errorf("quit dialog:\n%s", f)
	}
	h.keys("n", "s")
	h.typeText("Hanako Sato")
	h.keys("tab")
	h.typeText("engineer")
	h.keys("enter")
	if f := h.frame(colorprofile.NoTTY); !strings.Contains(f, "this record is not kept") {
		t.Errorf("saved screen:\n%s", f)
	}
	if o := h.m.outcome(); !o.NotKept || !o.Signed || !strings.Contains(o.Summary(), "not kept") {
		t.Errorf("outcome %+v", o)
	}
}

func TestSaveFailureIsShownAndRetried(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	fail := true
	h.m.saver.fn = func(r *runlog.Record) (string, string, error) {
		if fail {
			return "", "", fmt.Errorf("disk full")
		}
		return "/x/record.json", "00", nil
	}
	readyForGO(h)
	h.keys("s")
	h.typeText("Hanako Sato")
	h.keys("tab")
	h.typeText("engineer")
	h.keys("enter")
	if f := h.frame(colorprofile.NoTTY); !strings.Contains(f, "Could not write the record: disk full") {
		t.Fatalf("save error not shown:\n%s", f)
	}
	fail = false
	h.keys("enter")
	if f := h.frame(colorprofile.NoTTY); !strings.Contains(f, "/x/record.json") {
		t.Fatalf("retry did not write:\n%s", f)
	}
}

func TestLanguageToggleChangesEveryLabel(t *testing.T) {
	h := newHarness(t, newSession(ward(t, true)), "en", 160, 48)
	h.finishAll(nil)
	h.selectItem("robot-ports")
	en := h.frame(colorprofile.NoTTY)
	h.keys("L")
	ja := h.frame(colorprofile.NoTTY)
	for _, w := range []string{"operation", "profile", "NO-GO ", "blocks:", "passed", "FAIL", "blocker", "Result", "Remedy",
		"Evidence", "What was checked", "detail", "sign off", "quit", "Closed-network configuration", "clock offset"} {
		if !strings.Contains(en, w) {
			t.Errorf("English frame lacks %q", w)
		}
		if strings.Contains(ja, w) {
			t.Errorf("Japanese frame still shows %q", w)
		}
	}
	for _, w := range []string{"手術ID", "NO-GO（実施不可）", "不合格", "必須", "対処", "証跡", "閉域網構成", "署名", "時刻ずれ"} {
		if !strings.Contains(ja, w) {
			t.Errorf("Japanese frame lacks %q", w)
		}
	}
	h.keys("L")
	if h.frame(colorprofile.NoTTY) != en {
		t.Error("toggling twice does not give the English frame back")
	}
}

// Every screen, at every size from tiny to large, in both languages, fits the terminal and keeps its
// borders whole — reached by resizing, as a terminal window is.
func TestFramesFitEverySize(t *testing.T) {
	screens := map[string]func(h *harness){
		"list":   func(h *harness) { h.finishAll(nil) },
		"detail": func(h *harness) { h.finishAll(nil); h.selectItem("vpn-tls"); h.keys("enter") },
		"answer": func(h *harness) {
			h.finishAll(nil)
			h.selectItem("monitoring")
			h.keys("y")
			h.typeText("チケット 4411 approved")
		},
		"sign": func(h *harness) { readyForGO(h); h.keys("s") },
		"help": func(h *harness) { h.keys("?") },
	}
	for _, lang := range []string{"en", "ja"} {
		for name, drive := range screens {
			h := newHarness(t, newSession(ward(t, true)), lang, 80, 24)
			drive(h)
			for _, size := range [][2]int{{1, 1}, {10, 4}, {20, 8}, {30, 10}, {44, 16}, {60, 20}, {80, 24}, {100, 30}, {119, 40}, {120, 40}, {160, 48}, {200, 60}, {80, 24}} {
				h.send(windowSize(size[0], size[1]))
				t.Run(fmt.Sprintf("%s/%s/%dx%d", lang, name, size[0], size[1]), func(t *testing.T) {
					checkFrame(t, h.frame(colorprofile.NoTTY), size[0], size[1])
				})
			}
		}
	}
}

// Resizing re-lays the frame out; the selection stays in view.
func TestResizeKeepsSelectionInView(t *testing.T) {
	h := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	h.finishAll(nil)
	h.selectItem("maintenance-plan")
	h.send(windowSize(60, 12))
	f := h.frame(colorprofile.NoTTY)
	checkFrame(t, f, 60, 12)
	if !strings.Contains(f, "> ✎ ASK") {
		t.Errorf("selected row not in view after resize:\n%s", f)
	}
}

func item(r runlog.Record, id string) *runlog.ItemResult {
	for _, it := range r.Items {
		if it.ID == id {
			return it
		}
	}
	return &runlog.ItemResult{}
}

// TestFirmwareVersionTypedIn: a firmware item read by hand waits for the version on the appliance's
// admin screen; v opens a field, and the probe judges what is typed against the advisory set.
func TestFirmwareVersionTypedIn(t *testing.T) {
	p := ward(t, false)
	sec := p.Sections[0]
	spec := &checks.FirmwareSpec{Vendor: "fortinet", Product: "fortios", Source: checks.FirmwareSource{Method: "manual"}}
	sec.Items = append(sec.Items, &profiles.Item{ID: "vpn-firmware", Guideline: "V(3)-3", Severity: profiles.Blocker,
		Section: sec.ID, Title: profiles.Text{En: "VPN firmware has no known vulnerability"},
		Probe: &profiles.Probe{Kind: "firmware", Spec: spec}, Remedy: profiles.Text{En: "Upgrade"}})
	h := newHarness(t, newSession(p), "en", 80, 24)
	h.selectItem("robot-ports")
	h.keys("v")
	if h.m.message != "robot-ports reads its value itself: nothing to type" || h.m.screen != screenList {
		t.Fatalf("v on a measured item: %q, screen %d", h.m.message, h.m.screen)
	}
	h.selectItem("vpn-firmware")
	h.keys("v")
	if h.m.screen != screenValue || !strings.Contains(h.frame(colorprofile.Ascii), "admin screen") {
		t.Fatalf("value form not shown:\n%s", h.frame(colorprofile.Ascii))
	}
	h.keys("enter")
	if h.m.value.err != "type the version shown on the device" {
		t.Fatalf("empty value accepted: %q", h.m.value.err)
	}
	h.typeText("7.2.5 build1517")
	h.keys("enter")
	it := h.m.c.sess.Record.Item("vpn-firmware")
	if h.m.screen != screenList || it.Status != checks.Fail || !strings.Contains(it.Summary, "CVE-2024-21762") {
		t.Fatalf("screen %d, item %s %q", h.m.screen, it.Status, it.Summary)
	}
	if src, _ := it.Evidence["source"].(checks.Evidence); src["attested"] != true {
		t.Fatalf("typed version not marked attested: %v", it.Evidence["source"])
	}
}
