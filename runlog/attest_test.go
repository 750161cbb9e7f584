package runlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
)

func TestAttestations(t *testing.T) {
	p, r := newRecord(t)
	dir := t.TempDir()
	write := func(body string) string {
		path := filepath.Join(dir, "answers.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		body, want string
	}{
		{"m: {answer: yes}\n", "answers.yaml:1:1: item \"m\": evidence is required"},
		{"m: {answer: maybe, evidence: x}\n", "answers.yaml:1:13: item \"m\": answer \"maybe\""},
		{"zz: {answer: yes}\n", "answers.yaml:1:1: no item \"zz\""},
		{"b: {answer: yes}\n", "is a connect probe, not a manual item"},
		{"b: {waive: because}\n", "answers.yaml:1:12: item \"b\" is a blocker"},
		{"m: {answer: yes, evidnce: x}\n", "answers.yaml:1:18: unknown key \"evidnce\""},
		{"m: {answer: yes, evidence: x}\nm: {answer: no}\n", "answers.yaml:2:1: duplicate key \"m\""},
		{"m: [yes]\n", "wrong type"},
	} {
		_, err := LoadAttestations(write(tc.body), p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
	a, err := LoadAttestations(write("m: {answer: yes, evidence: \"MP-2026-014\", by: \"Sato\"}\nmw: {answer: na}\nw: {waive: \"renewal booked\"}\n"), p)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.SetResult("b", checks.Result{Status: checks.Pass})
	_ = r.SetResult("w", checks.Result{Status: checks.Fail})
	answer := func(id string, an Answer) error { return r.SetAnswer(p, id, an) }
	noAttest := func(id, in, by string) error { t.Fatalf("attest %s", id); return nil }
	if err := a.Apply(r, answer, noAttest, r.Waive, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != GO {
		t.Fatalf("verdict %s, blocking %v", r.Verdict, r.Blocking)
	}
	if got := r.Item("m").Answer; got.Evidence != "MP-2026-014" || got.By != "Sato" {
		t.Fatalf("answer %+v", got)
	}
}
