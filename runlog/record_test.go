package runlog

import (
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
)

const verdictProfile = `preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["127.0.0.0/8"]
targets: {lo: {address: 127.0.0.1}}
sections:
  - id: s
    title: S
    items:
      - {id: b, title: B, guideline: "V(0)", probe: {kind: connect, target: lo, port: 1, expect: closed}, remedy: R}
      - {id: w, title: W, guideline: "V(0)", severity: warning, probe: {kind: connect, target: lo, port: 1, expect: closed}, remedy: R}
      - {id: m, title: M, guideline: "V(3)-2", manual: {question: Q, evidence: required}}
      - {id: mw, title: MW, guideline: "V(2)-6", severity: warning, manual: {question: Q}}
`

func newRecord(t *testing.T) (*profiles.Profile, *Record) {
	t.Helper()
	p, err := profiles.Parse("verdict.yaml", []byte(verdictProfile), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p, New(p, "OP-1", "test", "host", time.Now())
}

func TestVerdict(t *testing.T) {
	now := time.Now()
	yes := Answer{Answer: Yes, Evidence: "DOC-1", At: now}
	for _, tc := range []struct {
		name    string
		b, w    checks.Status
		m, mw   *Answer
		waive   bool
		want    string
		blocked []string // item ids named in Blocking
	}{
		{"all pending", checks.Pending, checks.Pending, nil, nil, false, Incomplete, []string{"b", "w", "m", "mw"}},
		{"all good", checks.Pass, checks.Pass, &yes, &yes, false, GO, nil},
		{"warn status counts as passed", checks.Warn, checks.Warn, &yes, &Answer{Answer: NA}, false, GO, nil},
		{"blocker failed", checks.Fail, checks.Pass, &yes, &yes, false, NoGo, []string{"b"}},
		{"blocker error is not a pass", checks.Error, checks.Pass, &yes, &yes, false, NoGo, []string{"b"}},
		{"blocker skipped (cancelled) blocks", checks.Skipped, checks.Pass, &yes, &yes, false, NoGo, []string{"b"}},
		{"warning failed, unwaived", checks.Pass, checks.Fail, &yes, &yes, false, NoGo, []string{"w"}},
		{"warning failed, waived", checks.Pass, checks.Fail, &yes, &yes, true, GO, nil},
		{"warning error, waived", checks.Pass, checks.Error, &yes, &yes, true, GO, nil},
		{"manual unanswered", checks.Pass, checks.Pass, nil, &yes, false, Incomplete, []string{"m"}},
		{"manual no blocks", checks.Pass, checks.Pass, &Answer{Answer: No}, &yes, false, NoGo, []string{"m"}},
		{"failure outranks missing answers", checks.Fail, checks.Pass, nil, nil, false, NoGo, []string{"b", "m", "mw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r := newRecord(t)
			for id, s := range map[string]checks.Status{"b": tc.b, "w": tc.w} {
				if s != checks.Pending {
					if err := r.SetResult(id, checks.Result{Status: s, Summary: string(s)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for id, a := range map[string]*Answer{"m": tc.m, "mw": tc.mw} {
				if a != nil {
					if err := r.SetAnswer(p, id, *a); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.waive {
				if err := r.Waive(Waiver{Item: "w", Reason: "accepted by CISO for OP-1"}); err != nil {
					t.Fatal(err)
				}
			}
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (blocking %v)", r.Verdict, tc.want, r.Blocking)
			}
			if len(r.Blocking) != len(tc.blocked) {
				t.Fatalf("blocking %v, want items %v", r.Blocking, tc.blocked)
			}
			for i, id := range tc.blocked {
				if !strings.HasPrefix(r.Blocking[i], id+":") {
					t.Errorf("blocking[%d] = %q, want item %s", i, r.Blocking[i], id)
				}
			}
		})
	}
}

func TestWaiverRules(t *testing.T) {
	_, r := newRecord(t)
	_ = r.SetResult("b", checks.Result{Status: checks.Fail})
	_ = r.SetResult("w", checks.Result{Status: checks.Pass})
	for _, tc := range []struct {
		w    Waiver
		want string
	}{
		{Waiver{Item: "b", Reason: "x"}, "blockers cannot be waived"},
		{Waiver{Item: "w", Reason: "x"}, "only a failed warning-level item"},
		{Waiver{Item: "nope", Reason: "x"}, "no item"},
	} {
		if err := r.Waive(tc.w); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Waive(%+v) = %v, want %q", tc.w, err, tc.want)
		}
	}
	_ = r.SetResult("w", checks.Result{Status: checks.Fail})
	if err := r.Waive(Waiver{Item: "w"}); err == nil {
		t.Error("a waiver without a reason was accepted")
	}
}

func TestAnswerNeedsEvidence(t *testing.T) {
	p, r := newRecord(t)
	if err := r.SetAnswer(p, "m", Answer{Answer: Yes}); err == nil {
		t.Fatal("yes without required evidence accepted")
	}
	if err := r.SetAnswer(p, "m", Answer{Answer: "maybe", Evidence: "x"}); err == nil {
		t.Fatal("answer maybe accepted")
	}
	if err := r.SetAnswer(p, "b", Answer{Answer: Yes}); err == nil {
		t.Fatal("a probe item was answered")
	}
	if err := r.SetAnswer(p, "m", Answer{Answer: No}); err != nil {
		t.Fatalf("no needs no evidence: %v", err)
	}
}

func TestClockOffsetFromNTPItem(t *testing.T) {
	p, err := profiles.Parse("clock.yaml", []byte(`preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["127.0.0.0/8"]
targets: {ts: {address: 127.0.0.1}}
sections:
  - id: s
    title: S
    items:
      - {id: clock, title: C, guideline: "V(0)", probe: {kind: ntp, server: ts, port: 123}, remedy: R}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := New(p, "", "test", "h", time.Now())
	_ = r.SetResult("clock", checks.Result{Status: checks.Pass, Evidence: checks.Evidence{"offset_ms": -12.5, "address": "127.0.0.1:123"}})
	if r.Clock == nil || r.Clock.OffsetMS != -12.5 || r.Clock.Server != "127.0.0.1:123" || r.Clock.Item != "clock" {
		t.Fatalf("clock %+v", r.Clock)
	}
}
