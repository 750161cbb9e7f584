package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// TestMain lets a test run the preflight command in a child process (PREFLIGHT_TEST_ARGS holds its
// arguments as JSON), so the crash test can kill a real `preflight run` with SIGKILL.
func TestMain(m *testing.M) {
	if args := os.Getenv("PREFLIGHT_TEST_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			os.Exit(99)
		}
		os.Exit(execute(a, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSignedRunVerifiesAndReports is the "done when": a demo run signed with a personal key, a
// clean verify, the reports, and a one-byte change that verify names.
func TestSignedRunVerifiesAndReports(t *testing.T) {
	dir := t.TempDir()
	keys, logDir := filepath.Join(dir, "keys"), filepath.Join(dir, "log")
	t.Setenv("PREFLIGHT_PASSPHRASE", "correct horse battery")
	code, stdout, stderr := run(t, "keygen", "--name", "Hanako Sato", "--role", "Network engineer", "--out", keys)
	if code != 0 || !strings.Contains(stdout, "hanako.sato.key") {
		t.Fatalf("keygen: exit %d\n%s%s", code, stdout, stderr)
	}
	key := filepath.Join(keys, "hanako.sato.key")
	answers := filepath.Join(dir, "answers.yaml")
	write(t, answers, `his-monitoring: {answer: yes, evidence: "SOC ticket 4411"}
inter-facility-monitoring: {answer: yes, evidence: "SOC ticket 4412"}
video-relay-tls: {waive: "renewal booked for 12-10", by: "Tanaka"}
`)
	demo := []string{"demo", "--side", "surgeon", "--no-tui", "--format", "json", "--attest", answers, "--log-dir", logDir}
	code, stdout, stderr = run(t, append(demo, "--sign", "--key", key)...)
	// GO here, signed; the patient side of the demo keeps its planted flaws: the operation is not ready.
	if code != 4 || !strings.Contains(stderr, "signed approve by Hanako Sato") || !strings.Contains(stderr, "patient-site (peer) is NO-GO") {
		t.Fatalf("signed demo: exit %d, want 4\n%s", code, stderr)
	}
	r := decodeOne(t, stdout)
	if r.SHA256 == "" || !strings.Contains(r.Signature, "record-sha256 "+r.SHA256) || r.Signoff.Meaning != runlog.Approve {
		t.Fatalf("stdout is not the sealed, signed record: sha %q signature %q", r.SHA256, r.Signature)
	}
	if code, stdout, _ := run(t, "log", "verify", "--log-dir", logDir); code != runlog.VerifyTampered || !strings.Contains(stdout, "not in the facility's roster") {
		t.Fatalf("a signer not yet in the roster: exit %d\n%s", code, stdout)
	}
	if code, stdout, stderr := run(t, "log", "trust", filepath.Join(keys, "hanako.sato.pub"), "--log-dir", logDir); code != 0 || !strings.Contains(stdout, "added Hanako Sato") {
		t.Fatalf("log trust: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "log", "verify", "--log-dir", logDir)
	if code != 0 || !strings.Contains(stdout, "verified: intact") || !strings.Contains(stdout, "1 signed") {
		t.Fatalf("verify: exit %d\n%s", code, stdout)
	}
	// A second engineer's key goes into the roster at keygen time.
	if code, stdout, stderr := run(t, "keygen", "--name", "Taro Tanaka", "--role", "CISO", "--id", "ttanaka", "--out", keys, "--log-dir", logDir); code != 0 || !strings.Contains(stdout, "added Taro Tanaka") {
		t.Fatalf("keygen --log-dir: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, _ = run(t, "log", "list", "--log-dir", logDir)
	if code != 0 || !strings.Contains(stdout, r.RunID) || !strings.Contains(stdout, "Hanako Sato (approve)") || !strings.Contains(stdout, "1 run(s)") {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}
	if _, stdout, _ := run(t, "log", "list", "--verdict", "no-go", "--log-dir", logDir); !strings.Contains(stdout, "0 run(s)") {
		t.Errorf("list --verdict no-go:\n%s", stdout)
	}
	code, stdout, _ = run(t, "log", "show", r.RunID[:20], "--log-dir", logDir)
	for _, want := range []string{"✔ INTACT", "signature  ✔ valid", "registered to Hanako Sato (Network engineer)", "Timeline — events.jsonl", "leaf 0 of the facility log"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("show: exit %d, lacks %q\n%s", code, want, stdout)
		}
	}
	html := filepath.Join(dir, "run.html")
	if code, _, stderr := run(t, "report", "latest", "--format", "html", "-o", html, "--log-dir", logDir); code != 0 {
		t.Fatalf("report html: exit %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(html); !bytes.Contains(b, []byte("<style>")) || !bytes.Contains(b, []byte("Hanako Sato")) || bytes.Contains(b, []byte("https://")) {
		t.Errorf("html report:\n%.400s", b)
	}
	if _, stdout, _ := run(t, "report", "latest", "--format", "md", "--log-dir", logDir); !strings.Contains(stdout, "# Preflight run report — GO") {
		t.Errorf("md report:\n%.300s", stdout)
	}
	if _, stdout, _ := run(t, "report", "latest", "--format", "json", "--log-dir", logDir); decodeOne(t, stdout).SHA256 != r.SHA256 {
		t.Error("json report is not the stored record")
	}
	_, stdout, _ = run(t, "report", "latest", "--format", "junit", "--log-dir", logDir)
	if err := xml.Unmarshal([]byte(stdout), new(struct{})); err != nil {
		t.Errorf("junit report: %v", err)
	}
	if code, _, stderr := run(t, "report", "latest", "--format", "pdf", "--log-dir", logDir); code != 2 || !strings.Contains(stderr, "use md, html, json or junit") {
		t.Errorf("report --format pdf: exit %d %s", code, stderr)
	}

	// One byte changed in the record: verify fails, naming the file and the run.
	rec := filepath.Join(logDir, "runs", r.RunID, "record.json")
	b, _ := os.ReadFile(rec)
	b[len(b)/2] ^= 1
	os.WriteFile(rec, b, 0o600)
	code, stdout, _ = run(t, "log", "verify", "--log-dir", logDir)
	if code != 1 || !strings.Contains(stdout, "TAMPERED   runs/"+r.RunID+"/record.json (run "+r.RunID+")") {
		t.Fatalf("tampered record: exit %d\n%s", code, stdout)
	}
	if _, stdout, _ := run(t, "log", "show", "latest", "--log-dir", logDir); !strings.Contains(stdout, "✘ NOT INTACT") {
		t.Errorf("show of a tampered run:\n%s", stdout)
	}

	t.Setenv("PREFLIGHT_PASSPHRASE", "not the passphrase")
	if code, _, stderr := run(t, append(demo, "--sign", "--key", key)...); code != 2 || !strings.Contains(stderr, "wrong passphrase") {
		t.Errorf("wrong passphrase: exit %d %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--no-tui", "--sign"}, "--sign needs --key"},
		{[]string{"demo", "--no-tui", "--sign", "--key", key}, "give --log-dir DIR too"},
		{[]string{"demo", "--no-tui", "--key", key}, "add --sign"},
		{[]string{"log", "verify", "--log-dir", filepath.Join(dir, "nowhere")}, "not a preflight log directory"},
		{[]string{"log", "show", "nosuchrun", "--log-dir", logDir}, "no run \"nosuchrun\""},
		{[]string{"log", "list", "--since", "yesterday", "--log-dir", logDir}, "--since \"yesterday\""},
		{[]string{"keygen", "--name", "X"}, "keygen needs --name, --role and --out"},
		{[]string{"log", "trust", filepath.Join(keys, "hanako.sato.pub"), "--log-dir", filepath.Join(dir, "new")}, "add --facility ID"},
		{[]string{"log", "trust", filepath.Join(keys, "hanako.sato.pub"), "--log-dir", logDir, "--facility", "other"}, "is the log of facility surgeon-site, not other"},
	} {
		if code, _, stderr := run(t, tc.args...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestKilledRunShowsInterrupted kills a real `preflight run` with SIGKILL while an item is still
// running, and checks show, verify and list, the second writer refused meanwhile, and the next run.
func TestKilledRunShowsInterrupted(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks: the TLS item hangs
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	profile := func(name string, slow bool) string {
		body := `preflight: 1
facility: {id: crash-site, role: patient-side, name: Crash test}
scope: ["127.0.0.0/8"]
targets: {lo: {address: 127.0.0.1}}
defaults: {timeout: 30s, deadline: 60s}
sections:
  - id: s
    title: S
    items:
      - {id: fast, title: Fast, guideline: "V(0)", probe: {kind: connect, target: lo, port: 1, expect: closed}, remedy: R}
`
		if slow {
			body += `      - {id: slow, title: Slow, guideline: "V(2)-3", probe: {kind: tls, target: lo, port: ` + strconv.Itoa(silent.Addr().(*net.TCPAddr).Port) + `}, remedy: R}
`
		}
		path := filepath.Join(dir, name)
		write(t, path, body)
		return path
	}
	args, _ := json.Marshal([]string{"run", "-p", profile("slow.yaml", true), "--no-tui", "--log-dir", logDir, "--operation", "OP-KILL"})
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "PREFLIGHT_TEST_ARGS="+string(args))
	var childErr bytes.Buffer
	child.Stderr = &childErr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		journals, _ := filepath.Glob(filepath.Join(logDir, "runs", "*", "events.jsonl"))
		if len(journals) == 1 {
			if b, _ := os.ReadFile(journals[0]); bytes.Contains(b, []byte(`"type":"item-finished","actor":"","item":"fast"`)) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child run did not get going\n%s", childErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	quick := profile("quick.yaml", false)
	if code, _, stderr := run(t, "run", "-p", quick, "--no-tui", "--log-dir", logDir); code != 2 || !strings.Contains(stderr, "is being written by another preflight (pid "+strconv.Itoa(child.Process.Pid)) {
		t.Errorf("second writer: exit %d\n%s", code, stderr)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	code, stdout, _ := run(t, "log", "show", "latest", "--log-dir", logDir)
	for _, want := range []string{"interrupted: not sealed", "not sealed (rebuilt from the journal)", "✔ PASS   V(0)    fast", "slow                       was running when the run ended", "OP-KILL"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("show after kill -9: exit %d, lacks %q\n%s", code, want, stdout)
		}
	}
	code, stdout, _ = run(t, "log", "verify", "--log-dir", logDir)
	if code != runlog.VerifyIncomplete || !strings.Contains(stdout, "INCOMPLETE") || !strings.Contains(stdout, "interrupted: never sealed") || strings.Contains(stdout, "TAMPERED") {
		t.Errorf("verify after kill -9: exit %d\n%s", code, stdout)
	}
	if _, stdout, _ := run(t, "log", "list", "--verdict", "interrupted", "--log-dir", logDir); !strings.Contains(stdout, "not sealed") || !strings.Contains(stdout, "1 run(s)") {
		t.Errorf("list --verdict interrupted:\n%s", stdout)
	}
	code, _, stderr := run(t, "run", "-p", quick, "--no-tui", "--log-dir", logDir)
	if code != 0 || !strings.Contains(stderr, "was interrupted") || !strings.Contains(stderr, "sealed as interrupted") {
		t.Errorf("the next run: exit %d\n%s", code, stderr)
	}
	code, stdout, _ = run(t, "log", "verify", "--log-dir", logDir)
	if code != runlog.VerifyIncomplete || strings.Contains(stdout, "TAMPERED") || !strings.Contains(stdout, "1 interrupted, 0 not sealed; log size 2") {
		t.Errorf("verify after the next run: exit %d\n%s", code, stdout)
	}
}

// TestDemoSignVerifyClean is the first "done when", from an empty directory: a key in the
// roster, the demo signed off (NO-GO, so as reject), and a clean verify.
func TestDemoSignVerifyClean(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	t.Setenv("PREFLIGHT_PASSPHRASE", "correct horse battery")
	if code, _, stderr := run(t, "keygen", "--name", "Hanako Sato", "--role", "Network engineer", "--out", dir, "--log-dir", logDir, "--facility", "patient-site"); code != 0 {
		t.Fatalf("keygen: exit %d %s", code, stderr)
	}
	code, _, stderr := run(t, "demo", "--no-tui", "--sign", "--key", filepath.Join(dir, "hanako.sato.key"), "--log-dir", logDir)
	if code != 1 || !strings.Contains(stderr, "signed reject by Hanako Sato") {
		t.Fatalf("demo: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := run(t, "log", "verify", "--log-dir", logDir); code != 0 || !strings.Contains(stdout, "verified: intact") {
		t.Fatalf("verify: exit %d\n%s", code, stdout)
	}
}

func TestLogHelpShowsExamples(t *testing.T) {
	for _, cmd := range [][]string{{"log"}, {"log", "list"}, {"log", "show"}, {"log", "verify"}, {"log", "diff"}, {"log", "trust"}, {"report"}, {"keygen"}} {
		code, stdout, _ := run(t, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "preflight "+strings.Join(cmd, " ")) {
			t.Errorf("%v --help: exit %d\n%s", cmd, code, stdout)
		}
	}
	if _, stdout, _ := run(t, "log", "verify", "--help"); !strings.Contains(stdout, "0 intact, 1 tampered, 2 usage, 3 incomplete") {
		t.Errorf("log verify --help does not list its exit codes:\n%s", stdout)
	}
}
