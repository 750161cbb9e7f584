package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/note"

	"github.com/telesurgery-preflight/preflight/checks"
)

// A sign-off is a signed note (C2SP signed-note) by the signer's personal key. Its text names the record
// it signs by sha256 and repeats the signature elements, so the note alone shows who signed what, when
// and meaning what:
//
//	preflight sign-off v1
//	record-sha256 9f2c…
//	run 20261204T093000Z-abcdef012345
//	facility patient-site patient-side
//	operation OP-2026-118
//	verdict go
//	meaning approve
//	name Hanako Sato
//	user-id hsato
//	role Network engineer
//	time 2026-12-04T09:31:00Z local 2026-12-04T18:31:00+09:00
//	clock-offset +3.200ms measured by item ntp-sync
//	statement Network readiness confirmed for operation OP-2026-118 …
//
//	— hsato BASE64SIGNATURE
const signoffHeader = "preflight sign-off v1"

// prepareSignoff completes the sign-off before sealing: identity from the key, meaning, the local UTC
// offset, and the clock offset the run measured.
func prepareSignoff(r *Record, key *Key) error {
	so := r.Signoff
	if key != nil {
		so.UserID = orDefault(so.UserID, key.UserID)
		so.Name = orDefault(so.Name, key.Name)
		so.Role = orDefault(so.Role, key.Role)
		switch {
		case so.UserID != key.UserID:
			return fmt.Errorf("the sign-off is by user %q but the key belongs to %q: sign with your own key", so.UserID, key.UserID)
		case so.Name != key.Name:
			return fmt.Errorf("the sign-off names %q but the key belongs to %q: sign with your own key", so.Name, key.Name)
		}
		so.Key = key.Verifier
	}
	if so.Meaning == "" {
		so.Meaning = Reject
		if r.Verdict == GO {
			so.Meaning = Approve
		}
	}
	switch {
	case so.Meaning != Approve && so.Meaning != Reject:
		return fmt.Errorf("sign-off meaning %q: use approve or reject", so.Meaning)
	case so.Meaning == Approve && r.Verdict != GO:
		return fmt.Errorf("a %s run cannot be approved: sign it as reject, or fix what blocks GO and re-run", r.Verdict)
	}
	if so.UTCOffset == "" {
		so.UTCOffset = so.At.In(time.Local).Format("-07:00")
	}
	if so.ClockOffsetMS == nil {
		so.ClockOffsetMS, so.ClockSource = measuredOffset(r)
	}
	return nil
}

// measuredOffset returns the clock offset an ntp item of the run measured (evidence offset_ms).
func measuredOffset(r *Record) (*float64, string) {
	for _, it := range r.Items {
		if it.Kind != "ntp" || (it.Status != checks.Pass && it.Status != checks.Warn && it.Status != checks.Fail) {
			continue
		}
		var ms float64
		switch v := it.Evidence["offset_ms"].(type) {
		case float64:
			ms = v
		case int:
			ms = float64(v)
		case int64:
			ms = float64(v)
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				continue
			}
			ms = f
		default:
			continue
		}
		return &ms, it.ID
	}
	return nil, ""
}

// signoffText is the text a signer signs for record r (whose SHA256 is set).
func signoffText(r *Record) string {
	so := r.Signoff
	local := so.At
	if off, err := time.Parse("-07:00", so.UTCOffset); err == nil {
		_, secs := off.Zone()
		local = so.At.In(time.FixedZone(so.UTCOffset, secs))
	}
	clock := "not measured"
	if so.ClockOffsetMS != nil {
		clock = fmt.Sprintf("%+.3fms measured by item %s", *so.ClockOffsetMS, so.ClockSource)
	}
	fields := [][2]string{
		{"record-sha256", r.SHA256}, {"run", r.RunID}, {"facility", r.Facility.ID + " " + r.Facility.Role},
		{"operation", orDefault(r.OperationID, "-")}, {"verdict", r.Verdict}, {"meaning", so.Meaning},
		{"name", so.Name}, {"user-id", so.UserID}, {"role", so.Role},
		{"time", so.At.UTC().Format(time.RFC3339) + " local " + local.Format(time.RFC3339)},
		{"clock-offset", clock}, {"statement", so.Statement},
	}
	var b strings.Builder
	b.WriteString(signoffHeader + "\n")
	for _, f := range fields {
		b.WriteString(f[0] + " " + oneLine(f[1]) + "\n")
	}
	return b.String()
}

// oneLine keeps a value on its line of the note: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// SignatureState is what verifying a record's sign-off found.
type SignatureState struct {
	Status   string  // valid | unsigned | none | invalid
	Signer   *Signer // the roster entry, when the key is in the roster
	KeyID    string  // name+hash of the signing key
	Problems []string
}

// Signature statuses.
const (
	SigValid    = "valid"
	SigUnsigned = "unsigned" // a sign-off block without a signature (no key was used)
	SigNone     = "none"     // no sign-off
	SigInvalid  = "invalid"
)

// checkSignoff verifies the signature of a record whose recomputed sha256 is sum.
func checkSignoff(h *sealedHeader, sum string, roster *Roster) SignatureState {
	switch {
	case h.Signature == "" && h.Signoff == nil:
		return SignatureState{Status: SigNone}
	case h.Signature == "":
		return SignatureState{Status: SigUnsigned}
	case h.Signoff == nil:
		return SignatureState{Status: SigInvalid, Problems: []string{"the record carries a signature but no sign-off block"}}
	}
	bad := func(format string, args ...any) SignatureState {
		return SignatureState{Status: SigInvalid, Problems: []string{fmt.Sprintf(format, args...)}}
	}
	vs, err := roster.verifiers()
	if err != nil {
		return bad("roster: %v", err)
	}
	n, err := openNote([]byte(h.Signature), vs)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var ids []string
		for _, s := range unverified.Note.UnverifiedSigs {
			ids = append(ids, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return bad("signed by key %s, which is not in the facility's roster: an unknown key re-signed it, or the signer was never registered", strings.Join(ids, ", "))
	case errors.As(err, &invalid):
		return bad("the signature by %s+%08x does not match the signed text: the sign-off was altered", invalid.Name, invalid.Hash)
	case err != nil:
		return bad("the signature is not a valid signed note: %v", err)
	}
	sig := n.Sigs[0]
	st := SignatureState{Status: SigValid, KeyID: fmt.Sprintf("%s+%08x", sig.Name, sig.Hash), Signer: roster.signer(sig.Name, sig.Hash)}
	got := parseSignoffText(n.Text)
	if got["record-sha256"] != sum {
		return bad("the sign-off signs record %s, not this record (%s): it was moved from another record, or the record changed after signing",
			short(got["record-sha256"]), short(sum))
	}
	want := signoffText(&Record{SHA256: sum, RunID: h.RunID, Facility: h.Facility, OperationID: h.OperationID,
		Verdict: h.Verdict, Signoff: h.Signoff})
	if want != n.Text {
		wantF := parseSignoffText(want)
		for _, k := range []string{"run", "facility", "operation", "verdict", "meaning", "name", "user-id", "role", "time", "clock-offset", "statement"} {
			if wantF[k] != got[k] {
				st.Problems = append(st.Problems, fmt.Sprintf("%s: the record says %s but the signed sign-off says %s", k, strconv.Quote(wantF[k]), strconv.Quote(got[k])))
			}
		}
	}
	if st.Signer != nil && st.Signer.Name != got["name"] {
		st.Problems = append(st.Problems, fmt.Sprintf("key %s is registered to %q, but the sign-off names %q", st.KeyID, st.Signer.Name, got["name"]))
	}
	if st.Signer != nil && h.Signoff.Key != "" && h.Signoff.Key != st.Signer.Key {
		st.Problems = append(st.Problems, fmt.Sprintf("signoff.key is %s, but the signature is by %s", keyID(h.Signoff.Key), st.KeyID))
	}
	if len(st.Problems) > 0 {
		st.Status = SigInvalid
	}
	return st
}

func parseSignoffText(text string) map[string]string {
	out := map[string]string{}
	for _, ln := range strings.Split(strings.TrimSuffix(text, "\n"), "\n")[1:] {
		k, v, _ := strings.Cut(ln, " ")
		out[k] = v
	}
	return out
}
