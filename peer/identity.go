package peer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Identity is a facility's identity on the peer link: its facility key and the self-signed certificate
// that carries it in the TLS handshake. Nothing about the certificate but its key is trusted: the other
// side pins the key.
type Identity struct {
	Key  *runlog.FacilityKey
	Cert tls.Certificate
}

// LoadIdentity reads the facility key and TLS certificate of the log in dir.
func LoadIdentity(dir string) (*Identity, error) {
	k, err := runlog.LoadFacilityKey(dir)
	if err != nil {
		return nil, err
	}
	der, err := runlog.ReadFacilityCert(dir, k)
	if err != nil {
		return nil, err
	}
	return &Identity{Key: k, Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.PrivateKey()}}, nil
}

// EnsureIdentity gives the store's facility a TLS certificate when it has none, and returns the
// identity. It reports whether it made the certificate.
func EnsureIdentity(st *runlog.Store) (*Identity, bool, error) {
	if id, err := LoadIdentity(st.Dir); err == nil {
		return id, false, nil
	}
	certPEM, err := NewCertificate(st.FacilityKey(), time.Now())
	if err != nil {
		return nil, false, err
	}
	if err := st.WriteFacilityCert(certPEM); err != nil {
		return nil, false, fmt.Errorf("keep the facility's TLS certificate: %w", err)
	}
	id, err := LoadIdentity(st.Dir)
	return id, err == nil, err
}

// NewCertificate makes the facility's self-signed Ed25519 certificate (PEM). It is valid for twenty
// years: the pin on the key is what the other side trusts, and replacing the key means a new pin anyway.
func NewCertificate(k *runlog.FacilityKey, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "preflight facility " + k.ID, Organization: []string{"preflight peer link"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public, k.PrivateKey())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Pin is the other facility as the profile pins it.
type Pin struct {
	ID       string            // its facility id
	Role     string            // its role: the other one
	Key      ed25519.PublicKey // its facility key
	Verifier string            // the note verifier key of that key: checks its roster and checkpoints
}

// PinOf reads the peer block of a profile. It says what is missing for the link to work.
func PinOf(p *profiles.Profile) (*Pin, error) {
	pe := p.Peer
	switch {
	case pe == nil:
		return nil, errors.New("the profile has no peer: block: add the other facility (id, endpoint, key)")
	case pe.Key == "":
		return nil, fmt.Errorf("peer.key is missing: pin %s's facility key (its `preflight keygen --facility` prints the line to paste)", pe.ID)
	}
	pub, err := runlog.ParsePin(pe.Key)
	if err != nil {
		return nil, err
	}
	v, err := runlog.PinnedVerifier(pe.ID, pub)
	if err != nil {
		return nil, err
	}
	return &Pin{ID: pe.ID, Role: profiles.OtherRole(p.Facility.Role), Key: pub, Verifier: v}, nil
}

// NewPin pins a facility by id, role and public key (tests, the demo).
func NewPin(id, role string, pub ed25519.PublicKey) *Pin {
	v, _ := runlog.PinnedVerifier(id, pub)
	return &Pin{ID: id, Role: role, Key: pub, Verifier: v}
}

// pinString shows a key as a profile pins it.
func pinString(pub ed25519.PublicKey) string {
	return runlog.PinPrefix + base64.StdEncoding.EncodeToString(pub)
}

// verifyPinned returns a VerifyPeerCertificate function that accepts exactly one certificate whose key is
// pub, and nothing else: no CA, no name, no chain.
func verifyPinned(who string, pub ed25519.PublicKey) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) != 1 {
			return fmt.Errorf("%s presented %d certificates: want exactly one, for its pinned key", who, len(raw))
		}
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("%s presented an unreadable certificate: %v", who, err)
		}
		got, ok := c.PublicKey.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%s presented a key that is not Ed25519 (%T): it is not the pinned facility", who, c.PublicKey)
		}
		if !got.Equal(pub) {
			return fmt.Errorf("%s presented key %s, but the profile pins %s: not the pinned facility", who, pinString(got), pinString(pub))
		}
		return nil
	}
}

// serverTLS accepts TLS 1.3 clients that present the pinned key, and no one else.
func serverTLS(id *Identity, peer *Pin) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		MaxVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{id.Cert},
		ClientAuth:            tls.RequireAnyClientCert, // checked against the pin, not a CA
		VerifyPeerCertificate: verifyPinned("the client", peer.Key),
		NextProtos:            []string{"http/1.1"},
		// VerifyPeerCertificate is not called again on a resumed session: every session gets a full
		// handshake, so every connection shows the pinned key.
		SessionTicketsDisabled: true,
	}
}

// clientTLS talks TLS 1.3 to a server that presents the pinned key, showing our own.
func clientTLS(id *Identity, peer *Pin) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		// No CA and no name: the certificate is checked against the pin, in VerifyPeerCertificate, which runs
		// even when the usual chain verification is off.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verifyPinned(peer.ID, peer.Key),
		NextProtos:            []string{"http/1.1"},
	}
}
