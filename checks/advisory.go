package checks

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// AdvisorySet is the offline list of security advisories the firmware probe judges versions against. It is
// read from YAML (the format is documented in the README, "Keeping the advisory set current"): package
// profiles decodes it strictly and reports problems as file:line:col; this package holds the types, the
// rules (Compile) and the matching, so a set built in Go is judged by the same rules.
type AdvisorySet struct {
	Format     int         `yaml:"format"`  // 1
	Updated    string      `yaml:"updated"` // YYYY-MM-DD: the day the set was last checked against its sources
	Source     string      `yaml:"source"`  // who compiled it and from what
	Note       string      `yaml:"note"`
	Advisories []*Advisory `yaml:"advisories"`

	// Path is where the set was read from ("builtin:…" for the embedded one), for evidence.
	Path string `yaml:"-"`

	updated  time.Time
	compiled bool
}

// Advisory is one vulnerability of one product.
type Advisory struct {
	ID       string   `yaml:"id"` // CVE number
	Vendor   string   `yaml:"vendor"`
	Product  string   `yaml:"product"`
	Title    string   `yaml:"title"`
	Affected []*Range `yaml:"affected"`
	KEV      bool     `yaml:"kev"`       // listed in CISA's Known Exploited Vulnerabilities catalog
	KEVAdded string   `yaml:"kev_added"` // YYYY-MM-DD the catalog added it, when known
	URL      string   `yaml:"url"`       // the vendor's advisory (or NVD)
	Note     string   `yaml:"note"`      // what could not be confirmed, and which way the entry errs

	product Product
}

// Range is one affected span on one release branch: introduced ≤ v < fixed, or introduced ≤ v ≤
// last_affected when the branch got no fix. An empty introduced means "every earlier version".
type Range struct {
	Introduced   string `yaml:"introduced"`
	Fixed        string `yaml:"fixed"`
	LastAffected string `yaml:"last_affected"`

	intro, fixed, last Version
}

// AdvisoryFormat is the `format:` this build reads.
const AdvisoryFormat = 1

// AdvisoryStaleAfter is how old a set may be before the firmware probe warns: vendors publish VPN
// advisories every few weeks, and a quarter-old list misses some of them.
const AdvisoryStaleAfter = 90 * 24 * time.Hour

var (
	cveID     = regexp.MustCompile(`^CVE-\d{4}-\d{4,7}$`)
	isoDateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Compile checks the set against the format's rules and prepares it for matching. It returns every
// problem, each with a field path such as "advisories[3].affected[0].fixed" that a loader turns into a
// line and column; a set with problems must not be used.
func (s *AdvisorySet) Compile() []FieldProblem {
	v := &Validator{}
	switch {
	case s.Format == 0:
		v.Errorf("format", "missing required field \"format\": add `format: %d` at the top", AdvisoryFormat)
	case s.Format != AdvisoryFormat:
		v.Errorf("format", "unsupported advisory format %d: this preflight reads format %d", s.Format, AdvisoryFormat)
	}
	if t, err := parseISODate(s.Updated); err != nil {
		v.Errorf("updated", "updated: %v", err)
	} else {
		s.updated = t
	}
	if strings.TrimSpace(s.Source) == "" {
		v.Errorf("source", "missing required field \"source\": say who compiled the set and from which feeds")
	}
	if len(s.Advisories) == 0 {
		v.Errorf("advisories", "missing required field \"advisories\": a set needs at least one entry")
	}
	// One CVE may be listed once per product family (some CVEs span vendors' products), never twice for one.
	first := map[string]int{}
	for i, a := range s.Advisories {
		p := fmt.Sprintf("advisories[%d]", i)
		if a == nil {
			v.Errorf(p, "empty advisory entry")
			continue
		}
		a.compile(v, p)
		key := a.ID + " " + a.product.Family
		if j, dup := first[key]; dup && a.ID != "" {
			v.Errorf(p+".id", "duplicate advisory %s (first at advisories[%d]): merge the two entries", a.ID, j)
		} else {
			first[key] = i
		}
	}
	s.compiled = len(v.Problems) == 0
	return v.Problems
}

func (a *Advisory) compile(v *Validator, p string) {
	switch {
	case a.ID == "":
		v.Errorf(p+".id", "missing required field \"id\" (a CVE number such as CVE-2024-21762)")
	case !cveID.MatchString(a.ID):
		v.Errorf(p+".id", "id %q is not a CVE number (CVE-YYYY-NNNN)", a.ID)
	}
	prod, ok := LookupProduct(a.Vendor, a.Product)
	switch {
	case a.Vendor == "" || a.Product == "":
		v.Errorf(p+".product", "%s: vendor and product are required, as NVD's CPE names them (known: %s)", a.ID, strings.Join(ProductIDs(), ", "))
	case !ok:
		v.Errorf(p+".product", "%s: no version scheme for %s/%s (known: %s)", a.ID, a.Vendor, a.Product, strings.Join(ProductIDs(), ", "))
	}
	a.product = prod
	if strings.TrimSpace(a.Title) == "" {
		v.Errorf(p+".title", "%s: missing required field \"title\"", a.ID)
	}
	if u, err := url.Parse(a.URL); a.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.Errorf(p+".url", "%s: missing or bad \"url\": link the vendor's advisory or the NVD page (https://…)", a.ID)
	}
	if a.KEVAdded != "" {
		if _, err := parseISODate(a.KEVAdded); err != nil {
			v.Errorf(p+".kev_added", "%s: kev_added: %v", a.ID, err)
		} else if !a.KEV {
			v.Errorf(p+".kev_added", "%s: kev_added is set but kev is false: set kev: true or remove the date", a.ID)
		}
	}
	if len(a.Affected) == 0 {
		v.Errorf(p+".affected", "%s: missing required field \"affected\": list the affected range of each branch", a.ID)
	}
	for j, r := range a.Affected {
		rp := fmt.Sprintf("%s.affected[%d]", p, j)
		if r == nil {
			v.Errorf(rp, "%s: empty range", a.ID)
			continue
		}
		if ok {
			r.compile(v, rp, a.ID, prod.Scheme)
		}
	}
}

func (r *Range) compile(v *Validator, p, id, scheme string) {
	parse := func(field, text string) Version {
		if text == "" {
			return Version{}
		}
		ver, err := ParseVersion(scheme, text)
		if err != nil {
			v.Errorf(p+"."+field, "%s: %v", id, err)
		}
		return ver
	}
	r.intro = parse("introduced", r.Introduced)
	r.fixed = parse("fixed", r.Fixed)
	r.last = parse("last_affected", r.LastAffected)
	switch {
	case r.Fixed != "" && r.LastAffected != "":
		v.Errorf(p+".last_affected", "%s: a range has either fixed or last_affected, not both", id)
	case r.Fixed == "" && r.LastAffected == "":
		v.Errorf(p, "%s: range needs fixed (first version with the fix) or last_affected (for a branch that got no fix)", id)
	case !r.intro.IsZero() && !r.fixed.IsZero() && r.fixed.Compare(r.intro) <= 0:
		v.Errorf(p+".fixed", "%s: inverted range: fixed %s is not after introduced %s", id, r.Fixed, r.Introduced)
	case !r.intro.IsZero() && !r.last.IsZero() && r.last.Compare(r.intro) < 0:
		v.Errorf(p+".last_affected", "%s: inverted range: last_affected %s is before introduced %s", id, r.LastAffected, r.Introduced)
	}
}

// Covers reports whether v lies in the range.
func (r *Range) Covers(v Version) bool {
	if !r.intro.IsZero() && v.Compare(r.intro) < 0 {
		return false
	}
	if !r.fixed.IsZero() {
		return v.Compare(r.fixed) < 0
	}
	return v.Compare(r.last) <= 0
}

// String writes the range for people: "7.2.0 ≤ v < 7.2.7".
func (r *Range) String() string {
	lo := ""
	if r.Introduced != "" {
		lo = r.Introduced + " ≤ "
	}
	if r.Fixed != "" {
		return lo + "v < " + r.Fixed
	}
	return lo + "v ≤ " + r.LastAffected
}

// FixedVersions lists the versions that fix the advisory, one per branch that got a fix.
func (a *Advisory) FixedVersions() []string {
	var out []string
	for _, r := range a.Affected {
		if r != nil && r.Fixed != "" {
			out = append(out, r.Fixed)
		}
	}
	return out
}

// AdvisoryMatch is one advisory that covers a version, and the range that does.
type AdvisoryMatch struct {
	Advisory *Advisory
	Range    *Range
}

// FixedIn says what to upgrade to: the fix on the version's own branch, or that the branch has none.
func (m AdvisoryMatch) FixedIn() string {
	if m.Range.Fixed != "" {
		return m.Range.Fixed
	}
	return fmt.Sprintf("no fix on this branch (last affected %s): move to a fixed release", m.Range.LastAffected)
}

// ErrNotCompiled is returned when a set is used before Compile accepted it.
var ErrNotCompiled = errors.New("advisory set not compiled (or it has problems): call Compile and fix what it reports")

// Match returns the advisories that cover version of vendor/product, in the order a reviewer should read
// them: those in CISA's KEV catalog first, then newest CVE first. Advisories of other products of the
// same family count (an entry for Pulse Connect Secure covers Ivanti Connect Secure 9.1).
func (s *AdvisorySet) Match(vendor, product, version string) ([]AdvisoryMatch, error) {
	if !s.compiled {
		return nil, ErrNotCompiled
	}
	prod, ok := LookupProduct(vendor, product)
	if !ok {
		return nil, fmt.Errorf("no version scheme for %s/%s (known: %s)", vendor, product, strings.Join(ProductIDs(), ", "))
	}
	v, err := ParseVersion(prod.Scheme, version)
	if err != nil {
		return nil, err
	}
	var out []AdvisoryMatch
	for _, a := range s.Advisories {
		if a.product.Family != prod.Family {
			continue
		}
		for _, r := range a.Affected {
			if r.Covers(v) {
				out = append(out, AdvisoryMatch{Advisory: a, Range: r})
				break
			}
		}
	}
	slices.SortStableFunc(out, func(x, y AdvisoryMatch) int {
		if x.Advisory.KEV != y.Advisory.KEV {
			if x.Advisory.KEV {
				return -1
			}
			return 1
		}
		return -compareCVE(x.Advisory.ID, y.Advisory.ID)
	})
	return out, nil
}

// compareCVE orders CVE numbers by year, then number (CVE-2024-3400 before CVE-2024-21762).
func compareCVE(a, b string) int {
	var ya, na, yb, nb int
	fmt.Sscanf(a, "CVE-%d-%d", &ya, &na)
	fmt.Sscanf(b, "CVE-%d-%d", &yb, &nb)
	return cmp.Or(cmp.Compare(ya, yb), cmp.Compare(na, nb))
}

// UpdatedAt is the set's `updated` date (midnight UTC); zero before Compile.
func (s *AdvisorySet) UpdatedAt() time.Time { return s.updated }

// AgeDays is how many whole days old the set is at now (negative when dated in the future).
func (s *AdvisorySet) AgeDays(now time.Time) int {
	return int(math.Floor(now.Sub(s.updated).Hours() / 24))
}

// Stale reports whether the set is older than AdvisoryStaleAfter at now, counted in whole days as the
// evidence shows it.
func (s *AdvisorySet) Stale(now time.Time) bool {
	return s.AgeDays(now) > int(AdvisoryStaleAfter.Hours()/24)
}

// evidence describes the set for a result.
func (s *AdvisorySet) evidence(now time.Time) Evidence {
	return Evidence{"updated": s.Updated, "entries": len(s.Advisories), "age_days": s.AgeDays(now),
		"path": s.Path, "source": s.Source}
}

func parseISODate(s string) (time.Time, error) {
	if !isoDateRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("want a date written YYYY-MM-DD, found %q", s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a calendar date", s)
	}
	return t, nil
}

// advisoryLoader reads an advisory file; package profiles registers its strict YAML loader, which this
// package cannot import (profiles imports checks).
var advisoryLoader func(path string) (*AdvisorySet, error)

// RegisterAdvisoryLoader installs the function the firmware probe uses to read its `advisories` file.
func RegisterAdvisoryLoader(load func(path string) (*AdvisorySet, error)) { advisoryLoader = load }
