package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// PortsSpec scans a target's TCP ports with full connects (no raw sockets, no root) and passes when every
// open port is in Allow.
type PortsSpec struct {
	Target  string   `yaml:"target"`
	Ports   PortSet  `yaml:"ports"`
	Allow   []int    `yaml:"allow"`
	MaxRate int      `yaml:"max_rate"` // connection attempts per second, for fragile devices; 0 = unlimited
	Workers int      `yaml:"workers"`  // attempts in flight at once; default 512
	Timeout Duration `yaml:"timeout"`  // per attempt; unanswered ports count as filtered
}

// Check validates the parameters.
func (s *PortsSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	v.Required("ports", s.Ports.Len() > 0)
	for i, p := range s.Allow {
		v.Port(fmt.Sprintf("allow[%d]", i), p)
	}
	if s.MaxRate < 0 {
		v.Errorf("max_rate", "max_rate %d must be positive (attempts per second), or left out for no limit", s.MaxRate)
	}
	if s.Workers < 0 || s.Workers > 4096 {
		v.Errorf("workers", "workers %d must be between 1 and 4096", s.Workers)
	}
}

// Run scans.
func (s *PortsSpec) Run(ctx context.Context, env *Env) Result {
	if _, t, err := env.Addr(s.Target, 1); err != nil {
		return Errored(Evidence{"target": s.Target}, "%v", err)
	} else {
		return s.scan(ctx, env, t)
	}
}

type portOutcome struct {
	port  int
	class string
	err   error
}

func (s *PortsSpec) scan(ctx context.Context, env *Env, t Target) Result {
	workers := s.Workers
	if workers == 0 {
		workers = 512
	}
	workers = min(workers, s.Ports.Len())
	if s.MaxRate > 0 {
		workers = min(workers, max(1, s.MaxRate))
	}
	d := env.Dialer(s.Timeout.D())
	host := t.Address.String()

	ports := make(chan int)
	results := make(chan portOutcome, workers)
	go func() {
		defer close(ports)
		var tick *time.Ticker
		if s.MaxRate > 0 {
			tick = time.NewTicker(time.Second / time.Duration(s.MaxRate))
			defer tick.Stop()
		}
		for p := range s.Ports.All {
			if tick != nil {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
			select {
			case ports <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ports {
				err := d.ProbeTCP(ctx, netip.AddrPortFrom(t.Address, uint16(p)))
				results <- portOutcome{port: p, class: Classify(err), err: err}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	var open, unexpected []int
	counts := map[string]int{}
	var firstErr error
	scanned := 0
	for r := range results {
		scanned++
		counts[r.class]++
		switch r.class {
		case "open":
			open = append(open, r.port)
			if !slices.Contains(s.Allow, r.port) {
				unexpected = append(unexpected, r.port)
			}
		case "refused", "timeout", "unreachable", "no-route", "prohibited":
		default:
			if firstErr == nil && ctx.Err() == nil {
				firstErr = fmt.Errorf("port %d: %w", r.port, r.err)
			}
		}
	}
	slices.Sort(open)
	slices.Sort(unexpected)
	allow := slices.Clone(s.Allow)
	slices.Sort(allow)
	ev := Evidence{
		"target": s.Target, "address": host, "ports": s.Ports.String(), "scanned": scanned,
		"open": nonNil(open), "unexpected": nonNil(unexpected), "allow": nonNil(allow),
		"refused": counts["refused"], "filtered": counts["timeout"] + counts["prohibited"],
		"unreachable": counts["unreachable"] + counts["no-route"],
	}
	if s.MaxRate > 0 {
		ev["max_rate"] = s.MaxRate
	}
	switch {
	case len(unexpected) > 0:
		return Failed(ev, "%d port(s) open that the allow-list does not name: %v", len(unexpected), unexpected)
	case ctx.Err() != nil:
		return Errored(ev, "scan stopped after %d of %d ports (%s)", scanned, s.Ports.Len(), stopReason(ctx))
	case firstErr != nil:
		ev["errors"] = counts["error"] + counts["out-of-scope"]
		return Errored(ev, "%d port(s) could not be probed, first: %v", counts["error"]+counts["out-of-scope"], firstErr)
	}
	if len(open) == 0 {
		return Passed(ev, "no open port among %d scanned", scanned)
	}
	return Passed(ev, "open ports %v are all allowed (%d scanned)", open, scanned)
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}
