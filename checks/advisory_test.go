package checks

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAdvisoryCompileRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *AdvisorySet)
		field  string
		msg    string
	}{
		{"missing format", func(s *AdvisorySet) { s.Format = 0 }, "format", "missing required field \"format\""},
		{"future format", func(s *AdvisorySet) { s.Format = 2 }, "format", "unsupported advisory format 2"},
		{"bad updated", func(s *AdvisorySet) { s.Updated = "4 Dec 2026" }, "updated", "YYYY-MM-DD"},
		{"impossible date", func(s *AdvisorySet) { s.Updated = "2026-02-30" }, "updated", "not a calendar date"},
		{"no source", func(s *AdvisorySet) { s.Source = " " }, "source", "missing required field \"source\""},
		{"no entries", func(s *AdvisorySet) { s.Advisories = nil }, "advisories", "at least one entry"},
		{"not a CVE", func(s *AdvisorySet) { s.Advisories[0].ID = "FG-IR-24-015" }, "advisories[0].id", "not a CVE number"},
		{"unknown product", func(s *AdvisorySet) { s.Advisories[1].Product = "fortiproxy" }, "advisories[1].product", "no version scheme for fortinet/fortiproxy"},
		{"missing url", func(s *AdvisorySet) { s.Advisories[0].URL = "" }, "advisories[0].url", "missing or bad \"url\""},
		{"relative url", func(s *AdvisorySet) { s.Advisories[0].URL = "FG-IR-24-015" }, "advisories[0].url", "https://"},
		{"no title", func(s *AdvisorySet) { s.Advisories[0].Title = "" }, "advisories[0].title", "title"},
		{"kev date without kev", func(s *AdvisorySet) { s.Advisories[0].KEV = false }, "advisories[0].kev_added", "kev is false"},
		{"no ranges", func(s *AdvisorySet) { s.Advisories[0].Affected = nil }, "advisories[0].affected", "list the affected range"},
		{"unparseable version", func(s *AdvisorySet) { s.Advisories[0].Affected[1].Fixed = "7.2.x" }, "advisories[0].affected[1].fixed", "cannot read \"7.2.x\" as a FortiOS version"},
		{"inverted range", func(s *AdvisorySet) { s.Advisories[0].Affected[1].Fixed = "7.1.9" }, "advisories[0].affected[1].fixed", "inverted range: fixed 7.1.9 is not after introduced 7.2.0"},
		{"inverted last_affected", func(s *AdvisorySet) { s.Advisories[0].Affected[3].LastAffected = "5.6.14" }, "advisories[0].affected[3].last_affected", "inverted range"},
		{"both ends", func(s *AdvisorySet) { s.Advisories[0].Affected[3].Fixed = "6.0.18" }, "advisories[0].affected[3].last_affected", "not both"},
		{"no end", func(s *AdvisorySet) { s.Advisories[0].Affected[1].Fixed = "" }, "advisories[0].affected[1]", "range needs fixed"},
		{"duplicate id", func(s *AdvisorySet) { s.Advisories[1].ID = "CVE-2024-21762" }, "advisories[1].id", "duplicate advisory CVE-2024-21762 (first at advisories[0])"},
		{"duplicate across Pulse and Ivanti", func(s *AdvisorySet) { s.Advisories[4].ID = "CVE-2025-0282" }, "advisories[4].id", "duplicate advisory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testAdvisories(t, "2026-12-04")
			tc.mutate(s)
			problems := s.Compile()
			for _, p := range problems {
				if p.Field == tc.field && strings.Contains(p.Msg, tc.msg) {
					if _, err := s.Match("fortinet", "fortios", "7.2.5"); err != ErrNotCompiled {
						t.Errorf("a set with problems must not match: got %v", err)
					}
					return
				}
			}
			t.Errorf("no problem at %s mentioning %q; got %v", tc.field, tc.msg, problems)
		})
	}
}

func TestAdvisoryMatch(t *testing.T) {
	s := testAdvisories(t, "2026-12-04")
	for _, tc := range []struct {
		vendor, product, version string
		want                     []string
		fixed                    string // FixedIn of the first match
	}{
		// FortiOS 7.2.5 is inside CVE-2024-21762 (fixed 7.2.7) and just past CVE-2023-27997 (fixed 7.2.5).
		{"fortinet", "fortios", "7.2.5 build1517", []string{"CVE-2024-21762"}, "7.2.7"},
		{"fortinet", "fortios", "v7.2.4,build1396", []string{"CVE-2024-21762", "CVE-2023-27997"}, "7.2.7"},
		{"fortinet", "fortios", "7.2.7", nil, ""},
		{"fortinet", "fortios", "7.4.3", nil, ""},
		{"fortinet", "fortios", "7.0.11", []string{"CVE-2024-21762", "CVE-2023-27997"}, "7.0.14"},
		{"fortinet", "fortios", "7.0.13", []string{"CVE-2024-21762"}, "7.0.14"},
		{"fortinet", "fortios", "6.0.16", []string{"CVE-2024-21762", "CVE-2023-27997"}, "no fix on this branch (last affected 6.0.17): move to a fixed release"},
		{"fortinet", "fortios", "6.0.17", []string{"CVE-2024-21762"}, "no fix on this branch (last affected 6.0.17): move to a fixed release"},
		// Ivanti 22.7R2.4 is inside CVE-2025-0282; 22.7R2.5 is its fix.
		{"ivanti", "connect_secure", "22.7R2.4", []string{"CVE-2025-0282"}, "22.7R2.5"},
		{"ivanti", "connect_secure", "22.7R2.5", nil, ""},
		// A Pulse-branded name and an Ivanti-branded one are the same product line.
		{"ivanti", "connect_secure", "9.0R3.3", []string{"CVE-2019-11510"}, "9.0R3.4"},
		{"pulsesecure", "pulse_connect_secure", "22.7R2.4", []string{"CVE-2025-0282"}, "22.7R2.5"},
		// PAN-OS 10.2.9 needs hotfix h1; 10.2.8 was fixed by its own hotfix h3.
		{"paloaltonetworks", "pan-os", "10.2.9", []string{"CVE-2024-3400"}, "10.2.9-h1"},
		{"paloaltonetworks", "pan-os", "10.2.9-h1", nil, ""},
		{"paloaltonetworks", "pan-os", "10.2.8-h2", []string{"CVE-2024-3400"}, "10.2.8-h3"},
		{"paloaltonetworks", "pan-os", "10.2.8-h3", nil, ""},
	} {
		matches, err := s.Match(tc.vendor, tc.product, tc.version)
		if err != nil {
			t.Errorf("%s %s: %v", tc.product, tc.version, err)
			continue
		}
		var ids []string
		for _, m := range matches {
			ids = append(ids, m.Advisory.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s %s: matched %v, want %v", tc.product, tc.version, ids, tc.want)
		}
		if len(matches) > 0 && matches[0].FixedIn() != tc.fixed {
			t.Errorf("%s %s: fixed in %q, want %q", tc.product, tc.version, matches[0].FixedIn(), tc.fixed)
		}
	}
	if _, err := s.Match("fortinet", "fortios", "7.2"); err == nil || !strings.Contains(err.Error(), "FortiOS") {
		t.Errorf("an unreadable version must be an error naming the scheme, got %v", err)
	}
	if _, err := s.Match("yamaha", "rtx", "15.02.30"); err == nil || !strings.Contains(err.Error(), "no version scheme") {
		t.Errorf("an unknown product must be an error, got %v", err)
	}
}

func TestAdvisoryMatchOrdersKEVFirst(t *testing.T) {
	s := testAdvisories(t, "2026-12-04")
	s.Advisories[1].KEV, s.Advisories[1].KEVAdded = false, "" // pretend CVE-2023-27997 was never exploited
	if p := s.Compile(); len(p) > 0 {
		t.Fatal(p)
	}
	s.Advisories[0].KEV = false
	s.Advisories[1].KEV = true
	matches, _ := s.Match("fortinet", "fortios", "7.2.4")
	if len(matches) != 2 || matches[0].Advisory.ID != "CVE-2023-27997" {
		t.Fatalf("the KEV entry must come first: %v", matches)
	}
}

func TestAdvisoryAge(t *testing.T) {
	s := testAdvisories(t, "2026-12-04")
	day := func(d string) time.Time { tm, _ := time.Parse(time.DateOnly, d); return tm.Add(13 * time.Hour) }
	for _, tc := range []struct {
		now   string
		age   int
		stale bool
	}{
		{"2026-12-04", 0, false},
		{"2027-03-04", 90, false},
		{"2027-03-05", 91, true},
		{"2026-12-01", -3, false},
	} {
		if got := s.AgeDays(day(tc.now)); got != tc.age {
			t.Errorf("at %s age %d, want %d", tc.now, got, tc.age)
		}
		if got := s.Stale(day(tc.now)); got != tc.stale {
			t.Errorf("at %s stale %v, want %v", tc.now, got, tc.stale)
		}
	}
}

// testAdvisories is a compiled set of real entries (ranges as their vendors published them), updated on
// the given date.
func testAdvisories(t *testing.T, updated string) *AdvisorySet {
	t.Helper()
	s := &AdvisorySet{Format: 1, Updated: updated, Source: "test: entries copied from the embedded set", Path: "test-set",
		Advisories: []*Advisory{
			{ID: "CVE-2024-21762", Vendor: "fortinet", Product: "fortios", Title: "SSL-VPN out-of-bounds write",
				KEV: true, KEVAdded: "2024-02-09", URL: "https://fortiguard.com/psirt/FG-IR-24-015",
				Affected: []*Range{{Introduced: "7.4.0", Fixed: "7.4.3"}, {Introduced: "7.2.0", Fixed: "7.2.7"},
					{Introduced: "7.0.0", Fixed: "7.0.14"}, {Introduced: "6.0.0", LastAffected: "6.0.17"}}},
			{ID: "CVE-2023-27997", Vendor: "fortinet", Product: "fortios", Title: "SSL-VPN heap overflow",
				KEV: true, KEVAdded: "2023-06-13", URL: "https://fortiguard.com/psirt/FG-IR-23-097",
				Affected: []*Range{{Introduced: "7.2.0", Fixed: "7.2.5"}, {Introduced: "7.0.0", Fixed: "7.0.12"},
					{Introduced: "6.0.0", Fixed: "6.0.17"}}},
			{ID: "CVE-2025-0282", Vendor: "ivanti", Product: "connect_secure", Title: "Stack-based buffer overflow",
				KEV: true, KEVAdded: "2025-01-08", URL: "https://nvd.nist.gov/vuln/detail/CVE-2025-0282",
				Affected: []*Range{{Introduced: "22.7R2", Fixed: "22.7R2.5"}}},
			{ID: "CVE-2024-3400", Vendor: "paloaltonetworks", Product: "pan-os", Title: "GlobalProtect command injection",
				KEV: true, URL: "https://security.paloaltonetworks.com/CVE-2024-3400",
				Affected: []*Range{{Introduced: "10.2.8", Fixed: "10.2.8-h3"}, {Introduced: "10.2.9", Fixed: "10.2.9-h1"}}},
			{ID: "CVE-2019-11510", Vendor: "pulsesecure", Product: "pulse_connect_secure", Title: "Arbitrary file read",
				KEV: true, URL: "https://kb.pulsesecure.net/articles/Pulse_Security_Advisories/SA44101/",
				Affected: []*Range{{Introduced: "9.0R1", Fixed: "9.0R3.4"}}},
		}}
	if p := s.Compile(); len(p) > 0 {
		t.Fatalf("test set does not compile: %v", p)
	}
	return s
}
