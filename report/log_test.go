package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// sampleDocument is sampleRecord sealed, signed off, with its timeline and a clean verification.
func sampleDocument() Document {
	r, titles := sampleRecord()
	at := r.StartedAt
	off := 3.2
	r.Signoff = &runlog.Signoff{Name: "Hanako Sato", UserID: "hsato", Role: "Network engineer", Meaning: runlog.Reject,
		Statement: "Network readiness NOT confirmed for operation OP-2026-118 at facility patient-site (patient-side), run 20261204T093000Z-abcdef012345.",
		At:        at.Add(4 * time.Minute), UTCOffset: "+09:00", ClockOffsetMS: &off, ClockSource: "ntp-sync", Waivers: r.Waivers}
	r.ToolVersion, r.Host = "v0.9.0", "eng-laptop"
	r.Journal = &runlog.JournalRef{Lines: 6, Head: strings.Repeat("c", 64)}
	r.Prev, r.SHA256, r.Signature = strings.Repeat("a", 64), strings.Repeat("b", 64), "preflight sign-off v1\n…"
	ev := func(seq int64, sec int, typ, item, actor string, data any) runlog.Entry {
		b, _ := json.Marshal(data)
		return runlog.Entry{Seq: seq, At: at.Add(time.Duration(sec) * time.Second), Type: typ, Item: item, Actor: actor, Data: b}
	}
	events := []runlog.Entry{
		ev(1, 0, runlog.EvRunStarted, "", "engineer", nil),
		ev(2, 0, runlog.EvStarted, "robot-ports", "", nil),
		ev(3, 2, runlog.EvFinished, "robot-ports", "", map[string]any{"status": "fail", "summary": r.Items[0].Summary}),
		ev(4, 60, runlog.EvAnswer, "plan", "Sato", runlog.Answer{Answer: "yes", Evidence: "MP-2026-014"}),
		ev(5, 90, runlog.EvWaiver, "relay-cert", "Tanaka", runlog.Waiver{Item: "relay-cert", Reason: "renewal booked"}),
		ev(6, 240, runlog.EvSignoff, "", "Hanako Sato", r.Signoff),
	}
	st := &runlog.RunStatus{RunID: r.RunID, Leaf: 4, Sealed: true, Verdict: r.Verdict, Events: 6,
		Signature: runlog.SignatureState{Status: runlog.SigValid, KeyID: "hsato+1a2b3c4d",
			Signer: &runlog.Signer{Key: "hsato+1a2b3c4d+KEY", Name: "Hanako Sato", Role: "Network engineer"}}}
	cp := &runlog.Checkpoint{Origin: "preflight/patient-site", Size: 5}
	note := []byte("preflight/patient-site\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— preflight/patient-site SIGNATURE=\n")
	return Document{CheckpointNote: note, Record: r, Titles: titles, Lang: "en", Sealed: true, Events: events,
		Journal: &runlog.JournalScan{Lines: 6}, Verify: &runlog.Verification{Runs: []*runlog.RunStatus{st}, Checkpoint: cp, Size: 5},
		Checkpoint: cp, Generated: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)}
}

func TestShowGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Show(&b, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	golden(t, "show", b.Bytes())
	for _, want := range []string{"✔ INTACT", "signature  ✔ valid — key hsato+1a2b3c4d, registered to Hanako Sato", "(local 18:34:00 +09:00)",
		"clock offset +3.2 ms (item ntp-sync)", "Timeline — events.jsonl, 6 line(s), chain intact", "leaf 4 of the facility log"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q", want)
		}
	}
}

func TestShowTamperedAndUnsealed(t *testing.T) {
	d := sampleDocument()
	d.Verify.Problems = []runlog.Problem{{Severity: runlog.Tampered, File: "runs/R/record.json", Run: "R", Msg: "sha256 is bbb but the record hashes to ddd"}}
	d.Verify.Runs[0].Signature = runlog.SignatureState{Status: runlog.SigInvalid, Problems: []string{"signed by key x+1, which is not in the facility's roster"}}
	var b bytes.Buffer
	_ = Show(&b, d)
	for _, want := range []string{"✘ NOT INTACT — 1 problem(s): runs/R/record.json: sha256 is bbb", "signature  ✘ INVALID — signed by key x+1",
		"Verification problems\n  TAMPERED   runs/R/record.json (run R): sha256"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, b.String())
		}
	}
	d = sampleDocument()
	d.Sealed, d.Record.Signoff, d.Record.Interrupted = false, nil, "not sealed: the run is in progress, or its process ended without sealing it"
	d.Journal = &runlog.JournalScan{Lines: 6, Torn: []byte(`{"seq":7,"ts`), TornOffset: 2048}
	d.Verify.Problems = []runlog.Problem{{Severity: runlog.Unfinished, File: "runs/R/events.jsonl", Run: "R", Msg: "interrupted: never sealed"}}
	b.Reset()
	_ = Show(&b, d)
	for _, want := range []string{"interrupted: not sealed", "not sealed (rebuilt from the journal)", "torn last line: 12 bytes at offset 2048, quarantined",
		"! NOT SEALED"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("show of an interrupted run lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDiffGolden(t *testing.T) {
	a, _ := sampleRecord()
	b, _ := sampleRecord()
	b.RunID, b.StartedAt = "20261205T101500Z-0123456789ab", b.StartedAt.Add(24*time.Hour+45*time.Minute)
	b.Profile.SHA256 = "1234567890abcdef"
	port := b.Item("robot-ports")
	port.Status, port.Summary, port.Evidence = checks.Pass, "open ports [443 8443] are all allowed", checks.Evidence{"open": []any{443.0, 8443.0}, "unexpected": []any{}}
	tls := b.Item("cloud-tls")
	tls.Evidence = checks.Evidence{"accepted_versions": []string{"1.3"}}
	tls.Status = checks.Pass
	b.Waivers = nil
	b.Verdict, b.Blocking = b.Judge()
	var out bytes.Buffer
	if err := DiffText(&out, runlog.Compare(a, b), "en"); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff", out.Bytes())
	for _, want := range []string{"robot-ports                newly open: 8443   closed since: 23", `accepted_versions      ["1.2","1.3"] → ["1.3"]`,
		"✘ FAIL → ✔ PASS", "profile: changed", "  - relay-cert               renewal booked (only in A)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff lacks %q", want)
		}
	}
	out.Reset()
	_ = DiffText(&out, runlog.Compare(a, a), "en")
	if !strings.Contains(out.String(), "no change") {
		t.Errorf("diff of a run with itself:\n%s", out.String())
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report-md", b.Bytes())
	md := b.String()
	for _, want := range []string{"# Preflight run report — NO-GO", "| Hanako Sato | hsato | Network engineer | reject |", "#### ✘ robot-ports",
		"- **Guideline:** V(1)-1", "  - `unexpected`: [23]", "- **Waived:** renewal booked (Tanaka)", "- **Remedy:** Fix robot-ports",
		"✔ INTACT", "| `relay-cert` | renewal booked | Tanaka |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	for _, it := range sampleDocument().Record.Items {
		if !strings.Contains(md, "#### "+Glyph(it.Status)+" "+it.ID) {
			t.Errorf("markdown lacks item %s", it.ID)
		}
	}
}
