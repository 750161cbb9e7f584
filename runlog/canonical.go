package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// The canonical form of a record, and what its hashes cover.
//
// record.json holds the record in exactly one serialization, the canonical JSON: Go's encoding/json
// with members in schema order (Record's field order), two-space indentation, no HTML escaping, and a
// final newline. Its last three members are always prev, sha256 and signature, in that order.
//
//   - sha256 is the hex SHA-256 of the canonical JSON of the record with sha256 and signature empty,
//     i.e. of record.json with the two values replaced by "" — by hand:
//     sed -E 's/^  "(sha256|signature)": ".*"(,?)$/  "\1": ""\2/' record.json | sha256sum
//     It covers every member of the record, the sign-off block, the journal reference (so the events
//     timeline) and prev (so the record before it in this log).
//   - prev is the sha256 of the record sealed before this one in the facility log ("" for the first).
//   - signature is the sign-off as a signed note (signoff.go), whose text names this sha256.
//   - The Merkle leaf of the run in the facility log is the record.json file byte for byte, signature
//     included, so stripping or swapping a signature changes the tree the facility key signed.

// encodeRecord returns the canonical JSON of r.
func encodeRecord(r *Record) ([]byte, error) {
	b, err := encodeCanonical(r)
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.RunID, err)
	}
	return b, nil
}

// encodeCanonical returns the canonical JSON of a record type (a run record, a joint verdict) whose last
// members are prev, sha256 and signature.
func encodeCanonical(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	shaMember = []byte("\n  \"sha256\": \"")
	sigMember = []byte("\",\n  \"signature\": \"")
	recordEnd = []byte("\"\n}\n")
)

// errNotCanonical says a record.json is not in the form preflight writes.
var errNotCanonical = errors.New("not in the canonical form preflight writes (sha256 and signature must be the last members)")

// recordHash recomputes the sha256 of a canonical record.json and returns it with the sha256 and
// signature values found in the file (signature still JSON-escaped).
func recordHash(data []byte) (sum, sha string, sigJSON []byte, err error) {
	i := bytes.LastIndex(data, shaMember)
	if i < 0 || !bytes.HasSuffix(data, recordEnd) {
		return "", "", nil, errNotCanonical
	}
	start := i + len(shaMember)
	j := bytes.Index(data[start:], sigMember)
	if j < 0 {
		return "", "", nil, errNotCanonical
	}
	sha = string(data[start : start+j])
	sigStart := start + j + len(sigMember)
	sigEnd := len(data) - len(recordEnd)
	if sigEnd < sigStart || bytes.IndexByte(data[sigStart:sigEnd], '\n') >= 0 {
		return "", "", nil, errNotCanonical
	}
	h := sha256.New()
	h.Write(data[:start])
	h.Write(sigMember)
	h.Write(recordEnd)
	return hex.EncodeToString(h.Sum(nil)), sha, data[sigStart-1 : sigEnd+1], nil
}

// members splits a canonical record.json into its top-level members without decoding the large ones
// (items), which keeps verifying ten thousand runs fast. Top-level members are exactly the lines that
// start with two spaces and a quote: newlines inside strings are escaped, nested members are indented
// further.
func members(data []byte) (map[string]json.RawMessage, error) {
	if !bytes.HasPrefix(data, []byte("{\n")) || !bytes.HasSuffix(data, []byte("\n}\n")) {
		return nil, errNotCanonical
	}
	out := map[string]json.RawMessage{}
	body := data[1 : len(data)-2] // "\n  \"a\": 1,\n  \"b\": …"
	marker := []byte("\n  \"")
	for len(body) > 0 {
		if !bytes.HasPrefix(body, marker) {
			return nil, errNotCanonical
		}
		next := bytes.Index(body[len(marker):], marker)
		var m []byte
		if next < 0 {
			m, body = body[len(marker):], nil
		} else {
			m, body = body[len(marker):len(marker)+next], body[len(marker)+next:]
		}
		key, val, ok := bytes.Cut(m, []byte("\": "))
		if !ok {
			return nil, errNotCanonical
		}
		out[string(key)] = bytes.TrimSuffix(val, []byte(","))
	}
	return out, nil
}

// sealedHeader is what verify reads from every record.json: all but the items.
type sealedHeader struct {
	Schema      string      `json:"schema"`
	RunID       string      `json:"run_id"`
	OperationID string      `json:"operation_id"`
	Facility    FacilityRef `json:"facility"`
	Profile     ProfileRef  `json:"profile"`
	StartedAt   string      `json:"started_at"`
	Verdict     string      `json:"verdict"`
	Interrupted string      `json:"interrupted"`
	Signoff     *Signoff    `json:"signoff"`
	Journal     *JournalRef `json:"journal"`
	Prev        string      `json:"prev"`
	SHA256      string      `json:"sha256"`
	Signature   string      `json:"signature"`
}

// readHeader decodes the header members of a canonical record.json.
func readHeader(data []byte) (*sealedHeader, error) {
	ms, err := members(data)
	if err != nil {
		return nil, err
	}
	h := &sealedHeader{}
	fields := map[string]any{
		"schema": &h.Schema, "run_id": &h.RunID, "operation_id": &h.OperationID, "facility": &h.Facility, "profile": &h.Profile,
		"started_at": &h.StartedAt, "verdict": &h.Verdict, "interrupted": &h.Interrupted, "signoff": &h.Signoff,
		"journal": &h.Journal, "prev": &h.Prev, "sha256": &h.SHA256, "signature": &h.Signature,
	}
	for k, dst := range fields {
		if raw, ok := ms[k]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return nil, fmt.Errorf("member %q: %w", k, err)
			}
		}
	}
	return h, nil
}
