package runlog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint witnessing. Each facility keeps what it has seen of the other's log, so that neither can
// later rewrite or drop a run unnoticed:
//
//	LOGDIR/peers/PEER/
//	  pin               the peer's facility key as this facility pinned it: a note signed by our facility key
//	  witnessed.jsonl   every checkpoint of the peer's log seen, in order, each cosigned by our facility key,
//	                    with the consistency proof from the one before: one JSON line each
//	  cosigned          our own latest checkpoint as the peer witnessed it (our signature and theirs)
//	  records/RUN.json  the peer's sealed records a joint verdict rested on, byte for byte
//
// A checkpoint is only added when it extends the last one witnessed (a tlog consistency proof); a
// smaller tree, or one that does not extend it, is refused with ErrRollback or ErrSplitView and never
// replaces what was seen — so it is detected again at every look until someone finds out why.
const PeersDir = "peers"

// Files of a peer's directory.
const (
	PinFile       = "pin"
	WitnessedFile = "witnessed.jsonl"
	CosignedFile  = "cosigned"
	PeerRecords   = "records"
)

// Errors of witnessing.
var (
	ErrSplitView  = errors.New("split view")
	ErrRollback   = errors.New("log rolled back")
	ErrPinChanged = errors.New("pinned key changed")
)

const pinHeader = "preflight peer pin v1"

// WitnessLine is one line of witnessed.jsonl.
type WitnessLine struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Size       int64     `json:"size"`
	Root       string    `json:"root"`  // base64
	Proof      []string  `json:"proof"` // consistency proof from the previous line's tree, base64 hashes
	Checkpoint string    `json:"checkpoint"`
}

func validFacilityID(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') })
}

func (s *Store) peerDir(peer string) string { return filepath.Join(s.Dir, PeersDir, peer) }

// ensurePin writes the peer's pin the first time, and refuses a different key later.
func (s *Store) ensurePin(peer, vkey string) error {
	if !validFacilityID(peer) {
		return fmt.Errorf("peer id %q is not a facility id", peer)
	}
	dir := s.peerDir(peer)
	if msg, err := readFileLimited(filepath.Join(dir, PinFile), maxSmall); err == nil {
		have, err := parsePin(msg, s.fvkey)
		if err != nil {
			return fmt.Errorf("%s: %w — run preflight log verify", filepath.Join(PeersDir, peer, PinFile), err)
		}
		if have != vkey {
			return fmt.Errorf("%w: the profile pins %s for %s, but this log witnessed %s: if the other facility really made a new key, move %s aside",
				ErrPinChanged, keyID(vkey), peer, keyID(have), dir)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, PeerRecords), 0o700); err != nil {
		return err
	}
	msg, err := note.Sign(&note.Note{Text: pinHeader + "\nfacility " + peer + "\nkey " + vkey + "\n"}, s.fkey)
	if err != nil {
		return err
	}
	return writeDurably(filepath.Join(dir, PinFile), msg)
}

// parsePin verifies a pin note with our facility key and returns the pinned verifier key.
func parsePin(msg []byte, ours string) (string, error) {
	v, err := note.NewVerifier(ours)
	if err != nil {
		return "", err
	}
	n, err := openNote(msg, note.VerifierList(v))
	if err != nil {
		return "", fmt.Errorf("not signed by this facility's key: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != pinHeader || !strings.HasPrefix(lines[1], "facility ") || !strings.HasPrefix(lines[2], "key ") {
		return "", errors.New("not a peer pin")
	}
	key := strings.TrimPrefix(lines[2], "key ")
	if _, err := note.NewVerifier(key); err != nil {
		return "", fmt.Errorf("pinned key: %v", err)
	}
	return key, nil
}

// Witness checks a checkpoint of the peer's log (signed by the pinned verifier key vkey) against the last
// one witnessed, with proof the consistency proof from that one's size, and keeps it cosigned by this
// facility. It returns the checkpoint, and whether it was new.
func (s *Store) Witness(peer, vkey string, msg []byte, proof tlog.TreeProof, at time.Time) (Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := ParseCheckpoint(msg, vkey)
	if err != nil {
		return Checkpoint{}, false, err
	}
	if err := s.ensurePin(peer, vkey); err != nil {
		return c, false, err
	}
	lines, err := readWitnessed(s.peerDir(peer))
	if err != nil {
		return c, false, err
	}
	if len(lines) > 0 {
		last := lines[len(lines)-1]
		if err := extends(last, c, proof); err != nil {
			return c, false, err
		}
		if last.Size == c.Size {
			return c, false, nil
		}
	}
	v, _ := note.NewVerifier(vkey)
	n, _ := note.Open(msg, note.VerifierList(v)) // ParseCheckpoint verified it
	cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, s.fkey)
	if err != nil {
		return c, false, err
	}
	ln := WitnessLine{Seq: int64(len(lines)) + 1, At: at.UTC(), Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root[:]),
		Proof: encodeHashes(proof), Checkpoint: string(cosigned)}
	if len(lines) == 0 {
		ln.Proof = []string{}
	}
	b, _ := json.Marshal(ln)
	if err := appendDurably(filepath.Join(s.peerDir(peer), WitnessedFile), append(b, '\n')); err != nil {
		return c, false, fmt.Errorf("keep the peer's checkpoint: %w", err)
	}
	return c, true, nil
}

// extends checks that checkpoint c extends the witnessed line last.
func extends(last WitnessLine, c Checkpoint, proof tlog.TreeProof) error {
	lastRoot, err := decodeLeafHash(last.Root)
	if err != nil {
		return fmt.Errorf("%s line %d: %w", WitnessedFile, last.Seq, err)
	}
	switch {
	case c.Size < last.Size:
		return fmt.Errorf("%w: the peer's log now has %d runs, but it had %d when this facility witnessed it at %s: runs were dropped",
			ErrRollback, c.Size, last.Size, last.At.Format(time.RFC3339))
	case c.Size == last.Size && c.Root != lastRoot:
		return fmt.Errorf("%w: the peer presents a log of %d runs whose root differs from the one witnessed at %s: its history was rewritten",
			ErrSplitView, c.Size, last.At.Format(time.RFC3339))
	case c.Size > last.Size && last.Size > 0:
		if err := tlog.CheckTree(proof, c.Size, c.Root, last.Size, lastRoot); err != nil {
			return fmt.Errorf("%w: the peer's log of %d runs does not extend the %d witnessed at %s (%v): its history was rewritten",
				ErrSplitView, c.Size, last.Size, last.At.Format(time.RFC3339), err)
		}
	}
	return nil
}

func encodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// DecodeHashes reads base64 hashes (a proof).
func DecodeHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := decodeLeafHash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// EncodeHashes writes hashes (a proof) as base64.
func EncodeHashes(hs []tlog.Hash) []string { return encodeHashes(hs) }

func readWitnessed(dir string) ([]WitnessLine, error) {
	data, err := readFileLimited(filepath.Join(dir, WitnessedFile), maxJournal)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []WitnessLine
	for i, ln := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var w WitnessLine
		dec := json.NewDecoder(bytes.NewReader(ln))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("%s line %d: %v — run preflight log verify", WitnessedFile, i+1, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// LastWitnessed returns the last checkpoint of peer's log this facility witnessed, or nil.
func (s *Store) LastWitnessed(peer string) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lastWitnessed(s.Dir, peer)
}

func lastWitnessed(dir, peer string) (*Checkpoint, error) {
	if !validFacilityID(peer) {
		return nil, fmt.Errorf("peer id %q is not a facility id", peer)
	}
	lines, err := readWitnessed(filepath.Join(dir, PeersDir, peer))
	if err != nil || len(lines) == 0 {
		return nil, err
	}
	last := lines[len(lines)-1]
	root, err := decodeLeafHash(last.Root)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Origin: Origin(peer), Size: last.Size, Root: root}, nil
}

// WitnessedCopy returns the last checkpoint of peer's log witnessed in the log in dir, as this facility
// cosigned it (read-only, for serving it back to the peer), or nil.
func WitnessedCopy(dir, peer string) ([]byte, error) {
	if !validFacilityID(peer) {
		return nil, fmt.Errorf("peer id %q is not a facility id", peer)
	}
	lines, err := readWitnessed(filepath.Join(dir, PeersDir, peer))
	if err != nil || len(lines) == 0 {
		return nil, err
	}
	return []byte(lines[len(lines)-1].Checkpoint), nil
}

// KeepCosigned keeps this facility's own checkpoint as the peer witnessed it (signed by this facility
// and cosigned by the peer's pinned key vkey). The log must still hold what it covers: when it does not,
// the log was rewritten after the peer saw it, and the error says so.
func (s *Store) KeepCosigned(peer, vkey string, msg []byte) (Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.checkCosigned(vkey, msg, s.tree.n, func(n int64) (tlog.Hash, error) { return s.tree.root(n) })
	if err != nil {
		return c, err
	}
	if err := s.ensurePin(peer, vkey); err != nil {
		return c, err
	}
	path := filepath.Join(s.peerDir(peer), CosignedFile)
	if old, err := readFileLimited(path, maxSmall); err == nil {
		if have, err := ParseCheckpoint(old, s.fvkey); err == nil && have.Size >= c.Size {
			return c, nil
		}
	}
	return c, writeDurably(path, msg)
}

// checkCosigned verifies a checkpoint of this log cosigned by vkey against a tree of n leaves.
func (s *Store) checkCosigned(vkey string, msg []byte, n int64, root func(int64) (tlog.Hash, error)) (Checkpoint, error) {
	c, err := ParseCheckpoint(msg, s.fvkey)
	if err != nil {
		return c, fmt.Errorf("our checkpoint as the peer returned it: %w", err)
	}
	if err := cosignedBy(msg, vkey); err != nil {
		return c, err
	}
	if r, err := root(c.Size); c.Size > n || err != nil || r != c.Root {
		return c, fmt.Errorf("%w: the peer witnessed this log at %d runs with a root it no longer has (it holds %d): this log was rewritten after the peer saw it — run preflight log verify",
			ErrRollback, c.Size, n)
	}
	return c, nil
}

// cosignedBy checks that a note carries a valid signature by vkey.
func cosignedBy(msg []byte, vkey string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	if _, err := openNote(msg, note.VerifierList(v)); err != nil {
		return fmt.Errorf("not cosigned by %s: %v", keyID(vkey), err)
	}
	return nil
}

// KeepPeerRecord keeps a sealed record of the peer (bytes as received) that a joint verdict rests on.
func (s *Store) KeepPeerRecord(peer, runID string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !validFacilityID(peer) || !validRunID(runID) {
		return fmt.Errorf("peer record %s/%s: bad id", peer, runID)
	}
	dir := filepath.Join(s.peerDir(peer), PeerRecords)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, runID+".json")
	if old, err := readFileLimited(path, maxRecord); err == nil {
		if !bytes.Equal(old, data) {
			return fmt.Errorf("%s/%s: the peer now serves other bytes for a record it sealed earlier", peer, runID)
		}
		return nil
	}
	return writeDurably(path, data)
}
