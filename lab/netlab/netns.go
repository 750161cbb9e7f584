//go:build linux

package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LabNet is the only address space the lab uses: RFC 2544's benchmarking range. Nothing in it is routed
// on the internet, and the lab's namespaces have no link to the host, so no address can leave the lab.
var LabNet = netip.MustParsePrefix("198.18.0.0/15")

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// Requirements lists what the lab needs from the machine, each with the Debian package that provides it.
var Requirements = []struct{ Command, Package string }{
	{"ip", "iproute2"},
	{"tc", "iproute2"},
	{"ss", "iproute2"},
	{"nft", "nftables"},
	{"nginx", "nginx"},
	{"unbound", "unbound"},
	{"sshd", "openssh-server"},
	{"ssh-keygen", "openssh-client"},
	{"snmpd", "snmpd"},
}

// bin finds a command in PATH or the sbin directories (daemons live there; a root shell may not have
// them in PATH).
func bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Packages are the Debian packages the lab's real servers and tools come from.
var Packages = []string{"iproute2", "nftables", "nginx", "unbound", "openssh-server", "openssh-client", "snmpd"}

// Usable reports why the lab cannot run on this machine, or nil when it can: it needs root (namespaces,
// nftables, TUN), `ip netns`, /dev/net/tun and the Debian packages of Requirements.
func Usable() error {
	if os.Geteuid() != 0 {
		return errors.New("the network-namespace lab needs root (ip netns, nftables, /dev/net/tun)")
	}
	var missing []string
	for _, r := range Requirements {
		if _, err := bin(r.Command); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", r.Command, r.Package))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the lab needs %s", strings.Join(missing, ", "))
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("the lab's carrier relay needs /dev/net/tun: %w", err)
	}
	if _, err := run(context.Background(), "ip", "netns", "list"); err != nil {
		return fmt.Errorf("`ip netns` does not work here: %w", err)
	}
	return nil
}

// run executes a command on the host (only `ip`, `nft`, `tc` aimed at a lab namespace, and ss) and
// returns its trimmed output, with the command line in the error.
func run(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	path, err := bin(argv[0])
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	s := strings.TrimSpace(out.String())
	if err != nil {
		return s, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, s)
	}
	return s, nil
}

// nsExists reports whether a named namespace exists.
func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// nsInode identifies a namespace for the cleanup proof: a process whose /proc/PID/ns/net has this inode
// is inside it, even after the name is gone.
func nsInode(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(netnsDir, name), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ProcessesIn lists the PIDs of processes whose network namespace has one of the inodes.
func ProcessesIn(inodes []uint64) []int {
	want := map[uint64]bool{}
	for _, i := range inodes {
		want[i] = true
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) == nil && want[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Namespaces lists the names of the network namespaces `ip netns` knows.
func Namespaces() []string {
	ents, _ := os.ReadDir(netnsDir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// do runs fn on a goroutine locked to an OS thread that has entered namespace name. Sockets and TUN
// devices fn creates belong to that namespace for good, and may be used from any goroutine afterwards.
// The thread goes back to its own namespace; if it cannot, it stays locked so the runtime retires it
// with the goroutine instead of reusing a thread in the wrong namespace.
func do(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w (thread retired)", name, err))
			return // still locked: the thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// hostConflicts returns what on the host already uses the lab's address space: an address on one of the
// host's interfaces or a route into it. The lab never touches the host's namespace, but a host that uses
// 198.18.0.0/15 itself means a probe run by mistake outside the lab could reach real machines — so the
// lab refuses to start and says why.
func hostConflicts(ctx context.Context) ([]string, error) {
	addrs, err := run(ctx, "ip", "-j", "addr", "show")
	if err != nil {
		return nil, err
	}
	routes, err := run(ctx, "ip", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	return conflictsIn([]byte(addrs), []byte(routes))
}

// conflictsIn finds the lab's range in `ip -j addr` and `ip -j route` output.
func conflictsIn(addrJSON, routeJSON []byte) ([]string, error) {
	var conflicts []string
	var links []struct {
		IfName   string `json:"ifname"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(addrJSON, &links); err != nil {
		return nil, fmt.Errorf("parse `ip -j addr`: %w", err)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Local, a.PrefixLen)); err == nil && p.Overlaps(LabNet) {
				conflicts = append(conflicts, fmt.Sprintf("address %s on host interface %s", p, l.IfName))
			}
		}
	}
	var routes []struct {
		Dst string `json:"dst"`
		Dev string `json:"dev"`
	}
	if err := json.Unmarshal(routeJSON, &routes); err != nil {
		return nil, fmt.Errorf("parse `ip -j route`: %w", err)
	}
	for _, r := range routes {
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, aerr := netip.ParseAddr(r.Dst)
			if aerr != nil {
				continue // "default" and the like: a default route is not a claim on the lab's range
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() > 0 && p.Overlaps(LabNet) {
			conflicts = append(conflicts, fmt.Sprintf("host route %s dev %s", r.Dst, r.Dev))
		}
	}
	return conflicts, nil
}

// pidAlive reports whether a process exists (the owner of a lab namespace prefix).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
