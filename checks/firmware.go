package checks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// FirmwareSpec checks a VPN appliance's firmware (guideline V(3)-3): it reads the version from the
// appliance — its banner, a JSON API, a command over SSH, SNMP sysDescr — or waits for the operator to
// type what the admin screen shows, then judges it against min_version and the offline advisory set.
// Unpatched VPN appliances are how ransomware reached Japanese hospitals (Handa 2021, Osaka 2022).
type FirmwareSpec struct {
	Vendor     string         `yaml:"vendor"`      // CPE 2.3 vendor: fortinet, ivanti, paloaltonetworks, …
	Product    string         `yaml:"product"`     // CPE 2.3 product: fortios, connect_secure, pan-os, …
	MinVersion string         `yaml:"min_version"` // the facility's own floor, in the vendor's notation
	Advisories string         `yaml:"advisories"`  // a newer advisory file for this item; default the run's set
	Source     FirmwareSource `yaml:"source"`
	Timeout    Duration       `yaml:"timeout"` // per network wait
}

// FirmwareSource says where the version comes from. Which fields apply depends on Method; secrets (API
// tokens, SNMP communities and keys, key passphrases) are read from the environment or a file at run time
// and never written in the profile.
type FirmwareSource struct {
	Method  string `yaml:"method"` // banner | http_json | ssh_command | snmp | manual
	Target  string `yaml:"target"`
	Port    int    `yaml:"port"`
	Pattern string `yaml:"pattern"` // regexp whose one capture group is the version

	URL        string `yaml:"url"`
	JSONPath   string `yaml:"json_path"`
	CA         string `yaml:"ca"`
	Header     string `yaml:"header"`      // name of the header carrying the credential
	HeaderEnv  string `yaml:"header_env"`  // environment variable holding its value
	HeaderFile string `yaml:"header_file"` // or a file holding it

	User       string `yaml:"user"`
	KeyFile    string `yaml:"key_file"`
	KnownHosts string `yaml:"known_hosts"`
	HostKey    string `yaml:"host_key"` // pinned "SHA256:…" fingerprint
	Command    string `yaml:"command"`

	Version      string `yaml:"version"` // SNMP 2c | 3
	CommunityEnv string `yaml:"community_env"`
	AuthProtocol string `yaml:"auth_protocol"`
	AuthEnv      string `yaml:"auth_env"`
	PrivProtocol string `yaml:"priv_protocol"`
	PrivEnv      string `yaml:"priv_env"`
}

// The version sources.
const (
	SourceBanner     = "banner"
	SourceHTTPJSON   = "http_json"
	SourceSSHCommand = "ssh_command"
	SourceSNMP       = "snmp"
	SourceManual     = "manual"
)

// sourceFields lists the source parameters each method uses; any other one set is a mistake.
var sourceFields = map[string][]string{
	SourceBanner:     {"target", "port", "pattern"},
	SourceHTTPJSON:   {"url", "json_path", "pattern", "ca", "header", "header_env", "header_file"},
	SourceSSHCommand: {"target", "port", "user", "key_file", "known_hosts", "host_key", "command", "pattern"},
	SourceSNMP:       {"target", "port", "version", "community_env", "user", "auth_protocol", "auth_env", "priv_protocol", "priv_env", "pattern"},
	SourceManual:     {},
}

// SSHPassphraseEnv names the environment variable holding the passphrase of an encrypted key_file.
const SSHPassphraseEnv = "PREFLIGHT_SSH_PASSPHRASE"

// manualSummary is what a manual item shows until the operator answers.
const manualSummary = "waiting for the version shown on the appliance's admin screen"

// maxRaw bounds the banner, output or sysDescr text kept as evidence.
const maxRaw = 512

// Check validates the parameters.
func (s *FirmwareSpec) Check(v *Validator) {
	v.Required("vendor", s.Vendor != "")
	v.Required("product", s.Product != "")
	prod, known := LookupProduct(s.Vendor, s.Product)
	if s.Vendor != "" && s.Product != "" && !known {
		v.Errorf("product", "unknown product %s/%s: name it as NVD's CPE does (known: %s)", s.Vendor, s.Product, strings.Join(ProductIDs(), ", "))
	}
	if s.MinVersion != "" && known {
		if _, err := ParseVersion(prod.Scheme, s.MinVersion); err != nil {
			v.Errorf("min_version", "min_version: %v", err)
		}
	}
	if s.Timeout < 0 {
		v.Errorf("timeout", "timeout must be greater than zero")
	}
	s.Source.check(v)
}

func (src *FirmwareSource) check(v *Validator) {
	allowed, ok := sourceFields[src.Method]
	switch {
	case src.Method == "":
		v.Errorf("source.method", "missing required field \"source.method\" (one of banner, http_json, ssh_command, snmp, manual)")
		return
	case !ok:
		v.Errorf("source.method", "unknown method %q (one of banner, http_json, ssh_command, snmp, manual)", src.Method)
		return
	}
	rv := reflect.ValueOf(*src)
	for i := range rv.NumField() {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "method" && !rv.Field(i).IsZero() && !slices.Contains(allowed, name) {
			v.Errorf("source."+name, "source.%s is not used by method %s (it uses: %s)", name, src.Method, strings.Join(allowed, ", "))
		}
	}
	needPattern := func(required bool) {
		switch re, err := regexp.Compile(src.Pattern); {
		case src.Pattern == "" && required:
			v.Errorf("source.pattern", "missing required field \"source.pattern\": a regexp whose one capture group is the version, e.g. 'v(\\d+\\.\\d+\\.\\d+)'")
		case src.Pattern == "":
		case err != nil:
			v.Errorf("source.pattern", "bad pattern: %v", err)
		case re.NumSubexp() != 1:
			v.Errorf("source.pattern", "pattern has %d capture groups: it needs exactly one, around the version (use (?:…) for other groups)", re.NumSubexp())
		}
	}
	switch src.Method {
	case SourceBanner:
		v.Target("source.target", src.Target)
		v.Port("source.port", src.Port)
		needPattern(true)
	case SourceHTTPJSON:
		src.checkHTTP(v)
		needPattern(false)
	case SourceSSHCommand:
		v.Target("source.target", src.Target)
		if src.Port != 0 {
			v.Port("source.port", src.Port)
		}
		v.Required("source.user", src.User != "")
		v.Required("source.key_file", src.KeyFile != "")
		v.Required("source.command", src.Command != "")
		switch {
		case src.KnownHosts == "" && src.HostKey == "":
			v.Errorf("source.known_hosts", "name the appliance's host key: known_hosts (a file) or host_key (\"SHA256:…\"); unknown host keys are never accepted")
		case src.KnownHosts != "" && src.HostKey != "":
			v.Errorf("source.host_key", "give known_hosts or host_key, not both")
		case src.HostKey != "" && !validFingerprint(src.HostKey):
			v.Errorf("source.host_key", "host_key %q: write the SHA256 fingerprint as ssh-keygen -lf prints it (SHA256:…)", src.HostKey)
		}
		needPattern(true)
	case SourceSNMP:
		v.Target("source.target", src.Target)
		if src.Port != 0 {
			v.Port("source.port", src.Port)
		}
		src.checkSNMP(v)
		needPattern(true)
	}
}

// Run reads the version from the appliance and judges it. A manual source is pending until Judge is called
// with the operator's answer.
func (s *FirmwareSpec) Run(ctx context.Context, env *Env) Result {
	src := Evidence{"method": s.Source.Method}
	ev := Evidence{"vendor": s.Vendor, "product": s.Product, "source": src}
	// The set is loaded first: without it nothing can be judged, so no packet is worth sending.
	set, err := s.advisorySet(env)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	ev["advisory_set"] = set.evidence(env.Clock())
	if s.Source.Method == SourceManual {
		return Result{Status: Pending, Summary: manualSummary, Evidence: ev}
	}
	var got reading
	switch s.Source.Method {
	case SourceBanner:
		got, err = s.readBanner(ctx, env, src)
	case SourceHTTPJSON:
		got, err = s.readHTTPJSON(ctx, env, src)
	case SourceSSHCommand:
		got, err = s.readSSH(ctx, env, src)
	case SourceSNMP:
		got, err = s.readSNMP(ctx, env, src)
	default:
		return Errored(ev, "unknown source method %q", s.Source.Method)
	}
	if got.raw != "" {
		ev["raw"] = got.raw
	}
	if err != nil {
		ev["error"] = err.Error()
		if ctx.Err() != nil {
			return Errored(ev, "could not read the version: %s (%v)", stopReason(ctx), err)
		}
		return Errored(ev, "could not read the version: %v", err)
	}
	return s.Judge(env, got.version, ev)
}

// reading is what a version source brought back: the version text and the text it was found in.
type reading struct {
	version string
	raw     string
}

// Judge turns a version into the result, whichever source it came from; the session calls it with the
// operator's answer for a manual source. ev carries what the source recorded and is extended, not
// replaced. The result fails when the version is below min_version or inside an advisory's affected
// range, is an error when the version cannot be read, and is at least a warning when the advisory set is
// stale, because a pass on old data proves little.
func (s *FirmwareSpec) Judge(env *Env, version string, ev Evidence) Result {
	ev = maps.Clone(ev)
	if ev == nil {
		ev = Evidence{}
	}
	if _, ok := ev["source"]; !ok {
		ev["source"] = Evidence{"method": s.Source.Method}
	}
	ev["vendor"], ev["product"], ev["version"] = s.Vendor, s.Product, version
	ev["advisories"], ev["kev"], ev["fixed_in"] = []string{}, []string{}, map[string]string{}
	if s.MinVersion != "" {
		ev["min_version"] = s.MinVersion
	}
	set, err := s.advisorySet(env)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	now := env.Clock()
	ev["advisory_set"] = set.evidence(now)
	prod, ok := LookupProduct(s.Vendor, s.Product)
	if !ok {
		return Errored(ev, "unknown product %s/%s", s.Vendor, s.Product)
	}
	v, err := ParseVersion(prod.Scheme, version)
	if err != nil {
		return Errored(ev, "cannot judge the firmware: %v", err)
	}
	vd := newVerdict()
	if s.MinVersion != "" {
		floor, err := ParseVersion(prod.Scheme, s.MinVersion)
		switch {
		case err != nil:
			return Errored(ev, "min_version: %v", err)
		case v.Compare(floor) < 0:
			vd.add(Fail, "%s %s is below min_version %s", prod.Label, version, s.MinVersion)
		default:
			vd.add(Pass, "at least min_version %s", s.MinVersion)
		}
	}
	matches, err := set.Match(s.Vendor, s.Product, version)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	judgeMatches(vd, ev, prod, version, matches, len(set.Advisories))
	switch age := set.AgeDays(now); {
	case set.Stale(now):
		vd.add(Warn, "the advisory set is %d days old (updated %s; warn after %d days): load a current one with --advisories before trusting a pass",
			age, set.Updated, int(AdvisoryStaleAfter.Hours()/24))
	case age < -1:
		vd.add(Warn, "the advisory set is dated %s, after this machine's clock: check the clock and the file", set.Updated)
	}
	return vd.result(ev, fmt.Sprintf("%s %s: %s", prod.Label, version, strings.Join(vd.notes, "; ")))
}

// judgeMatches records the advisories covering the version, those in CISA's KEV catalog first.
func judgeMatches(vd *verdict, ev Evidence, prod Product, version string, matches []AdvisoryMatch, entries int) {
	if len(matches) == 0 {
		vd.add(Pass, "no advisory among the %d in the set covers it", entries)
		return
	}
	ids, kev, fixed := []string{}, []string{}, map[string]string{}
	var detail []Evidence
	var parts []string
	for _, m := range matches {
		a := m.Advisory
		ids = append(ids, a.ID)
		fixed[a.ID] = m.FixedIn()
		d := Evidence{"id": a.ID, "title": a.Title, "kev": a.KEV, "range": m.Range.String(), "fixed_in": m.FixedIn(), "url": a.URL}
		label := a.ID
		if a.KEV {
			kev = append(kev, a.ID)
			label += " [KEV]"
			if a.KEVAdded != "" {
				d["kev_added"] = a.KEVAdded
			}
		}
		if a.Note != "" {
			d["note"] = a.Note
		}
		detail = append(detail, d)
		parts = append(parts, fmt.Sprintf("%s (fix: %s)", label, m.FixedIn()))
	}
	ev["advisories"], ev["kev"], ev["fixed_in"], ev["matches"] = ids, kev, fixed, detail
	exploited := ""
	if len(kev) > 0 {
		exploited = fmt.Sprintf(", %d known exploited", len(kev))
	}
	noun := "advisories"
	if len(matches) == 1 {
		noun = "advisory"
	}
	vd.add(Fail, "%s %s is inside the affected range of %d %s%s: %s", prod.Label, version, len(matches), noun, exploited, strings.Join(parts, ", "))
}

// advisorySet is the item's own advisory file when it names one, else the run's set.
func (s *FirmwareSpec) advisorySet(env *Env) (*AdvisorySet, error) {
	if s.Advisories != "" {
		if advisoryLoader == nil {
			return nil, errors.New("cannot read the advisories file: no loader registered (the profiles package registers it)")
		}
		set, err := advisoryLoader(env.Path(s.Advisories))
		if err != nil {
			return nil, fmt.Errorf("advisories: %w", err)
		}
		return set, nil
	}
	if env.Advisories == nil {
		return nil, errors.New("no advisory set loaded: cannot judge firmware without one (the embedded set, or --advisories FILE)")
	}
	if !env.Advisories.compiled {
		return nil, ErrNotCompiled
	}
	return env.Advisories, nil
}

// timeout is the per-wait timeout of this item.
func (s *FirmwareSpec) timeout(env *Env) time.Duration { return s.Timeout.Or(env.Timeout) }

// extract finds the version in text with the source's pattern; the capture group is the version.
func (src *FirmwareSource) extract(text string) (string, error) {
	re, err := regexp.Compile(src.Pattern)
	if err != nil {
		return "", fmt.Errorf("bad pattern: %w", err)
	}
	m := re.FindStringSubmatch(text)
	if m == nil || len(m) < 2 || strings.TrimSpace(m[1]) == "" {
		return "", fmt.Errorf("no version found: pattern %q does not match what the appliance sent (see raw)", src.Pattern)
	}
	return strings.TrimSpace(m[1]), nil
}

// bounded keeps at most maxRaw bytes of text as valid UTF-8 with control characters shown as '.', so a
// binary reply cannot swell or garble the run record.
func bounded(b []byte) string {
	if len(b) > maxRaw {
		b = b[:maxRaw]
	}
	s := strings.ToValidUTF8(string(b), "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

// Prompt asks for the version when the source is manual; other sources read it themselves.
func (s *FirmwareSpec) Prompt() string {
	if s.Source.Method != "manual" {
		return ""
	}
	label := s.Vendor + "/" + s.Product
	example := schemes["semver"].example
	if p, ok := LookupProduct(s.Vendor, s.Product); ok {
		label, example = p.Label, schemes[p.Scheme].example
	}
	return fmt.Sprintf("Firmware version shown on the %s admin screen (as displayed, e.g. %s)", label, example)
}

// JudgeInput judges a version the operator typed in, recorded as attested.
func (s *FirmwareSpec) JudgeInput(env *Env, input string) Result {
	return s.Judge(env, strings.TrimSpace(input), Evidence{"source": Evidence{"method": "manual", "attested": true}})
}
