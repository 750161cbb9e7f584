package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// Answers to every manual item of the two demo profiles.
const (
	patientAnswers = `monitoring-placement: {answer: yes, evidence: "MON-DESIGN-7"}
his-monitoring: {answer: yes, evidence: "SOC ticket 4411"}
inter-facility-monitoring: {answer: yes, evidence: "SOC ticket 4412"}
cloud-risk-assessment: {answer: yes, evidence: "ISMAP C-2026-031"}
byod-ledger: {answer: yes, evidence: "Ledger IT-BYOD-2026"}
cloud-auth-procedures: {answer: yes, evidence: "PROC-CLOUD-3"}
password-policy: {answer: yes}
maintenance-plan: {answer: yes, evidence: "MP-2026-014 approved by CISO"}
maintenance-monitoring: {answer: yes, evidence: "SOC ticket 4413"}
`
	surgeonAnswers = `his-monitoring: {answer: yes, evidence: "SOC ticket 9001"}
inter-facility-monitoring: {answer: yes, evidence: "SOC ticket 9002"}
`
)

// twoFacilities makes the two facilities' logs with a rostered engineer each (and, by keygen, the
// facility's TLS identity), and the answers files. It returns the key files and the pins printed.
func twoFacilities(t *testing.T, dir string) (keys [2]string, pins [2]string) {
	t.Helper()
	t.Setenv("PREFLIGHT_PASSPHRASE", "correct horse battery")
	for i, who := range [][4]string{{"Hanako Sato", "hanako.sato", "p", "patient-site"}, {"Taro Tanaka", "taro.tanaka", "s", "surgeon-site"}} {
		code, stdout, stderr := run(t, "keygen", "--name", who[0], "--role", "Network engineer", "--out", filepath.Join(dir, "keys"),
			"--log-dir", filepath.Join(dir, who[2]), "--facility", who[3])
		m := regexp.MustCompile(`key: "(ed25519:[A-Za-z0-9+/=]+)"`).FindStringSubmatch(stdout)
		if code != 0 || m == nil || !strings.Contains(stdout, "TLS identity for the peer link") {
			t.Fatalf("keygen %s: exit %d\n%s%s", who[0], code, stdout, stderr)
		}
		keys[i], pins[i] = filepath.Join(dir, "keys", who[1]+".key"), m[1]
	}
	write(t, filepath.Join(dir, "pa.yaml"), patientAnswers)
	write(t, filepath.Join(dir, "sa.yaml"), surgeonAnswers)
	return keys, pins
}

// TestDemoBothFacilitiesReachOperationReady is the "done when", in automation: the demo runs both
// facilities, each answered and signed with its engineer's key; both reach OPERATION READY and both logs
// keep it and verify. A fault on either side then holds both at NOT READY, the reason shown on both.
func TestDemoBothFacilitiesReachOperationReady(t *testing.T) {
	dir := t.TempDir()
	keys, _ := twoFacilities(t, dir)
	p, s := filepath.Join(dir, "p"), filepath.Join(dir, "s")
	demo := func(faults string) (int, string, string) {
		return run(t, "demo", "--faults", faults, "--no-tui", "--format", "json",
			"--attest", filepath.Join(dir, "pa.yaml"), "--peer-attest", filepath.Join(dir, "sa.yaml"),
			"--sign", "--key", keys[0], "--peer-key", keys[1], "--log-dir", p, "--peer-log-dir", s)
	}
	code, stdout, stderr := demo("none")
	r := decodeOne(t, stdout)
	if code != 0 || r.Verdict != runlog.GO || r.Signoff == nil || r.Signoff.Name != "Hanako Sato" {
		t.Fatalf("healthy facilities: exit %d verdict %s\n%s", code, r.Verdict, stderr)
	}
	ready := "Joint verdict for operation DEMO-OP-1: OPERATION READY"
	if !strings.Contains(stderr, "\n"+ready) || !strings.Contains(stderr, "[surgeon-site] "+ready) {
		t.Fatalf("OPERATION READY is not shown for both sides:\n%s", stderr)
	}
	for _, d := range []string{p, s} {
		code, out, _ := run(t, "log", "list", "--log-dir", d)
		if code != 0 || !regexp.MustCompile(`DEMO-OP-1 +READY +joint verdict of both sites`).MatchString(out) {
			t.Fatalf("%s: no OPERATION READY in the log:\n%s", d, out)
		}
		if code, out, _ := run(t, "log", "verify", "--log-dir", d); code != 0 || !strings.Contains(out, "witnessed its log up to") {
			t.Fatalf("%s: verify exit %d\n%s", d, code, out)
		}
		j, err := runlog.LatestJoint(d, "DEMO-OP-1")
		if err != nil || j.Verdict != runlog.JointReady || j.Local.Signature != runlog.SigValid || j.Peer.Signature != runlog.SigValid {
			t.Fatalf("%s: joint verdict %+v %v", d, j, err)
		}
		if code, out, _ := run(t, "log", "show", j.RunID, "--log-dir", d); code != 0 || !strings.Contains(out, "verdict     OPERATION READY") {
			t.Fatalf("log show of the joint verdict: exit %d\n%s", code, out)
		}
	}

	// A fault at the surgeon side (its relay certificate expires, not waived): GO here, exit 4.
	code, _, stderr = demo("surgeon")
	if code != 4 || !strings.Contains(stderr, "surgeon-site (peer) is NO-GO: video-relay-tls") ||
		!strings.Contains(stderr, "[surgeon-site]   - surgeon-site (this side) is NO-GO: video-relay-tls") {
		t.Fatalf("fault at the surgeon side: exit %d\n%s", code, stderr)
	}
	// A fault at the patient side: NO-GO here, and the surgeon side says why.
	code, _, stderr = demo("patient")
	if code != 1 || !strings.Contains(stderr, "patient-site (this side) is NO-GO: ") ||
		!strings.Contains(stderr, "[surgeon-site]   - patient-site (peer) is NO-GO: ") {
		t.Fatalf("fault at the patient side: exit %d\n%s", code, stderr)
	}
	for _, d := range []string{p, s} {
		if j, _ := runlog.LatestJoint(d, "DEMO-OP-1"); j == nil || j.Verdict != runlog.JointNotReady {
			t.Fatalf("%s: the last joint verdict kept is %+v", d, j)
		}
	}
}

// startServe runs `preflight serve` in a child process and returns the address it listens on.
func startServe(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	a, _ := json.Marshal(append([]string{"serve"}, args...))
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "PREFLIGHT_TEST_ARGS="+string(a))
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	m := regexp.MustCompile(` on (127\.0\.0\.1:\d+) `).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("serve said %q (%v)", line, err)
	}
	return m[1], c
}

// TestServeRunExportImport: `serve` at one facility, `run` at the other with --peer-wait, then the same
// exchange as a bundle across an "air gap", and a bundle changed on the way refused.
func TestServeRunExportImport(t *testing.T) {
	dir := t.TempDir()
	keys, pins := twoFacilities(t, dir)
	p, s := filepath.Join(dir, "p"), filepath.Join(dir, "s")
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
	profile := func(id, role, peerID, endpoint, pin string) string {
		path := filepath.Join(dir, id+".yaml")
		write(t, path, `preflight: 1
facility: {id: `+id+`, role: `+role+`, name: "`+id+`"}
peer: {id: `+peerID+`, endpoint: "`+endpoint+`", key: "`+pin+`", listen: "127.0.0.1:7443", timeout: 3s, poll: 1s}
scope: ["127.0.0.0/8"]
targets: {lo: {address: 127.0.0.1}}
sections:
  - id: s
    title: S
    items:
      - {id: link, title: Link, guideline: "V(1)-3", probe: {kind: connect, target: lo, port: `+strings.Split(l.Addr().String(), ":")[1]+`, expect: open}, remedy: R}
      - {id: plan, title: Plan, guideline: "V(3)-2", manual: {question: Approved?}}
`)
		return path
	}
	write(t, filepath.Join(dir, "a.yaml"), "plan: {answer: yes}\n")
	answers := filepath.Join(dir, "a.yaml")
	// The surgeon side serves; its profile pins the patient side's key.
	sp := profile("surgeon-site", "surgeon-side", "patient-site", "127.0.0.1:1", pins[0])
	if code, _, stderr := run(t, "serve", "-p", sp, "--log-dir", s, "--listen", "0.0.0.0:7443"); code != 2 || !strings.Contains(stderr, "never all interfaces") {
		t.Fatalf("serve on every interface: exit %d %s", code, stderr)
	}
	addr, srv := startServe(t, "-p", sp, "--log-dir", s, "--listen", "127.0.0.1:0")
	pp := profile("patient-site", "patient-side", "surgeon-site", addr, pins[1])

	// The patient side runs first: GO here, the surgeon side has not run: exit 4.
	code, stdout, stderr := run(t, "run", "-p", pp, "--operation", "OP-7", "--no-tui", "--attest", answers, "--sign", "--key", keys[0], "--log-dir", p)
	if code != 4 || !strings.Contains(stdout, "surgeon-site (peer) has not run the checklist") {
		t.Fatalf("before the surgeon side ran: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "run", "-p", pp, "--no-tui", "--log-dir", p); code != 2 || !strings.Contains(stderr, "give --operation ID") {
		t.Fatalf("a peer profile without --operation: exit %d %s", code, stderr)
	}
	// The surgeon side runs (its own peer, the patient side, does not serve here: it says so).
	code, stdout, _ = run(t, "run", "-p", sp, "--operation", "OP-7", "--no-tui", "--attest", answers, "--sign", "--key", keys[1], "--log-dir", s)
	if code != 4 || !strings.Contains(stdout, "UNREACHABLE") {
		t.Fatalf("surgeon side without the patient's serve: exit %d\n%s", code, stdout)
	}
	// The patient side again: OPERATION READY through the surgeon's serve.
	code, stdout, stderr = run(t, "run", "-p", pp, "--operation", "OP-7", "--no-tui", "--attest", answers, "--sign", "--key", keys[0], "--log-dir", p, "--peer-wait", "5s")
	if code != 0 || !strings.Contains(stdout, "OPERATION READY") {
		t.Fatalf("both GO: exit %d\n%s%s", code, stdout, stderr)
	}
	_ = srv.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}

	// Air gap: the surgeon side exports, the patient side imports.
	bundle := filepath.Join(dir, "OP-7-surgeon.bundle")
	if code, _, stderr := run(t, "export", "--operation", "OP-7", "-p", sp, "--log-dir", s, "-o", bundle); code != 0 {
		t.Fatalf("export: exit %d %s", code, stderr)
	}
	if code, out, stderr := run(t, "import", bundle, "-p", pp, "--log-dir", p); code != 0 || !strings.Contains(out, "via bundle "+bundle) || !strings.Contains(out, "OPERATION READY") {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	b, _ := os.ReadFile(bundle)
	bad := filepath.Join(dir, "bad.bundle")
	write(t, bad, strings.Replace(string(b), `"created":"`, `"created":"1`, 1))
	if code, _, stderr := run(t, "import", bad, "-p", pp, "--log-dir", p); code != 1 || !strings.Contains(stderr, "bad.bundle: payload: its sha256 is") {
		t.Fatalf("altered bundle: exit %d %s", code, stderr)
	}
	if code, out, _ := run(t, "log", "verify", "--log-dir", p); code != 0 {
		t.Fatalf("verify after import: exit %d\n%s", code, out)
	}
}
