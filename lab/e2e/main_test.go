//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/telesurgery-preflight/preflight/checks"
	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

var (
	hold = flag.Bool("lab.hold", false, "after each scenario, print how to use its lab by hand and wait for Ctrl-C")

	// workDir holds the binary and every scenario's profiles; removed at the end, also on Ctrl-C.
	workDir string
	// preflightBin is the real binary, built once by TestMain.
	preflightBin string
	// labErr says why this machine cannot run the lab (nil when it can).
	labErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	labErr = netlab.Usable()
	if labErr == nil && os.Getenv(helperEnv) == "" {
		if removed, err := netlab.SweepStale(); len(removed) > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removed stale lab namespaces %v (err: %v)\n", removed, err)
		}
		var err error
		if workDir, err = os.MkdirTemp("", fmt.Sprintf("pfl-%d-e2e-", os.Getpid())); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(workDir)
		netlab.OnInterrupt(func() { os.RemoveAll(workDir) })
		preflightBin = filepath.Join(workDir, "preflight")
		args := []string{"build", "-o", preflightBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool(), append(args, "github.com/telesurgery-preflight/preflight/cmd/preflight")...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build preflight: %v\n%s", err, out)
			return 1
		}
		// `go test -timeout` ends the process with a panic that runs no t.Cleanup: tear the labs down
		// shortly before that happens.
		if f := flag.Lookup("test.timeout"); f != nil {
			if d, _ := time.ParseDuration(f.Value.String()); d > 15*time.Second {
				t := time.AfterFunc(d-10*time.Second, func() {
					fmt.Fprintln(os.Stderr, "e2e: test timeout is near: tearing down the labs")
					netlab.CloseAll()
				})
				defer t.Stop()
			}
		}
	}
	return m.Run()
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// needLab skips a test that needs the namespace lab on a machine that cannot run it.
func needLab(t *testing.T) {
	t.Helper()
	if labErr != nil {
		t.Skipf("skipping the network-namespace lab: %v (run as root with the Debian packages %s; scripts/test.sh installs them)",
			labErr, strings.Join(netlab.Packages, " "))
	}
}

// kindParams are the parameters the lab's profiles use per probe kind. A kind counts as built when the
// registry's parameter struct has all of them; the placeholders registered before a probe lands have none.
var kindParams = map[string][]string{
	"ports":    {"target", "ports", "allow", "timeout"},
	"connect":  {"target", "port", "expect", "timeout"},
	"tls":      {"target", "port", "ca", "min_version", "require_client_cert", "forbid_weak_ciphers", "min_days_left"},
	"dns":      {"server", "queries"},
	"icmp":     {"target", "count", "interval", "expect", "max_rtt", "max_jitter", "max_loss"},
	"ssh":      {"target", "port", "banner"},
	"firmware": {"vendor", "product", "min_version", "source"},
	"ntp":      {"server", "max_offset"},
	"route":    {"target", "expect_source"},
	"http":     {"url", "target", "expect_status", "ca"},
}

// probeReady says whether this build has the probe kind with the parameters the lab uses, and if not why.
func probeReady(kind string) (bool, string) {
	pr, ok := checks.Probers[kind]
	if !ok {
		return false, fmt.Sprintf("checks.Probers has no %q", kind)
	}
	t := reflect.TypeOf(pr.New())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	have := map[string]bool{}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		have[tag] = true
	}
	var missing []string
	for _, p := range kindParams[kind] {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("checks.Probers[%q] is a placeholder without the parameters %s", kind, strings.Join(missing, ", "))
	}
	return true, ""
}

func ready(kind string) bool { ok, _ := probeReady(kind); return ok }

// vantage is a place in the lab where preflight runs, with its profile.
type vantage struct {
	name    string // profile template testdata/NAME.yaml.tmpl
	role    string // namespace it runs in
	answers string // answers file in testdata for the profile's manual items; "" when it has none
}

var vantages = []vantage{
	{"patient-ts", netlab.PatientTS, "answers.yaml"},
	{"vendor-line", netlab.Vendor, ""},
	{"his-line", netlab.PatientHIS, ""},
}

// profileData fills the profile templates from the lab's address plan, so they cannot drift apart.
var profileData = map[string]any{
	"Engineer": netlab.EngineerAddr, "TSNet": netlab.PatientTSNet, "ClosedLeg": netlab.ClosedNetLeg,
	"Robot": netlab.RobotAddr, "HIS": netlab.HISAddr, "HISNet": netlab.HISNet, "Resolver": netlab.ResolverAddr,
	"NTP": netlab.NTPAddr, "VPN": netlab.VPNInsideAddr, "VPNOutside": netlab.VPNOutsideAddr,
	"Cloud": netlab.CloudAddr, "Console": netlab.ConsoleAddr, "Sentinel": netlab.SentinelAddr,
	"OutsideDNS": netlab.OutsideDNSAddr, "Vendor": netlab.VendorAddr, "VendorNet": netlab.VendorNet,
	"VPNAPIPort": netlab.VPNAPIPort, "VPNStatusPath": netlab.VPNStatusPath,
	"VPNTokenEnv": netlab.VPNTokenEnv, "SNMPCommunityEnv": netlab.SNMPCommunityEnv,
	"SurgeonNet": netlab.SurgeonTSNet, "ClosedNet": netlab.ClosedNetAddr, "ServePort": netlab.ServePort,
	"PatientServe": net.JoinHostPort(netlab.ClosedNetAddr, strconv.Itoa(netlab.ServePort)),
	"SurgeonServe": net.JoinHostPort(netlab.ConsoleAddr, strconv.Itoa(netlab.ServePort)),
}

// writeProfiles renders every vantage's profile into dir and returns their paths by vantage name.
func writeProfiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, v := range vantages {
		paths[v.name] = writeProfile(t, dir, v, profileData)
	}
	return paths
}

// writeProfile renders v's profile template with data into dir, next to its answers file, and returns
// the profile's path.
func writeProfile(t *testing.T, dir string, v vantage, data map[string]any) string {
	t.Helper()
	tmpl, err := template.New(v.name + ".yaml.tmpl").Funcs(template.FuncMap{"ready": ready}).
		ParseFiles(filepath.Join("testdata", v.name+".yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, v.name+".yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if v.answers != "" {
		if err := copyFile(filepath.Join("testdata", v.answers), filepath.Join(dir, v.answers)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// startLab writes the profiles, starts a lab whose firewalls admit their pairs, and puts the lab's CA
// next to the profiles (they name it as ca: lab-ca.pem).
func startLab(t *testing.T, faults ...netlab.Fault) (*netlab.Lab, map[string]string) {
	t.Helper()
	dir := scenarioDir(t)
	paths := writeProfiles(t, dir)
	var list []string
	for _, v := range vantages {
		list = append(list, paths[v.name])
	}
	l := netlab.New(t, netlab.Options{Profiles: list})
	if err := copyFile(l.CAFile, filepath.Join(dir, "lab-ca.pem")); err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		if err := l.Apply(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	return l, paths
}

// scenarioDir is a directory for one test's profiles and records, under workDir.
func scenarioDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(workDir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// record is the part of preflight's run record the scenarios judge.
type record struct {
	Schema  string `json:"schema"`
	Verdict string `json:"verdict"`
	Items   []struct {
		ID       string         `json:"id"`
		Kind     string         `json:"kind"`
		Status   string         `json:"status"`
		Summary  string         `json:"summary"`
		Evidence map[string]any `json:"evidence"`
	} `json:"items"`
}

type runResult struct {
	vantage string
	code    int
	rec     record
	stderr  string
	took    time.Duration
}

// runPreflight runs the real binary inside v's namespace against its profile, answering the manual items
// from v's answers file (profiles that have any), keeping the record in the log directory logDir(v)
// next to the profile, and decodes the one run record it prints; extra are more flags of run. It may run
// on any goroutine: problems come back as an error.
func runPreflight(ctx context.Context, l *netlab.Lab, v vantage, profile, operation string, extra ...string) (runResult, error) {
	dir := filepath.Dir(profile)
	vpn := l.VPN()
	args := []string{preflightBin, "run", "-p", profile, "--no-tui", "--format", "json", "--operation", operation,
		"--log-dir", logDir(dir, v), "--lang", "en"}
	if v.answers != "" {
		args = append(args, "--attest", filepath.Join(dir, v.answers))
	}
	cmd := l.Command(ctx, v.role, append(args, extra...)...)
	cmd.Env = append(os.Environ(), netlab.VPNTokenEnv+"=Bearer "+vpn.Token, netlab.SNMPCommunityEnv+"="+vpn.Community)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	r := runResult{vantage: v.name, stderr: stderr.String(), took: time.Since(began)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("%s: run preflight: %v\n%s", v.name, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.rec); err != nil {
		return r, fmt.Errorf("%s: preflight exit %d printed no run record (%v)\nstdout: %s\nstderr: %s", v.name, r.code, err, stdout.String(), stderr.String())
	}
	return r, nil
}

// logDir is where runPreflight keeps v's facility log, in the directory of its profile.
func logDir(dir string, v vantage) string { return filepath.Join(dir, "logs-"+v.name) }

// statuses maps item id to status.
func (r runResult) statuses() map[string]string {
	m := map[string]string{}
	for _, it := range r.rec.Items {
		m[it.ID] = it.Status
	}
	return m
}

func (r runResult) evidence(id string) map[string]any {
	for _, it := range r.rec.Items {
		if it.ID == id {
			return it.Evidence
		}
	}
	return nil
}

// describe lists every item that did not pass, for failure messages.
func (r runResult) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: exit %d, verdict %s, %d items in %v", r.vantage, r.code, r.rec.Verdict, len(r.rec.Items), r.took.Round(time.Millisecond))
	for _, it := range r.rec.Items {
		if it.Status != "pass" {
			ev, _ := json.Marshal(it.Evidence)
			fmt.Fprintf(&b, "\n  %s [%s] %s: %s\n    evidence: %.600s", it.ID, it.Kind, it.Status, it.Summary, ev)
		}
	}
	return b.String()
}

// kindsIn lists the probe kinds of a run's items.
func (r runResult) kindsIn() []string {
	var ks []string
	for _, it := range r.rec.Items {
		if !slices.Contains(ks, it.Kind) {
			ks = append(ks, it.Kind)
		}
	}
	slices.Sort(ks)
	return ks
}
