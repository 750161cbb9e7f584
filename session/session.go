// Package session runs a profile: it checks the vantage point, streams probe results into a run record,
// and applies answers and waivers. The plain runner and the TUI share it.
package session

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Version is the tool version recorded in every run; set with -ldflags "-X …/session.Version=v1.2.3".
var Version = ""

// ToolVersion returns Version, or the module version and VCS revision from the build info.
func ToolVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

// Session is one run of a profile in progress.
type Session struct {
	Profile *profiles.Profile
	Record  *runlog.Record
	Env     *checks.Env
	Now     func() time.Time
}

// New starts a session: a fresh record with every item pending.
func New(p *profiles.Profile, operationID string) *Session {
	host, _ := os.Hostname()
	now := time.Now
	return &Session{
		Profile: p,
		Record:  runlog.New(p, operationID, ToolVersion(), host, now()),
		Env:     p.Env(),
		Now:     now,
	}
}

// VantageError says the profile is being run from the wrong network segment.
type VantageError struct {
	Want  netip.Prefix
	Local []netip.Addr
}

func (e *VantageError) Error() string {
	addrs := make([]string, len(e.Local))
	for i, a := range e.Local {
		addrs[i] = a.String()
	}
	return fmt.Sprintf("this profile must be run from a host in %s, but this host's addresses are [%s]: "+
		"isolation results mean nothing from the wrong segment — run preflight on the engineer's host in the telesurgery segment",
		e.Want, strings.Join(addrs, " "))
}

// CheckVantage verifies that a local interface address lies in the profile's vantage network.
func CheckVantage(p *profiles.Profile) error {
	if p.Vantage == nil || !p.Vantage.Network.IsValid() {
		return nil
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("check vantage: list interface addresses: %w", err)
	}
	ve := &VantageError{Want: p.Vantage.Network.Prefix}
	for _, a := range ifaddrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		if p.Vantage.Network.Contains(pfx.Addr().Unmap()) {
			return nil
		}
		ve.Local = append(ve.Local, pfx.Addr())
	}
	return ve
}

// Probe runs every probe item (or only the ids given) and records results as they arrive; each update is
// passed to progress (which may be nil) after it is recorded. It returns when all have finished or ctx
// is cancelled and the runner has drained.
func (s *Session) Probe(ctx context.Context, progress func(checks.Update), ids ...string) {
	items := s.Profile.ProbeItems()
	if len(ids) > 0 {
		items = filter(items, ids)
	}
	for u := range checks.Run(ctx, s.Env, items, s.Profile.RunOptions()) {
		if u.Phase == checks.Finished {
			_ = s.Record.SetResult(u.ID, u.Result) // ids come from the same profile
		}
		if progress != nil {
			progress(u)
		}
	}
}

func filter(items []checks.Item, ids []string) []checks.Item {
	var out []checks.Item
	for _, it := range items {
		for _, id := range ids {
			if it.ID == id {
				out = append(out, it)
			}
		}
	}
	return out
}
