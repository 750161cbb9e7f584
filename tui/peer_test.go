package tui

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// fakePeer stands for the peer link in frames: it answers with the status it holds. (The link itself
// is tested against two real servers in the peer package, and end to end in cmd/preflight.)
type fakePeer struct {
	mu    sync.Mutex
	st    peer.Status
	polls int
}

func (f *fakePeer) Poll(context.Context) peer.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	return f.st
}

func (f *fakePeer) Interval() time.Duration { return time.Millisecond }

func (f *fakePeer) set(st peer.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
}

// Sides of the made-up statuses.
var (
	peerGo = peer.Side{Facility: "surgeon-site", Role: "surgeon-side", State: peer.StateGo, Verdict: runlog.GO,
		Signer: "Taro Tanaka", SignerRole: "Network engineer", UserID: "taro.tanaka", Meaning: runlog.Approve,
		SignedAt: fixed.Add(-3 * time.Minute), Signature: runlog.SigValid, RecordSHA256: strings.Repeat("5e", 32)}
	peerRunning = peer.Side{Facility: "surgeon-site", Role: "surgeon-side", State: peer.StateRunning, Done: 9, Total: 13}
	peerNoGo    = peer.Side{Facility: "surgeon-site", Role: "surgeon-side", State: peer.StateNoGo, Verdict: runlog.NoGo,
		Blocking: []string{"video-relay-tls: fail — certificate expires in 20 days (warning: waive with a reason, or fix)"},
		Signer:   "Taro Tanaka", Meaning: runlog.Reject, SignedAt: fixed.Add(-time.Minute), Signature: runlog.SigValid}
	peerSplit = peer.Side{Facility: "surgeon-site", Role: "surgeon-side", State: peer.StateSplitView,
		Problem: "split view: the peer presents a log of 3 runs whose root differs from the one witnessed at 2026-12-04T09:20:00Z: its history was rewritten"}
	localRunning = peer.Side{Facility: "ward-7", Role: "patient-side", State: peer.StateRunning, Done: 4, Total: 9}
	localGo      = peer.Side{Facility: "ward-7", Role: "patient-side", State: peer.StateGo, Verdict: runlog.GO, Signer: "Hanako Sato",
		Meaning: runlog.Approve, SignedAt: fixed.Add(-time.Minute), Signature: runlog.SigValid}
	localNoGo = peer.Side{Facility: "ward-7", Role: "patient-side", State: peer.StateNoGo, Verdict: runlog.NoGo,
		Blocking: []string{"robot-ports: fail — 1 port(s) open", "dns-no-leak: fail — leaks", "vpn-tls: fail — TLS 1.0"}}
)

func status(local, remote peer.Side) peer.Status {
	st := peer.Status{Operation: "OP-2026-118", At: fixed, Via: "peer link 198.18.2.10:7443", Local: local, Peer: remote,
		Freshness: time.Hour, MaxClockOffset: 5 * time.Second, Offset: 2 * time.Millisecond, OffsetKnown: true}
	st.Verdict, st.Reasons = peer.Judge(local, remote, st.Offset, true, fixed, peer.Policy{Freshness: time.Hour, MaxClockOffset: 5 * time.Second})
	return st
}

func newPeerHarness(t *testing.T, lang string, w, h int, src *fakePeer) *harness {
	t.Helper()
	hs := &harness{t: t, wait: 3 * time.Second}
	save := func(r *runlog.Record) (string, string, error) {
		return "/var/lib/preflight/runs/" + r.RunID + "/record.json", strings.Repeat("ab", 32), nil
	}
	hs.m = New(context.Background(), newSession(ward(t, false)), Options{Lang: lang, Save: save, Peer: src,
		Now: func() time.Time { return fixed }, Location: time.UTC})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// TestGoldenPeer: the peer panel and the joint verdict, at the sizes the checklist is tested at.
func TestGoldenPeer(t *testing.T) {
	cases := []struct {
		name  string
		lang  string
		w, h  int
		drive func(h *harness, src *fakePeer)
	}{
		{name: "peer_asking_80x24", drive: func(h *harness, src *fakePeer) {}},
		{name: "peer_running_80x24", drive: func(h *harness, src *fakePeer) {
			h.send(peerStatusMsg{st: status(localRunning, peerRunning)})
		}},
		{name: "peer_go_here_nogo_80x24", drive: func(h *harness, src *fakePeer) {
			h.finishAll(nil)
			h.send(peerStatusMsg{st: status(localNoGo, peerGo)})
		}},
		{name: "peer_nogo_80x24", drive: func(h *harness, src *fakePeer) {
			readyForGO(h)
			h.send(peerStatusMsg{st: status(localGo, peerNoGo)})
		}},
		{name: "joint_ready_80x24", drive: func(h *harness, src *fakePeer) {
			readyForGO(h)
			src.set(status(localGo, peerGo))
			h.keys("s")
			h.typeText("Hanako Sato")
			h.keys("tab")
			h.typeText("network engineer on duty")
			h.keys("enter") // the saved record makes the panel look again at once
			h.keys("q")
		}},
		{name: "peer_split_80x24", drive: func(h *harness, src *fakePeer) {
			h.finishAll(nil)
			h.send(peerStatusMsg{st: status(localNoGo, peerSplit)})
		}},
		{name: "peer_detail_80x24", drive: func(h *harness, src *fakePeer) {
			h.finishAll(nil)
			h.send(peerStatusMsg{st: status(localNoGo, peerGo)})
			h.keys("p")
		}},
		{name: "joint_ready_160x48", w: 160, h: 48, drive: func(h *harness, src *fakePeer) {
			readyForGO(h)
			h.send(peerStatusMsg{st: status(localGo, peerGo)})
		}},
		{name: "japanese_peer_80x24", lang: "ja", drive: func(h *harness, src *fakePeer) {
			h.finishAll(nil)
			h.send(peerStatusMsg{st: status(localNoGo, peerGo)})
		}},
		{name: "peer_compact_detail_80x24", drive: func(h *harness, src *fakePeer) {
			h.finishAll(nil)
			h.send(peerStatusMsg{st: status(localNoGo, peerGo)})
			h.selectItem("robot-ports")
			h.keys("enter")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lang == "" {
				tc.lang = "en"
			}
			if tc.w == 0 {
				tc.w, tc.h = 80, 24
			}
			src := &fakePeer{st: status(localRunning, peerRunning)}
			h := newPeerHarness(t, tc.lang, tc.w, tc.h, src)
			h.m.peer.st = nil // as before the first look came back
			tc.drive(h, src)
			checkFrame(t, h.frame(colorprofile.NoTTY), tc.w, tc.h)
			golden.RequireEqual(t, h.frame(colorprofile.NoTTY))
		})
	}
}

// TestPeerPanelPolls: the panel looks when the checklist starts and again once the sign-off is kept, and
// p says so when the profile has no peer.
func TestPeerPanelPolls(t *testing.T) {
	src := &fakePeer{st: status(localRunning, peerRunning)}
	h := newPeerHarness(t, "en", 80, 24, src)
	h.run(h.m.Init())
	if src.polls == 0 || h.m.peer.st == nil || h.m.peer.st.Peer.State != peer.StateRunning {
		t.Fatalf("no look at start: %d polls", src.polls)
	}
	readyForGO(h)
	src.set(status(localGo, peerGo))
	before := src.polls
	h.keys("s")
	h.typeText("Hanako Sato")
	h.keys("tab")
	h.typeText("network engineer on duty")
	h.keys("enter")
	if src.polls == before || !h.m.peer.st.Ready() {
		t.Fatalf("no look after the sign-off was kept (%d → %d polls)", before, src.polls)
	}
	if o := h.m.outcome(); o.Joint != runlog.JointReady {
		t.Errorf("outcome joint %q", o.Joint)
	}
	plain := newHarness(t, newSession(ward(t, false)), "en", 80, 24)
	plain.keys("p")
	if !strings.Contains(plain.frame(colorprofile.NoTTY), "this profile has no peer") {
		t.Error("p without a peer says nothing")
	}
}

// pairDriver drives a Pair through Update, running the commands it returns as the program would (timers
// left out), like the harness does for one Model.
type pairDriver struct {
	t *testing.T
	p *Pair
	h *harness // for its command runner
}

func newPairDriver(t *testing.T, w, h int, focus int) (*pairDriver, [2]*fakePeer) {
	t.Helper()
	remote, err := os.ReadFile("testdata/ward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("id: ward-7", "id: remote-3", "role: patient-side", "role: surgeon-side",
		"Ward 7 operating theatre", "Remote console room 3", "第7病棟 手術室", "遠隔操作室3").Replace(string(remote))
	rp, err := profiles.Parse("testdata/remote.yaml", []byte(y), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	srcs := [2]*fakePeer{{}, {}}
	save := func(r *runlog.Record) (string, string, error) {
		return "/tmp/x/record.json", strings.Repeat("ab", 32), nil
	}
	opts := func(i int) Options {
		return Options{Lang: "en", Save: save, Peer: srcs[i], Now: func() time.Time { return fixed }, Location: time.UTC}
	}
	p := NewPair(context.Background(), PairSide{newSession(ward(t, false)), opts(0)}, PairSide{newSession(rp), opts(1)}, focus)
	d := &pairDriver{t: t, p: p}
	d.h = &harness{t: t, wait: 3 * time.Second}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	return d, srcs
}

func (d *pairDriver) send(msgs ...tea.Msg) {
	for _, msg := range msgs {
		_, cmd := d.p.Update(msg)
		d.run(cmd)
	}
}

func (d *pairDriver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	out := make(chan tea.Msg, 1)
	go func() { out <- cmd() }()
	select {
	case msg := <-out:
		switch msg := msg.(type) {
		case nil, tea.QuitMsg:
		case tea.BatchMsg:
			for _, c := range msg {
				d.run(c)
			}
		case sideMsg:
			switch msg.msg.(type) {
			case spinner.TickMsg, clockMsg, peerTickMsg:
				return
			}
			d.send(msg)
		default:
			d.send(msg)
		}
	case <-time.After(3 * time.Second):
	}
}

// side sends a message to one side, as its own command would.
func (d *pairDriver) side(i int, msgs ...tea.Msg) {
	for _, m := range msgs {
		d.send(sideMsg{i, m})
	}
}

func (d *pairDriver) finishAll(i int) {
	for _, it := range d.p.sides[i].c.sess.Profile.ProbeItems() {
		r, ok := results()[it.ID]
		if !ok || i == 1 {
			r = checks.Result{Status: checks.Pass, Summary: "as expected", Duration: time.Millisecond}
		}
		d.side(i, finished(it.ID, r))
	}
}

func TestGoldenPair(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w, h  int
		focus int
		keys  []string
	}{
		{"pair_160x48", 160, 48, 0, nil},
		{"pair_80x24", 80, 24, 0, nil},
		{"pair_tab_80x24", 80, 24, 0, []string{"tab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newPairDriver(t, tc.w, tc.h, tc.focus)
			d.finishAll(0)
			d.finishAll(1)
			d.side(0, peerStatusMsg{st: status(localNoGo, peerRunning)})
			remote := status(peer.Side{Facility: "remote-3", Role: "surgeon-side", State: peer.StateRunning, Done: 5, Total: 8},
				peer.Side{Facility: "ward-7", Role: "patient-side", State: peer.StateNoGo, Blocking: localNoGo.Blocking})
			d.side(1, peerStatusMsg{st: remote})
			for _, k := range tc.keys {
				d.send(press(k))
			}
			var b bytes.Buffer
			w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.NoTTY}
			_, _ = w.WriteString(d.p.render())
			frame := b.String()
			checkFrame(t, frame, tc.w, tc.h)
			golden.RequireEqual(t, frame)
		})
	}
}

// TestPairRoutesKeys: keys go to the side that has them, tab switches sides except inside a form, and
// each side's own messages come back to it.
func TestPairRoutesKeys(t *testing.T) {
	d, srcs := newPairDriver(t, 80, 24, 0)
	d.run(d.p.Init())
	if srcs[0].polls == 0 || srcs[1].polls == 0 {
		t.Fatalf("each side's peer panel looks at start: %d, %d", srcs[0].polls, srcs[1].polls)
	}
	d.finishAll(0)
	d.finishAll(1)
	d.send(press("tab"))
	if d.p.focus != 1 {
		t.Fatal("tab did not switch sides")
	}
	d.send(press("j"), press("j"), press("y")) // remote-3's first manual item: its answer form
	if d.p.sides[1].screen != screenAnswer || d.p.sides[0].screen != screenList {
		t.Fatalf("y went to the wrong side: %d %d", d.p.sides[0].screen, d.p.sides[1].screen)
	}
	d.send(press("tab"))
	if d.p.focus != 1 {
		t.Fatal("tab in a form switched sides")
	}
	d.send(press("esc"), press("tab"))
	if d.p.focus != 0 {
		t.Fatal("tab after the form did not switch back")
	}
	if r0, r1 := d.p.sides[0].c.sess.Record, d.p.sides[1].c.sess.Record; r0.Item("robot-ports").Status != checks.Fail || r1.Item("robot-ports").Status != checks.Pass {
		t.Fatal("results went to the wrong side")
	}
}
