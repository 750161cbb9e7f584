//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

// scenario is one fault planted in a clean lab, and what preflight must say about it: exactly the items
// in flips fail (not error), every other item of every vantage still passes.
type scenario struct {
	name   string
	faults []netlab.Fault
	needs  []string                             // probe kinds that see the fault
	flips  []string                             // items that must fail; items of kinds not built yet are not in the profiles
	check  func(t *testing.T, runs []runResult) // evidence the failure must carry
}

var scenarios = []scenario{
	{name: "baseline"},
	{
		name: "his-extra-port", faults: []netlab.Fault{netlab.HISExtraPort()}, flips: []string{"his-ports"},
		check: func(t *testing.T, runs []runResult) { wantInts(t, runs, "his-ports", "unexpected", 3389) },
	},
	{
		name: "internet-route", faults: []netlab.Fault{netlab.InternetRoute()},
		flips: []string{"internet-isolation", "outside-dns-isolation", "internet-icmp"},
		check: func(t *testing.T, runs []runResult) { wantString(t, runs, "internet-isolation", "outcome", "open") },
	},
	{
		name: "resolver-forwards", faults: []netlab.Fault{netlab.ResolverForwards()}, flips: []string{"dns-no-leak"},
		check: func(t *testing.T, runs []runResult) { wantContains(t, runs, "dns-no-leak", netlab.OutsideAnswer) },
	},
	{
		name: "cloud-tls11", faults: []netlab.Fault{netlab.CloudTLS11()}, flips: []string{"cloud-logs-tls", "cloud-logs-auth"},
		check: func(t *testing.T, runs []runResult) {
			wantStrings(t, runs, "cloud-logs-tls", "accepted_versions", "1.1", "1.2", "1.3")
		},
	},
	{
		name: "cloud-no-client-cert", faults: []netlab.Fault{netlab.CloudNoClientCert()}, flips: []string{"cloud-logs-tls", "cloud-logs-auth"},
		check: func(t *testing.T, runs []runResult) {
			wantBool(t, runs, "cloud-logs-tls", "client_cert_requested", false)
		},
	},
	{
		name: "cloud-cert-expiring", faults: []netlab.Fault{netlab.CloudCertExpiring(5)}, flips: []string{"cloud-logs-tls"},
		check: func(t *testing.T, runs []runResult) { wantNumber(t, runs, "cloud-logs-tls", "days_left", 5) },
	},
	{
		name: "vpn-advisory", faults: []netlab.Fault{netlab.VPNVersion("6.0.4", 231)}, needs: []string{"firmware"},
		flips: []string{"vpn-firmware", "vpn-firmware-snmp"},
		check: func(t *testing.T, runs []runResult) { wantContains(t, runs, "vpn-firmware", "CVE-2018-13379") },
	},
	{
		name: "ssh-cbc", faults: []netlab.Fault{netlab.SSHCBC()}, needs: []string{"ssh"}, flips: []string{"vpn-ssh"},
		check: func(t *testing.T, runs []runResult) { wantContains(t, runs, "vpn-ssh", "aes128-cbc") },
	},
	{
		name: "carrier-delay-150ms", needs: []string{"icmp"}, flips: []string{"peer-link-quality"},
		faults: []netlab.Fault{netlab.CarrierLink("carrier-delay", netlab.Link{Delay: 75 * time.Millisecond})},
	},
	{
		name: "carrier-loss-5pct", needs: []string{"icmp"}, flips: []string{"peer-link-quality"},
		faults: []netlab.Fault{netlab.CarrierLink("carrier-loss", netlab.Link{Loss: 0.05})},
	},
	{
		name: "peer-default-route", faults: []netlab.Fault{netlab.PeerOverDefaultRoute()}, needs: []string{"route"},
		flips: []string{"peer-route"},
	},
	{
		name: "vendor-direct", faults: []netlab.Fault{netlab.VendorDirect()}, flips: []string{"vendor-no-robot"},
		check: func(t *testing.T, runs []runResult) {
			wantInts(t, runs, "vendor-no-robot", "unexpected", 18022, 18443, 18444)
		},
	},
	{
		name: "clock-offset-5s", faults: []netlab.Fault{netlab.ClockOffset(5 * time.Second)}, needs: []string{"ntp"},
		flips: []string{"clock-sync"},
	},
	// What a hospital network engineer adds.
	{
		name: "his-to-robot", faults: []netlab.Fault{netlab.HISToRobot()}, flips: []string{"his-no-robot"},
		check: func(t *testing.T, runs []runResult) { wantInts(t, runs, "his-no-robot", "unexpected", 18443) },
	},
	{
		name: "robot-extra-port", faults: []netlab.Fault{netlab.RobotExtraPort(23)}, flips: []string{"robot-ports"},
		check: func(t *testing.T, runs []runResult) { wantInts(t, runs, "robot-ports", "unexpected", 23) },
	},
	{
		name: "surgeon-fw-any", faults: []netlab.Fault{netlab.SurgeonFirewallAny()}, flips: []string{"peer-ports"},
		check: func(t *testing.T, runs []runResult) {
			wantInts(t, runs, "peer-ports", "unexpected", netlab.ConsoleDebug)
		},
	},
	{
		name: "vpn-ssh-outside", faults: []netlab.Fault{netlab.SSHOutside()}, flips: []string{"vpn-portal-only"},
		check: func(t *testing.T, runs []runResult) { wantInts(t, runs, "vpn-portal-only", "unexpected", 22) },
	},
}

// TestScenarios runs the real preflight binary from every vantage of a fresh lab per scenario.
func TestScenarios(t *testing.T) {
	needLab(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, k := range sc.needs {
				if ok, why := probeReady(k); !ok {
					t.Skipf("needs the %s probe: %s", k, why)
				}
			}
			runScenario(t, sc)
		})
	}
}

func runScenario(t *testing.T, sc scenario) {
	l, paths := startLab(t, sc.faults...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runs := make([]runResult, len(vantages))
	errs := make([]error, len(vantages))
	var wg sync.WaitGroup
	for i, v := range vantages {
		wg.Go(func() { runs[i], errs[i] = runPreflight(ctx, l, v, paths[v.name], "LAB-"+sc.name) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range runs {
		t.Logf("%s: exit %d, verdict %s, %d items, kinds %v, %v", r.vantage, r.code, r.rec.Verdict, len(r.rec.Items), r.kindsIn(), r.took.Round(time.Millisecond))
		flipped := false
		for id, st := range r.statuses() {
			want := "pass"
			if slices.Contains(sc.flips, id) {
				want, flipped, seen[id] = "fail", true, true
			}
			if st != want {
				t.Errorf("%s: item %s is %s, want %s", r.vantage, id, st, want)
			}
		}
		wantCode, wantVerdict := 0, "go"
		if flipped {
			wantCode, wantVerdict = 1, "no-go"
		}
		if r.code != wantCode || r.rec.Verdict != wantVerdict {
			t.Errorf("%s: exit %d verdict %s, want %d %s", r.vantage, r.code, r.rec.Verdict, wantCode, wantVerdict)
		}
		if t.Failed() {
			t.Logf("%s", r.describe())
		}
	}
	// Every expected flip must have been seen, unless its kind is not built yet (then it is not in the
	// profiles, and needs would have skipped a scenario that depends on it alone).
	for _, id := range sc.flips {
		if !seen[id] && itemInProfiles(t, paths, id) {
			t.Errorf("item %s was expected to fail but is in no run record", id)
		}
	}
	if len(sc.flips) > 0 && len(seen) == 0 {
		t.Errorf("the fault flipped nothing: every expected item (%v) is missing from the profiles", sc.flips)
	}
	if sc.check != nil && !t.Failed() {
		sc.check(t, runs)
	}
	if *hold {
		holdLab(t, l, paths)
	}
}

// itemInProfiles reports whether any rendered profile has the item.
func itemInProfiles(t *testing.T, paths map[string]string, id string) bool {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "- id: "+id+"\n") {
			return true
		}
	}
	return false
}

// holdLab keeps a scenario's lab up for hands-on use until Ctrl-C (-lab.hold).
func holdLab(t *testing.T, l *netlab.Lab, paths map[string]string) {
	vpn := l.VPN()
	fmt.Fprintf(os.Stderr, "\nlab %s is up. In another root shell:\n", l.Prefix)
	for _, v := range vantages {
		dir := filepath.Dir(paths[v.name])
		attest := ""
		if v.answers != "" {
			attest = " --attest " + filepath.Join(dir, v.answers)
		}
		fmt.Fprintf(os.Stderr, "  %s=%q %s=%q ip netns exec %s %s run -p %s --no-tui --log-dir %s%s\n",
			netlab.VPNTokenEnv, "Bearer "+vpn.Token, netlab.SNMPCommunityEnv, vpn.Community,
			l.NS(v.role), preflightBin, paths[v.name], filepath.Join(dir, "logs-by-hand"), attest)
	}
	fmt.Fprintf(os.Stderr, "  ip netns exec %s nft list ruleset     # the firewall generated from the profiles\n", l.NS(netlab.PatientFW))
	fmt.Fprintf(os.Stderr, "Press Ctrl-C to tear the lab down (the test process then exits).\n")
	select {} // the lab's own signal handler tears it down and exits
}

// Evidence assertions.

func evidenceOf(t *testing.T, runs []runResult, id string) map[string]any {
	t.Helper()
	for _, r := range runs {
		if ev := r.evidence(id); ev != nil {
			return ev
		}
	}
	if itemExists(runs, id) {
		t.Fatalf("item %s has no evidence", id)
	}
	t.Skipf("item %s is not in this build's profiles", id)
	return nil
}

func itemExists(runs []runResult, id string) bool {
	for _, r := range runs {
		if _, ok := r.statuses()[id]; ok {
			return true
		}
	}
	return false
}

func wantInts(t *testing.T, runs []runResult, id, key string, want ...int) {
	t.Helper()
	got := fmt.Sprint(evidenceOf(t, runs, id)[key])
	if w := fmt.Sprint(want); got != w {
		t.Errorf("%s evidence %s = %s, want %s", id, key, got, w)
	}
}

func wantStrings(t *testing.T, runs []runResult, id, key string, want ...string) {
	t.Helper()
	got := fmt.Sprint(evidenceOf(t, runs, id)[key])
	if w := fmt.Sprint(want); got != w {
		t.Errorf("%s evidence %s = %s, want %s", id, key, got, w)
	}
}

func wantString(t *testing.T, runs []runResult, id, key, want string) {
	t.Helper()
	if got := fmt.Sprint(evidenceOf(t, runs, id)[key]); got != want {
		t.Errorf("%s evidence %s = %s, want %s", id, key, got, want)
	}
}

func wantBool(t *testing.T, runs []runResult, id, key string, want bool) {
	t.Helper()
	if got, ok := evidenceOf(t, runs, id)[key].(bool); !ok || got != want {
		t.Errorf("%s evidence %s = %v, want %v", id, key, evidenceOf(t, runs, id)[key], want)
	}
}

func wantNumber(t *testing.T, runs []runResult, id, key string, want float64) {
	t.Helper()
	if got, ok := evidenceOf(t, runs, id)[key].(float64); !ok || got != want {
		t.Errorf("%s evidence %s = %v, want %v", id, key, evidenceOf(t, runs, id)[key], want)
	}
}

// wantContains looks for text anywhere in an item's evidence (a leaked answer, a CVE, an algorithm).
func wantContains(t *testing.T, runs []runResult, id, text string) {
	t.Helper()
	if got := fmt.Sprint(evidenceOf(t, runs, id)); !strings.Contains(got, text) {
		t.Errorf("%s evidence does not mention %s: %.800s", id, text, got)
	}
}
