package peer

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// Policy is what the joint verdict demands beyond both sides being GO.
type Policy struct {
	Freshness      time.Duration // both sign-offs at most this old
	MaxClockOffset time.Duration // the clocks of the two facilities at most this far apart
	LocalProfile   string        // the sha256 of the profile this facility runs: its GO must be for it
	PeerProfiles   []string      // when set, the sha256 of the profiles the peer may have run
}

// Judge reaches the joint verdict: OPERATION READY (runlog.JointReady) only when both sides' latest
// sealed records for the operation are GO, approved and signed with a key in their facility's roster,
// for the profile each is expected to run, both signed within the freshness window by this clock, with
// the two facilities' clocks within MaxClockOffset of each other as measured over the link. Everything
// else is not ready, with every reason.
func Judge(local, peer Side, offset time.Duration, offsetKnown bool, now time.Time, pol Policy) (string, []string) {
	var why []string
	why = append(why, sideReasons(describe("this side", local.Facility), local, now, pol, func(sha string) string {
		if sha != pol.LocalProfile {
			return fmt.Sprintf("its GO was for profile %s, not the one in use (%s): re-run with this profile", short(sha), short(pol.LocalProfile))
		}
		return ""
	})...)
	why = append(why, sideReasons(describe("the peer", peer.Facility), peer, now, pol, func(sha string) string {
		if len(pol.PeerProfiles) > 0 && !slices.Contains(pol.PeerProfiles, sha) {
			return fmt.Sprintf("its GO was for profile %s, which is not one of peer.profiles", short(sha))
		}
		return ""
	})...)
	if offsetKnown && abs(offset) > pol.MaxClockOffset {
		why = append(why, fmt.Sprintf("the two facilities' clocks differ by %s (limit %s): synchronise both with NTP — the logs must line up for an incident review",
			signed(offset), pol.MaxClockOffset))
	}
	if len(why) > 0 {
		return runlog.JointNotReady, why
	}
	return runlog.JointReady, nil
}

func describe(who, id string) string {
	if id == "" {
		return who
	}
	return fmt.Sprintf("%s (%s)", id, strings.TrimPrefix(who, "the "))
}

// sideReasons says why one side does not count as GO for the joint verdict.
func sideReasons(who string, s Side, now time.Time, pol Policy, profile func(string) string) []string {
	switch s.State {
	case StateGo:
	case StateNoGo:
		return []string{fmt.Sprintf("%s is NO-GO: %s", who, blockers(s.Blocking))}
	case StateIncomplete:
		return []string{fmt.Sprintf("%s is incomplete: %s", who, blockers(s.Blocking))}
	case StateInterrupted:
		return []string{fmt.Sprintf("%s: its last run was interrupted (%s): run the checklist again", who, s.Interrupted)}
	case StateRunning:
		return []string{fmt.Sprintf("%s is still running its checklist (%d of %d done): not signed off yet", who, s.Done, s.Total)}
	case StateNotStarted:
		return []string{fmt.Sprintf("%s has not run the checklist for this operation yet", who)}
	default: // not configured, unreachable, unverifiable, split view
		return []string{fmt.Sprintf("%s is %s: %s", who, strings.ReplaceAll(s.State, "-", " "), s.Problem)}
	}
	var why []string
	switch {
	case s.Signature != runlog.SigValid:
		why = append(why, fmt.Sprintf("%s is GO, but its sign-off is %s: only a sign-off signed with a key in the facility's roster counts (run --sign --key)",
			who, orText(s.Signature, "missing")))
	case s.Meaning != runlog.Approve:
		why = append(why, fmt.Sprintf("%s is GO, but its sign-off means %q, not approve", who, s.Meaning))
	}
	if age := now.Sub(s.SignedAt); age > pol.Freshness {
		why = append(why, fmt.Sprintf("%s signed GO %s ago, outside the %s freshness window: run the checklist again and sign",
			who, age.Round(time.Minute), pol.Freshness))
	} else if -age > pol.MaxClockOffset {
		why = append(why, fmt.Sprintf("%s signed GO %s in the future by this clock: a clock is wrong — synchronise both facilities with NTP",
			who, (-age).Round(time.Second)))
	}
	if msg := profile(s.ProfileSHA256); msg != "" {
		why = append(why, who+": "+msg)
	}
	return why
}

// blockers lists the item ids of a record's blocking lines ("robot-ports: fail — …").
func blockers(lines []string) string {
	if len(lines) == 0 {
		return "no reason recorded"
	}
	ids := make([]string, 0, len(lines))
	for _, l := range lines {
		id, _, _ := strings.Cut(l, ":")
		ids = append(ids, id)
	}
	if len(ids) > 4 {
		return strings.Join(ids[:4], ", ") + fmt.Sprintf(" and %d more", len(ids)-4)
	}
	return strings.Join(ids, ", ")
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// signed shows an offset with its sign: to the millisecond, or to the second beyond a minute.
func signed(d time.Duration) string {
	unit := time.Millisecond
	if abs(d) >= time.Minute {
		unit = time.Second
	}
	if d >= 0 {
		return "+" + d.Round(unit).String()
	}
	return d.Round(unit).String()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}
