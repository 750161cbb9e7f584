package profiles

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
)

func TestDefaultAdvisories(t *testing.T) {
	set, err := DefaultAdvisories()
	if err != nil {
		t.Fatal(err)
	}
	if set.Updated != "2026-12-04" || set.Path != DefaultAdvisoriesName {
		t.Errorf("updated %s path %s", set.Updated, set.Path)
	}
	if len(set.Advisories) < 15 {
		t.Errorf("%d advisories, want at least 15", len(set.Advisories))
	}
	vendors := map[string]int{}
	for _, a := range set.Advisories {
		vendors[a.Vendor]++
		if !strings.HasPrefix(a.URL, "https://") {
			t.Errorf("%s: url %q is not an https source", a.ID, a.URL)
		}
		if a.KEV && a.KEVAdded == "" {
			t.Errorf("%s: in KEV without the date it was added", a.ID)
		}
	}
	for _, v := range []string{"fortinet", "ivanti", "pulsesecure", "paloaltonetworks", "citrix", "sonicwall", "cisco"} {
		if vendors[v] == 0 {
			t.Errorf("no advisory for %s", v)
		}
	}
}

// TestDefaultAdvisoriesMatch checks the embedded set against the vendors' published fixed versions.
func TestDefaultAdvisoriesMatch(t *testing.T) {
	set, err := DefaultAdvisories()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vendor, product, version string
		want                     string // matched IDs, KEV first then newest
		fixedIn                  string // for the first match
	}{
		{"fortinet", "fortios", "7.2.5 build1517", "CVE-2024-21762", "7.2.7"},
		{"fortinet", "fortios", "7.2.7", "", ""},
		{"fortinet", "fortios", "7.2.4", "CVE-2024-21762 CVE-2023-27997", "7.2.7"},
		{"fortinet", "fortios", "v7.0.16,build0667", "CVE-2024-55591", "7.0.17"},
		{"fortinet", "fortios", "7.0.17", "", ""},
		{"fortinet", "fortios", "7.0.6", "CVE-2024-55591 CVE-2024-21762 CVE-2023-27997 CVE-2022-42475 CVE-2022-40684", "7.0.17"},
		{"fortinet", "fortios", "6.0.4", "CVE-2024-21762 CVE-2023-27997 CVE-2022-42475 CVE-2018-13379", "no fix on this branch (last affected 6.0.17): move to a fixed release"},
		{"fortinet", "fortios", "6.4.15", "", ""},
		{"ivanti", "connect_secure", "22.7R2.4", "CVE-2025-22457 CVE-2025-0282", "22.7R2.6"},
		{"ivanti", "connect_secure", "22.7R2.5", "CVE-2025-22457", "22.7R2.6"},
		{"ivanti", "connect_secure", "22.7R2.6", "", ""},
		{"ivanti", "connect_secure", "9.1R18.3", "CVE-2025-22457", "22.7R2.6"},
		{"pulsesecure", "pulse_connect_secure", "9.1R18.2", "CVE-2025-22457 CVE-2024-21887 CVE-2023-46805", "22.7R2.6"},
		{"pulsesecure", "pulse_connect_secure", "9.0R3.3", "CVE-2025-22457 CVE-2024-21887 CVE-2023-46805 CVE-2021-22893 CVE-2019-11510", "22.7R2.6"},
		{"paloaltonetworks", "pan-os", "10.2.9", "CVE-2024-3400", "10.2.9-h1"},
		{"paloaltonetworks", "pan-os", "10.2.9-h1", "", ""},
		{"paloaltonetworks", "pan-os", "10.2.7-h7", "CVE-2024-3400", "10.2.7-h8"},
		{"paloaltonetworks", "pan-os", "10.2.7-h8", "", ""},
		{"paloaltonetworks", "pan-os", "10.1.12", "", ""},
		{"citrix", "netscaler_gateway", "13.1-49.13", "CVE-2025-5777 CVE-2023-4966", "13.1-58.32"},
		{"citrix", "netscaler_gateway", "13.1-48.47", "CVE-2025-5777 CVE-2023-4966 CVE-2023-3519", "13.1-58.32"},
		{"citrix", "netscaler_application_delivery_controller", "NS13.1: Build 49.15.nc", "CVE-2025-5777", "13.1-58.32"},
		{"citrix", "netscaler_gateway", "13.1-58.32", "", ""},
		{"citrix", "netscaler_gateway", "14.1-43.56", "", ""},
		{"citrix", "netscaler_gateway", "13.0-47.22", "CVE-2025-5777 CVE-2023-4966 CVE-2023-3519 CVE-2019-19781", "13.1-58.32"},
		{"sonicwall", "sonicos", "7.0.1-5035", "CVE-2024-40766", "no fix on this branch (last affected 7.0.1-5035): move to a fixed release"},
		{"sonicwall", "sonicos", "7.1.1-7058", "", ""},
		{"sonicwall", "sonicos", "6.5.4.4-44v-21-1551", "CVE-2024-40766", "6.5.4.15-116n"},
		{"sonicwall", "sma_100_firmware", "10.2.0.2-20sv", "CVE-2021-20016", "10.2.0.5-29sv"},
		{"sonicwall", "sma_100_firmware", "9.0.0.9-26sv", "", ""},
		{"cisco", "adaptive_security_appliance_software", "9.16(4)29", "CVE-2023-20269", "no fix on this branch (last affected 9.16.4.38): move to a fixed release"},
		{"cisco", "adaptive_security_appliance_software", "9.14(1)6", "CVE-2023-20269 CVE-2020-3452", "no fix on this branch (last affected 9.14.4.23): move to a fixed release"},
		{"cisco", "adaptive_security_appliance_software", "9.20(2)", "", ""},
	} {
		matches, err := set.Match(tc.vendor, tc.product, tc.version)
		if err != nil {
			t.Errorf("%s %s: %v", tc.product, tc.version, err)
			continue
		}
		var ids []string
		for _, m := range matches {
			ids = append(ids, m.Advisory.ID)
		}
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("%s %s: matched %q, want %q", tc.product, tc.version, got, tc.want)
		}
		if len(matches) > 0 && matches[0].FixedIn() != tc.fixedIn {
			t.Errorf("%s %s: fixed in %q, want %q", tc.product, tc.version, matches[0].FixedIn(), tc.fixedIn)
		}
	}
}

// TestAdvisoryFileErrors: each fixture has one kind of mistake; several-mistakes.yaml shows they are all
// reported at once, in file order.
func TestAdvisoryFileErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // "line:col: message part", in order
	}{
		{"good.yaml", nil},
		{"empty.yaml", []string{"1:1: empty advisory file"}},
		{"syntax.yaml", []string{"9:5: YAML syntax"}},
		{"bad-date.yaml", []string{`2:10: updated: want a date written YYYY-MM-DD, found "04/12/2026"`}},
		{"bad-version.yaml", []string{`12:36: CVE-2024-21762: cannot read "7.2.x" as a FortiOS version`}},
		{"inverted-range.yaml", []string{"12:36: CVE-2024-21762: inverted range: fixed 7.1.9 is not after introduced 7.2.0"}},
		{"duplicate-id.yaml", []string{"13:9: duplicate advisory CVE-2024-21762 (first at advisories[0])"}},
		{"missing-url.yaml", []string{`5:5: CVE-2024-21762: missing or bad "url"`}},
		{"unknown-product.yaml", []string{"7:14: CVE-2024-21762: no version scheme for fortinet/fortiproxy"}},
		{"unknown-key.yaml", []string{`9:5: unknown key "kve" in advisories[0]`}},
		{"several-mistakes.yaml", []string{
			`2:10: updated: "2026-13-01" is not a calendar date`,
			"10:16: CVE-2024-21762: kev_added is set but kev is false",
			"14:58: CVE-2024-21762: a range has either fixed or last_affected, not both",
			"15:10: CVE-2024-21762: range needs fixed",
			`21:10: CVE-2024-3400: missing or bad "url"`,
			`23:37: CVE-2024-3400: cannot read "10.2.9h1" as a PAN-OS version`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "advisories", tc.file)
			set, err := LoadAdvisories(path)
			if tc.want == nil {
				if err != nil || set == nil {
					t.Fatalf("good file rejected: %v", err)
				}
				return
			}
			list, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("want an ErrorList, got %T %v", err, err)
			}
			if len(list) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(list), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i < len(list) && !strings.HasPrefix(list[i].Error(), path+":"+w) {
					t.Errorf("problem %d:\n got %s\nwant %s:%s…", i, list[i], path, w)
				}
			}
		})
	}
	if _, err := LoadAdvisories(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read advisories") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestFirmwareItemAdvisoriesFile runs the firmware probe with its own advisories file, read through the
// loader this package registers.
func TestFirmwareItemAdvisoriesFile(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "testdata", "advisories", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "newer.yaml"), good, 0o600)
	bad, _ := os.ReadFile(filepath.Join("..", "testdata", "advisories", "inverted-range.yaml"))
	os.WriteFile(filepath.Join(dir, "broken.yaml"), bad, 0o600)
	env := &checks.Env{Dir: dir, Timeout: time.Second, Now: func() time.Time { return time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) }}
	s := &checks.FirmwareSpec{Vendor: "fortinet", Product: "fortios", Advisories: "newer.yaml", Source: checks.FirmwareSource{Method: "manual"}}
	r := s.Run(context.Background(), env)
	if r.Status != checks.Pending {
		t.Fatalf("manual source: %s %s", r.Status, r.Summary)
	}
	r = s.Judge(env, "7.2.6", nil)
	if r.Status != checks.Fail || !strings.Contains(r.Summary, "CVE-2024-21762") {
		t.Errorf("7.2.6 against newer.yaml: %s %s", r.Status, r.Summary)
	}
	if set := r.Evidence["advisory_set"].(checks.Evidence); set["path"] != filepath.Join(dir, "newer.yaml") || set["entries"] != 1 {
		t.Errorf("advisory_set evidence %v", set)
	}
	s.Advisories = "broken.yaml"
	r = s.Judge(env, "7.2.6", nil)
	if want := filepath.Join(dir, "broken.yaml") + ":12:36:"; r.Status != checks.Error || !strings.Contains(r.Summary, want) {
		t.Errorf("broken advisories file: %s %s (want an error at %s)", r.Status, r.Summary, want)
	}
}

func FuzzParseAdvisories(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "advisories", "*.yaml"))
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add(vpnAdvisories)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseAdvisories("fuzz.yaml", data)
		if (set == nil) == (err == nil) {
			t.Fatalf("set %v and error %v", set != nil, err)
		}
		if set != nil {
			for _, a := range set.Advisories {
				_, _ = set.Match(a.Vendor, a.Product, fmt.Sprint(a.Affected[0].Introduced))
			}
		}
	})
}
