package checks

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Version is a firmware version read under its vendor's numbering scheme. Two versions of the same scheme
// compare field by field; the text is kept exactly as the appliance showed it, for evidence.
type Version struct {
	raw    string
	scheme string
	nums   []int    // the ordered fields, e.g. 10.2.9-h1 → 10 2 9 1
	pre    []string // semver pre-release identifiers; nil for a release
}

// String is the version as written.
func (v Version) String() string { return v.raw }

// Scheme names the numbering scheme the version was read under.
func (v Version) Scheme() string { return v.scheme }

// IsZero reports whether v was never parsed.
func (v Version) IsZero() bool { return v.scheme == "" }

// Compare returns -1, 0 or +1 as v orders before, with or after w. Missing trailing fields count as zero,
// so FortiOS 7.2 equals 7.2.0 and PAN-OS 10.2.9 (no hotfix) orders before 10.2.9-h1. Versions of different
// schemes are not comparable; Compare orders them by their fields all the same, and callers never mix them.
func (v Version) Compare(w Version) int {
	for i := range max(len(v.nums), len(w.nums)) {
		a, b := at(v.nums, i), at(w.nums, i)
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	return comparePre(v.pre, w.pre)
}

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// comparePre orders semver pre-releases (SemVer 2.0.0 §11): a release follows its pre-releases; numeric
// identifiers order numerically and before alphanumeric ones; a shorter list of equal prefix comes first.
func comparePre(a, b []string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	for i := range min(len(a), len(b)) {
		x, xErr := strconv.Atoi(a[i])
		y, yErr := strconv.Atoi(b[i])
		var c int
		switch {
		case xErr == nil && yErr == nil:
			c = x - y
		case xErr == nil:
			c = -1
		case yErr == nil:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return sign(c)
		}
	}
	return sign(len(a) - len(b))
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// scheme reads one vendor's version strings.
type scheme struct {
	name    string
	label   string // what the vendor calls its software, for messages
	example string // how to write a version, for messages
	parse   func(s string) (nums []int, pre []string, ok bool)
}

// A version field longer than nine digits is a typo or an attack on the parser, never a real version.
const numField = `(\d{1,9})`

var (
	// FortiOS as `get system status` and the GUI show it: "v7.2.5,build1517 (GA.F)", "7.2.5 build1517". The
	// build number names the same release (one build per version), so it is recorded but not ordered.
	fortiosRE = regexp.MustCompile(`(?i)^v?` + numField + `\.` + numField + `\.` + numField +
		`(?:\s*,?\s*build\s*\d{1,9})?(?:\s*\([^()]*\))?$`)
	// PAN-OS: "10.2.9", "10.2.9-h1" — a hotfix orders after its base release and before the next one.
	panosRE = regexp.MustCompile(`^` + numField + `\.` + numField + `\.` + numField + `(?:-h` + numField + `)?$`)
	// Ivanti / Pulse Connect Secure: major.minor R release [. build] ["(build 1234)"]: "22.7R2.3", "9.1R18".
	ivantiRE = regexp.MustCompile(`(?i)^` + numField + `\.` + numField + `R` + numField + `(?:\.` + numField + `)?` +
		`(?:\s*\(build\s*\d{1,9}\))?$`)
	// Cisco ASA: "9.16(4)", "9.16(4)29" (an interim build after 9.16(4)), or the dotted form of advisories
	// "9.16.4.29".
	asaRE = regexp.MustCompile(`^` + numField + `\.` + numField + `(?:\(` + numField + `\)` + numField + `?|\.` + numField +
		`(?:\.` + numField + `)?)?$`)
	// SonicOS and SMA 100 firmware: dotted numbers, then dash-separated build fields that may carry a
	// platform letter: "7.0.1-5035", "6.5.4.4-44v-21-1551", "5.9.2.14-12o", "10.2.0.5-29sv".
	sonicosRE      = regexp.MustCompile(`(?i)^\d{1,9}(?:\.\d{1,9}){2,3}(?:-\d{1,9}[a-z]{0,3})*$`)
	sonicosFieldRE = regexp.MustCompile(`\d+`)
	// Citrix NetScaler release-build: "13.1-49.15", as `show version` prints it "NS13.1: Build 49.15.nc".
	// A bare release ("13.1") stands for its first build, for the start of a range.
	netscalerRE = regexp.MustCompile(`(?i)^(?:NS)?` + numField + `\.` + numField + `(?:(?:-|:?\s*build\s*)` + numField + `\.` +
		numField + `(?:\.nc)?)?$`)
	semverRE = regexp.MustCompile(`^v?` + numField + `(?:\.` + numField + `)?(?:\.` + numField + `)?` +
		`(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)
)

// atois converts the non-empty submatches; the patterns allow only digits there.
func atois(m []string) []int {
	var out []int
	for _, s := range m {
		if s == "" {
			out = append(out, 0)
			continue
		}
		n, _ := strconv.Atoi(s)
		out = append(out, n)
	}
	return out
}

func byRegexp(re *regexp.Regexp, fields int) func(string) ([]int, []string, bool) {
	return func(s string) ([]int, []string, bool) {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return nil, nil, false
		}
		return atois(m[1 : 1+fields]), nil, true
	}
}

var schemes = map[string]scheme{
	"fortios": {name: "fortios", label: "FortiOS", example: "7.2.5, v7.2.5,build1517 or 7.2.5 build1517",
		parse: byRegexp(fortiosRE, 3)},
	"panos": {name: "panos", label: "PAN-OS", example: "10.2.9 or 10.2.9-h1", parse: byRegexp(panosRE, 4)},
	"ivanti": {name: "ivanti", label: "Connect Secure", example: "22.7R2.3 or 9.1R18",
		parse: byRegexp(ivantiRE, 4)},
	"asa": {name: "asa", label: "ASA", example: "9.16(4), 9.16(4)29 or 9.16.4.29", parse: func(s string) ([]int, []string, bool) {
		m := asaRE.FindStringSubmatch(s)
		if m == nil {
			return nil, nil, false
		}
		// Either the parenthesised form (groups 3, 4) or the dotted form (groups 5, 6) matched.
		n := atois(m[1:])
		return []int{n[0], n[1], n[2] + n[4], n[3] + n[5]}, nil, true
	}},
	"sonicos": {name: "sonicos", label: "SonicOS", example: "7.0.1-5035 or 6.5.4.4-44v-21-1551", parse: func(s string) ([]int, []string, bool) {
		if !sonicosRE.MatchString(s) {
			return nil, nil, false
		}
		// Platform letters (n, o, v, sv) name the hardware family a build is for, not its order.
		return atois(sonicosFieldRE.FindAllString(s, -1)), nil, true
	}},
	"netscaler": {name: "netscaler", label: "NetScaler", example: "13.1-49.15 (release-build) or NS13.1: Build 49.15.nc",
		parse: byRegexp(netscalerRE, 4)},
	"semver": {name: "semver", label: "version", example: "1.2.3 or v1.2.3-rc.1", parse: func(s string) ([]int, []string, bool) {
		m := semverRE.FindStringSubmatch(s)
		if m == nil {
			return nil, nil, false
		}
		var pre []string
		if m[4] != "" {
			pre = strings.Split(m[4], ".")
		}
		return atois(m[1:4]), pre, true
	}},
}

// ParseVersion reads s under the named scheme (fortios, panos, ivanti, asa, sonicos, netscaler, semver).
func ParseVersion(schemeName, s string) (Version, error) {
	sc, ok := schemes[schemeName]
	if !ok {
		return Version{}, fmt.Errorf("unknown version scheme %q (known: %s)", schemeName, strings.Join(SchemeNames(), ", "))
	}
	text := strings.TrimSpace(s)
	nums, pre, ok := sc.parse(text)
	if !ok {
		return Version{}, fmt.Errorf("cannot read %q as a %s version: write it as the vendor does, e.g. %s", s, sc.label, sc.example)
	}
	return Version{raw: text, scheme: sc.name, nums: nums, pre: pre}, nil
}

// SchemeNames lists the version schemes, sorted.
func SchemeNames() []string {
	names := make([]string, 0, len(schemes))
	for n := range schemes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Product is an appliance software the advisory set and the firmware probe know, named as NVD's CPE 2.3
// names it so entries can be checked against NVD and CISA KEV. Products of one family run the same code
// under different names (Pulse Connect Secure became Ivanti Connect Secure; NetScaler Gateway and ADC share
// a firmware), so an advisory filed under one name covers the others.
type Product struct {
	Vendor, Name string
	Scheme       string
	Family       string
	Label        string
}

// ID is "vendor/product".
func (p Product) ID() string { return p.Vendor + "/" + p.Name }

var products = []Product{
	{"fortinet", "fortios", "fortios", "fortinet/fortios", "Fortinet FortiOS"},
	{"ivanti", "connect_secure", "ivanti", "ivanti/connect_secure", "Ivanti Connect Secure"},
	{"pulsesecure", "pulse_connect_secure", "ivanti", "ivanti/connect_secure", "Pulse Connect Secure"},
	{"paloaltonetworks", "pan-os", "panos", "paloaltonetworks/pan-os", "Palo Alto Networks PAN-OS"},
	{"sonicwall", "sonicos", "sonicos", "sonicwall/sonicos", "SonicWall SonicOS"},
	{"sonicwall", "sma_100_firmware", "sonicos", "sonicwall/sma_100_firmware", "SonicWall SMA 100"},
	{"cisco", "adaptive_security_appliance_software", "asa", "cisco/asa", "Cisco ASA Software"},
	{"citrix", "netscaler_gateway", "netscaler", "citrix/netscaler", "Citrix NetScaler Gateway"},
	{"citrix", "netscaler_application_delivery_controller", "netscaler", "citrix/netscaler", "Citrix NetScaler ADC"},
	{"citrix", "adc", "netscaler", "citrix/netscaler", "Citrix NetScaler ADC"},
}

// LookupProduct finds a known product by its CPE vendor and product names.
func LookupProduct(vendor, product string) (Product, bool) {
	for _, p := range products {
		if p.Vendor == vendor && p.Name == product {
			return p, true
		}
	}
	return Product{}, false
}

// ProductIDs lists the known products as "vendor/product", sorted.
func ProductIDs() []string {
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = p.ID()
	}
	slices.Sort(ids)
	return ids
}
