package runlog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/telesurgery-preflight/preflight/checks"
)

func TestKeyRoundTrip(t *testing.T) {
	file, line, err := GenerateKey(&detRand{seed: "rt"}, "佐藤 花子", UserIDFor("佐藤 花子"), "Network engineer", testPass, testStart)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath, pubPath, err := WriteKeyFiles(dir, "佐藤.花子", file, line)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode())
	}
	if _, _, err := WriteKeyFiles(dir, "佐藤.花子", file, line); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("overwrite: %v", err)
	}
	k, err := LoadKey(keyPath, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "佐藤 花子" || k.UserID != "佐藤.花子" || k.Role != "Network engineer" || !strings.HasPrefix(k.Verifier, "佐藤.花子+") {
		t.Fatalf("key %+v", k)
	}
	pub, _ := os.ReadFile(pubPath)
	sg, err := ParseSignerLine(string(pub))
	if err != nil || sg.Key != k.Verifier || sg.Name != k.Name || sg.Role != k.Role {
		t.Fatalf("pub line %q: %+v %v", pub, sg, err)
	}
	if bytes.Contains(file, []byte("PRIVATE+KEY")) {
		t.Fatal("the private key is stored in the clear")
	}
	msg, _ := note.Sign(&note.Note{Text: "x\n"}, k.Signer())
	v, _ := note.NewVerifier(sg.Key)
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("a signature by the key does not verify with its public key: %v", err)
	}
	if _, err := LoadKey(keyPath, []byte("wrong passphrase")); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase: %v", err)
	}
}

func TestKeygenRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, id, role, pass, want string
	}{
		{"Hanako Sato", "hsato", "Engineer", "short", "at least 8"},
		{"", "hsato", "Engineer", "long enough pass", "--name"},
		{"Hanako\nSato", "hsato", "Engineer", "long enough pass", "--name"},
		{"Hanako Sato", "h sato", "Engineer", "long enough pass", "no spaces or '+'"},
		{"Hanako Sato", "h+sato", "Engineer", "long enough pass", "no spaces or '+'"},
		{"Hanako Sato", "hsato", "", "long enough pass", "--role"},
	} {
		if _, _, err := GenerateKey(&detRand{}, tc.name, tc.id, tc.role, []byte(tc.pass), testStart); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q %q: %v, want %q", tc.name, tc.id, tc.role, err, tc.want)
		}
	}
	if got := UserIDFor("  Hanako  Sato+X "); got != "hanako.satox" && got != "hanako.sato.x" {
		t.Errorf("UserIDFor: %q", got)
	}
}

// TestDamagedKeyFiles: every way a key file can be wrong gives a clear error, never a panic or a key.
func TestDamagedKeyFiles(t *testing.T) {
	good, _, err := GenerateKey(&detRand{seed: "dmg"}, "Hanako Sato", "hsato", "Engineer", testPass, testStart)
	if err != nil {
		t.Fatal(err)
	}
	change := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	other, _, _ := GenerateKey(&detRand{seed: "other"}, "Hanako Sato", "hsato", "Engineer", testPass, testStart)
	var otherKF keyFile
	_ = json.Unmarshal(other, &otherKF)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"not json":        {[]byte("PRIVATE+KEY+x"), "is not a preflight signing key"},
		"empty":           {nil, "is not a preflight signing key"},
		"other format":    {change(func(m map[string]any) { m["format"] = "preflight-signing-key/v9" }), "make a new key"},
		"renamed":         {change(func(m map[string]any) { m["name"] = "Mallory" }), "wrong passphrase, or the key file was altered"},
		"role changed":    {change(func(m map[string]any) { m["role"] = "CISO" }), "wrong passphrase, or the key file was altered"},
		"other public":    {change(func(m map[string]any) { m["public_key"] = otherKF.PublicKey }), "wrong passphrase, or the key file was altered"},
		"bad public":      {change(func(m map[string]any) { m["public_key"] = "nope" }), "public key"},
		"short nonce":     {change(func(m map[string]any) { m["nonce"] = "AAAA" }), "damaged key file"},
		"no ciphertext":   {change(func(m map[string]any) { delete(m, "ciphertext") }), "damaged key file"},
		"absurd kdf cost": {change(func(m map[string]any) { m["kdf"].(map[string]any)["log2_n"] = 40 }), "unsupported key derivation"},
		"other kdf":       {change(func(m map[string]any) { m["kdf"].(map[string]any)["name"] = "md5" }), "unsupported key derivation"},
		"bit flip":        {bytes.Replace(good, []byte(`"ciphertext": "`), []byte(`"ciphertext": "A`), 1), ""},
	}
	dir := t.TempDir()
	for name, tc := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(path, tc.data, 0o600)
		k, err := LoadKey(path, testPass)
		if k != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: key %v err %v, want %q", name, k, err, tc.want)
		}
	}
	// Cut short at every length: an error each time, never a panic.
	for n := range len(good) - 1 { // all but the final newline
		path := filepath.Join(dir, "cut")
		os.WriteFile(path, good[:n], 0o600)
		if k, err := LoadKey(path, testPass); err == nil || k != nil {
			t.Fatalf("cut at %d: loaded", n)
		}
	}
	if _, err := LoadKey(filepath.Join(dir, "missing.key"), testPass); err == nil || !strings.Contains(err.Error(), "read key file") {
		t.Errorf("missing: %v", err)
	}
}

// TestKeyHalvesMustMatch: a file whose private key is not the public key's other half is refused.
func TestKeyHalvesMustMatch(t *testing.T) {
	a, _, _ := GenerateKey(&detRand{seed: "a"}, "Hanako Sato", "hsato", "Engineer", testPass, testStart)
	b, _, _ := GenerateKey(&detRand{seed: "b"}, "Hanako Sato", "hsato", "Engineer", testPass, testStart)
	var ka, kb keyFile
	_ = json.Unmarshal(a, &ka)
	_ = json.Unmarshal(b, &kb)
	aead, _ := kb.aead(testPass)
	skeyB, err := aead.Open(nil, kb.Nonce, kb.Ciphertext, kb.aad())
	if err != nil {
		t.Fatal(err)
	}
	// A's header (and public key) sealed around B's private key.
	aeadA, _ := ka.aead(testPass)
	ka.Ciphertext = aeadA.Seal(nil, ka.Nonce, skeyB, ka.aad())
	mixed, _ := json.Marshal(ka)
	path := filepath.Join(t.TempDir(), "mixed.key")
	os.WriteFile(path, mixed, 0o600)
	if _, err := LoadKey(path, testPass); err == nil || !strings.Contains(err.Error(), "does not match the public key") {
		t.Fatalf("mixed halves: %v", err)
	}
}

func TestSignoffText(t *testing.T) {
	off := 3.25
	r := &Record{RunID: "R1", OperationID: "", Verdict: GO, SHA256: "abc", Facility: FacilityRef{ID: "f", Role: "patient-side"},
		Signoff: &Signoff{Name: "Hanako Sato", UserID: "hsato", Role: "Engineer", Meaning: Approve, UTCOffset: "+09:00",
			At: time.Date(2026, 12, 4, 9, 31, 0, 0, time.UTC), ClockOffsetMS: &off, ClockSource: "ntp-sync", Statement: "ok\nnext line"}}
	text := signoffText(r)
	for _, want := range []string{"preflight sign-off v1\nrecord-sha256 abc\nrun R1\n", "operation -\n", "meaning approve\n", "name Hanako Sato\n",
		"user-id hsato\n", "time 2026-12-04T09:31:00Z local 2026-12-04T18:31:00+09:00\n", "clock-offset +3.250ms measured by item ntp-sync\n",
		"statement ok next line\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("sign-off text lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "\n") != 13 {
		t.Errorf("a value broke onto another line:\n%s", text)
	}
}

func TestMeasuredClockOffset(t *testing.T) {
	r := &Record{Items: []*ItemResult{
		{ID: "ntp-down", Kind: "ntp", Status: checks.Error, Evidence: checks.Evidence{"offset_ms": 999.0}},
		{ID: "ntp-sync", Kind: "ntp", Status: checks.Pass, Evidence: checks.Evidence{"offset_ms": -1.5}},
	}}
	ms, src := measuredOffset(r)
	if ms == nil || *ms != -1.5 || src != "ntp-sync" {
		t.Fatalf("offset %v from %q: an item that could not decide must not count", ms, src)
	}
	if ms, _ := measuredOffset(&Record{}); ms != nil {
		t.Fatal("an offset without an ntp item")
	}
}
