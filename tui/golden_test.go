package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/telesurgery-preflight/preflight/checks"
)

// TestGolden compares frames at fixed sizes with testdata/TestGolden/*.golden (go test ./tui -update
// rewrites them). Every frame is also checked for its size and for unbroken borders.
func TestGolden(t *testing.T) {
	cases := []struct {
		name    string
		lang    string
		w, h    int
		profile colorprofile.Profile
		clock   bool
		drive   func(h *harness)
	}{
		{name: "initial_80x24", drive: func(h *harness) {}},
		{name: "running_80x24", drive: func(h *harness) {
			h.send(started("robot-ports"), started("dns-no-leak"), started("cloud-api-tls"))
			h.send(finished("cloud-api-tls", results()["cloud-api-tls"]))
		}},
		{name: "failure_detail_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("robot-ports")
			h.keys("enter")
		}},
		{name: "failure_detail_160x48", w: 160, h: 48, clock: true, drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("vpn-tls")
		}},
		{name: "dns_detail_160x48", w: 160, h: 48, drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("dns-no-leak")
			h.keys("enter")
		}},
		{name: "answer_form_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("maintenance-plan")
			h.keys("y")
			h.typeText("MP-2026-014 approved by CISO Tanaka")
		}},
		{name: "answer_missing_evidence_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("maintenance-plan")
			h.keys("y", "enter")
		}},
		{name: "answered_detail_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("maintenance-plan")
			h.keys("y")
			h.typeText("MP-2026-014 approved by CISO Tanaka")
			h.keys("enter", "enter")
		}},
		{name: "waiver_form_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("video-relay-tls")
			h.keys("w")
			h.typeText("renewal booked for 12-10; relay carries the room camera only")
		}},
		{name: "waived_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("video-relay-tls")
			h.keys("w")
			h.typeText("renewal booked for 12-10; relay carries the room camera only")
			h.keys("enter")
		}},
		{name: "blocker_not_waivable_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("robot-ports")
			h.keys("w")
		}},
		{name: "signoff_form_80x24", drive: func(h *harness) {
			readyForGO(h)
			h.keys("s")
			h.typeText("Hanako Sato")
			h.keys("tab")
			h.typeText("network engineer on duty")
		}},
		{name: "signed_80x24", drive: func(h *harness) {
			readyForGO(h)
			h.keys("s")
			h.typeText("Hanako Sato")
			h.keys("tab")
			h.typeText("network engineer on duty")
			h.keys("enter")
		}},
		{name: "japanese_signoff_80x24", lang: "ja", drive: func(h *harness) {
			h.finishAll(nil)
			h.keys("s")
			h.typeText("佐藤 花子")
		}},
		{name: "go_160x48", w: 160, h: 48, clock: true, drive: readyForGO},
		{name: "japanese_80x24", lang: "ja", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("vpn-tls")
		}},
		{name: "japanese_detail_80x24", lang: "ja", drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("robot-ports")
			h.keys("enter")
		}},
		{name: "japanese_answer_160x48", lang: "ja", w: 160, h: 48, clock: true, drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("monitoring")
			h.keys("y")
			h.typeText("監視チケット SOC-4411")
		}},
		{name: "language_toggled_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.keys("L")
		}},
		{name: "no_color_80x24", profile: colorprofile.Ascii, drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("vpn-tls")
			h.keys("enter")
		}},
		{name: "help_80x24", drive: func(h *harness) { h.keys("?") }},
		{name: "quit_confirm_80x24", drive: func(h *harness) {
			h.finishAll(nil)
			h.keys("q")
		}},
		{name: "narrow_44x16", w: 44, h: 16, drive: func(h *harness) {
			h.finishAll(nil)
			h.selectItem("robot-ports")
			h.keys("enter")
		}},
		{name: "narrow_japanese_44x16", lang: "ja", w: 44, h: 16, drive: func(h *harness) { h.finishAll(nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lang == "" {
				tc.lang = "en"
			}
			if tc.w == 0 {
				tc.w, tc.h = 80, 24
			}
			if tc.profile == 0 {
				tc.profile = colorprofile.NoTTY
			}
			h := newHarness(t, newSession(ward(t, tc.clock)), tc.lang, tc.w, tc.h)
			tc.drive(h)
			out := h.frame(tc.profile)
			checkFrame(t, h.frame(colorprofile.NoTTY), tc.w, tc.h)
			golden.RequireEqual(t, out)
		})
	}
}

// readyForGO answers every manual item, waives the failed warning, and gives every blocker a pass.
func readyForGO(h *harness) {
	pass := checks.Result{Status: checks.Pass, Summary: "as required"}
	h.finishAll(map[string]checks.Result{"robot-ports": pass, "dns-no-leak": pass, "vpn-tls": pass})
	for id, ev := range map[string]string{"monitoring": "SOC ticket 4411", "maintenance-plan": "MP-2026-014 approved by CISO Tanaka"} {
		h.selectItem(id)
		h.keys("y")
		h.typeText(ev)
		h.keys("enter")
	}
	h.selectItem("byod-ledger")
	h.keys("a", "enter")
	h.selectItem("video-relay-tls")
	h.keys("w")
	h.typeText("renewal booked for 12-10; relay carries the room camera only")
	h.keys("enter")
}

// checkFrame fails when a frame is not exactly h lines of at most w cells, or when a bordered line does
// not run the full width and end on a border (what a CJK width mistake or an overflow looks like).
func checkFrame(t *testing.T, frame string, w, h int) {
	t.Helper()
	lines := strings.Split(frame, "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		for _, r := range l {
			if r < 0x20 || r == 0x7f {
				t.Errorf("line %d holds control character %U: %q", i+1, r, l)
			}
		}
		cw := cellWidth(l)
		if cw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, cw, w, l)
		}
		if strings.ContainsAny(l, "│┃╭╮╰╯┏┓┗┛") {
			r := []rune(strings.TrimRight(l, " "))
			if cw != w || !strings.ContainsRune("│┃╮╯┓┛", r[len(r)-1]) {
				t.Errorf("line %d has a broken border (%d of %d cells): %q", i+1, cw, w, l)
			}
		}
	}
}
