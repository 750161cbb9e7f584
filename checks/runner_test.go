package checks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// gateSpec is a probe for runner tests (the runner's own logic, no network): it counts how many run at
// once, then behaves as told.
type gateSpec struct {
	inFlight, peak *atomic.Int32
	wait           time.Duration // how long it works before passing
	ignoreCtx      bool          // keep working after the context ends
	panics         bool
}

func (g *gateSpec) Check(*Validator) {}

func (g *gateSpec) Run(ctx context.Context, _ *Env) Result {
	if g.inFlight != nil {
		n := g.inFlight.Add(1)
		defer g.inFlight.Add(-1)
		for {
			p := g.peak.Load()
			if n <= p || g.peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	if g.panics {
		panic("boom")
	}
	if g.ignoreCtx {
		time.Sleep(g.wait)
		return Passed(nil, "done, late")
	}
	select {
	case <-time.After(g.wait):
		return Passed(nil, "done")
	case <-ctx.Done():
		return Errored(nil, "stopped: %v", ctx.Err())
	}
}

func collect(ch <-chan Update) (started map[string]int, finished []Update) {
	started = map[string]int{}
	for u := range ch {
		if u.Phase == Started {
			started[u.ID]++
		} else {
			finished = append(finished, u)
		}
	}
	return
}

func TestRunnerBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	var items []Item
	for i := range 12 {
		items = append(items, Item{ID: string(rune('a' + i)), Spec: &gateSpec{inFlight: &inFlight, peak: &peak, wait: 20 * time.Millisecond}})
	}
	started, finished := collect(Run(context.Background(), &Env{}, items, Options{Concurrency: 3}))
	if len(finished) != 12 || len(started) != 12 {
		t.Fatalf("finished %d, started %d, want 12 each", len(finished), len(started))
	}
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want exactly the bound 3", p)
	}
	for _, u := range finished {
		if u.Result.Status != Pass || u.Result.Duration <= 0 || u.Result.Start.IsZero() {
			t.Errorf("%s: %+v", u.ID, u.Result)
		}
	}
}

func TestRunnerStreamsResultsAsTheyFinish(t *testing.T) {
	items := []Item{
		{ID: "slow", Spec: &gateSpec{wait: 300 * time.Millisecond}},
		{ID: "fast", Spec: &gateSpec{wait: time.Millisecond}},
	}
	_, finished := collect(Run(context.Background(), &Env{}, items, Options{Concurrency: 2}))
	if len(finished) != 2 || finished[0].ID != "fast" || finished[0].Index != 1 {
		t.Fatalf("first result %+v, want fast (index 1) before slow", finished[0])
	}
}

func TestRunnerItemDeadline(t *testing.T) {
	items := []Item{
		{ID: "hangs", Spec: &gateSpec{wait: time.Hour}, Deadline: 50 * time.Millisecond},
		{ID: "deaf", Spec: &gateSpec{wait: time.Hour, ignoreCtx: true}, Deadline: 50 * time.Millisecond},
		{ID: "late", Spec: &gateSpec{wait: 120 * time.Millisecond, ignoreCtx: true}, Deadline: 50 * time.Millisecond},
		{ID: "crash", Spec: &gateSpec{panics: true}},
	}
	start := time.Now()
	_, finished := collect(Run(context.Background(), &Env{}, items, Options{Concurrency: 4, Grace: 200 * time.Millisecond}))
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("run took %v: a deaf probe must not hold the run", el)
	}
	got := map[string]Result{}
	for _, u := range finished {
		got[u.ID] = u.Result
	}
	for _, id := range []string{"hangs", "deaf", "late", "crash"} {
		if got[id].Status != Error {
			t.Errorf("%s: status %s (%q), want error — a probe that could not finish must never pass", id, got[id].Status, got[id].Summary)
		}
	}
	if got["crash"].Evidence["panic"] != "boom" {
		t.Errorf("crash evidence %v", got["crash"].Evidence)
	}
}

func TestRunnerCancelSkipsUnstarted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var items []Item
	for i := range 6 {
		items = append(items, Item{ID: string(rune('a' + i)), Spec: &gateSpec{wait: time.Hour}})
	}
	ch := Run(ctx, &Env{}, items, Options{Concurrency: 2})
	time.AfterFunc(50*time.Millisecond, cancel)
	started, finished := collect(ch)
	if len(finished) != 6 {
		t.Fatalf("%d finished updates, want one per item", len(finished))
	}
	counts := map[Status]int{}
	for _, u := range finished {
		counts[u.Result.Status]++
		if u.Result.Status == Skipped && started[u.ID] != 0 {
			t.Errorf("%s reported started and skipped", u.ID)
		}
	}
	if counts[Error] != 2 || counts[Skipped] != 4 {
		t.Fatalf("statuses %v, want 2 error (were running) and 4 skipped", counts)
	}
}

func TestRunnerRunDeadline(t *testing.T) {
	items := []Item{{ID: "a", Spec: &gateSpec{wait: time.Hour}}, {ID: "b", Spec: &gateSpec{wait: time.Hour}}}
	_, finished := collect(Run(context.Background(), &Env{}, items, Options{Concurrency: 1, Deadline: 50 * time.Millisecond}))
	for _, u := range finished {
		if u.Result.Status == Pass {
			t.Errorf("%s passed after the run deadline", u.ID)
		}
	}
}

// TestRunnerRunsAloneItemsByThemselves: a link-quality item gets the machine to itself, after the rest.
func TestRunnerRunsAloneItemsByThemselves(t *testing.T) {
	var inFlight, peak atomic.Int32
	var alonePeak atomic.Int32
	items := []Item{
		{ID: "link", Alone: true, Spec: &aloneSpec{inFlight: &inFlight, seen: &alonePeak}},
		{ID: "scan-a", Spec: &gateSpec{inFlight: &inFlight, peak: &peak, wait: 40 * time.Millisecond}},
		{ID: "scan-b", Spec: &gateSpec{inFlight: &inFlight, peak: &peak, wait: 40 * time.Millisecond}},
	}
	_, finished := collect(Run(context.Background(), &Env{}, items, Options{Concurrency: 4}))
	if len(finished) != 3 || finished[2].ID != "link" || finished[2].Index != 0 {
		t.Fatalf("order %v, want link last (index 0 kept)", finished)
	}
	if p := alonePeak.Load(); p != 1 {
		t.Fatalf("the alone item ran beside %d other item(s)", p-1)
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("the other items ran %d at a time, want 2 together", p)
	}
}

// aloneSpec records how many items were running while it ran (itself included).
type aloneSpec struct{ inFlight, seen *atomic.Int32 }

func (a *aloneSpec) Check(*Validator) {}

func (a *aloneSpec) Run(context.Context, *Env) Result {
	n := a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	time.Sleep(20 * time.Millisecond)
	a.seen.Store(max(n, a.inFlight.Load()))
	return Passed(nil, "ok")
}
