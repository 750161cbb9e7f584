package runlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The facility log is a Merkle tree (RFC 6962, as golang.org/x/mod/sumdb/tlog computes it) whose leaves
// are the sealed runs' record.json files in the order they were sealed. After each seal the facility
// key signs a checkpoint (C2SP tlog-checkpoint: origin, tree size, base64 root hash) into LOGDIR/checkpoint
// and into the run's own directory. Anyone who keeps a checkpoint — the other facility, a printed report —
// can later prove that the log still holds, unchanged, every run that checkpoint covered.

// Origin is the checkpoint origin (and facility key name) of a facility's log.
func Origin(facilityID string) string { return "preflight/" + facilityID }

// Tree holds a log's stored hashes in memory (a few hundred kilobytes for ten thousand runs): the facility
// log's own, and a peer's log rebuilt from the leaf hashes in a bundle.
type Tree struct {
	hashes []tlog.Hash
	n      int64
}

func (t *Tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("tree: no stored hash %d", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// add appends a leaf by its record hash.
func (t *Tree) add(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(t.n, leaf, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.n++
	return nil
}

// root is the tree hash of the first n leaves; the empty tree's is SHA-256 of nothing (RFC 6962).
func (t *Tree) root(n int64) (tlog.Hash, error) {
	if n == 0 {
		return tlog.Hash(sha256.Sum256(nil)), nil
	}
	return tlog.TreeHash(n, t)
}

// Checkpoint is a signed tree head.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

func (c Checkpoint) text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

func (c Checkpoint) sign(s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.text()}, s)
}

// ParseCheckpoint verifies a signed checkpoint with the facility verifier key and parses its text.
func ParseCheckpoint(msg []byte, facilityKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(facilityKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("facility key: %v", err)
	}
	n, err := openNote(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("not signed by the facility key %s: %v", keyID(facilityKey), err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("checkpoint text has %d lines, want origin, size and root hash", len(lines)-1)
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("origin %q is not the facility key's name %q", c.Origin, v.Name())
	}
	if c.Size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Size < 0 || strconv.FormatInt(c.Size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("bad root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// String shows a checkpoint for people.
func (c Checkpoint) String() string {
	return fmt.Sprintf("%s size %d root %s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// openNote is note.Open that also insists on the one encoding of each signature: base64 with spare
// bits set decodes to the same signature, and would let a byte of the file change unnoticed.
func openNote(msg []byte, known note.Verifiers) (*note.Note, error) {
	n, err := note.Open(msg, known)
	if err != nil {
		return n, err
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	for _, ln := range strings.Split(strings.TrimSuffix(string(msg[i+2:]), "\n"), "\n") {
		_, sig, _ := strings.Cut(strings.TrimPrefix(ln, "— "), " ")
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || base64.StdEncoding.EncodeToString(b) != sig {
			return nil, fmt.Errorf("signature line %q is not canonically encoded", ln)
		}
	}
	return n, nil
}

// Append adds a leaf by its record hash.
func (t *Tree) Append(leaf tlog.Hash) error { return t.add(leaf) }

// Root is the tree hash of every leaf appended so far.
func (t *Tree) Root() (tlog.Hash, error) { return t.root(t.n) }
