package checks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel's route choice is tested in a network namespace the test creates, with veth pairs for a
// closed segment and an office segment behind the default route. Nothing in it links to the host's
// namespace, and a UDP connect sends no packet anyway.
var routeLab = privateNetns{ip: [][]string{
	{"link", "add", "closed0", "type", "veth", "peer", "name", "closed1"},
	{"addr", "add", "198.18.1.2/24", "dev", "closed0"},
	{"link", "set", "closed0", "up"}, {"link", "set", "closed1", "up"},
	{"link", "add", "office0", "type", "veth", "peer", "name", "office1"},
	{"addr", "add", "192.0.2.2/24", "dev", "office0"},
	{"link", "set", "office0", "up"}, {"link", "set", "office1", "up"},
	{"route", "add", "default", "via", "192.0.2.1"},
}}

func routeLabEnv(t *testing.T) *Env {
	env := loopbackEnv(t, map[string]Target{
		"robot":      {Address: netip.MustParseAddr("198.18.1.10")},
		"surgeon":    {Address: netip.MustParseAddr("198.18.2.10")},
		"prohibited": {Address: netip.MustParseAddr("198.18.8.10")},
		"unreach":    {Address: netip.MustParseAddr("198.18.9.10")},
		"blackhole":  {Address: netip.MustParseAddr("198.18.7.10")},
	})
	env.Scope = NewScope(netip.MustParsePrefix("198.18.0.0/15"))
	return env
}

func TestRouteInNamespace(t *testing.T) {
	env := routeLabEnv(t)
	closed := []string{"198.18.1.0/24"}
	specs := []*RouteSpec{
		{Target: "robot", ExpectSource: closed, ExpectInterface: "closed0"},
		{Target: "surgeon", ExpectSource: []string{"198.18.0.0/15"}},
		{Target: "robot", ExpectSource: closed, ExpectInterface: "office0"},
	}
	lab := routeLab
	lab.ip = append(lab.ip, [][]string{{"route", "add", "prohibit", "198.18.8.0/24"},
		{"route", "add", "unreachable", "198.18.9.0/24"}, {"route", "add", "blackhole", "198.18.7.0/24"}}...)
	for _, target := range []string{"prohibited", "unreach", "blackhole"} {
		specs = append(specs, &RouteSpec{Target: target, ExpectSource: closed})
	}
	results := make([]Result, len(specs))
	lab.run(t, func() {
		for i, s := range specs {
			results[i] = s.Run(context.Background(), env)
		}
	})

	r := results[0]
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "source", "198.18.1.2")
	wantEvidence(t, r, "interface", "closed0")
	wantEvidence(t, r, "interface_prefix", "198.18.1.2/24")
	wantSummary(t, r, "source 198.18.1.2 on closed0, inside 198.18.1.0/24")

	// The surgeon side is in scope and in 198.18.0.0/15, but there is no route over the closed network:
	// the kernel would send it out of the default route.
	r = results[1]
	wantStatus(t, r, Fail)
	wantEvidence(t, r, "source", "192.0.2.2")
	wantEvidence(t, r, "interface", "office0")
	wantSummary(t, r, "source 192.0.2.2 on office0, outside expect_source", "default route")

	r = results[2]
	wantStatus(t, r, Fail)
	wantSummary(t, r, "source 198.18.1.2 is not on interface office0 (it belongs to closed0)")

	for i, outcome := range []string{"prohibited", "unreachable", "blackhole"} {
		r = results[3+i]
		wantStatus(t, r, Fail)
		wantEvidence(t, r, "outcome", outcome)
		wantSummary(t, r, "no usable route", "("+outcome+")")
	}
}

func TestRouteNoRouteInNamespace(t *testing.T) {
	env := routeLabEnv(t)
	lab := privateNetns{ip: routeLab.ip[:4]} // the closed segment only, no default route
	var reached, lost Result
	lab.run(t, func() {
		reached = (&RouteSpec{Target: "robot", ExpectSource: []string{"198.18.1.0/24"}}).Run(context.Background(), env)
		lost = (&RouteSpec{Target: "surgeon", ExpectSource: []string{"198.18.1.0/24"}}).Run(context.Background(), env)
	})
	wantStatus(t, reached, Pass)
	wantStatus(t, lost, Fail)
	wantEvidence(t, lost, "outcome", "no-route")
	wantSummary(t, lost, "no usable route to 198.18.2.10 (no-route)")
	if _, ok := lost.Evidence["source"]; ok {
		t.Errorf("a source is reported without a route: %v", lost.Evidence)
	}
}

// privateNetns is a private network namespace for a test: lo is brought up, then the ip commands run, the
// sysctls (per namespace: net.ipv4.*) are written and, if asked, CAP_NET_RAW is dropped.
type privateNetns struct {
	ip         [][]string
	sysctl     map[string]string
	dropNetRaw bool
}

// errNetnsUnavailable marks failures to build the namespace, which skip the test rather than fail it.
var errNetnsUnavailable = errors.New("network namespace unavailable")

// run calls f on an OS thread of its own inside the namespace. Namespaces and capabilities belong to
// threads: the goroutine stays locked to its thread and never unlocks, so the runtime ends the thread
// with it and no other goroutine ever runs there. f must not call t.Fatal (another goroutine); it
// stores what it saw for the test to judge afterwards.
func (n privateNetns) run(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs the ip command: apt-get install iproute2")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := n.enter(ipBin); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; errors.Is(err, errNetnsUnavailable) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
}

func (n privateNetns) enter(ipBin string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("%w: unshare: %v", errNetnsUnavailable, err)
	}
	// A child started from a locked thread inherits the thread's namespace (os/exec documents this).
	for _, args := range append([][]string{{"link", "set", "lo", "up"}}, n.ip...) {
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: ip %s: %v: %s", errNetnsUnavailable, strings.Join(args, " "), err, out)
		}
	}
	for key, value := range n.sysctl {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("%w: sysctl %s: %v", errNetnsUnavailable, key, err)
		}
	}
	if n.dropNetRaw {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capget: %w", err)
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		data[0].Permitted &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
	}
	return nil
}
