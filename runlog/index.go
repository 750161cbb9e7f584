package runlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// IndexFile lists the facility log's leaves in order, one JSON line per sealed run, with what `log list`
// shows. It is a copy of what the records say; verify checks every line against its record.
const IndexFile = "index.jsonl"

// IndexEntry is one line of the index.
type IndexEntry struct {
	Leaf        int64  `json:"leaf"`
	RunID       string `json:"run_id"`
	SHA256      string `json:"sha256"`
	LeafHash    string `json:"leaf_hash"` // base64 RFC 6962 leaf hash of record.json
	StartedAt   string `json:"started_at"`
	OperationID string `json:"operation_id"`
	Verdict     string `json:"verdict"`
	Interrupted string `json:"interrupted,omitempty"`
	Signer      string `json:"signer,omitempty"`
	Meaning     string `json:"meaning,omitempty"`
	Signed      bool   `json:"signed"`
	Kind        string `json:"kind,omitempty"` // "joint" for a joint verdict (joint.go); empty for a run
}

func indexEntry(leaf int64, h *sealedHeader, leafHash string) IndexEntry {
	e := IndexEntry{Leaf: leaf, RunID: h.RunID, SHA256: h.SHA256, LeafHash: leafHash, StartedAt: h.StartedAt,
		OperationID: h.OperationID, Verdict: h.Verdict, Interrupted: h.Interrupted, Signed: h.Signature != ""}
	if h.Schema == JointSchema {
		e.Kind = KindJoint
	}
	if h.Signoff != nil {
		e.Signer, e.Meaning = h.Signoff.Name, h.Signoff.Meaning
	}
	return e
}

func (e IndexEntry) line() []byte {
	b, _ := json.Marshal(e) // plain strings and numbers: cannot fail
	return append(b, '\n')
}

// readIndex reads the index and returns each entry with its exact line. A torn last line (a crash while
// appending) is returned separately.
func readIndex(dir string) (entries []IndexEntry, lines [][]byte, torn []byte, validLen int64, err error) {
	data, err := readFileLimited(filepath.Join(dir, IndexFile), maxJournal)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	n := 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return entries, lines, data, validLen, nil
		}
		n++
		var e IndexEntry
		dec := json.NewDecoder(bytes.NewReader(data[:i]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("%s line %d: %v", IndexFile, n, err)
		}
		if !validRunID(e.RunID) {
			return nil, nil, nil, 0, fmt.Errorf("%s line %d: run id %q is not one preflight makes", IndexFile, n, e.RunID)
		}
		if e.Leaf != int64(n-1) {
			return nil, nil, nil, 0, fmt.Errorf("%s line %d: leaf %d, want %d: lines were removed, inserted or reordered", IndexFile, n, e.Leaf, n-1)
		}
		entries, lines = append(entries, e), append(lines, data[:i+1])
		validLen += int64(i + 1)
		data = data[i+1:]
	}
	return entries, lines, nil, validLen, nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
