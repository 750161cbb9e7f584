package runlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A joint verdict is the decision that an operation is ready at both facilities (or why it is not),
// reached from both facilities' sealed records. Each facility keeps its own in its own log, as a leaf of
// the Merkle log like a run: runs/ID/record.json in the canonical form, chained by prev, covered by the
// checkpoints — so the verdict, the two records it rests on and the peer checkpoint that proved the peer's
// record cannot later be altered or dropped unnoticed. It has no journal, profile or sign-off of its own:
// the peer link reached it from signed records, and it names them.

// JointSchema identifies a joint verdict in the log.
const JointSchema = "preflight.joint/v1"

// KindJoint marks a joint verdict in the log index and in log list.
const KindJoint = "joint"

// Joint verdicts.
const (
	JointReady    = "ready"     // OPERATION READY: both facilities GO, signed, fresh, verified
	JointNotReady = "not-ready" // anything else; Reasons says what
)

// Joint is a joint verdict as the log keeps it.
type Joint struct {
	Schema      string      `json:"schema"`
	RunID       string      `json:"run_id"` // this entry's id in the log, made like a run id
	OperationID string      `json:"operation_id"`
	Facility    FacilityRef `json:"facility"` // the facility whose log holds it
	// StartedAt is when the verdict was reached (the member is named as a run's, so the log lists runs and
	// joint verdicts in one time order).
	StartedAt time.Time `json:"started_at"`
	Verdict   string    `json:"verdict"` // ready | not-ready
	Reasons   []string  `json:"reasons,omitempty"`
	Freshness string    `json:"freshness"` // the window both sign-offs had to fall in
	// ClockOffsetMS is the peer's clock minus this host's, measured over the link (midpoint of the request).
	ClockOffsetMS *float64    `json:"clock_offset_ms,omitempty"`
	Via           string      `json:"via"` // "peer link ADDR" or "bundle FILE"
	Local         JointSide   `json:"local"`
	Peer          JointSide   `json:"peer"`
	Journal       *JournalRef `json:"journal"` // always {lines: 0}: a joint verdict has no events of its own
	Prev          string      `json:"prev"`
	SHA256        string      `json:"sha256"`
	Signature     string      `json:"signature"` // always "": the facility key's checkpoint covers it
}

// JointSide is what one facility's sealed record showed when the joint verdict was reached.
type JointSide struct {
	Facility      string     `json:"facility"`
	Role          string     `json:"role,omitempty"`
	State         string     `json:"state"`             // go, no-go, incomplete, interrupted, running, not-started, unreachable, unverifiable, split-view …
	Problem       string     `json:"problem,omitempty"` // why it is unreachable, unverifiable or split
	RunID         string     `json:"run_id,omitempty"`
	RecordSHA256  string     `json:"record_sha256,omitempty"`
	ProfileSHA256 string     `json:"profile_sha256,omitempty"`
	Verdict       string     `json:"verdict,omitempty"`
	Signer        string     `json:"signer,omitempty"`
	UserID        string     `json:"user_id,omitempty"`
	Meaning       string     `json:"meaning,omitempty"`
	SignedAt      *time.Time `json:"signed_at,omitempty"`
	Signature     string     `json:"signature,omitempty"` // the sign-off's state: valid, unsigned, invalid, none
	Leaf          *int64     `json:"leaf,omitempty"`      // the record's leaf in its facility's log
	// Checkpoint is the signed checkpoint of that facility's log that the record was proved to be in.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// SealJoint adds a joint verdict to the log as its next leaf and signs a new checkpoint. It returns where
// the entry is.
func (s *Store) SealJoint(j *Joint) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lock == nil:
		return "", errors.New("the store is closed")
	case s.broken != nil:
		return "", fmt.Errorf("the log is not writable after an earlier failure (%v): the next preflight run completes the seal", s.broken)
	case j.Verdict != JointReady && j.Verdict != JointNotReady:
		return "", fmt.Errorf("joint verdict %q: ready or not-ready", j.Verdict)
	}
	j.Schema, j.Journal = JointSchema, &JournalRef{}
	if j.RunID == "" {
		j.RunID = NewRunID(s.Now())
	}
	if j.Facility.ID == "" {
		j.Facility.ID = s.Facility
	}
	if j.Facility.ID != s.Facility || !validRunID(j.RunID) {
		return "", fmt.Errorf("joint verdict %s of facility %s does not belong in the log of %s", j.RunID, j.Facility.ID, s.Facility)
	}
	if j.StartedAt.IsZero() {
		j.StartedAt = s.Now().UTC()
	}
	dir := s.runDir(j.RunID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the joint verdict's directory: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	j.Prev, j.SHA256, j.Signature = s.head(), "", ""
	body, err := encodeCanonical(j)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	j.SHA256 = hex.EncodeToString(sum[:])
	data, err := encodeCanonical(j)
	if err != nil {
		return "", err
	}
	if got, _, _, err := recordHash(data); err != nil || got != j.SHA256 {
		return "", fmt.Errorf("seal joint verdict %s: the canonical form does not round-trip (%v)", j.RunID, err)
	}
	path := filepath.Join(dir, RecordFile)
	if err := writeDurably(path, data); err != nil {
		return "", fmt.Errorf("write joint verdict %s: %w", j.RunID, err)
	}
	h, _ := readHeader(data)
	if err := s.appendLeaf(h, data); err != nil {
		s.broken = err
		return "", err
	}
	return path, nil
}

// LoadJoint reads the joint verdict id of the log in dir.
func LoadJoint(dir, id string) (*Joint, error) {
	if !validRunID(id) {
		return nil, fmt.Errorf("bad id %q", id)
	}
	data, err := readFileLimited(filepath.Join(dir, RunsDir, id, RecordFile), maxRecord)
	if err != nil {
		return nil, err
	}
	j := &Joint{}
	if err := json.Unmarshal(data, j); err != nil || j.Schema != JointSchema {
		return nil, fmt.Errorf("%s is not a joint verdict (%v)", id, err)
	}
	return j, nil
}

// IsJoint reports whether entry id of the log in dir is a joint verdict.
func IsJoint(dir, id string) bool {
	j, err := LoadJoint(dir, id)
	return err == nil && j != nil
}

// LatestJoint returns the last joint verdict of operation op in the log in dir, or nil.
func LatestJoint(dir, op string) (*Joint, error) {
	entries, _, _, _, err := readIndex(dir)
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Kind == KindJoint && e.OperationID == op {
			return LoadJoint(dir, e.RunID)
		}
	}
	return nil, nil
}
