package runlog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// The facility roster (LOGDIR/roster) lists the public keys trusted to sign this facility's runs. It is a
// signed note, signed by the facility key, so a byte changed in it is detected:
//
//	preflight roster v1
//	facility preflight/patient-site+4a5b6c7d+BASE64
//	signer hsato+1a2b3c4d+BASE64 "Hanako Sato" "Network engineer"
//
//	— preflight/patient-site BASE64SIGNATURE
//
// The facility line is the key that signs the roster and every checkpoint. A reviewer who holds a
// trusted copy of the roster (from the facility's document system, or the peer) passes it to verify.
const rosterHeader = "preflight roster v1"

// Signer is one trusted person in the roster: the verifier key of their personal key, and their
// printed name and role as the facility registered them.
type Signer struct {
	Key  string
	Name string
	Role string
}

func (s Signer) line() string {
	return s.Key + " " + strconv.Quote(s.Name) + " " + strconv.Quote(s.Role)
}

// ParseSignerLine reads `KEY "Name" "Role"`, the line keygen writes into USERID.pub.
func ParseSignerLine(line string) (Signer, error) {
	key, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if _, err := note.NewVerifier(key); err != nil {
		return Signer{}, fmt.Errorf("public key %q: %v", key, err)
	}
	name, rest, err := unquote(rest)
	if err != nil {
		return Signer{}, fmt.Errorf("printed name: %v", err)
	}
	role, rest, err := unquote(rest)
	if err != nil {
		return Signer{}, fmt.Errorf("role: %v", err)
	}
	if strings.TrimSpace(rest) != "" {
		return Signer{}, fmt.Errorf("unexpected %q after the role", rest)
	}
	return Signer{Key: key, Name: name, Role: role}, nil
}

func unquote(s string) (string, string, error) {
	s = strings.TrimLeft(s, " ")
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", errors.New(`write it in double quotes, e.g. "Hanako Sato"`)
	}
	v, _ := strconv.Unquote(q)
	return v, s[len(q):], nil
}

// Roster is the parsed roster.
type Roster struct {
	Facility string // verifier key of the facility
	Signers  []Signer
}

func (r *Roster) text() string {
	var b strings.Builder
	b.WriteString(rosterHeader + "\nfacility " + r.Facility + "\n")
	for _, s := range r.Signers {
		b.WriteString("signer " + s.line() + "\n")
	}
	return b.String()
}

// sign returns the roster as a note signed by the facility key.
func (r *Roster) sign(facility note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: r.text()}, facility)
}

// parseRoster verifies a signed roster. anchor is the facility verifier key to trust; when empty, the
// facility line of the roster itself is used (the roster is then only checked for consistency).
func parseRoster(msg []byte, anchor string) (*Roster, error) {
	text, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return nil, errors.New("not a signed note (no blank line before the signatures)")
	}
	r := &Roster{}
	lines := strings.Split(string(text), "\n")
	if lines[0] != rosterHeader {
		return nil, fmt.Errorf("first line %q, want %q", lines[0], rosterHeader)
	}
	for i, ln := range lines[1:] {
		kind, rest, _ := strings.Cut(ln, " ")
		switch {
		case kind == "facility" && i == 0:
			r.Facility = rest
		case kind == "signer":
			s, err := ParseSignerLine(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+2, err)
			}
			r.Signers = append(r.Signers, s)
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+2, ln)
		}
	}
	if anchor == "" {
		anchor = r.Facility
	}
	v, err := note.NewVerifier(anchor)
	if err != nil {
		return nil, fmt.Errorf("facility key: %v", err)
	}
	if _, err := openNote(msg, note.VerifierList(v)); err != nil {
		return nil, fmt.Errorf("not signed by the facility key %s: %v", keyID(anchor), err)
	}
	if r.Facility != anchor {
		return nil, fmt.Errorf("names facility key %s, but the trusted facility key is %s", keyID(r.Facility), keyID(anchor))
	}
	return r, nil
}

// verifiers returns the signers' keys for note.Open.
func (r *Roster) verifiers() (note.Verifiers, error) {
	var vs []note.Verifier
	for _, s := range r.Signers {
		v, err := note.NewVerifier(s.Key)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

// signer returns the roster entry of a key name and hash.
func (r *Roster) signer(name string, hash uint32) *Signer {
	for i, s := range r.Signers {
		if v, err := note.NewVerifier(s.Key); err == nil && v.Name() == name && v.KeyHash() == hash {
			return &r.Signers[i]
		}
	}
	return nil
}

// keyID shortens a verifier key to name+hash for messages.
func keyID(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) < 2 {
		return vkey
	}
	return parts[0] + "+" + parts[1]
}
