//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/lab/netlab"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// Issue 7 in the lab: both facilities run preflight at the same time — the patient side in its
// telesurgery segment, the surgeon side at its console — joined by the peer link across the carrier, and
// reach a joint OPERATION READY; a fault on either side holds both at NOT READY, with the reason in both
// logs; a cut link is never READY.

// jointFacility is one side of the operation: its profile, its log (facility key, TLS identity, roster
// with its engineer), its engineer's signing key and its serve.
type jointFacility struct {
	v        vantage
	id       string // the facility id its profile names
	engineer string // user id of its engineer's signing key
	serve    string // where its preflight serve listens, on the closed network
	profile  string
	log      string
	key      string // the engineer's signing key file
	pin      string // the facility key the other side pins: "ed25519:…"
}

// jointCase is one round of the operation: faults planted (and reverted after), both sides run at once.
type jointCase struct {
	name   string
	faults []netlab.Fault
	// fails lists, per facility id, the items that must fail; every other item must pass — unless cut.
	fails map[string][]string
	codes map[string]int // exit code per facility id: 0 READY, 1 NO-GO here, 4 GO here but not ready
	// cut: the peer link is broken, each side sees the other UNREACHABLE and no joint verdict is kept
	// (fails then lists items that must be among the failures; others may fail too).
	cut bool
}

const (
	patientID  = "lab-patient-site"
	surgeonID  = "lab-surgeon-site"
	passphrase = "lab engineer passphrase"
	jointWait  = "2m"
)

var jointCases = []jointCase{
	{name: "baseline", codes: map[string]int{patientID: 0, surgeonID: 0}},
	{
		name: "patient-fault-his-extra-port", faults: []netlab.Fault{netlab.HISExtraPort()},
		fails: map[string][]string{patientID: {"his-ports"}}, codes: map[string]int{patientID: 1, surgeonID: 4},
	},
	{
		name: "surgeon-fault-console-extra-port", faults: []netlab.Fault{netlab.ConsoleExtraPort(5900)},
		fails: map[string][]string{surgeonID: {"console-ports"}}, codes: map[string]int{patientID: 4, surgeonID: 1},
	},
	// A fault in the surgeon side's firewall: only the patient side's scan across the closed network sees
	// it, so the patient side is NO-GO and says why.
	{
		name: "surgeon-fw-any", faults: []netlab.Fault{netlab.SurgeonFirewallAny()},
		fails: map[string][]string{patientID: {"peer-ports"}}, codes: map[string]int{patientID: 1, surgeonID: 4},
	},
	{
		name: "serve-port-blocked", faults: []netlab.Fault{netlab.ServePortBlocked(netlab.SurgeonFW)}, cut: true,
		fails: map[string][]string{patientID: {"peer-exchange"}, surgeonID: {"peer-exchange"}},
		codes: map[string]int{patientID: 1, surgeonID: 1},
	},
	{
		name: "carrier-cut", faults: []netlab.Fault{netlab.CarrierLink("carrier-cut", netlab.Link{Loss: 1})}, cut: true,
		fails: map[string][]string{patientID: {"peer-link", "peer-exchange"}, surgeonID: {"peer-link", "peer-exchange"}},
		codes: map[string]int{patientID: 1, surgeonID: 1},
	},
}

// TestJointOperation sets up both facilities the way the README says (keygen of each facility's identity,
// the key: lines exchanged into the profiles' peer blocks, an engineer enrolled at each), starts one lab
// whose firewalls admit the profiles' pairs and peer links, runs both serves as lab daemons, and plays
// every case in it in turn, each with its own operation id.
func TestJointOperation(t *testing.T) {
	needLab(t)
	t.Setenv("PREFLIGHT_PASSPHRASE", passphrase)
	dir := scenarioDir(t)
	sides := []*jointFacility{
		{v: vantage{"patient-ts", netlab.PatientTS, "answers.yaml"}, id: patientID, engineer: "hsato",
			serve: net.JoinHostPort(netlab.ClosedNetAddr, strconv.Itoa(netlab.ServePort))},
		{v: vantage{"surgeon-ts", netlab.SurgeonTS, "surgeon-answers.yaml"}, id: surgeonID, engineer: "ttanaka",
			serve: net.JoinHostPort(netlab.ConsoleAddr, strconv.Itoa(netlab.ServePort))},
	}
	for _, f := range sides {
		f.log = logDir(dir, f.v)
		f.pin = facilityIdentity(t, f)
		f.key = enrolEngineer(t, dir, f)
	}
	for i, f := range sides {
		data := map[string]any{"PeerKey": sides[1-i].pin}
		for k, v := range profileData {
			data[k] = v
		}
		f.profile = writeProfile(t, dir, f.v, data)
	}
	l := netlab.New(t, netlab.Options{Profiles: []string{sides[0].profile, sides[1].profile}})
	if err := copyFile(l.CAFile, filepath.Join(dir, "lab-ca.pem")); err != nil {
		t.Fatal(err)
	}
	for _, f := range sides {
		startServe(t, l, f)
	}
	clean := true
	for i, c := range jointCases {
		t.Run(c.name, func(t *testing.T) {
			if !clean {
				t.Skip("an earlier case could not revert its fault: the lab is not clean")
			}
			ctx := context.Background()
			for _, fault := range c.faults {
				if err := l.Apply(ctx, fault); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := l.Revert(ctx, fault); err != nil {
						clean = false
						t.Error(err)
					}
				}()
			}
			runJointCase(t, l, sides, c, fmt.Sprintf("OP-LAB-%d", i+1))
		})
	}
	if *hold {
		holdJoint(l, sides)
	}
}

// holdJoint keeps the joint lab up for hands-on use until Ctrl-C (-lab.hold): both serves keep running.
func holdJoint(l *netlab.Lab, sides []*jointFacility) {
	vpn := l.VPN()
	fmt.Fprintf(os.Stderr, "\nlab %s is up, both serves running. In two other root shells, at the same time:\n", l.Prefix)
	for _, f := range sides {
		fmt.Fprintf(os.Stderr, "  PREFLIGHT_PASSPHRASE=%q %s=%q %s=%q ip netns exec %s %s run -p %s --operation OP-BY-HAND --no-tui --attest %s --sign --key %s --log-dir %s --peer-wait 2m\n",
			passphrase, netlab.VPNTokenEnv, "Bearer "+vpn.Token, netlab.SNMPCommunityEnv, vpn.Community, l.NS(f.v.role), preflightBin,
			f.profile, filepath.Join(filepath.Dir(f.profile), f.v.answers), f.key, f.log)
	}
	fmt.Fprintf(os.Stderr, "  %s log list --log-dir %s     # the joint verdicts kept\n", preflightBin, sides[0].log)
	fmt.Fprintf(os.Stderr, "Press Ctrl-C to tear the lab down (the test process then exits).\n")
	select {} // the lab's own signal handler tears it down and exits
}

// runJointCase runs both facilities' preflight at once for operation op and judges what each printed,
// exited with and kept in its log.
func runJointCase(t *testing.T, l *netlab.Lab, sides []*jointFacility, c jointCase, op string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runs := make([]runResult, len(sides))
	errs := make([]error, len(sides))
	var wg sync.WaitGroup
	for i, f := range sides {
		wg.Go(func() {
			runs[i], errs[i] = runPreflight(ctx, l, f.v, f.profile, op, "--sign", "--key", f.key, "--peer-wait", jointWait)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ready := c.codes[patientID] == 0 && c.codes[surgeonID] == 0
	for i, f := range sides {
		r, other := runs[i], sides[1-i]
		t.Logf("%s: exit %d, verdict %s, %d items, %v", f.id, r.code, r.rec.Verdict, len(r.rec.Items), r.took.Round(time.Millisecond))
		judgeItems(t, f, r, c)
		if r.code != c.codes[f.id] {
			t.Errorf("%s: exit %d, want %d", f.id, r.code, c.codes[f.id])
		}
		// The peer's state and the joint verdict, on stderr after the JSON report.
		switch {
		case ready && !strings.Contains(r.stderr, "Joint verdict for operation "+op+": OPERATION READY"):
			t.Errorf("%s: OPERATION READY is not shown", f.id)
		case !ready && !strings.Contains(r.stderr, "Joint verdict for operation "+op+": NOT READY"):
			t.Errorf("%s: NOT READY is not shown", f.id)
		case c.cut && !strings.Contains(r.stderr, "UNREACHABLE"):
			t.Errorf("%s: the cut link does not show the peer as UNREACHABLE", f.id)
		}
		judgeLog(t, f, other, c, op, ready)
		if t.Failed() {
			t.Logf("%s\nstderr:\n%s", r.describe(), tail(r.stderr, 3000))
		}
	}
}

// judgeItems checks which items failed: exactly those the case names (at least those, on a cut link).
func judgeItems(t *testing.T, f *jointFacility, r runResult, c jointCase) {
	t.Helper()
	want := c.fails[f.id]
	seen := 0
	for id, st := range r.statuses() {
		switch {
		case slices.Contains(want, id):
			seen++
			if st != "fail" {
				t.Errorf("%s: item %s is %s, want fail", f.id, id, st)
			}
		case c.cut: // a cut link may fail other cross-site items too, but must not leave them undecided
			if st != "pass" && st != "fail" {
				t.Errorf("%s: item %s is %s, want pass or fail", f.id, id, st)
			}
		case st != "pass":
			t.Errorf("%s: item %s is %s, want pass", f.id, id, st)
		}
	}
	if seen != len(want) {
		t.Errorf("%s: %d of the items %v are in the run record", f.id, seen, want)
	}
}

// judgeLog checks what f's log keeps of the operation: the joint verdict (READY, or NOT READY naming the
// side that blocks; none on a cut link, since the peer's record never arrived), as log list and log show
// print it, and that log verify finds the whole log intact.
func judgeLog(t *testing.T, f, other *jointFacility, c jointCase, op string, ready bool) {
	t.Helper()
	j, err := runlog.LatestJoint(f.log, op)
	if err != nil {
		t.Fatalf("%s: %v", f.id, err)
	}
	code, list := preflight(t, "log", "list", "--log-dir", f.log, "--operation", op)
	if code != 0 {
		t.Errorf("%s: log list exit %d\n%s", f.id, code, list)
	}
	readyLine := regexp.MustCompile(regexp.QuoteMeta(op) + ` +READY +joint verdict of both sites`)
	switch {
	case ready:
		if j == nil || j.Verdict != runlog.JointReady || j.Local.Signature != runlog.SigValid || j.Peer.Signature != runlog.SigValid ||
			j.Local.Facility != f.id || j.Peer.Facility != other.id {
			t.Errorf("%s: joint verdict kept %+v, want READY with both sign-offs valid", f.id, j)
		}
		if !readyLine.MatchString(list) {
			t.Errorf("%s: log list shows no READY joint verdict:\n%s", f.id, list)
		}
	case c.cut:
		if j != nil {
			t.Errorf("%s: a joint verdict was kept over a cut link: %+v", f.id, j)
		}
	default:
		if j == nil || j.Verdict != runlog.JointNotReady {
			t.Fatalf("%s: joint verdict kept %+v, want NOT READY", f.id, j)
		}
		for id, items := range c.fails {
			who := "peer"
			if id == f.id {
				who = "this side"
			}
			want := fmt.Sprintf("%s (%s) is NO-GO: %s", id, who, strings.Join(items, ", "))
			if !slices.Contains(j.Reasons, want) {
				t.Errorf("%s: the joint verdict's reasons %q lack %q", f.id, j.Reasons, want)
			}
			if code, show := preflight(t, "log", "show", j.RunID, "--log-dir", f.log); code != 0 || !strings.Contains(show, "  - "+want+"\n") {
				t.Errorf("%s: log show %s: exit %d, the reason %q not shown:\n%s", f.id, j.RunID, code, want, show)
			}
		}
		if !regexp.MustCompile(regexp.QuoteMeta(op) + ` +NOT READY`).MatchString(list) {
			t.Errorf("%s: log list shows no NOT READY joint verdict:\n%s", f.id, list)
		}
	}
	if !ready && readyLine.MatchString(list) {
		t.Errorf("%s: log list shows READY for %s:\n%s", f.id, op, list)
	}
	if code, out := preflight(t, "log", "verify", "--log-dir", f.log); code != 0 {
		t.Errorf("%s: log verify exit %d\n%s", f.id, code, out)
	}
}

// facilityIdentity makes f's log and its TLS identity for the peer link, and returns the key: line the
// other facility pins.
func facilityIdentity(t *testing.T, f *jointFacility) string {
	t.Helper()
	code, out := preflight(t, "keygen", "--log-dir", f.log, "--facility", f.id)
	m := regexp.MustCompile(`key: "(ed25519:[A-Za-z0-9+/=]+)"`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keygen of %s's identity: exit %d\n%s", f.id, code, out)
	}
	return m[1]
}

// enrolEngineer makes f's engineer's signing key and adds it to f's roster; it returns the key file.
func enrolEngineer(t *testing.T, dir string, f *jointFacility) string {
	t.Helper()
	keys := filepath.Join(dir, "keys")
	code, out := preflight(t, "keygen", "--name", "Lab engineer "+f.engineer, "--id", f.engineer, "--role", "Network engineer",
		"--out", keys, "--log-dir", f.log)
	if code != 0 {
		t.Fatalf("keygen of %s's engineer: exit %d\n%s", f.id, code, out)
	}
	return filepath.Join(keys, f.engineer+".key")
}

// startServe runs f's preflight serve in its namespace as a lab daemon (stopped by PID when the lab
// closes) and waits until it listens.
func startServe(t *testing.T, l *netlab.Lab, f *jointFacility) {
	t.Helper()
	p, err := l.Start(f.v.role, "serve-"+f.id, preflightBin, "serve", "-p", f.profile, "--log-dir", f.log)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitListening(context.Background(), p, f.v.role, "tcp", f.serve); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			t.Logf("serve of %s (pid %d), its log:\n%s", f.id, p.PID, tail(string(b), 3000))
		}
	})
}

// preflight runs the binary on the host for commands that touch only files (keygen, log), with its
// combined output. A race-enabled build would sleep a second before exiting (GORACE atexit_sleep_ms, for
// races in goroutines still running): these short commands skip that, the runs under test keep it.
func preflight(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(preflightBin, args...)
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("preflight %v: %v", args, err)
	}
	return 0, string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
