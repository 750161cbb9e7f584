//go:build linux

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

// hostState is what the lab must leave as it found it: its own namespaces, the host's interfaces and
// routes (the lab never touches them, not even while running) and the host's nftables tables.
type hostState struct {
	labNamespaces []string // pfl-* (other tests on this machine may make namespaces of their own)
	links, routes string
	nftTables     string
}

func snapshot(t *testing.T) hostState {
	t.Helper()
	get := func(argv ...string) string {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
		return string(out)
	}
	var ns []string
	for _, n := range netlab.Namespaces() {
		if strings.HasPrefix(n, "pfl-") {
			ns = append(ns, n)
		}
	}
	return hostState{labNamespaces: ns, links: get("ip", "-o", "link", "show"), routes: get("ip", "route", "show", "table", "all"),
		nftTables: get("nft", "list", "tables")}
}

func (a hostState) diff(b hostState) string {
	var d []string
	if !slices.Equal(a.labNamespaces, b.labNamespaces) {
		d = append(d, fmt.Sprintf("lab namespaces %v → %v", a.labNamespaces, b.labNamespaces))
	}
	if a.links != b.links {
		d = append(d, "host interfaces changed:\n"+a.links+"→\n"+b.links)
	}
	if a.routes != b.routes {
		d = append(d, "host routes changed:\n"+a.routes+"→\n"+b.routes)
	}
	if a.nftTables != b.nftTables {
		d = append(d, "host nftables tables changed: "+a.nftTables+" → "+b.nftTables)
	}
	return strings.Join(d, "\n")
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestCleanupLeavesNothing starts a full lab with a fault, checks the host is untouched while it runs,
// closes it and checks that no namespace, process, nftables table or file of it remains.
func TestCleanupLeavesNothing(t *testing.T) {
	needLab(t)
	before := snapshot(t)
	paths := writeProfiles(t, scenarioDir(t))
	l, err := netlab.Start(context.Background(), netlab.Options{Profiles: []string{paths["patient-ts"]}, Faults: []netlab.Fault{netlab.InternetRoute()}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	names, inodes := l.Namespaces(), l.Inodes()
	var pids []int
	for _, p := range l.Procs() {
		pids = append(pids, p.PID)
	}
	during := snapshot(t)
	if during.links != before.links || during.routes != before.routes || during.nftTables != before.nftTables {
		t.Errorf("the running lab changed the host's namespace:\n%s", before.diff(during))
	}
	if len(names) != len(netlab.Roles) || len(pids) != 4 || len(netlab.ProcessesIn(inodes)) != 4 {
		t.Fatalf("lab up with %d namespaces, daemons %v, %d processes inside; want %d, 4, 4", len(names), pids, len(netlab.ProcessesIn(inodes)), len(netlab.Roles))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t)
	if d := before.diff(after); d != "" {
		t.Errorf("after Close:\n%s", d)
	}
	if left := netlab.ProcessesIn(inodes); len(left) > 0 {
		t.Errorf("processes left in the lab's namespaces: %v", left)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("daemon %d still running", pid)
		}
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab directory %s left behind (%v)", l.Dir, err)
	}
	t.Logf("before and after: lab namespaces %v; %d namespaces, daemons %v, host interfaces, routes and nftables tables unchanged",
		after.labNamespaces, len(names), pids)
}

// TestFailedStartCleansUp: a lab that fails half-way (a fault that cannot be applied) is torn down.
func TestFailedStartCleansUp(t *testing.T) {
	needLab(t)
	before := snapshot(t)
	bad := netlab.Fault{Name: "broken", Apply: func(context.Context, *netlab.Lab) error { return errors.New("planted failure") }}
	l, err := netlab.Start(context.Background(), netlab.Options{Faults: []netlab.Fault{bad}})
	if err == nil || !strings.Contains(err.Error(), "planted failure") {
		t.Fatalf("Start = %v, want the fault's error", err)
	}
	if d := before.diff(snapshot(t)); d != "" {
		t.Errorf("after a failed start:\n%s", d)
	}
	if left := netlab.ProcessesIn(l.Inodes()); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// TestRefusesTakenName: a namespace name the lab needs is taken — it refuses, leaves the other namespace
// alone and removes what it had made.
func TestRefusesTakenName(t *testing.T) {
	needLab(t)
	prefix := fmt.Sprintf("pfl-%d-taken-", os.Getpid())
	taken := prefix + netlab.Carrier
	if out, err := exec.Command("ip", "netns", "add", taken).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", taken).Run() })
	_, err := netlab.Start(context.Background(), netlab.Options{Prefix: prefix})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "refuses") {
		t.Fatalf("Start with a taken name = %v, want a refusal naming it", err)
	}
	var left []string
	for _, n := range netlab.Namespaces() {
		if strings.HasPrefix(n, prefix) {
			left = append(left, n)
		}
	}
	if !slices.Equal(left, []string{taken}) {
		t.Errorf("namespaces with the prefix after the refusal: %v, want only the one that was there: %s", left, taken)
	}
	if _, err := netlab.Start(context.Background(), netlab.Options{Prefix: "pfl-1-someone-else-"}); err == nil || !strings.Contains(err.Error(), "must start with") {
		t.Errorf("a prefix of another process = %v, want refused", err)
	}
}

const helperEnv = "PFL_E2E_LAB_HELPER"

// TestLabHelperProcess is not a test: the interrupt tests run this binary with it to hold a lab in a
// process of its own.
func TestLabHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper for TestInterruptCleansUp and TestKilledLabIsSwept")
	}
	l, err := netlab.Start(context.Background(), netlab.Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	var pids []string
	for _, p := range l.Procs() {
		pids = append(pids, strconv.Itoa(p.PID))
	}
	fmt.Println("READY", l.Prefix, strings.Join(pids, ","), l.Dir)
	time.Sleep(time.Minute)
	os.Exit(3) // never reached in the tests: the parent signals first
}

// startHelper runs a lab in a child process and returns the child, the lab's prefix, daemon PIDs and
// directory.
func startHelper(t *testing.T) (*exec.Cmd, string, []int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLabHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "READY") || strings.HasPrefix(s.Text(), "ERROR") {
				line <- s.Text()
				return
			}
		}
		line <- ""
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper lab did not come up in 30 s")
	}
	f := strings.Fields(l)
	if len(f) != 4 || f[0] != "READY" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: %q", l)
	}
	var pids []int
	for _, p := range strings.Split(f[2], ",") {
		n, _ := strconv.Atoi(p)
		pids = append(pids, n)
	}
	return cmd, f[1], pids, f[3]
}

func namespacesWith(prefix string) []string {
	var ns []string
	for _, n := range netlab.Namespaces() {
		if strings.HasPrefix(n, prefix) {
			ns = append(ns, n)
		}
	}
	return ns
}

func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		return 0
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper did not exit within 20 s")
		return 0
	}
}

// TestInterruptCleansUp: Ctrl-C (SIGINT) on a process holding a lab tears it down before it exits.
func TestInterruptCleansUp(t *testing.T) {
	needLab(t)
	cmd, prefix, pids, dir := startHelper(t)
	if len(namespacesWith(prefix)) != len(netlab.Roles) {
		t.Fatalf("helper lab %s has namespaces %v", prefix, namespacesWith(prefix))
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd); code != 130 {
		t.Errorf("helper exit %d after SIGINT, want 130", code)
	}
	if ns := namespacesWith(prefix); len(ns) > 0 {
		t.Errorf("namespaces left after SIGINT: %v", ns)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("daemon %d survived SIGINT", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab directory %s left after SIGINT (%v)", dir, err)
	}
}

// TestKilledLabIsSwept: SIGKILL leaves no chance to clean up. The daemons die with their parent
// (parent-death signal); the empty namespaces stay until the next run's SweepStale removes them.
func TestKilledLabIsSwept(t *testing.T) {
	needLab(t)
	cmd, prefix, pids, dir := startHelper(t)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd)
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("daemon %d outlived its SIGKILLed parent", pid)
		}
	}
	if n := len(namespacesWith(prefix)); n != len(netlab.Roles) {
		t.Logf("after SIGKILL %d namespaces remain (expected all %d)", n, len(netlab.Roles))
	}
	removed, err := netlab.SweepStale()
	if err != nil {
		t.Error(err)
	}
	if ns := namespacesWith(prefix); len(ns) > 0 {
		t.Errorf("SweepStale left %v", ns)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SweepStale left the lab directory %s (%v)", dir, err)
	}
	t.Logf("swept %d stale namespaces of the killed lab", len(removed))
}
