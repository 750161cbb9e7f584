package session

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

func parse(t *testing.T, body string) *profiles.Profile {
	t.Helper()
	p, err := profiles.Parse("t.yaml", []byte(body), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const base = `preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["127.0.0.0/8"]
targets: {lo: {address: 127.0.0.1}}
sections:
  - id: s
    title: S
    items:
      - {id: a, title: A, guideline: "V(0)", probe: {kind: connect, target: lo, port: 1, expect: closed}, remedy: R}
      - {id: b, title: B, guideline: "V(0)", probe: {kind: connect, target: lo, port: 2, expect: closed}, remedy: R}
`

func TestCheckVantage(t *testing.T) {
	if err := CheckVantage(parse(t, base+"vantage: {network: \"127.0.0.0/8\"}\n")); err != nil {
		t.Fatalf("loopback vantage: %v", err)
	}
	err := CheckVantage(parse(t, base+"vantage: {network: \"198.18.1.0/24\"}\n"))
	var ve *VantageError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("err = %v, want a VantageError listing this host's addresses", err)
	}
	if err := CheckVantage(parse(t, base)); err != nil {
		t.Fatalf("no vantage: %v", err)
	}
}

func TestProbeRecordsAndRerunsOneItem(t *testing.T) {
	s := New(parse(t, base), "OP-1")
	var finished []string
	s.Probe(context.Background(), func(u checks.Update) {
		if u.Phase == checks.Finished {
			finished = append(finished, u.ID)
		}
	})
	if len(finished) != 2 || s.Record.Item("a").Status != checks.Pass || s.Record.Item("a").Attempts != 1 {
		t.Fatalf("finished %v, a = %+v", finished, s.Record.Item("a"))
	}
	s.Probe(context.Background(), nil, "b")
	if s.Record.Item("b").Attempts != 2 || s.Record.Item("a").Attempts != 1 {
		t.Fatalf("re-run of b touched a or missed b: a %d b %d", s.Record.Item("a").Attempts, s.Record.Item("b").Attempts)
	}
	if s.Record.Verdict != "go" {
		t.Fatalf("verdict %s %v", s.Record.Verdict, s.Record.Blocking)
	}
}

// TestAttestedVersionIsJournaled: a version typed in for a firmware item read by hand lands in the run
// journal, so a run that dies before sealing still shows the judged result when rebuilt.
func TestAttestedVersionIsJournaled(t *testing.T) {
	p := parse(t, `preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["127.0.0.0/8"]
sections:
  - id: s
    title: S
    items:
      - {id: fw, title: FW, guideline: "V(3)-3", probe: {kind: firmware, vendor: fortinet, product: fortios, source: {method: manual}}, remedy: R}
`)
	dir := t.TempDir()
	store, err := runlog.Open(dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	s := New(p, "OP-1")
	if err := s.UseStore(store); err != nil {
		t.Fatal(err)
	}
	if err := s.Attest("fw", "7.2.5 build1517", "Sato"); err != nil {
		t.Fatal(err)
	}
	if err := s.Attest("fw", " ", "Sato"); err == nil {
		t.Fatal("an empty version was accepted")
	}
	store.Close() // the process ends here without sealing
	rf, err := runlog.LoadRun(dir, s.Record.RunID)
	if err != nil {
		t.Fatal(err)
	}
	it := rf.Record.Item("fw")
	if it.Status != checks.Fail || !strings.Contains(it.Summary, "CVE-2024-21762") || it.Evidence["attested_by"] != "Sato" {
		t.Fatalf("rebuilt item: %s %q %v", it.Status, it.Summary, it.Evidence)
	}
}
