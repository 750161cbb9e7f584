package peer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

const op = "OP-2026-118"

// TestJointVerdictHappyPath: two facilities on loopback, each with its own keys, see each other go from
// not started to running to GO, reach OPERATION READY on both sides, keep the verdict in both logs
// (once), witness and cosign each other's checkpoints, and both logs verify.
func TestJointVerdictHappyPath(t *testing.T) {
	patient, surgeon := pair(t)
	pl, sl := patient.link(t, op), surgeon.link(t, op)
	ctx := context.Background()

	if s := pl.Poll(ctx); s.Peer.State != StateNotStarted || s.Ready() {
		t.Fatalf("nothing run: peer %+v, verdict %s", s.Peer, s.Verdict)
	}
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	patient.sealRun(t, runOpts{op: op, sign: true})

	s := pl.Poll(ctx)
	if !s.Ready() || s.Peer.State != StateGo || s.Peer.Signer != "Taro Tanaka" || s.Recorded == "" {
		t.Fatalf("patient side: %s %q peer %+v notes %v", s.Verdict, s.Reasons, s.Peer, s.Notes)
	}
	if d := Describe(s.Peer, time.UTC); !strings.HasPrefix(d, "GO signed by Taro Tanaka (Network engineer) at ") || !strings.HasSuffix(d, "verified") {
		t.Errorf("peer panel line %q", d)
	}
	if !s.OffsetKnown || abs(s.Offset) > time.Second {
		t.Errorf("clock offset on loopback: %v known %v", s.Offset, s.OffsetKnown)
	}
	ss := sl.Poll(ctx)
	if !ss.Ready() || ss.Peer.Signer != "Hanako Sato" || ss.Recorded == "" {
		t.Fatalf("surgeon side: %s %q", ss.Verdict, ss.Reasons)
	}
	// Polling again keeps nothing new: one joint verdict per pair of records.
	before := countFiles(t, patient.dir)
	if s := pl.Poll(ctx); !s.Ready() || s.Recorded != "" {
		t.Fatalf("second look: %s, recorded %q", s.Verdict, s.Recorded)
	}
	if after := countFiles(t, patient.dir); after != before {
		t.Fatalf("a second look sealed again: %d → %d entries", before, after)
	}
	for _, f := range []*fac{patient, surgeon} {
		j, err := runlog.LatestJoint(f.dir, op)
		if err != nil || j == nil || j.Verdict != runlog.JointReady || j.Local.Signature != runlog.SigValid || j.Peer.Signature != runlog.SigValid {
			t.Fatalf("%s: joint verdict in the log: %+v %v", f.id, j, err)
		}
		if j.Local.ProfileSHA256 != f.profile.SHA256 || j.Peer.Checkpoint == "" || j.ClockOffsetMS == nil {
			t.Errorf("%s: joint verdict lacks profile hash, peer checkpoint or clock: %+v", f.id, j)
		}
		v := mustVerifyClean(t, f.dir)
		if len(v.Peers) != 1 || v.Peers[0].Witnessed < 1 || v.Peers[0].Records != 1 {
			t.Errorf("%s: witness %+v", f.id, v.Peers)
		}
	}
	// The patient side witnessed the surgeon's log after the surgeon had witnessed it: the cosigned copy
	// of the patient's checkpoint came back and is kept.
	pl.Poll(ctx)
	if v := mustVerifyClean(t, patient.dir); v.Peers[0].Cosigned < 1 {
		t.Errorf("patient log: no checkpoint cosigned by the surgeon side: %+v", v.Peers)
	}
}

// TestRunningPeer: a run in progress shows as running (n of m), live and unsigned, never as GO — also
// when an earlier run of the operation was GO.
func TestRunningPeer(t *testing.T) {
	patient, surgeon := pair(t)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, unsealed: true})
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateRunning || s.Peer.Done != 1 || s.Peer.Total != 2 || !strings.Contains(Describe(s.Peer, time.UTC), "running (1 of 2) — live, not signed") {
		t.Fatalf("a run in progress: %s %+v", s.Verdict, s.Peer)
	}
	if !strings.Contains(strings.Join(s.Reasons, "\n"), "still running its checklist (1 of 2 done)") {
		t.Errorf("reasons %q", s.Reasons)
	}
}

func TestJointVerdictNoGoOnEitherSide(t *testing.T) {
	for _, faulty := range []string{"patient", "surgeon"} {
		t.Run(faulty, func(t *testing.T) {
			patient, surgeon := pair(t)
			patient.sealRun(t, runOpts{op: op, sign: true, fail: faulty == "patient"})
			surgeon.sealRun(t, runOpts{op: op, sign: true, fail: faulty == "surgeon"})
			ps := patient.link(t, op).Poll(context.Background())
			ss := surgeon.link(t, op).Poll(context.Background())
			want := faulty + "-site"
			for _, s := range []Status{ps, ss} {
				if s.Ready() || !strings.Contains(strings.Join(s.Reasons, "\n"), want) || !strings.Contains(strings.Join(s.Reasons, "\n"), "NO-GO: robot-port") {
					t.Errorf("%s: %s %q", s.Local.Facility, s.Verdict, s.Reasons)
				}
				if s.Recorded == "" {
					t.Errorf("%s: a not-ready verdict on two sealed records was not kept", s.Local.Facility)
				}
			}
			if faulty == "surgeon" && !strings.HasPrefix(Describe(ps.Peer, time.UTC), "NO-GO — blocks: robot-port (signed reject by Taro Tanaka") {
				t.Errorf("patient's panel: %q", Describe(ps.Peer, time.UTC))
			}
		})
	}
}

func TestUnsignedGoDoesNotCount(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op}) // GO, never signed off
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || !strings.Contains(strings.Join(s.Reasons, "\n"), "its sign-off is none") {
		t.Fatalf("an unsigned GO counted: %s %q", s.Verdict, s.Reasons)
	}
	if d := Describe(s.Peer, time.UTC); strings.Contains(d, "signed by") {
		t.Fatalf("an unsigned GO reads %q", d)
	}
}

// TestSignerNotInRoster: a GO signed with a key the peer's roster does not hold is unverifiable.
func TestSignerNotInRoster(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.signer = personalKey(t, "mallory")
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateUnverifiable || !strings.Contains(s.Peer.Problem, "not in the facility's roster") {
		t.Fatalf("%s peer %+v", s.Verdict, s.Peer)
	}
}

func TestFreshnessWindow(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, sign: true, signedAt: -2 * time.Hour})
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || !strings.Contains(strings.Join(s.Reasons, "\n"), "outside the 1h0m0s freshness window") {
		t.Fatalf("a sign-off two hours old: %s %q", s.Verdict, s.Reasons)
	}
	// The same GO counts for a facility whose window is three hours.
	patient.useProfile(t, surgeon, "", ", freshness: 3h")
	patient.sealRun(t, runOpts{op: op, sign: true}) // its GO must be for the profile in use
	if s := patient.link(t, op).Poll(context.Background()); !s.Ready() {
		t.Fatalf("within a 3h window: %s %q", s.Verdict, s.Reasons)
	}
}

// TestClockOffsetBetweenSites: the link measures the peer's clock; a small offset is fine, a large one
// holds the joint verdict, and a sign-off from the future (by this clock) does not count.
func TestClockOffsetBetweenSites(t *testing.T) {
	for _, tc := range []struct {
		skew  time.Duration
		ready bool
		want  string
	}{
		{2 * time.Second, true, ""},
		{10 * time.Minute, false, "clocks differ by +10m0"},
		{-10 * time.Minute, false, "clocks differ by -10m0"},
	} {
		t.Run(tc.skew.String(), func(t *testing.T) {
			patient := newFac(t, "patient-site", "patient-side", "hsato")
			surgeon := newFac(t, "surgeon-site", "surgeon-side", "ttanaka")
			surgeon.serve(t, patient.pin(), tc.skew)
			patient.useProfile(t, surgeon, "", "")
			surgeon.useProfile(t, patient, "", "")
			patient.sealRun(t, runOpts{op: op, sign: true})
			surgeon.sealRun(t, runOpts{op: op, sign: true, signedAt: tc.skew}) // signed by its own clock
			s := patient.link(t, op).Poll(context.Background())
			if s.Ready() != tc.ready || !strings.Contains(strings.Join(s.Reasons, "\n"), tc.want) {
				t.Fatalf("skew %s: %s %q (offset %s)", tc.skew, s.Verdict, s.Reasons, s.Offset)
			}
			if d := s.Offset - tc.skew; abs(d) > time.Second {
				t.Errorf("measured offset %s for a skew of %s", s.Offset, tc.skew)
			}
			if tc.skew > 0 && !tc.ready && !strings.Contains(strings.Join(s.Reasons, "\n"), "in the future by this clock") {
				t.Errorf("a sign-off 10 minutes ahead: %q", s.Reasons)
			}
		})
	}
}

// TestRecordTamperedAtRest: a byte of the peer's sealed record changed on its disk, and then the index
// changed to match: its own server refuses to serve a log that does not verify, and nothing reads GO.
func TestRecordTamperedAtRest(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	r := surgeon.sealRun(t, runOpts{op: op, sign: true})
	path := filepath.Join(surgeon.dir, runlog.RunsDir, r.RunID, runlog.RecordFile)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "refused, as expected", "refused, as expectex", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateUnreachable || !strings.Contains(s.Peer.Problem, "is not the record sealed as leaf") {
		t.Fatalf("altered record.json: %s %+v", s.Verdict, s.Peer)
	}
}

func TestUnreachablePeer(t *testing.T) {
	patient := newFac(t, "patient-site", "patient-side", "hsato")
	surgeon := newFac(t, "surgeon-site", "surgeon-side", "ttanaka")
	surgeon.addr = "127.0.0.1:1" // nothing listens there
	patient.useProfile(t, surgeon, "", "")
	start := time.Now()
	s := patient.link(t, op).Poll(context.Background())
	if s.Ready() || s.Peer.State != StateUnreachable || !strings.Contains(s.Peer.Problem, "connection refused") || time.Since(start) > 3*time.Second {
		t.Fatalf("%+v after %s", s.Peer, time.Since(start))
	}
}

func TestNotConfigured(t *testing.T) {
	patient, surgeon := pair(t)
	patient.useProfile(t, surgeon, "", "")
	patient.profile.Peer.Key = ""
	l := NewLink(patient.profile, op, patient.store)
	s := l.Poll(context.Background())
	if s.Ready() || s.Peer.State != StateNotConfigured || !strings.Contains(strings.Join(s.Reasons, "\n"), "peer.key is missing") {
		t.Fatalf("%s %+v", s.Verdict, s.Peer)
	}
}
