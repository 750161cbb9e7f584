package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/mod/sumdb/note"
)

// KeyFormat names version 1 of the personal signing-key file:
//
//	{"format": "preflight-signing-key/v1",
//	 "name": "Hanako Sato", "user_id": "hsato", "role": "Network engineer", "created": "RFC 3339",
//	 "public_key": "hsato+1a2b3c4d+BASE64",            // note verifier key: what the roster lists
//	 "kdf": {"name": "scrypt", "log2_n": 15, "r": 8, "p": 1, "salt": "BASE64 (16 bytes)"},
//	 "cipher": "xchacha20-poly1305", "nonce": "BASE64 (24 bytes)",
//	 "ciphertext": "BASE64"}                            // the note signer key "PRIVATE+KEY+…"
//
// The passphrase goes through scrypt to a 32-byte key; XChaCha20-Poly1305 seals the private key with
// the header lines (format, name, user ID, role, created, public key) as additional data, so editing
// the name or role in the file makes it fail to open rather than sign under another identity.
const KeyFormat = "preflight-signing-key/v1"

// scrypt cost of new keys: 2^15 × 8 × 128 bytes = 32 MiB and a fraction of a second, per unlock.
// Each file records its own parameters, so the cost can rise without breaking old keys.
var keyLog2N, keyR, keyP = 15, 8, 1

// MinPassphrase is the shortest passphrase keygen accepts.
const MinPassphrase = 8

type keyFile struct {
	Format     string    `json:"format"`
	Name       string    `json:"name"`
	UserID     string    `json:"user_id"`
	Role       string    `json:"role"`
	Created    time.Time `json:"created"`
	PublicKey  string    `json:"public_key"`
	KDF        keyKDF    `json:"kdf"`
	Cipher     string    `json:"cipher"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

type keyKDF struct {
	Name  string `json:"name"`
	Log2N int    `json:"log2_n"`
	R     int    `json:"r"`
	P     int    `json:"p"`
	Salt  []byte `json:"salt"`
}

func (k *keyFile) aad() []byte {
	return []byte(strings.Join([]string{k.Format, k.Name, k.UserID, k.Role, k.Created.UTC().Format(time.RFC3339), k.PublicKey}, "\n"))
}

// Key is an unlocked personal signing key.
type Key struct {
	Name     string // printed name
	UserID   string // the key's name in signatures
	Role     string
	Verifier string // note verifier key: UserID+hash+data
	signer   note.Signer
}

// Signer returns the note signer.
func (k *Key) Signer() note.Signer { return k.signer }

// UserIDFor derives a user ID from a printed name ("Hanako Sato" → "hanako.sato"); signed-note key names
// may hold neither spaces nor '+'.
func UserIDFor(name string) string {
	f := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return unicode.IsSpace(r) || r == '+' })
	return strings.Join(f, ".")
}

func checkIdentity(name, userID, role string) error {
	var errs []string
	if strings.TrimSpace(name) == "" || strings.ContainsFunc(name, unicode.IsControl) {
		errs = append(errs, "--name: give the signer's printed name (one line)")
	}
	if userID == "" || strings.ContainsFunc(userID, func(r rune) bool { return unicode.IsSpace(r) || r == '+' || unicode.IsControl(r) }) {
		errs = append(errs, fmt.Sprintf("user ID %q: no spaces or '+' (it names the key in signatures)", userID))
	}
	if strings.TrimSpace(role) == "" || strings.ContainsFunc(role, unicode.IsControl) {
		errs = append(errs, "--role: give the signer's role (one line), e.g. \"Network engineer\"")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// GenerateKey makes a personal Ed25519 signing key encrypted with passphrase. It returns the key file's
// bytes and the roster line of its public key (see roster.go).
func GenerateKey(random io.Reader, name, userID, role string, passphrase []byte, now time.Time) (file []byte, rosterLine string, err error) {
	if err := checkIdentity(name, userID, role); err != nil {
		return nil, "", err
	}
	if len([]rune(string(passphrase))) < MinPassphrase {
		return nil, "", fmt.Errorf("the passphrase must have at least %d characters", MinPassphrase)
	}
	skey, vkey, err := note.GenerateKey(random, userID)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	kf := &keyFile{Format: KeyFormat, Name: name, UserID: userID, Role: role, Created: now.UTC().Truncate(time.Second),
		PublicKey: vkey, Cipher: "xchacha20-poly1305",
		KDF: keyKDF{Name: "scrypt", Log2N: keyLog2N, R: keyR, P: keyP, Salt: make([]byte, 16)}}
	kf.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(random, kf.KDF.Salt); err != nil {
		return nil, "", err
	}
	if _, err := io.ReadFull(random, kf.Nonce); err != nil {
		return nil, "", err
	}
	aead, err := kf.aead(passphrase)
	if err != nil {
		return nil, "", err
	}
	kf.Ciphertext = aead.Seal(nil, kf.Nonce, []byte(skey), kf.aad())
	out, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, "", err
	}
	return append(out, '\n'), Signer{Key: vkey, Name: name, Role: role}.line(), nil
}

func (k *keyFile) aead(passphrase []byte) (interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, error) {
	if k.KDF.Name != "scrypt" || k.KDF.Log2N < 10 || k.KDF.Log2N > 22 || k.KDF.R < 1 || k.KDF.R > 32 || k.KDF.P < 1 || k.KDF.P > 16 || len(k.KDF.Salt) < 16 {
		return nil, fmt.Errorf("unsupported key derivation %s (log2_n %d, r %d, p %d)", k.KDF.Name, k.KDF.Log2N, k.KDF.R, k.KDF.P)
	}
	dk, err := scrypt.Key(passphrase, k.KDF.Salt, 1<<k.KDF.Log2N, k.KDF.R, k.KDF.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(dk)
}

// KeyInfo is what a key file says about its owner, readable without the passphrase.
type KeyInfo struct{ Name, UserID, Role, Verifier string }

// ReadKeyInfo reads a key file's header, to name the key when asking for its passphrase.
func ReadKeyInfo(path string) (*KeyInfo, error) {
	kf, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return &KeyInfo{kf.Name, kf.UserID, kf.Role, kf.PublicKey}, nil
}

func readKeyFile(path string) (*keyFile, error) {
	data, err := readFileLimited(path, maxSmall)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("%s is not a preflight signing key (%v): keys come from preflight keygen", path, err)
	}
	switch {
	case kf.Format != KeyFormat:
		return nil, fmt.Errorf("%s: key format %q, this build reads %q: make a new key with preflight keygen", path, kf.Format, KeyFormat)
	case kf.Cipher != "xchacha20-poly1305" || len(kf.Nonce) != chacha20poly1305.NonceSizeX || len(kf.Ciphertext) == 0:
		return nil, fmt.Errorf("%s: damaged key file (cipher %q, nonce %d bytes, %d bytes of ciphertext)", path, kf.Cipher, len(kf.Nonce), len(kf.Ciphertext))
	}
	if _, err := note.NewVerifier(kf.PublicKey); err != nil {
		return nil, fmt.Errorf("%s: damaged key file: public key: %v", path, err)
	}
	return &kf, nil
}

// LoadKey opens a key file with its passphrase.
func LoadKey(path string, passphrase []byte) (*Key, error) {
	kf, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	aead, err := kf.aead(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	skey, err := aead.Open(nil, kf.Nonce, kf.Ciphertext, kf.aad())
	if err != nil {
		return nil, fmt.Errorf("cannot unlock %s: wrong passphrase, or the key file was altered", path)
	}
	signer, err := note.NewSigner(string(skey))
	if err != nil {
		return nil, fmt.Errorf("%s: damaged private key: %v", path, err)
	}
	k := &Key{Name: kf.Name, UserID: kf.UserID, Role: kf.Role, Verifier: kf.PublicKey, signer: signer}
	if err := k.selfTest(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// selfTest signs a probe text and verifies it with the public key, so a key file whose halves do not
// belong together is refused before it signs anything.
func (k *Key) selfTest() error {
	v, err := note.NewVerifier(k.Verifier)
	if err != nil {
		return err
	}
	msg, err := note.Sign(&note.Note{Text: "preflight key self-test\n"}, k.signer)
	if err == nil {
		_, err = note.Open(msg, note.VerifierList(v))
	}
	if err != nil || v.Name() != k.UserID {
		return fmt.Errorf("the private key does not match the public key %s", k.Verifier)
	}
	return nil
}

// WriteKeyFiles writes DIR/USERID.key (0600) and DIR/USERID.pub, refusing to overwrite either.
func WriteKeyFiles(dir, userID string, keyFile []byte, rosterLine string) (keyPath, pubPath string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	keyPath, pubPath = dir+string(os.PathSeparator)+userID+".key", dir+string(os.PathSeparator)+userID+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s exists: keygen never overwrites a key; choose another --out or --id", p)
		}
	}
	if err := writeExclusive(keyPath, keyFile, 0o600); err != nil {
		return "", "", err
	}
	if err := writeExclusive(pubPath, []byte(rosterLine+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return keyPath, pubPath, nil
}
