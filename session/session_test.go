package session

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
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
