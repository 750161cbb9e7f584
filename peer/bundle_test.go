package peer

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestBundleExportImport: the air-gapped path runs the live path's checks: a good bundle reaches the same
// joint verdict and is witnessed and kept; a changed byte anywhere is refused, saying where.
func TestBundleExportImport(t *testing.T) {
	patient, surgeon := pair(t)
	patient.sealRun(t, runOpts{op: op, sign: true})
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	data, err := Export(surgeon.dir, "surgeon-side", op, "patient-site", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Export(surgeon.dir, "surgeon-side", "OP-NONE", "", time.Now()); err == nil || !strings.Contains(err.Error(), "no sealed run of operation OP-NONE") {
		t.Fatalf("export of an operation never run: %v", err)
	}
	l := NewLink(patient.profile, op, patient.store)
	bad := map[string]struct {
		data []byte
		want string
	}{
		"truncated":        {data[:len(data)/2], "not valid JSON"},
		"trailing data":    {append(append([]byte{}, data...), []byte(`{"x":1}`)...), "more data after the bundle"},
		"unknown member":   {bytes.Replace(data, []byte(`{"format"`), []byte(`{"extra":1,"format"`), 1), `unknown field "extra"`},
		"format":           {bytes.Replace(data, []byte(BundleFormat), []byte("preflight.bundle/v0"), 1), "format:"},
		"manifest":         {bytes.Replace(data, []byte("operation "+op), []byte("operation OP-2026-119"), 1), "manifest: not signed by surgeon-site's pinned key"},
		"payload":          {bytes.Replace(data, []byte(`"created":"`), []byte(`"created":"1`), 1), "payload: its sha256 is"},
		"not from the pin": {mustExport(t, patient.dir, "surgeon-side"), "manifest: not signed by surgeon-site's pinned key"},
		"garbage":          {[]byte("\x00\xff not json"), "not valid JSON"},
		"empty":            {nil, "empty: not a preflight bundle"},
	}
	for name, tc := range bad {
		if _, err := l.Import(tc.data, "surgeon.bundle"); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "surgeon.bundle: ") {
			t.Errorf("%s: %v (want %q)", name, err, tc.want)
		}
	}
	s, err := l.Import(data, "surgeon.bundle")
	if err != nil || !s.Ready() || s.Via != "bundle surgeon.bundle" || s.Recorded == "" || s.OffsetKnown {
		t.Fatalf("import: %v %s %q via %q", err, s.Verdict, s.Reasons, s.Via)
	}
	v := mustVerifyClean(t, patient.dir)
	if v.Peers[0].Witnessed != 1 || v.Peers[0].Records != 1 {
		t.Errorf("witness after import: %+v", v.Peers)
	}
}

func mustExport(t testing.TB, dir, role string) []byte {
	t.Helper()
	b, err := Export(dir, role, op, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBundleInnerTampering: a bundle re-signed by its own facility (an insider) still carries records
// and leaves that must check out against the checkpoint it signed.
func TestBundleInnerTampering(t *testing.T) {
	patient, surgeon := pair(t)
	surgeon.sealRun(t, runOpts{op: op, sign: true})
	data := mustExport(t, surgeon.dir, "surgeon-side")
	st, err := ReadBundle(data, surgeon.pin(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(st, surgeon.pin(), op); err != nil {
		t.Fatalf("a good bundle's state: %v", err)
	}
	_ = patient
	// A leaf hash changed in the payload, and the manifest re-signed to match: the leaves no longer hash
	// to the signed checkpoint.
	leaf := base64.StdEncoding.EncodeToString(make([]byte, 32))
	edited := resign(t, surgeon, data, func(p []byte) []byte {
		i := bytes.Index(p, []byte(`"leaves":["`)) + len(`"leaves":["`)
		return append(append(append([]byte{}, p[:i]...), leaf...), p[i+44:]...)
	})
	if _, err := ReadBundle(edited, surgeon.pin(), 0); err == nil || !strings.Contains(err.Error(), "payload.leaves: they do not hash to the root") {
		t.Fatalf("altered leaves: %v", err)
	}
}

// resign edits a bundle's payload and signs a new manifest with the facility's own key.
func resign(t *testing.T, f *fac, data []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(`,"payload":`))
	payload := edit(data[i+len(`,"payload":`) : len(data)-2])
	b, err := signBundle(f.ident.Key, payload, "surgeon-site surgeon-side", op, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzReadBundle(f *testing.F) {
	patient, surgeon := pairTB(f)
	_ = patient
	surgeon.sealRun(f, runOpts{op: op, sign: true})
	good := mustExport(f, surgeon.dir, "surgeon-side")
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte(`{"format":"preflight.bundle/v1","manifest":"","payload":{}}`))
	f.Add([]byte(`{"format":"preflight.bundle/v1","manifest":"x\n\n— a b\n","payload":{"state":null,"leaves":[]}}`))
	pin := surgeon.pin()
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadBundle(data, pin, 1)
		if err != nil {
			return
		}
		_, _ = check(st, pin, op)
	})
}
