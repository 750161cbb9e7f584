package checks

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Item is one probe to run.
type Item struct {
	ID       string
	Spec     Spec
	Deadline time.Duration // whole-item budget; the runner cancels the probe's context after it
	// Alone runs the item by itself once the others have finished, so that a port scan's load cannot
	// show up as delay and jitter in a link-quality measurement.
	Alone bool
}

// Phase tells whether an Update reports a start or a finish.
type Phase int

// Phases of an item.
const (
	Started Phase = iota
	Finished
)

// Update is one event of the result stream.
type Update struct {
	Index  int // position in the item list
	ID     string
	Phase  Phase
	Result Result // set when Phase == Finished
}

// Options bound a run.
type Options struct {
	Concurrency int           // items probed at once; default 4
	Deadline    time.Duration // the whole run; zero means no deadline besides ctx
	// Grace is how long the runner waits for a probe that ignores its cancelled context before it reports
	// an error for it and moves on (the probe's goroutine is abandoned). Default 2s.
	Grace time.Duration
}

// Run starts the items and returns the stream of updates, closed after every item has finished. Each item
// reports exactly one Started and one Finished update, except items never started because the run was
// cancelled, which report only Finished with status skipped. Cancelling ctx (Ctrl-C) stops the run.
func Run(ctx context.Context, env *Env, items []Item, opt Options) <-chan Update {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Grace <= 0 {
		opt.Grace = 2 * time.Second
	}
	out := make(chan Update, 2*len(items))
	go func() {
		defer close(out)
		runCtx, cancel := ctx, context.CancelFunc(func() {})
		if opt.Deadline > 0 {
			runCtx, cancel = context.WithTimeout(ctx, opt.Deadline)
		}
		defer cancel()
		sem := make(chan struct{}, opt.Concurrency)
		var wg sync.WaitGroup
		for i, it := range order(items) {
			if it.Alone {
				wg.Wait() // everything else has finished, and nothing starts beside it
			}
			select {
			case sem <- struct{}{}:
			case <-runCtx.Done():
			}
			if runCtx.Err() != nil {
				out <- Update{Index: i, ID: it.ID, Phase: Finished, Result: Result{Status: Skipped,
					Summary: "not run: " + stopReason(runCtx), Start: time.Now()}}
				continue
			}
			out <- Update{Index: i, ID: it.ID, Phase: Started}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out <- Update{Index: i, ID: it.ID, Phase: Finished, Result: RunOne(runCtx, env, it, opt.Grace)}
			}()
			if it.Alone {
				wg.Wait()
			}
		}
		wg.Wait()
	}()
	return out
}

// order puts the items that must run alone after the others, keeping each group in profile order.
func order(items []Item) func(func(int, Item) bool) {
	return func(yield func(int, Item) bool) {
		for _, alone := range []bool{false, true} {
			for i, it := range items {
				if it.Alone == alone && !yield(i, it) {
					return
				}
			}
		}
	}
}

// RunOne runs a single item under its deadline, turning panics and ignored deadlines into error results.
func RunOne(ctx context.Context, env *Env, it Item, grace time.Duration) Result {
	start := time.Now()
	ictx, cancel := ctx, context.CancelFunc(func() {})
	if it.Deadline > 0 {
		ictx, cancel = context.WithTimeout(ctx, it.Deadline)
	}
	defer cancel()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Errored(Evidence{"panic": fmt.Sprint(p), "stack": string(debug.Stack())},
					"probe crashed (a bug in preflight — please report it with this run record): %v", p)
			}
		}()
		done <- it.Spec.Run(ictx, env)
	}()
	var r Result
	select {
	case r = <-done:
	case <-ictx.Done():
		select {
		case r = <-done:
		case <-time.After(grace):
			r = Errored(nil, "probe did not stop within %s after its deadline (%s); result unknown", grace, stopReason(ictx))
		}
	}
	// A probe that returns after its context ended could not decide, whatever it concluded.
	if ictx.Err() != nil && r.Status != Fail && r.Status != Error {
		r = Errored(r.Evidence, "%s before the probe finished: %s", stopReason(ictx), r.Summary)
	}
	r.Start = start
	r.Duration = time.Since(start)
	return r
}

func stopReason(ctx context.Context) string {
	if ctx.Err() == context.DeadlineExceeded {
		return "deadline exceeded"
	}
	return "run cancelled"
}
