package runlog

import (
	"encoding/json"
	"fmt"

	"github.com/telesurgery-preflight/preflight/checks"
)

// rebuild reconstructs a run's record from its journal: the record as the run began (the run-started
// line), then every event applied in order. It is how a run that never reached its seal (kill -9, a
// crash, power loss) is shown and then sealed as interrupted — from what reached the disk, nothing more.
func rebuild(entries []Entry) (*Record, error) {
	if len(entries) == 0 || entries[0].Type != EvRunStarted {
		return nil, fmt.Errorf("the journal does not begin with a %s line", EvRunStarted)
	}
	r := &Record{}
	if err := json.Unmarshal(entries[0].Data, r); err != nil {
		return nil, fmt.Errorf("line 1 (%s): %w", EvRunStarted, err)
	}
	running := map[string]bool{}
	for _, e := range entries[1:] {
		if err := apply(r, e, running); err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", e.Seq, e.Type, err)
		}
		r.FinishedAt = e.At.UTC()
	}
	for id := range running {
		if it := r.Item(id); it != nil && it.Status == checks.Pending {
			it.Summary = "was running when the run ended: no result"
		}
	}
	r.Verdict, r.Blocking = r.Judge()
	return r, nil
}

func apply(r *Record, e Entry, running map[string]bool) error {
	item := func() (*ItemResult, error) {
		if it := r.Item(e.Item); it != nil {
			return it, nil
		}
		return nil, fmt.Errorf("no item %q in this run", e.Item)
	}
	switch e.Type {
	case EvStarted:
		it, err := item()
		if err != nil {
			return err
		}
		it.Status, it.Summary = checks.Pending, "running"
		running[e.Item] = true
	case EvFinished:
		var res checks.Result
		if err := json.Unmarshal(e.Data, &res); err != nil {
			return err
		}
		delete(running, e.Item)
		return r.SetResult(e.Item, res)
	case EvAnswer:
		var a Answer
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return err
		}
		it, err := item()
		if err != nil {
			return err
		}
		it.attest(a)
	case EvAttest:
		var d struct {
			Result checks.Result `json:"result"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		return r.SetResult(e.Item, d.Result)
	case EvWaiver:
		var w Waiver
		if err := json.Unmarshal(e.Data, &w); err != nil {
			return err
		}
		r.Waivers = append(r.Waivers, w)
	case EvInterrupted:
		var d struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		r.Interrupted = d.Reason
	case EvSignoff:
		so := &Signoff{}
		if err := json.Unmarshal(e.Data, so); err != nil {
			return err
		}
		r.Signoff = so
	case EvRerun, EvRunStarted:
	default:
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}
