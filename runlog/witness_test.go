package runlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// peerStore opens a log of another facility ("peer-site") with its own deterministic key.
func peerStore(t *testing.T, dir string) (*Store, *profiles.Profile) {
	t.Helper()
	s, err := open(dir, "peer-site", &detRand{seed: "peer-facility"}, func() time.Time { return testStart })
	if err != nil {
		t.Fatal(err)
	}
	if len(s.roster.Signers) == 0 {
		if err := s.AddSigner(signerOf(testKey(t, "hsato"))); err != nil {
			t.Fatal(err)
		}
	}
	p, err := profiles.Parse("peer-site.yaml", []byte(strings.Replace(testProfileYAML, "id: test-site, role: patient-side", "id: peer-site, role: surgeon-side", 1)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// witnessFrom has w witness the current checkpoint of the log in dir, with the proof its view serves.
func witnessFrom(t *testing.T, w *Store, dir string) (Checkpoint, bool, error) {
	t.Helper()
	v, err := OpenView(dir)
	if err != nil {
		t.Fatal(err)
	}
	var from int64
	if last, err := w.LastWitnessed(v.Facility.ID); err == nil && last != nil {
		from = min(last.Size, v.Checkpoint.Size)
	}
	proof, err := v.ConsistencyProof(from)
	if err != nil {
		t.Fatal(err)
	}
	return w.Witness(v.Facility.ID, v.Facility.Verifier, v.CheckpointNote, proof, testStart)
}

func TestJointVerdictIsALeafThatVerifies(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	p, k := testProfile(t), testKey(t, "hsato")
	r, err := fakeRun(s, p, runOpts{id: "20261204T093000Z-000000000001", start: testStart, good: true, key: k})
	if err != nil {
		t.Fatal(err)
	}
	j := &Joint{RunID: "20261204T094500Z-00000000000a", OperationID: r.OperationID, Verdict: JointReady, Freshness: "1h0m0s",
		Via: "peer link 127.0.0.1:7443", Local: JointSide{Facility: "test-site", State: GO, RecordSHA256: r.SHA256},
		Peer: JointSide{Facility: "peer-site", State: GO}}
	where, err := s.SealJoint(j)
	if err != nil {
		t.Fatal(err)
	}
	if j.Prev != r.SHA256 || j.SHA256 == "" || !strings.HasSuffix(where, RecordFile) {
		t.Fatalf("joint sealed with prev %s sha %s at %s", j.Prev, j.SHA256, where)
	}
	if _, err := s.SealJoint(&Joint{Verdict: "maybe"}); err == nil {
		t.Fatal("a joint verdict other than ready or not-ready was sealed")
	}
	s.Close()
	if v := mustVerify(t, dir, VerifyOptions{}); v.Worst() != 0 || v.Size != 2 {
		t.Fatalf("verify: size %d%s", v.Size, problemsText(v))
	}
	runs, err := List(dir, ListFilter{})
	if err != nil || len(runs) != 2 || runs[1].Kind != KindJoint || runs[1].Verdict != JointReady {
		t.Fatalf("list: %+v %v", runs, err)
	}
	got, err := LatestJoint(dir, r.OperationID)
	if err != nil || got == nil || got.SHA256 != j.SHA256 || got.Local.RecordSHA256 != r.SHA256 {
		t.Fatalf("LatestJoint: %+v %v", got, err)
	}
	if !IsJoint(dir, j.RunID) || IsJoint(dir, r.RunID) {
		t.Fatal("IsJoint tells runs and joint verdicts apart wrongly")
	}
	// The view serves the run, never the joint verdict, as the operation's latest sealed run.
	v, err := OpenView(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, data, err := v.LatestRun(r.OperationID)
	if err != nil || e == nil || e.RunID != r.RunID {
		t.Fatalf("LatestRun: %+v %v", e, err)
	}
	if sealed, err := CheckSealed(data, s.roster); err != nil || sealed.Signature.Status != SigValid || sealed.Record.Verdict != GO {
		t.Fatalf("CheckSealed: %+v %v", sealed, err)
	}
	// A changed verdict in the joint entry is found.
	path := filepath.Join(dir, RunsDir, j.RunID, RecordFile)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"verdict": "ready"`, `"verdict": "not-ready"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := mustVerify(t, dir, VerifyOptions{}); v.ExitCode() != VerifyTampered {
		t.Fatalf("an altered joint verdict verified:%s", problemsText(v))
	}
}

func TestCheckSealedRefusesAlteredBytes(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	defer s.Close()
	r, err := fakeRun(s, testProfile(t), runOpts{id: "20261204T093000Z-000000000001", start: testStart, good: true, key: testKey(t, "hsato")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, RunsDir, r.RunID, RecordFile))
	for name, bad := range map[string][]byte{
		"evidence changed": []byte(strings.Replace(string(data), `"open ports [443] are all allowed"`, `"open ports [443] are all fine"`, 1)),
		"not canonical":    []byte(strings.Replace(string(data), "\n  ", "\n ", 1)),
		"empty":            nil,
		"json garbage":     []byte("{\"sha256\": 1}"),
	} {
		if _, err := CheckSealed(bad, s.roster); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	other := &Roster{} // a roster without hsato: the signature is not trusted
	if sealed, err := CheckSealed(data, other); err != nil || sealed.Signature.Status != SigInvalid {
		t.Fatalf("unknown signer: %+v %v", sealed.Signature, err)
	}
}

func TestWitnessDetectsRollbackAndSplitView(t *testing.T) {
	mine, theirs := t.TempDir(), t.TempDir()
	w := newTestStore(t, mine)
	defer w.Close()
	ps, p := peerStore(t, theirs)
	k := testKey(t, "hsato")
	run := func(s *Store, i int) {
		t.Helper()
		id := "20261204T1" + string(rune('0'+i)) + "0000Z-00000000000" + string(rune('0'+i))
		if _, err := fakeRun(s, p, runOpts{id: id, start: testStart.Add(time.Duration(i) * time.Hour), good: true, key: k}); err != nil {
			t.Fatal(err)
		}
	}
	run(ps, 1)
	if c, added, err := witnessFrom(t, w, theirs); err != nil || !added || c.Size != 1 {
		t.Fatalf("first witness: %v %v %v", c, added, err)
	}
	run(ps, 2)
	run(ps, 3)
	if c, added, err := witnessFrom(t, w, theirs); err != nil || !added || c.Size != 3 {
		t.Fatalf("second witness: %v %v %v", c, added, err)
	}
	if _, added, err := witnessFrom(t, w, theirs); err != nil || added {
		t.Fatalf("the same checkpoint again: added %v, %v", added, err)
	}
	ps.Close()

	// A fork: the peer's log as it was at size 1, grown differently to size 4.
	fork := t.TempDir()
	copyDir(t, theirs, fork)
	fs, _ := peerStore(t, fork)
	_ = fs
	fs.Close()
	// Roll the fork back to one run: keep leaf 0 and sign a checkpoint over it with the peer's key.
	rollTo(t, fork, 1)
	if _, _, err := witnessFrom(t, w, fork); !errors.Is(err, ErrRollback) {
		t.Fatalf("a log rolled back to 1 run: %v", err)
	}
	fs, _ = peerStore(t, fork)
	for i := 5; i <= 7; i++ {
		run(fs, i)
	}
	fs.Close()
	if _, _, err := witnessFrom(t, w, fork); !errors.Is(err, ErrSplitView) {
		t.Fatalf("a forked log of 4 runs: %v", err)
	}
	if last, _ := w.LastWitnessed("peer-site"); last == nil || last.Size != 3 {
		t.Fatalf("the refused checkpoint replaced the witnessed one: %v", last)
	}
	// What was witnessed verifies, and the witness store is checked by verify.
	if v := mustVerify(t, mine, VerifyOptions{}); v.Worst() != 0 || len(v.Peers) != 1 || v.Peers[0].Witnessed != 3 {
		t.Fatalf("verify the witness: %+v%s", v.Peers, problemsText(v))
	}
	wf := filepath.Join(mine, PeersDir, "peer-site", WitnessedFile)
	b, _ := os.ReadFile(wf)
	lines := strings.SplitAfter(string(b), "\n")
	if err := os.WriteFile(wf, []byte(lines[1]), 0o600); err != nil { // the first line dropped
		t.Fatal(err)
	}
	if v := mustVerify(t, mine, VerifyOptions{}); v.ExitCode() != VerifyTampered {
		t.Fatalf("a dropped witness line verified:%s", problemsText(v))
	}
}

// rollTo cuts the log in dir back to its first n runs, re-signing the checkpoint with its facility key:
// what an insider holding the key can do, and only a witness catches.
func rollTo(t *testing.T, dir string, n int) {
	t.Helper()
	entries, lines, _, _, err := readIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	var keep []byte
	for _, l := range lines[:n] {
		keep = append(keep, l...)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFile), keep, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[n:] {
		os.RemoveAll(filepath.Join(dir, RunsDir, e.RunID))
	}
	k, err := LoadFacilityKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tr Tree
	for _, e := range entries[:n] {
		h, _ := decodeLeafHash(e.LeafHash)
		_ = tr.add(h)
	}
	root, _ := tr.root(int64(n))
	msg, err := Checkpoint{Origin: Origin(k.ID), Size: int64(n), Root: root}.sign(k.Signer())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile), msg, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCosignedCheckpointCatchesOwnRollback(t *testing.T) {
	mine, theirs := t.TempDir(), t.TempDir()
	s := newTestStore(t, mine)
	ps, _ := peerStore(t, theirs)
	defer ps.Close()
	p, k := testProfile(t), testKey(t, "hsato")
	for i := range 2 {
		id := "20261204T1" + string(rune('0'+i)) + "0000Z-00000000000" + string(rune('0'+i))
		if _, err := fakeRun(s, p, runOpts{id: id, start: testStart.Add(time.Duration(i) * time.Hour), good: true, key: k}); err != nil {
			t.Fatal(err)
		}
	}
	// The peer witnesses this log; its cosigned copy comes back and is kept here.
	if _, _, err := witnessFrom(t, ps, mine); err != nil {
		t.Fatal(err)
	}
	copyMsg, err := WitnessedCopy(theirs, "test-site")
	if err != nil || copyMsg == nil {
		t.Fatalf("WitnessedCopy: %v", err)
	}
	if _, err := s.KeepCosigned("peer-site", ps.FacilityKey().Verifier, copyMsg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeepCosigned("peer-site", s.FacilityKey().Verifier, copyMsg); !errors.Is(err, ErrPinChanged) {
		t.Fatalf("another key for the same peer: %v", err)
	}
	s.Close()
	if v := mustVerify(t, mine, VerifyOptions{}); v.Worst() != 0 || v.Peers[0].Cosigned != 2 {
		t.Fatalf("verify: %+v%s", v.Peers, problemsText(v))
	}
	rollTo(t, mine, 1)
	v := mustVerify(t, mine, VerifyOptions{})
	if v.ExitCode() != VerifyTampered || !strings.Contains(problemsText(v), "peer-site witnessed this log at 2 runs") {
		t.Fatalf("a rollback under a cosigned checkpoint:%s", problemsText(v))
	}
}

// selfSigned makes a PEM certificate for key.
func selfSigned(t *testing.T, pub ed25519.PublicKey, priv ed25519.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: testStart, NotAfter: testStart.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestFacilityCertificate(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	k := s.FacilityKey()
	if k.ID != "test-site" || !strings.HasPrefix(k.Pin(), PinPrefix) {
		t.Fatalf("facility key %+v", k)
	}
	if pub, err := ParsePin(k.Pin()); err != nil || !pub.Equal(k.Public) {
		t.Fatalf("ParsePin(Pin()): %v", err)
	}
	if v, err := PinnedVerifier(k.ID, k.Public); err != nil || v != k.Verifier {
		t.Fatalf("PinnedVerifier %q, want the facility verifier %q (%v)", v, k.Verifier, err)
	}
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	if err := s.WriteFacilityCert(selfSigned(t, otherPub, otherPriv)); err == nil {
		t.Fatal("a certificate for another key was kept as the facility's")
	}
	if err := s.WriteFacilityCert(selfSigned(t, k.Public, k.PrivateKey())); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFacilityCert(dir, k); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := mustVerify(t, dir, VerifyOptions{}); v.Worst() != 0 {
		t.Fatalf("verify:%s", problemsText(v))
	}
	// Replaced by a certificate for another key: the facility's identity on the link was swapped.
	if err := os.WriteFile(filepath.Join(dir, FacilityCertFile), selfSigned(t, otherPub, otherPriv), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := mustVerify(t, dir, VerifyOptions{}); v.ExitCode() != VerifyTampered || !strings.Contains(problemsText(v), "facility.crt") {
		t.Fatalf("a swapped certificate verified:%s", problemsText(v))
	}
}
