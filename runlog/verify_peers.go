package runlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PeerWitness is what verify found this log keeps of one peer facility.
type PeerWitness struct {
	Peer      string
	Witnessed int64 // the largest checkpoint of the peer's log witnessed; -1 when none
	Cosigned  int64 // the largest checkpoint of this log the peer cosigned; -1 when none
	Records   int   // the peer's sealed records kept
}

// checkPeers verifies what the log keeps of its peers (witness.go): each pin signed by this facility's
// key; each witnessed checkpoint signed by the pinned key and cosigned by this facility, each extending
// the one before it by the proof kept with it; this log's checkpoint as the peer cosigned it, which the
// log must still hold; and the peer's sealed records, in their canonical form.
func (vr *verifier) checkPeers(tr *Tree) {
	ents, err := os.ReadDir(filepath.Join(vr.dir, PeersDir))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		vr.add(Unreadable, PeersDir, "", "cannot read: %v", err)
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !validFacilityID(e.Name()) {
			vr.add(Tampered, filepath.Join(PeersDir, e.Name()), "", "an unexpected file: preflight does not write it")
			continue
		}
		vr.v.Peers = append(vr.v.Peers, vr.checkPeer(tr, e.Name()))
	}
}

func (vr *verifier) checkPeer(tr *Tree, peer string) PeerWitness {
	pw := PeerWitness{Peer: peer, Witnessed: -1, Cosigned: -1}
	dir := filepath.Join(vr.dir, PeersDir, peer)
	file := func(f string) string { return filepath.Join(PeersDir, peer, f) }
	msg, err := readFileLimited(filepath.Join(dir, PinFile), maxSmall)
	if err != nil {
		vr.readErr(file(PinFile), "", err)
		return pw
	}
	vkey, err := parsePin(msg, vr.roster.Facility)
	if err != nil {
		vr.add(Tampered, file(PinFile), "", "%v: the pin was altered", err)
		return pw
	}
	lines, err := readWitnessed(dir)
	if err != nil {
		vr.add(Tampered, file(WitnessedFile), "", "%v", err)
	}
	for i, ln := range lines {
		where := fmt.Sprintf("line %d", i+1)
		c, err := ParseCheckpoint([]byte(ln.Checkpoint), vkey)
		switch {
		case err != nil:
			vr.add(Tampered, file(WitnessedFile), "", "%s: %v: a witnessed checkpoint was altered or forged", where, err)
			continue
		case cosignedBy([]byte(ln.Checkpoint), vr.roster.Facility) != nil:
			vr.add(Tampered, file(WitnessedFile), "", "%s: not cosigned by this facility's key: it was not witnessed here", where)
			continue
		case ln.Seq != int64(i+1) || ln.Size != c.Size || ln.Root != base64.StdEncoding.EncodeToString(c.Root[:]):
			vr.add(Tampered, file(WitnessedFile), "", "%s: its seq, size or root differ from the checkpoint it holds: the line was altered", where)
			continue
		}
		if i > 0 {
			proof, err := DecodeHashes(ln.Proof)
			if err == nil {
				err = extends(lines[i-1], c, proof)
			}
			if err != nil {
				vr.add(Tampered, file(WitnessedFile), "", "%s does not extend line %d: %v", where, i, err)
			}
		}
		pw.Witnessed = max(pw.Witnessed, c.Size)
	}
	if msg, err := readFileLimited(filepath.Join(dir, CosignedFile), maxSmall); err == nil {
		c, err := ParseCheckpoint(msg, vr.roster.Facility)
		switch {
		case err != nil:
			vr.add(Tampered, file(CosignedFile), "", "%v", err)
		case cosignedBy(msg, vkey) != nil:
			vr.add(Tampered, file(CosignedFile), "", "not cosigned by %s's pinned key %s: it was altered", peer, keyID(vkey))
		default:
			if root, err := tr.root(c.Size); c.Size > tr.n || err != nil || root != c.Root {
				vr.add(Tampered, file(CosignedFile), "", "%s witnessed this log at %d runs, and the log no longer holds them unchanged (it has %d): the log was rewritten or runs were dropped after %s saw it",
					peer, c.Size, tr.n, peer)
			}
			pw.Cosigned = c.Size
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		vr.add(Unreadable, file(CosignedFile), "", "cannot read: %v", err)
	}
	pw.Records = vr.checkPeerRecords(dir, file)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch n := e.Name(); {
		case n == PinFile || n == WitnessedFile || n == CosignedFile || n == PeerRecords:
		case strings.HasPrefix(n, ".tmp-"):
			vr.add(Unfinished, file(n), "", "an unfinished write of a stopped writer")
		default:
			vr.add(Tampered, file(n), "", "an unexpected file: preflight does not write it")
		}
	}
	return pw
}

func (vr *verifier) checkPeerRecords(dir string, file func(string) string) int {
	ents, _ := os.ReadDir(filepath.Join(dir, PeerRecords))
	n := 0
	for _, e := range ents {
		name := filepath.Join(PeerRecords, e.Name())
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validRunID(id) {
			if !strings.HasPrefix(e.Name(), ".tmp-") {
				vr.add(Tampered, file(name), "", "an unexpected file: preflight does not write it")
			}
			continue
		}
		data, err := readFileLimited(filepath.Join(dir, name), maxRecord)
		if err != nil {
			vr.add(Unreadable, file(name), "", "cannot read: %v", err)
			continue
		}
		sum, sha, _, err := recordHash(data)
		h, herr := readHeader(data)
		if err != nil || sum != sha || herr != nil || h.RunID != id {
			vr.add(Tampered, file(name), "", "is not the peer's sealed record %s as received (its sha256 or run id do not match): it was altered", id)
			continue
		}
		n++
	}
	return n
}

// checkFacilityCert checks LOGDIR/facility.crt, when there is one, against the facility key.
func (vr *verifier) checkFacilityCert() {
	b, err := readFileLimited(filepath.Join(vr.dir, FacilityCertFile), maxSmall)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		vr.add(Unreadable, FacilityCertFile, "", "cannot read: %v", err)
		return
	}
	pub, err := verifierPublic(vr.roster.Facility)
	if err == nil {
		err = checkFacilityCert(b, pub)
	}
	if err != nil {
		vr.add(Tampered, FacilityCertFile, "", "%v: the facility's TLS identity was replaced", err)
	}
}

// verifierPublic returns the Ed25519 public key of a note verifier key.
func verifierPublic(vkey string) (ed25519.PublicKey, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("not a verifier key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return nil, errors.New("not an Ed25519 verifier key")
	}
	return ed25519.PublicKey(raw[1:]), nil
}
