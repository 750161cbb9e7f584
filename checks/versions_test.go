package checks

import (
	"strings"
	"testing"
)

func TestVersionOrdering(t *testing.T) {
	// Each row: a < b under the scheme (and so b > a); equal rows say a == b.
	for _, tc := range []struct {
		scheme, a, b string
		want         int
	}{
		// FortiOS: the build number names the release, it does not order it.
		{"fortios", "7.2.5 build1517", "7.2.7", -1},
		{"fortios", "v7.2.5,build1517", "7.2.5", 0},
		{"fortios", "v7.2.5,build1517 (GA.F)", "7.2.5 build1517", 0},
		{"fortios", "7.2.10", "7.2.9", 1},
		{"fortios", "7.0.17", "7.2.0", -1},
		{"fortios", "6.4.15", "7.0.0", -1},
		// PAN-OS: a hotfix orders after its base release and before the next maintenance release.
		{"panos", "10.2.9", "10.2.9-h1", -1},
		{"panos", "10.2.9-h1", "10.2.10", -1},
		{"panos", "10.2.4-h16", "10.2.4-h2", 1},
		{"panos", "10.2.0-h3", "10.2.1", -1},
		{"panos", "11.1.2-h3", "11.1.2-h3", 0},
		// Ivanti / Pulse: major.minor R release . build.
		{"ivanti", "22.7R2.3", "22.7R2.5", -1},
		{"ivanti", "22.7R2", "22.7R2.1", -1},
		{"ivanti", "9.1R18.2", "22.7R1", -1},
		{"ivanti", "9.1R18", "9.1R9.1", 1},
		{"ivanti", "22.7R2.3 (build 1485)", "22.7r2.3", 0},
		// Cisco ASA: 9.16(4) is 9.16.4.0; 9.16(4)29 is the interim build 9.16.4.29.
		{"asa", "9.16(4)", "9.16(4)29", -1},
		{"asa", "9.16(4)29", "9.16.4.29", 0},
		{"asa", "9.16(4)29", "9.16(5)", -1},
		{"asa", "9.8.4.20", "9.8(4)15", 1},
		{"asa", "9.9", "9.10.1.42", -1},
		// SonicOS: dotted release, then build fields; platform letters do not order.
		{"sonicos", "7.0.1-5035", "7.0.1-5038", -1},
		{"sonicos", "6.5.4.4-44v-21-1551", "6.5.4.14-109n", -1},
		{"sonicos", "6.5.4.14-109n", "6.5.4.15-116n", -1},
		{"sonicos", "5.9.2.14-12o", "5.9.2.14-13o", -1},
		{"sonicos", "6.5.4.4-44v-21-1551", "6.5.4.4-44v-21-2395", -1},
		{"sonicos", "10.2.0.5-29sv", "10.2.0.5-29sv", 0},
		// NetScaler: release-build.
		{"netscaler", "13.1-49.13", "13.1-49.15", -1},
		{"netscaler", "13.1-49.15", "13.1-50.1", -1},
		{"netscaler", "13.0-92.19", "13.1", -1},
		{"netscaler", "NS13.1: Build 49.15.nc", "13.1-49.15", 0},
		{"netscaler", "14.1-8.50", "14.1-43.56", -1},
		// Plain semver, pre-releases first (SemVer 2.0.0 §11).
		{"semver", "1.2.3", "1.10.0", -1},
		{"semver", "v1.2", "1.2.0", 0},
		{"semver", "1.0.0-rc.1", "1.0.0", -1},
		{"semver", "1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"semver", "1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"semver", "1.0.0-2", "1.0.0-11", -1},
		{"semver", "1.0.0-11", "1.0.0-a", -1},
		{"semver", "1.0.0+build.5", "1.0.0", 0},
	} {
		a, err := ParseVersion(tc.scheme, tc.a)
		if err != nil {
			t.Errorf("%s %q: %v", tc.scheme, tc.a, err)
			continue
		}
		b, err := ParseVersion(tc.scheme, tc.b)
		if err != nil {
			t.Errorf("%s %q: %v", tc.scheme, tc.b, err)
			continue
		}
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", tc.scheme, tc.a, tc.b, got, tc.want)
		}
		if got := b.Compare(a); got != -tc.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d (not antisymmetric)", tc.scheme, tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestVersionParseErrors(t *testing.T) {
	for _, tc := range []struct {
		scheme, in string
		want       string // in the message
	}{
		{"fortios", "7.2", "e.g. 7.2.5"},
		{"fortios", "FortiGate-60F v7.2.5", "FortiOS"},
		{"panos", "10.2.9-hotfix1", "10.2.9-h1"},
		{"ivanti", "22.7.2.3", "22.7R2.3"},
		{"asa", "9.16(4", "9.16(4)"},
		{"sonicos", "7.0", "7.0.1-5035"},
		{"netscaler", "13.1-49", "13.1-49.15"},
		{"semver", "1.2.3.4.5", "1.2.3"},
		{"semver", "99999999999.0.0", "1.2.3"}, // too many digits for a real version
		{"nosuch", "1.0", "unknown version scheme"},
	} {
		_, err := ParseVersion(tc.scheme, tc.in)
		if err == nil {
			t.Errorf("%s %q parsed, want an error", tc.scheme, tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %q does not mention %q", tc.scheme, tc.in, err, tc.want)
		}
	}
}

func TestProductsHaveSchemes(t *testing.T) {
	for _, p := range products {
		if _, ok := schemes[p.Scheme]; !ok {
			t.Errorf("product %s names unknown scheme %q", p.ID(), p.Scheme)
		}
	}
	if p, ok := LookupProduct("pulsesecure", "pulse_connect_secure"); !ok || p.Family != "ivanti/connect_secure" {
		t.Errorf("Pulse Connect Secure must share Ivanti Connect Secure's family, got %+v", p)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"7.2.5 build1517", "10.2.9-h1", "22.7R2.3", "9.16(4)29", "6.5.4.4-44v-21-1551", "13.1-49.15", "1.0.0-rc.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range SchemeNames() {
			v, err := ParseVersion(name, s)
			if err == nil && v.Compare(v) != 0 {
				t.Fatalf("%s %q does not equal itself", name, s)
			}
		}
	})
}
