package runlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// The facility key (LOGDIR/facility.key) is the facility's one identity: it signs the roster and every
// checkpoint, and it is the key the other facility pins for the peer link (its TLS certificate,
// LOGDIR/facility.crt, is a self-signed certificate for the same key). One pinned key then anchors
// everything the peer receives: the TLS session, the roster that says whose sign-offs count, and the
// checkpoints that prove what the log holds. TLS 1.3 signs its handshake under a fixed 64-space prefix and
// a context string, and every note this key signs begins with "preflight", so a signature made for one
// can never be taken for the other.

// FacilityCertFile is the facility's TLS identity for the peer link.
const FacilityCertFile = "facility.crt"

// FacilityKey is a facility's key, unlocked from its log directory.
type FacilityKey struct {
	ID       string            // the facility id
	Verifier string            // note verifier key: preflight/ID+hash+data
	Public   ed25519.PublicKey // what the other facility pins (peer.key: "ed25519:BASE64")
	signer   note.Signer
	private  ed25519.PrivateKey
}

// Signer signs notes (checkpoints, cosignatures, bundles) as the facility.
func (k *FacilityKey) Signer() note.Signer { return k.signer }

// PrivateKey is the key's private half, for the facility's TLS certificate.
func (k *FacilityKey) PrivateKey() ed25519.PrivateKey { return k.private }

// Pin is how the other facility's profile names this key: "ed25519:" and the base64 public key.
func (k *FacilityKey) Pin() string { return PinPrefix + base64.StdEncoding.EncodeToString(k.Public) }

// PinPrefix starts a pinned key in a profile (peer.key).
const PinPrefix = "ed25519:"

// ParsePin reads a pinned key "ed25519:BASE64".
func ParsePin(pin string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(pin, PinPrefix)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("pinned key %q: want \"ed25519:\" and the base64 of a 32-byte public key", pin)
	}
	return ed25519.PublicKey(raw), nil
}

// PinnedVerifier is the note verifier key of facility id's pinned public key: what checks its roster and
// checkpoints.
func PinnedVerifier(facilityID string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(Origin(facilityID), pub)
}

func newFacilityKey(skey string) (*FacilityKey, error) {
	signer, vkey, err := facilityKey(skey)
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(strings.TrimSuffix(skey, "\n"), "+", 5)
	raw, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1]) // facilityKey checked it
	priv := ed25519.NewKeyFromSeed(raw[1:])
	return &FacilityKey{ID: strings.TrimPrefix(signer.Name(), "preflight/"), Verifier: vkey,
		Public: priv.Public().(ed25519.PublicKey), signer: signer, private: priv}, nil
}

// LoadFacilityKey reads the facility key of the log in dir.
func LoadFacilityKey(dir string) (*FacilityKey, error) {
	skey, err := readFileLimited(filepath.Join(dir, FacilityKeyFile), maxSmall)
	if err != nil {
		return nil, fmt.Errorf("%s is not a facility log yet (%v): run preflight keygen --facility ID --log-dir %s first", dir, err, dir)
	}
	k, err := newFacilityKey(string(skey))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FacilityKeyFile), err)
	}
	return k, nil
}

// FacilityKey is the store's facility key.
func (s *Store) FacilityKey() *FacilityKey { return s.fk }

// ParseRoster verifies a roster signed by the facility verifier key facilityKey (a peer's, pinned) and
// parses it.
func ParseRoster(msg []byte, facilityKey string) (*Roster, error) {
	if facilityKey == "" {
		return nil, errors.New("no facility key to check the roster against")
	}
	return parseRoster(msg, facilityKey)
}

// ReadRoster returns the signed roster of the log in dir, as stored.
func ReadRoster(dir string) ([]byte, error) {
	return readFileLimited(filepath.Join(dir, RosterFile), maxSmall)
}

// ReadCheckpoint returns the latest signed checkpoint of the log in dir, as stored.
func ReadCheckpoint(dir string) ([]byte, error) {
	return readFileLimited(filepath.Join(dir, CheckpointFile), maxSmall)
}

// WriteFacilityCert keeps the facility's TLS certificate (PEM) in LOGDIR/facility.crt; it must be a
// certificate for the facility key.
func (s *Store) WriteFacilityCert(certPEM []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkFacilityCert(certPEM, s.FacilityKey().Public); err != nil {
		return err
	}
	return writeDurably(filepath.Join(s.Dir, FacilityCertFile), certPEM)
}

// ReadFacilityCert returns the facility's TLS certificate (DER), checked against the facility key.
func ReadFacilityCert(dir string, k *FacilityKey) ([]byte, error) {
	b, err := readFileLimited(filepath.Join(dir, FacilityCertFile), maxSmall)
	if err != nil {
		return nil, fmt.Errorf("no TLS identity for the peer link (%v): run preflight keygen --facility %s --log-dir %s", err, k.ID, dir)
	}
	if err := checkFacilityCert(b, k.Public); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FacilityCertFile), err)
	}
	blk, _ := pem.Decode(b)
	return blk.Bytes, nil
}

// checkFacilityCert checks that certPEM is one certificate whose key is pub.
func checkFacilityCert(certPEM []byte, pub ed25519.PublicKey) error {
	blk, rest := pem.Decode(certPEM)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) > 0 {
		return errors.New("not one PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("not a certificate: %v", err)
	}
	got, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok || !got.Equal(pub) {
		return errors.New("the certificate is not for the facility key")
	}
	return nil
}
