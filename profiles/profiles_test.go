package profiles_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// badProfiles holds one fixture per mistake under testdata/profiles/bad and what Load must say about it:
// each want is "LINE:COL: message substring", matched against the error's "file:line:col: message".
// Columns count characters, not bytes (see manual-bad-evidence, where Japanese text precedes the value).
var badProfiles = []struct {
	input string
	want  []string
}{
	// Whole-file problems, found before the YAML parser runs or instead of decoding.
	{"empty.yaml", []string{"1:1: empty profile: start from `preflight template`"}},
	{"whitespace-only.yaml", []string{"1:1: empty profile"}},
	{"comments-only.yaml", []string{"1:1: empty profile"}},
	{"invalid-utf8.yaml", []string{"3:58: invalid UTF-8 (byte 0xf4)"}},
	{"nul-byte.yaml", []string{"3:28: NUL byte"}},
	{"deep-nesting.yaml", []string{"3:72: nesting deeper than 64 levels"}},
	{"syntax-unclosed-bracket.yaml", []string{"14:73: YAML syntax: ',' or ']' must be specified"}},
	{"multi-document.yaml", []string{"16:1: a profile is one YAML document; a second one starts here (---)"}},

	// YAML features a profile may not use.
	{"alias.yaml", []string{
		"9:12: anchors and aliases (&name, *name) are not allowed",
		"12:16: anchors and aliases (&name, *name) are not allowed",
	}},
	{"alias-bomb.yaml", []string{"15:14: anchors and aliases (&name, *name) are not allowed in profiles: write why out in full"}},
	{"yaml-tag.yaml", []string{"13:20: YAML tags (!tag) are not allowed in profiles: remove the tag from guideline"}},
	{"merge-key.yaml", []string{"14:9: merge keys (<<) are not allowed"}},

	// Keys and types.
	{"unknown-key.yaml", []string{`14:9: unknown key "severty" in items[0] (did you mean "severity"?)`}},
	{"duplicate-key.yaml", []string{`14:9: duplicate key "guideline" in items[0] (first at line 13)`}},
	{"duplicate-target.yaml", []string{`7:3: duplicate key "robot" in targets (first at line 6)`}},
	{"wrong-type-list.yaml", []string{"3:36: role: wrong type: want a string, found a list"}},
	{"wrong-type-int.yaml", []string{`14:53: port: wrong type: want a whole number, found the text "https"`}},
	{"version-as-text.yaml", []string{`2:12: preflight: wrong type: want a whole number, found the text "one"`}},
	{"number-too-large.yaml", []string{"14:53: port: 99999999999999999999 is too large"}},
	{"target-as-scalar.yaml", []string{`6:10: targets "robot": wrong type: want a mapping`}},

	// Format version.
	{"missing-version.yaml", []string{"2:1: missing required field \"preflight\" (the format version): add `preflight: 1`"}},
	{"unsupported-version.yaml", []string{"2:12: unsupported format version 2: this preflight reads version 1"}},

	// Facility, peer, scope, vantage.
	{"missing-facility.yaml", []string{`2:1: missing required field "facility"`}},
	{"bad-role.yaml", []string{`3:36: unknown role "patient" (one of patient-side, surgeon-side)`}},
	{"peer-key-malformed.yaml", []string{`5:61: peer key: want "ed25519:" and the base64 of a 32-byte public key`}},
	{"peer-endpoint-no-port.yaml", []string{`5:36: peer endpoint "198.18.2.10": write address:port`}},
	{"peer-endpoint-name.yaml", []string{`5:36: peer endpoint "surgeon.lab.test:7443": write address:port, e.g. 198.18.2.10:7443 (an IP address: names are never resolved)`}},
	{"peer-listen-all-interfaces.yaml", []string{`5:64: listen address "0.0.0.0:7443" is every interface`}},
	{"peer-own-id.yaml", []string{`5:12: peer id "patient-site" is this facility's own id`}},
	{"peer-freshness-too-long.yaml", []string{"5:67: freshness 48h0m0s must be between 1m0s and 24h0m0s"}},
	{"peer-bad-profile-hash.yaml", []string{`5:67: profile hash "62f58fea817e": write the 64 lower-case hex digits`}},
	{"missing-scope.yaml", []string{`2:1: missing required field "scope"`}},
	{"bad-cidr.yaml", []string{`4:26: scope[1]: bad network "198.18.0.0/33"`}},
	{"bad-cidr-only.yaml", []string{`4:9: scope[0]: bad network "198.18.0.0"`}},
	{"cidr-host-bits.yaml", []string{`4:9: scope[0]: network "198.18.1.0/15" has host bits set: write 198.18.0.0/15`}},
	{"scope-all-ipv4.yaml", []string{"4:9: scope 0.0.0.0/0 is over-broad"}},
	{"scope-all-ipv6.yaml", []string{"4:26: scope ::/0 is over-broad"}},
	{"vantage-bad-cidr.yaml", []string{`5:20: network: bad network "198.18.1.0/24/"`}},

	// Targets.
	{"bad-address.yaml", []string{`6:20: address: bad address "198.18.1.300": write an IP address`}},
	{"name-as-address.yaml", []string{`6:20: address: bad address "robot.lab.test": write an IP address (probes never resolve names`}},
	{"missing-address.yaml", []string{`6:3: target "robot": missing required field "address"`}},
	{"target-empty-address.yaml", []string{`6:11: target "robot": missing required field "address"`}},
	{"target-null.yaml", []string{`6:3: target "robot": missing required field "address"`}},
	{"bad-target-name.yaml", []string{`6:3: target name "Robot": use lower-case letters`}},
	{"target-outside-scope.yaml", []string{`6:20: target "robot" address 198.18.1.10 is outside scope (198.18.0.0/24)`}},

	// Defaults.
	{"bad-duration.yaml", []string{`7:21: timeout: bad duration "2x"`}},
	{"zero-duration.yaml", []string{`7:21: timeout: duration "0s" must be greater than zero`}},
	{"negative-duration.yaml", []string{`7:22: deadline: duration "-5s" must be greater than zero`}},
	{"deadline-below-timeout.yaml", []string{"7:35: inverted thresholds: item deadline 2s is shorter than the per-wait timeout 5s"}},
	{"run-deadline-below-deadline.yaml", []string{"9:17: inverted thresholds: run deadline 20s is shorter than the item deadline 30s"}},
	{"concurrency-too-high.yaml", []string{"7:25: concurrency 1000 must be between 1 and 64"}},

	// Sections and items.
	{"missing-sections.yaml", []string{`2:1: missing required field "sections"`}},
	{"section-without-items.yaml", []string{`18:12: section "cloud" has no items`}},
	{"duplicate-section-id.yaml", []string{`16:9: duplicate section id "intra-facility"`}},
	{"bad-section-id.yaml", []string{`8:9: section id "intra facility": use lower-case letters`}},
	{"duplicate-item-id.yaml", []string{`16:13: duplicate item id "robot-ports"`}},
	{"bad-item-id.yaml", []string{`11:13: item id "Robot-Ports": use lower-case letters`}},
	{"missing-title.yaml", []string{`11:9: missing required field "title"`}},
	{"missing-title-en.yaml", []string{`12:17: missing required field "title" (with at least an English text`}},
	{"missing-guideline.yaml", []string{`11:9: item "robot-ports": missing required field "guideline"`}},
	{"unknown-guideline.yaml", []string{`13:20: unknown guideline reference "V(1)-9"`}},
	{"bad-severity.yaml", []string{`14:19: unknown severity "critical"`}},
	{"missing-remedy.yaml", []string{`11:9: probe item "robot-ports": missing required field "remedy"`}},
	{"probe-and-manual.yaml", []string{`15:9: item "robot-ports" has both probe and manual`}},
	{"neither-probe-nor-manual.yaml", []string{`11:13: item "robot-ports" needs either a probe or a manual question`}},
	{"manual-without-question.yaml", []string{`19:18: manual item "maintenance-plan" without a question`}},
	{"manual-bad-evidence.yaml", []string{`19:104: "mandatory" is not one of required, optional`}},

	// Probes.
	{"missing-probe-kind.yaml", []string{`14:17: probe: missing required field "kind"`}},
	{"unknown-probe-kind.yaml", []string{`14:23: unknown probe kind "portscan"`}},
	{"probe-bad-duration.yaml", []string{`14:40: deadline: bad duration "10 s"`}},
	{"unknown-target.yaml", []string{`14:38: unknown target "robto" (targets: [robot])`}},
	{"missing-ports.yaml", []string{`14:17: missing required field "ports"`}},
	{"port-zero.yaml", []string{"14:52: ports: port 0 out of range"}},
	{"port-too-large.yaml", []string{"14:52: ports: port 65536 out of range"}},
	{"port-range-reversed.yaml", []string{`14:52: ports: reversed port range "10-5"`}},
	{"port-garbage.yaml", []string{`14:52: ports: bad port "http"`}},
	{"allow-port-out-of-range.yaml", []string{"14:75: port 70000 out of range"}},
	{"ports-negative-max-rate.yaml", []string{"14:86: max_rate -10 must be positive"}},
	{"connect-bad-expect.yaml", []string{`14:66: "opened" is not one of`}},
	{"tls-warn-below-min.yaml", []string{"14:89: inverted thresholds: warn_days_left 14 is below min_days_left 30"}},
	{"tls-bad-min-version.yaml", []string{`14:67: bad min_version "1.4"`}},
	{"dns-bad-type.yaml", []string{`19:45: unknown record type "AAAAA"`}},
	{"dns-contains-nxdomain.yaml", []string{"19:76: contains only makes sense with expect: answer"}},
	{"dns-missing-expect.yaml", []string{`19:16: missing required field "queries[1].expect"`}},
	{"dns-no-queries.yaml", []string{"14:52: no queries"}},
}

func TestLoadBad(t *testing.T) {
	for _, tc := range badProfiles {
		t.Run(strings.TrimSuffix(tc.input, ".yaml"), func(t *testing.T) {
			path := filepath.Join("..", "testdata", "profiles", "bad", tc.input)
			p, err := profiles.Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %v, nil; want errors", path, p)
			}
			checkErrors(t, path, err, tc.want)
		})
	}
}

// TestBadFixturesAllListed keeps the table and the fixture directory in step.
func TestBadFixturesAllListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "profiles", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, tc := range badProfiles {
		if listed[tc.input]++; listed[tc.input] == 2 {
			t.Errorf("badProfiles lists %s more than once", tc.input)
		}
	}
	for _, f := range files {
		if listed[filepath.Base(f)] == 0 {
			t.Errorf("%s has no entry in badProfiles", f)
		}
		delete(listed, filepath.Base(f))
	}
	for name := range listed {
		t.Errorf("badProfiles lists %s, which is not in testdata/profiles/bad", name)
	}
}

func TestLoadGood(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "profiles", "good", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d good fixtures, want at least 2", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := profiles.Load(f)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", f, err)
			}
			if len(p.Items()) == 0 {
				t.Errorf("Load(%s): no items", f)
			}
		})
	}
}

func TestBuiltinsLoad(t *testing.T) {
	names := profiles.BuiltinNames()
	if len(names) == 0 {
		t.Fatal("no built-in profiles")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			p, err := profiles.Builtin(name, t.TempDir())
			if err != nil {
				t.Fatalf("Builtin(%s):\n%v", name, err)
			}
			if p.Path != "builtin:"+name {
				t.Errorf("Path = %q, want %q", p.Path, "builtin:"+name)
			}
		})
	}
}

// TestBuiltinsCoverGuidelines: the built-in profiles together cite every item of guideline section V, and
// every item can be shown in both languages.
func TestBuiltinsCoverGuidelines(t *testing.T) {
	cited := map[string]int{}
	for _, name := range profiles.BuiltinNames() {
		p, err := profiles.Builtin(name, t.TempDir())
		if err != nil {
			t.Fatalf("Builtin(%s): %v", name, err)
		}
		for _, it := range p.Items() {
			cited[it.Guideline]++
			if it.Title.En == "" || it.Title.Ja == "" {
				t.Errorf("%s: item %q title: en %q, ja %q; want both", name, it.ID, it.Title.En, it.Title.Ja)
			}
		}
	}
	for _, g := range profiles.Guidelines {
		if cited[g] == 0 {
			t.Errorf("no built-in profile cites guideline %s", g)
		}
	}
}

func TestTenMistakes(t *testing.T) {
	path := filepath.Join("..", "testdata", "profiles", "ten-mistakes.yaml")
	_, err := profiles.Load(path)
	list := checkErrors(t, path, err, []string{
		`3:36: unknown role "patient"`,
		`7:20: address: bad address "cloud.lab.test"`,
		`8:21: timeout: bad duration "2x"`,
		`15:20: unknown guideline reference "V(1)-9"`,
		`16:52: ports: reversed port range "10-5"`,
		`18:13: duplicate item id "robot-ports"`,
		`21:9: unknown key "severty" in items[1] (did you mean "severity"?)`,
		`22:40: unknown target "robto"`,
		`30:89: inverted thresholds: warn_days_left 14 is below min_days_left 30`,
		`35:18: manual item "cloud-risk-assessment" without a question`,
	})
	sorted := slices.IsSortedFunc(list, func(a, b *profiles.Error) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	if !sorted {
		t.Errorf("errors are not in file order:\n%v", list)
	}
	// The whole list prints one problem a line, each with file:line:col.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 10 {
		t.Fatalf("Error() has %d lines, want 10", len(lines))
	}
	for i, l := range lines {
		if l != list[i].Error() {
			t.Errorf("Error() line %d = %q, want %q", i+1, l, list[i].Error())
		}
	}
}

func TestAliasBombFailsFast(t *testing.T) {
	path := filepath.Join("..", "testdata", "profiles", "bad", "alias-bomb.yaml")
	if _, err := profiles.Load(path); err == nil {
		t.Fatalf("Load(%s) succeeded", path)
	}
	// The classic form, at the top of the document: ten levels of nine aliases each, 9^10 leaves if
	// expanded. Parsing must neither expand it nor accept it.
	if _, err := profiles.Parse("bomb.yaml", aliasBomb(10), t.TempDir()); err == nil {
		t.Fatal("Parse(alias bomb) succeeded")
	}
}

func TestErrorListSort(t *testing.T) {
	at := func(file string, line, col int, msg string) *profiles.Error {
		return &profiles.Error{Pos: profiles.Pos{File: file, Line: line, Col: col}, Msg: msg}
	}
	list := profiles.ErrorList{
		at("b.yaml", 1, 1, "other file"),
		at("a.yaml", 10, 2, "line ten"),
		at("a.yaml", 2, 30, "line two, col thirty"),
		at("a.yaml", 2, 4, "line two, col four, second"),
		at("a.yaml", 2, 4, "line two, col four, first"),
		at("a.yaml", 0, 0, "no position"),
	}
	list.Sort()
	want := []string{
		"a.yaml: no position",
		"a.yaml:2:4: line two, col four, first",
		"a.yaml:2:4: line two, col four, second",
		"a.yaml:2:30: line two, col thirty",
		"a.yaml:10:2: line ten",
		"b.yaml:1:1: other file",
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("sorted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if list.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q", list.Error())
	}
	if err := (profiles.ErrorList{}).Err(); err != nil {
		t.Errorf("empty ErrorList.Err() = %v, want nil", err)
	}
	if err := list.Err(); err == nil {
		t.Error("ErrorList.Err() = nil for a non-empty list")
	}
}

// A byte-order mark and Windows line endings, as some editors write, change nothing.
func TestParseBOMAndCRLF(t *testing.T) {
	path := filepath.Join("..", "testdata", "profiles", "good", "minimal.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = append([]byte("\uFEFF"), bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))...)
	p, err := profiles.Parse(path, data, t.TempDir())
	if err != nil {
		t.Fatalf("Parse(BOM + CRLF):\n%v", err)
	}
	if got := len(p.Items()); got != 2 {
		t.Errorf("%d items, want 2", got)
	}
}

// The error for a file that cannot be read is not an ErrorList: there is no position to give.
func TestLoadMissingFile(t *testing.T) {
	_, err := profiles.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil {
		t.Fatal("Load(missing file) succeeded")
	}
	var list profiles.ErrorList
	if errors.As(err, &list) {
		t.Errorf("Load(missing file) = ErrorList %v; want a plain error", list)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing file) = %v; want it to wrap os.ErrNotExist", err)
	}
}

// Columns after a byte-order mark count from the first visible character, in the checks made before
// parsing as in the parser's own.
func TestPrecheckColumnAfterBOM(t *testing.T) {
	_, err := profiles.Parse("bom.yaml", []byte("\uFEFFpreflight: 1\x00\n"), t.TempDir())
	checkErrors(t, "bom.yaml", err, []string{"1:13: NUL byte"})
}

// The YAML parser is slow on block mappings with very many keys, so length is bounded by lines: a
// profile of the limit loads, one line more is refused before parsing.
func TestLineLimit(t *testing.T) {
	path := filepath.Join("..", "testdata", "profiles", "good", "minimal.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 10000
	pad := limit - bytes.Count(data, []byte("\n"))
	data = append(data, bytes.Repeat([]byte("# padding\n"), pad)...)
	if _, err := profiles.Parse(path, data, t.TempDir()); err != nil {
		t.Fatalf("Parse(%d lines):\n%.500v", limit, err)
	}
	data = append(data, "k: 1\n"...)
	_, err = profiles.Parse(path, data, t.TempDir())
	checkErrors(t, path, err, []string{"10001:1: more than 10000 lines"})

	many := bytes.Repeat([]byte("k: 1\n"), 100000)
	_, err = profiles.Parse("many.yaml", many, t.TempDir())
	checkErrors(t, "many.yaml", err, []string{"10001:1: more than 10000 lines"})
}
