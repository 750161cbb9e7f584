package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/telesurgery-preflight/preflight/profiles"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// run executes a command line in-process and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

// decodeOne parses stdout as exactly one run record.
func decodeOne(t *testing.T, stdout string) *runlog.Record {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var r runlog.Record
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not a run record: %v\n%s", err, stdout)
	}
	if err := dec.Decode(new(any)); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON value (%v)", err)
	}
	return &r
}

func TestDemoJSONRecord(t *testing.T) {
	code, stdout, stderr := run(t, "demo", "--no-tui", "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (NO-GO)\n%s", code, stderr)
	}
	r := decodeOne(t, stdout)
	if r.Schema != runlog.Schema || r.Facility.ID != "patient-site" || r.Facility.Role != "patient-side" || r.Verdict != runlog.NoGo {
		t.Fatalf("record header: %+v %+v verdict %s", r.Schema, r.Facility, r.Verdict)
	}
	if len(r.Items) < 20 {
		t.Fatalf("%d items, want ≥ 20", len(r.Items))
	}
	cited := map[string]bool{}
	for _, it := range r.Items {
		cited[it.Guideline] = true
	}
	for _, g := range profiles.Guidelines {
		if !cited[g] {
			t.Errorf("guideline %s not covered by the demo", g)
		}
	}
	// The planted flaws fail, with the evidence that shows them; everything else probed passes.
	planted := map[string]func(ev map[string]any) bool{
		"robot-ports": func(ev map[string]any) bool { return jsonEq(ev["unexpected"], []int{18023}) },
		"dns-no-leak": func(ev map[string]any) bool { return strings.Contains(mustJSON(ev["queries"]), "192.0.2.80") },
		"cloud-logs-client-auth": func(ev map[string]any) bool {
			return ev["client_cert_requested"] == false
		},
		"vpn-tls":       func(ev map[string]any) bool { return slices.Contains(toStrings(ev["accepted_versions"]), "1.0") },
		"maint-gw-cert": func(ev map[string]any) bool { return ev["days_left"] == float64(5) },
		"vpn-firmware": func(ev map[string]any) bool {
			return ev["version"] == "7.2.5,build1517" && slices.Contains(toStrings(ev["advisories"]), "CVE-2024-21762")
		},
		"maint-ssh": func(ev map[string]any) bool {
			return strings.Contains(mustJSON(ev["forbidden_offered"]), "aes128-cbc") && strings.Contains(mustJSON(ev["forbidden_offered"]), "hmac-sha1")
		},
	}
	for _, it := range r.Items {
		check, isPlanted := planted[it.ID]
		switch {
		case isPlanted:
			if it.Status != "fail" || !check(it.Evidence) {
				t.Errorf("%s: %s %q evidence %v, want fail showing the planted flaw", it.ID, it.Status, it.Summary, it.Evidence)
			}
		case it.Kind == "manual":
			if it.Status != "pending" {
				t.Errorf("%s: manual item %s without answers", it.ID, it.Status)
			}
		case it.Kind == "icmp" && os.Geteuid() != 0 && it.Status == "error":
			// Without root, ICMP needs net.ipv4.ping_group_range; the probe says so instead of passing.
		default:
			if it.Status != "pass" {
				t.Errorf("%s: %s (%s), want pass", it.ID, it.Status, it.Summary)
			}
		}
	}
	if !strings.Contains(stderr, "] pass ") || !strings.Contains(stderr, "] fail ") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
}

func TestDemoTextShowsRemedies(t *testing.T) {
	code, stdout, _ := run(t, "demo", "--no-tui")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"✘ FAIL", "Verdict: NO-GO", "What blocks GO:",
		"Remedy: Close or filter every port not in the allow-list",
		"Remedy: Disable TLS 1.0/1.1",
		"Remedy: Renew the maintenance gateway's certificate",
		"Remedy: Require client-certificate authentication",
		"Remedy: Configure the resolver to refuse",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("colour codes written to a non-terminal")
	}
	// The demo stopped its services: every address it used is free again.
	for _, addr := range []string{"127.77.1.10:18023", "127.77.3.10:18443", "127.77.5.53:18053"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("demo left %s in use: %v", addr, err)
			continue
		}
		l.Close()
	}
	code, stdout, _ = run(t, "demo", "--no-tui", "--lang", "ja")
	if code != 1 || !strings.Contains(stdout, "判定: NO-GO（実施不可）") || !strings.Contains(stdout, "ロボットは許可したポートのみ公開している") {
		t.Errorf("Japanese report:\n%s", stdout)
	}
}

func TestSurgeonDemoReachesGOWithAnswersAndWaiver(t *testing.T) {
	dir := t.TempDir()
	answers := filepath.Join(dir, "answers.yaml")
	body := `his-monitoring: {answer: yes, evidence: "SOC ticket 4411"}
inter-facility-monitoring: {answer: yes, evidence: "SOC ticket 4412"}
`
	write(t, answers, body)
	code, stdout, stderr := run(t, "demo", "--side", "surgeon", "--no-tui", "--format", "json", "--attest", answers)
	if code != 1 || decodeOne(t, stdout).Verdict != runlog.NoGo {
		t.Fatalf("without a waiver the expiring relay certificate must block: exit %d\n%s", code, stderr)
	}
	write(t, answers, body+`video-relay-tls: {waive: "renewal booked for 12-10; relay carries the room camera only", by: "Tanaka"}`+"\n")
	logDir := filepath.Join(dir, "log")
	code, stdout, stderr = run(t, "demo", "--side", "surgeon", "--no-tui", "--format", "json", "--attest", answers, "--log-dir", logDir)
	r := decodeOne(t, stdout)
	// GO at the surgeon side; the patient side keeps its planted flaws, so the operation is not ready (4).
	if code != 4 || r.Verdict != runlog.GO || !strings.Contains(stderr, "Joint verdict for operation DEMO-OP-1: NOT READY") {
		t.Fatalf("exit %d verdict %s blocking %v\n%s", code, r.Verdict, r.Blocking, stderr)
	}
	if len(r.Waivers) != 1 || r.Waivers[0].Item != "video-relay-tls" || r.Waivers[0].By != "Tanaka" {
		t.Fatalf("waivers %+v", r.Waivers)
	}
	saved, err := os.ReadFile(filepath.Join(logDir, "runs", r.RunID, "record.json"))
	if err != nil {
		t.Fatalf("record not kept: %v", err)
	}
	if decodeOne(t, string(saved)).RunID != r.RunID {
		t.Fatal("kept record differs")
	}
}

func TestRunExitCodes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.yaml")
	write(t, profile, `preflight: 1
facility: {id: t, role: surgeon-side, name: T}
scope: ["127.0.0.0/8"]
targets: {lo: {address: 127.0.0.1}}
sections:
  - id: s
    title: S
    items:
      - {id: console, title: Console reachable, guideline: "V(1)-3", probe: {kind: connect, target: lo, port: `+port+`, expect: open}, remedy: R}
      - {id: plan, title: Plan, guideline: "V(3)-2", manual: {question: Approved?, evidence: required}}
`)
	answers := filepath.Join(dir, "a.yaml")
	logDir := "--log-dir=" + filepath.Join(dir, "log")
	if code, _, stderr := run(t, "run", "-p", profile, "--no-tui", logDir); code != 3 {
		t.Errorf("unanswered manual item: exit %d, want 3\n%s", code, stderr)
	}
	write(t, answers, "plan: {answer: yes, evidence: MP-1}\n")
	if code, _, stderr := run(t, "run", "-p", profile, "--no-tui", "--attest", answers, logDir); code != 0 {
		t.Errorf("all good: exit %d, want 0\n%s", code, stderr)
	}
	write(t, answers, "plan: {answer: no}\n")
	if code, _, _ := run(t, "run", "-p", profile, "--no-tui", "--attest", answers, logDir); code != 1 {
		t.Errorf("answered no: exit %d, want 1", code)
	}
	write(t, answers, "plan: {answer: yes}\n")
	if code, _, stderr := run(t, "run", "-p", profile, "--no-tui", "--attest", answers, logDir); code != 2 || !strings.Contains(stderr, "a.yaml:1:1") {
		t.Errorf("bad answers file: exit %d, want 2 with position\n%s", code, stderr)
	}
	code, stdout, _ := run(t, "run", "-p", profile, "--no-tui", "--format", "junit", logDir)
	var suites struct {
		Tests int `xml:"tests,attr"`
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal([]byte(stdout), &suites); err != nil || code != 3 || suites.Tests != 2 ||
		!strings.Contains(suites.Cases[0].Name, "Console reachable") {
		t.Errorf("junit: exit %d err %v %+v\n%s", code, err, suites, stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--no-tui"}, "missing -p PROFILE"},
		{[]string{"run", "-p", profile, "--format", "xml"}, "--format \"xml\""},
		{[]string{"run", "-p", profile, "--lang", "fr"}, "--lang \"fr\""},
		{[]string{"run", "-p", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"run", "--bogus"}, "unknown flag"},
		{[]string{"demo", "--side", "moon"}, "use patient or surgeon"},
	} {
		if code, _, stderr := run(t, tc.args...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestRunRefusesWrongVantage(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "p.yaml")
	write(t, profile, `preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["198.18.0.0/15"]
vantage: {network: "198.18.1.0/24"}
targets: {robot: {address: 198.18.1.10}}
sections:
  - id: s
    title: S
    items:
      - {id: robot, title: R, guideline: "V(1)-1", probe: {kind: connect, target: robot, port: 443, expect: open}, remedy: R}
`)
	code, stdout, stderr := run(t, "run", "-p", profile, "--no-tui")
	if code != 2 || !strings.Contains(stderr, "must be run from a host in 198.18.1.0/24") || stdout != "" {
		t.Fatalf("exit %d stderr %q stdout %q", code, stderr, stdout)
	}
}

func TestValidate(t *testing.T) {
	args := []string{"validate"}
	for _, n := range profiles.BuiltinNames() {
		args = append(args, "builtin:"+n)
	}
	if code, stdout, stderr := run(t, args...); code != 0 || strings.Count(stdout, ": ok") != len(args)-1 {
		t.Fatalf("built-ins: exit %d\n%s%s", code, stdout, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	write(t, bad, "preflight: 1\nfacility: {id: x, role: nurse, name: X}\nscope: [\"0.0.0.0/0\"]\nsections: []\n")
	code, _, stderr := run(t, "validate", bad, "builtin:demo-patient")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"bad.yaml:2:25: unknown role", "bad.yaml:3:9: scope 0.0.0.0/0 is over-broad", "1 of 2 profiles have problems"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, cmd := range []string{"run", "demo", "validate", "template", "version", "serve", "export", "import", "keygen"} {
		code, stdout, _ := run(t, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "preflight "+cmd) {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, stdout)
		}
	}
	if code, stdout, _ := run(t, "completion", "bash"); code != 0 || !strings.Contains(stdout, "bash completion") {
		t.Errorf("completion: exit %d", code)
	}
	if code, stdout, _ := run(t, "template"); code != 0 || !strings.Contains(stdout, "REPLACE") {
		t.Errorf("template: exit %d", code)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEq(v any, want any) bool { return mustJSON(v) == mustJSON(want) }

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestFirmwareReadByHand: a firmware item with source method manual waits for the version the engineer
// reads off the admin screen, and judges it by the advisory set in use.
func TestFirmwareReadByHand(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.yaml")
	write(t, profile, `preflight: 1
facility: {id: t, role: patient-side, name: T}
scope: ["127.0.0.0/8"]
sections:
  - id: s
    title: S
    items:
      - id: vpn-firmware
        title: VPN firmware
        guideline: "V(3)-3"
        probe: {kind: firmware, vendor: fortinet, product: fortios, source: {method: manual}}
        remedy: Upgrade
`)
	answers := filepath.Join(dir, "a.yaml")
	logDir := "--log-dir=" + filepath.Join(dir, "log")
	code, stdout, _ := run(t, "run", "-p", profile, "--no-tui", "--format", "json", logDir)
	if r := decodeOne(t, stdout); code != 3 || r.Items[0].Status != "pending" || !strings.Contains(r.Items[0].Summary, "admin screen") {
		t.Fatalf("unanswered: exit %d item %+v", code, r.Items[0])
	}
	write(t, answers, "vpn-firmware: {version: \"7.2.5 build1517\", by: Sato}\n")
	code, stdout, _ = run(t, "run", "-p", profile, "--no-tui", "--format", "json", "--attest", answers, logDir)
	it := decodeOne(t, stdout).Items[0]
	if code != 1 || it.Status != "fail" || !slices.Contains(toStrings(it.Evidence["advisories"]), "CVE-2024-21762") || it.Evidence["attested_by"] != "Sato" {
		t.Fatalf("vulnerable version: exit %d item %+v", code, it)
	}
	write(t, answers, "vpn-firmware: {version: \"7.4.8 build2795\"}\n")
	if code, stdout, _ = run(t, "run", "-p", profile, "--no-tui", "--format", "json", "--attest", answers, logDir); code != 0 {
		t.Fatalf("fixed version: exit %d %s", code, stdout)
	}
	// A newer advisory set given with --advisories is the one that judges.
	newer := filepath.Join(dir, "newer.yaml")
	write(t, newer, `format: 1
updated: "2026-12-01"
source: test
advisories:
  - id: CVE-2099-0001
    vendor: fortinet
    product: fortios
    title: made-up flaw in the fixed release, to prove the file is used
    url: https://example.invalid/advisory
    affected:
      - {introduced: 7.4.0, fixed: 7.4.9}
`)
	code, stdout, _ = run(t, "run", "-p", profile, "--no-tui", "--format", "json", "--attest", answers, "--advisories", newer, logDir)
	if it := decodeOne(t, stdout).Items[0]; code != 1 || !slices.Contains(toStrings(it.Evidence["advisories"]), "CVE-2099-0001") {
		t.Fatalf("--advisories: exit %d item %+v", code, it)
	}
	code, _, stderr := run(t, "run", "-p", profile, "--no-tui", "--advisories", "../../testdata/advisories/inverted-range.yaml", logDir)
	if code != 2 || !strings.Contains(stderr, "inverted-range.yaml:12:") {
		t.Fatalf("bad advisory file: exit %d %s", code, stderr)
	}
	write(t, answers, "vpn-firmware: {answer: yes}\n")
	if code, _, stderr := run(t, "run", "-p", profile, "--no-tui", "--attest", answers, logDir); code != 2 || !strings.Contains(stderr, "not a manual item") {
		t.Fatalf("answer to a firmware item: exit %d %s", code, stderr)
	}
}
