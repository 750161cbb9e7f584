package main

import (
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// TestSettled: --peer-wait stops as soon as waiting cannot change how this run ends, and waits on while
// the peer may still seal a run that decides it.
func TestSettled(t *testing.T) {
	began := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	sealed := func(state string, finished time.Time) peer.Side { return peer.Side{State: state, FinishedAt: finished} }
	before, after := began.Add(-20*time.Minute), began.Add(40*time.Second)
	goHere := sealed(peer.StateGo, began.Add(30*time.Second))
	noGoHere := sealed(peer.StateNoGo, began.Add(30*time.Second))
	for _, c := range []struct {
		name        string
		local, peer peer.Side
		verdict     string
		want        bool
	}{
		{"ready", goHere, sealed(peer.StateGo, after), runlog.JointReady, true},
		{"peer sealed NO-GO during this run", goHere, sealed(peer.StateNoGo, after), runlog.JointNotReady, true},
		{"peer sealed GO during this run, not ready for another reason", goHere, sealed(peer.StateGo, after), runlog.JointNotReady, true},
		{"peer NO-GO sealed before this run: it may run again", goHere, sealed(peer.StateNoGo, before), runlog.JointNotReady, false},
		{"peer still running", goHere, peer.Side{State: peer.StateRunning}, runlog.JointNotReady, false},
		{"peer not started", goHere, peer.Side{State: peer.StateNotStarted}, runlog.JointNotReady, false},
		{"peer unreachable, GO here", goHere, peer.Side{State: peer.StateUnreachable}, runlog.JointNotReady, false},
		{"NO-GO here, peer running: wait to keep the verdict with its record", noGoHere, peer.Side{State: peer.StateRunning}, runlog.JointNotReady, false},
		{"NO-GO here, peer not started", noGoHere, peer.Side{State: peer.StateNotStarted}, runlog.JointNotReady, false},
		{"NO-GO here, peer unreachable", noGoHere, peer.Side{State: peer.StateUnreachable}, runlog.JointNotReady, true},
		{"NO-GO here, peer's older GO", noGoHere, sealed(peer.StateGo, before), runlog.JointNotReady, true},
		{"incomplete here, peer split view", sealed(peer.StateIncomplete, after), peer.Side{State: peer.StateSplitView}, runlog.JointNotReady, true},
		{"link not configured", goHere, peer.Side{State: peer.StateNotConfigured}, runlog.JointNotReady, true},
	} {
		st := peer.Status{Local: c.local, Peer: c.peer, Verdict: c.verdict}
		if got := settled(st, began); got != c.want {
			t.Errorf("%s: settled = %v, want %v", c.name, got, c.want)
		}
	}
}
