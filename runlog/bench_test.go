package runlog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
)

// The benchmarks build a log of 10,000 runs of the built-in demo profile (PREFLIGHT_BENCH_RUNS changes
// the count), each with the results and evidence of a recorded demo run (testdata/demo-record.json):
// a ~24 kB record, a journal of ~45 lines and the 15 kB profile per run, as in real use. Building it
// skips fsync (durability is not what is measured); listing and verifying read every byte from disk
// (from the page cache, after the first pass).
//
//	go test -run '^$' -bench . -benchtime 3x ./runlog
var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
	benchSize int64
	// benchCleanup: the log was built in a temp directory that TestMain removes.
	benchCleanup bool
)

func benchLog(b *testing.B) string {
	b.Helper()
	benchOnce.Do(func() {
		n := 10000
		if s := os.Getenv("PREFLIGHT_BENCH_RUNS"); s != "" {
			n, _ = strconv.Atoi(s)
		}
		start := time.Now()
		if benchDir = os.Getenv("PREFLIGHT_BENCH_DIR"); benchDir != "" && fileExists(benchDir+".built") {
			fmt.Fprintf(os.Stderr, "bench: reusing %s\n", benchDir) // kept from an earlier run
		} else {
			if benchDir == "" {
				if benchDir, benchErr = os.MkdirTemp("", "runlog-bench-"); benchErr != nil {
					return
				}
				benchCleanup = true
			}
			if benchErr = buildBenchLog(b, benchDir, n); benchErr == nil {
				benchErr = os.WriteFile(benchDir+".built", nil, 0o600)
			}
		}
		filepath.Walk(benchDir, func(_ string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				benchSize += info.Size()
			}
			return nil
		})
		fmt.Fprintf(os.Stderr, "bench: built %d runs (%.0f MB) in %s\n", n, float64(benchSize)/1e6, time.Since(start).Round(time.Second))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

func buildBenchLog(b *testing.B, dir string, n int) error {
	syncWrites = false
	defer func() { syncWrites = true }()
	p, err := profiles.Builtin("demo-patient", b.TempDir())
	if err != nil {
		return err
	}
	data, err := os.ReadFile("testdata/demo-record.json")
	if err != nil {
		return err
	}
	var recorded Record
	if err := json.Unmarshal(data, &recorded); err != nil {
		return err
	}
	s, err := open(dir, p.Facility.ID, &detRand{seed: "bench"}, time.Now)
	if err != nil {
		return err
	}
	defer s.Close()
	k := testKey(b, "hsato")
	if err := s.AddSigner(signerOf(k)); err != nil {
		return err
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := t0.Add(time.Duration(i) * 10 * time.Minute)
		r := New(p, fmt.Sprintf("OP-%05d", i/2), "bench", "engineer-laptop", at)
		r.RunID = fmt.Sprintf("%s-%012d", at.Format("20060102T150405Z"), i)
		j, err := s.Begin(r, p.Raw)
		if err != nil {
			return err
		}
		for _, it := range recorded.Items {
			at = at.Add(time.Second)
			if it.Kind == "manual" {
				a := Answer{Answer: Yes, Evidence: "ledger entry " + strconv.Itoa(i), By: "Sato", At: at}
				r.Item(it.ID).attest(a)
				j.Event(Event{Type: EvAnswer, Item: it.ID, Actor: "Sato", Data: a, At: at})
				continue
			}
			res := checks.Result{Status: it.Status, Summary: it.Summary, Evidence: it.Evidence, Duration: time.Duration(it.DurationMS) * time.Millisecond}
			j.Event(Event{Type: EvStarted, Item: it.ID, At: at})
			_ = r.SetResult(it.ID, res)
			j.Event(Event{Type: EvFinished, Item: it.ID, Data: res, At: at})
		}
		r.Finish(at)
		r.Signoff = &Signoff{Name: k.Name, Role: k.Role, UserID: k.UserID, At: at, Statement: "Network readiness NOT confirmed."}
		j.Event(Event{Type: EvSignoff, Actor: k.Name, Data: r.Signoff, At: at})
		if _, _, err := s.Seal(r, k); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkList(b *testing.B) {
	dir := benchLog(b)
	for b.Loop() {
		runs, err := List(dir, ListFilter{Verdict: NoGo})
		if err != nil || len(runs) == 0 {
			b.Fatal(err, len(runs))
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	dir := benchLog(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		v, err := Verify(dir, VerifyOptions{})
		if err != nil || v.Worst() != 0 {
			b.Fatalf("%v%s", err, problemsText(v))
		}
	}
}

func BenchmarkVerifyOneRun(b *testing.B) {
	dir := benchLog(b)
	id, err := ResolveRun(dir, "latest")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		v, err := Verify(dir, VerifyOptions{Run: id})
		if err != nil || v.Worst() != 0 {
			b.Fatalf("%v%s", err, problemsText(v))
		}
	}
}

func BenchmarkOpenWriter(b *testing.B) {
	dir := benchLog(b)
	for b.Loop() {
		s, err := Open(dir, "patient-site")
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
