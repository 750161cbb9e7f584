package peer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// A bundle carries a facility's state for an operation across an air gap, for the same checks as the
// live link. It is one JSON object:
//
//	{"format": "preflight.bundle/v1",
//	 "manifest": "<signed note>",     // by the facility key: facility, operation, created, payload-sha256
//	 "payload": {"state": State, "leaves": ["base64 leaf hash", …], "created": "RFC 3339"}}
//
// The payload's exact bytes hash to the manifest's payload-sha256. It carries every leaf hash of the
// facility's log up to its checkpoint instead of proofs: the importer does not tell the exporter what it
// witnessed before, so it rebuilds the tree, checks it against the signed checkpoint, and derives the
// consistency and inclusion proofs the live link would have sent — then the checks are the live ones.
const BundleFormat = "preflight.bundle/v1"

// Limits of a bundle.
const (
	MaxBundle       = 64 << 20
	maxBundleLeaves = 1 << 20
)

const manifestHeader = "preflight bundle v1"

type bundleFile struct {
	Format   string          `json:"format"`
	Manifest string          `json:"manifest"`
	Payload  json.RawMessage `json:"payload"`
}

type bundlePayload struct {
	State   *State    `json:"state"`
	Leaves  []string  `json:"leaves"`
	Created time.Time `json:"created"`
}

// Export writes the bundle of operation op from the log in dir, of the facility with role role, for the
// peer peerID (whose checkpoint as witnessed here it carries back, when there is one).
func Export(dir, role, op, peerID string, now time.Time) ([]byte, error) {
	if !ValidOperation(op) {
		return nil, fmt.Errorf("operation id %q: letters, digits, '.', '_' and '-'", op)
	}
	v, err := runlog.OpenView(dir)
	if err != nil {
		return nil, err
	}
	roster, err := runlog.ReadRoster(dir)
	if err != nil {
		return nil, fmt.Errorf("read roster: %w", err)
	}
	e, data, err := v.LatestRun(op)
	switch {
	case err != nil:
		return nil, err
	case e == nil:
		return nil, fmt.Errorf("no sealed run of operation %s in %s (preflight log list --operation %s shows the runs)", op, dir, op)
	}
	st := &State{Schema: Schema, Facility: Facility{ID: v.Facility.ID, Role: role}, Operation: op, Now: now.UTC(),
		Roster: string(roster), Checkpoint: string(v.CheckpointNote), Run: &Run{Leaf: e.Leaf, Record: data, Inclusion: []string{}}}
	if peerID != "" {
		if c, err := runlog.WitnessedCopy(dir, peerID); err == nil && c != nil {
			st.Witness = string(c)
		}
	}
	payload, err := json.Marshal(bundlePayload{State: st, Leaves: runlog.EncodeHashes(v.LeafHashes()), Created: now.UTC()})
	if err != nil {
		return nil, err
	}
	return signBundle(v.Facility, payload, v.Facility.ID+" "+role, op, now)
}

// signBundle wraps a payload with a manifest signed by the facility key.
func signBundle(k *runlog.FacilityKey, payload []byte, facility, op string, now time.Time) ([]byte, error) {
	sum := sha256.Sum256(payload)
	text := fmt.Sprintf("%s\nfacility %s\noperation %s\ncreated %s\npayload-sha256 %s\n", manifestHeader, facility, op,
		now.UTC().Format(time.RFC3339), hex.EncodeToString(sum[:]))
	manifest, err := note.Sign(&note.Note{Text: text}, k.Signer())
	if err != nil {
		return nil, err
	}
	head, _ := json.Marshal(struct {
		Format   string `json:"format"`
		Manifest string `json:"manifest"`
	}{BundleFormat, string(manifest)})
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	b.WriteString(`,"payload":`)
	b.Write(payload)
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// ReadBundle verifies a bundle against the pinned facility and returns the state it carries, with the
// proofs derived from its leaves: consistency from lastSize (the size of the facility's log last witnessed
// here; 0 for none) and inclusion of its record. The error names the part of the bundle that is wrong.
func ReadBundle(data []byte, pin *Pin, lastSize int64) (*State, error) {
	if len(data) > MaxBundle {
		return nil, fmt.Errorf("%d bytes, more than the %d MiB a bundle may have", len(data), MaxBundle>>20)
	}
	var f bundleFile
	if err := strictJSON(data, &f); err != nil {
		return nil, err
	}
	switch {
	case f.Format != BundleFormat:
		return nil, fmt.Errorf("format: %q, want %s (a file from preflight export)", f.Format, BundleFormat)
	case len(f.Payload) == 0:
		return nil, errors.New("payload: missing")
	}
	v, err := note.NewVerifier(pin.Verifier)
	if err != nil {
		return nil, err
	}
	n, err := note.Open([]byte(f.Manifest), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("manifest: not signed by %s's pinned key (%v): the bundle is not from the pinned facility, or was altered", pin.ID, err)
	}
	fields := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if lines[0] != manifestHeader {
		return nil, fmt.Errorf("manifest: first line %q, want %q", lines[0], manifestHeader)
	}
	for _, ln := range lines[1:] {
		k, val, _ := strings.Cut(ln, " ")
		fields[k] = val
	}
	sum := sha256.Sum256(f.Payload)
	if got := hex.EncodeToString(sum[:]); got != fields["payload-sha256"] {
		return nil, fmt.Errorf("payload: its sha256 is %s, but the signed manifest names %s: the bundle was altered after it was signed", short(got), short(fields["payload-sha256"]))
	}
	var p bundlePayload
	if err := strictJSON(f.Payload, &p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	st := p.State
	switch {
	case st == nil:
		return nil, errors.New("payload.state: missing")
	case fields["facility"] != st.Facility.ID+" "+st.Facility.Role || fields["operation"] != st.Operation:
		return nil, fmt.Errorf("payload.state: facility %s (%s), operation %s, but the signed manifest names facility %s, operation %s",
			st.Facility.ID, st.Facility.Role, st.Operation, fields["facility"], fields["operation"])
	case len(p.Leaves) > maxBundleLeaves:
		return nil, fmt.Errorf("payload.leaves: %d, more than %d", len(p.Leaves), maxBundleLeaves)
	}
	c, err := runlog.ParseCheckpoint([]byte(st.Checkpoint), pin.Verifier)
	if err != nil {
		return nil, fmt.Errorf("payload.state.checkpoint: %v", err)
	}
	if int64(len(p.Leaves)) != c.Size {
		return nil, fmt.Errorf("payload.leaves: %d leaf hashes, but the signed checkpoint covers %d runs", len(p.Leaves), c.Size)
	}
	leaves, err := runlog.DecodeHashes(p.Leaves)
	if err != nil {
		return nil, fmt.Errorf("payload.leaves: %v", err)
	}
	t := &runlog.Tree{}
	for _, h := range leaves {
		if err := t.Append(h); err != nil {
			return nil, fmt.Errorf("payload.leaves: %v", err)
		}
	}
	if root, err := t.Root(); err != nil || root != c.Root {
		return nil, errors.New("payload.leaves: they do not hash to the root of the signed checkpoint: the leaves were altered")
	}
	st.Consistency = nil
	if lastSize > 0 && lastSize < c.Size {
		proof, err := tlog.ProveTree(c.Size, lastSize, t)
		if err != nil {
			return nil, fmt.Errorf("consistency proof from %d: %v", lastSize, err)
		}
		st.Consistency = &Proof{From: lastSize, Hashes: runlog.EncodeHashes(proof)}
	}
	if r := st.Run; r != nil {
		if r.Leaf < 0 || r.Leaf >= c.Size {
			return nil, fmt.Errorf("payload.state.run.leaf: %d is outside the log of %d runs", r.Leaf, c.Size)
		}
		proof, err := tlog.ProveRecord(c.Size, r.Leaf, t)
		if err != nil {
			return nil, fmt.Errorf("payload.state.run: %v", err)
		}
		r.Inclusion = runlog.EncodeHashes(proof)
	}
	st.Live = nil // a bundle carries sealed records only
	return st, nil
}

// strictJSON decodes one JSON value with no unknown members and nothing after it, saying where it broke.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("byte %d: not valid JSON: it ends early (a truncated file?)", len(data))
		case errors.Is(err, io.EOF):
			return errors.New("empty: not a preflight bundle")
		case errors.As(err, &se):
			return fmt.Errorf("byte %d: not valid JSON: %v", se.Offset, err)
		case errors.As(err, &te):
			return fmt.Errorf("byte %d: %s: %v", te.Offset, te.Field, err)
		}
		return fmt.Errorf("not a preflight bundle: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("byte %d: more data after the bundle", dec.InputOffset())
	}
	return nil
}

// BundleOperation is the operation a bundle names, read without checking anything (to know which
// operation to check it for); "" when it cannot be read.
func BundleOperation(data []byte) string {
	var f struct {
		Payload struct {
			State struct {
				Operation string `json:"operation"`
			} `json:"state"`
		} `json:"payload"`
	}
	if len(data) > MaxBundle || json.Unmarshal(data, &f) != nil {
		return ""
	}
	return f.Payload.State.Operation
}
