package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sampleRecord is a fixed record with one item of every status, a waiver and an answer.
func sampleRecord() (*runlog.Record, map[string]string) {
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	r := &runlog.Record{
		Schema: runlog.Schema, RunID: "20261204T093000Z-abcdef012345", OperationID: "OP-2026-118",
		Facility:  runlog.FacilityRef{ID: "patient-site", Role: "patient-side", Name: profiles.Text{En: "Patient-side hospital", Ja: "現地施設"}},
		Profile:   runlog.ProfileRef{Path: "hospital.yaml", SHA256: "62f58fea817e0123456789"},
		StartedAt: at, FinishedAt: at.Add(3 * time.Second),
	}
	add := func(id, sec, g, sev, kind string, st checks.Status, sum string, ev checks.Evidence) {
		r.Items = append(r.Items, &runlog.ItemResult{ID: id, Section: sec, Guideline: g, Severity: sev, Kind: kind,
			Title: profiles.Text{En: "Title of " + id, Ja: id + "の題"}, Status: st, Summary: sum, Evidence: ev,
			Remedy: profiles.Text{En: "Fix " + id, Ja: id + "を直す"}, DurationMS: 12})
	}
	add("robot-ports", "intra", "V(1)-1", "blocker", "ports", checks.Fail, "1 port(s) open that the allow-list does not name: [23]",
		checks.Evidence{"open": []int{23, 443}, "unexpected": []int{23}, "queries": []any{map[string]any{"x": 1}}})
	add("peer-link", "intra", "V(1)-3", "blocker", "connect", checks.Pass, "open, as expected", checks.Evidence{"outcome": "open"})
	add("cloud-tls", "cloud", "V(2)-3", "blocker", "tls", checks.Warn, "TLS 1.2 accepted (policy mhlw-6.0 wants 1.3 only)", checks.Evidence{"accepted_versions": []string{"1.2", "1.3"}})
	add("relay-cert", "cloud", "V(2)-3", "warning", "tls", checks.Fail, "certificate expires in 20 days (minimum 30)", checks.Evidence{"days_left": 20})
	add("dns-no-leak", "cloud", "V(0)", "blocker", "dns", checks.Error, "no reply from 198.18.5.53:53 within 2s", checks.Evidence{})
	add("plan", "maint", "V(3)-2", "blocker", "manual", checks.Pass, "attested: yes — MP-2026-014", checks.Evidence{"answer": "yes"})
	add("byod", "maint", "V(2)-2", "blocker", "manual", checks.Pending, "waiting for an answer", checks.Evidence{})
	r.Waivers = []runlog.Waiver{{Item: "relay-cert", Reason: "renewal booked", By: "Tanaka", At: at}}
	r.Verdict, r.Blocking = r.Judge()
	return r, map[string]string{"intra": "Connections inside the facility", "cloud": "Cloud services", "maint": "Maintenance"}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test ./report -update, then review the diff):\n%s", name, got)
	}
}

func TestTextGolden(t *testing.T) {
	r, titles := sampleRecord()
	for _, tc := range []struct {
		name string
		opt  TextOptions
	}{
		{"text-en", TextOptions{Lang: "en"}},
		{"text-ja", TextOptions{Lang: "ja"}},
		{"text-en-color", TextOptions{Lang: "en", Color: true}},
	} {
		var b bytes.Buffer
		if err := Text(&b, r, titles, tc.opt); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.Bytes())
	}
}

func TestTextInvariants(t *testing.T) {
	r, titles := sampleRecord()
	var b bytes.Buffer
	_ = Text(&b, r, titles, TextOptions{Lang: "en"})
	out := b.String()
	for _, want := range []string{
		"✘ FAIL", "✔ PASS", "! WARN", "? ERROR", "… WAIT", // a glyph and a word for every status
		"→ Remedy: Fix robot-ports", "waived: renewal booked", "Verdict: NO-GO",
		"unexpected=[23]", "robot-ports: fail", "dns-no-leak: error",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.Contains(out, "Fix relay-cert") {
		t.Error("a waived item shows its remedy instead of its waiver")
	}
	if strings.Contains(out, "queries=") {
		t.Error("nested evidence printed on the one-line evidence")
	}
}

func TestJUnit(t *testing.T) {
	r, titles := sampleRecord()
	var b bytes.Buffer
	if err := JUnit(&b, r, titles, "en"); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit", b.Bytes())
	var s junitSuites
	if err := xml.Unmarshal(b.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Tests != 7 || s.Failures != 1 || s.Errors != 1 || s.Skipped != 1 || len(s.Suites) != 3 {
		t.Fatalf("tests %d failures %d errors %d skipped %d suites %d", s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Suites))
	}
}
