//go:build linux

// Package netlab is the end-to-end lab: both facilities, the hospital network, the carrier, a vendor and
// "the internet" as network namespaces running real servers (nginx, unbound, OpenSSH, snmpd, nftables)
// plus a few stand-ins of its own (robot and console listeners, the VPN's status API, an NTP responder
// with a settable offset, a delaying relay in the carrier).
//
// Safety: every address is in 198.18.0.0/15; no namespace has a link to the host's namespace (veth pairs
// are created inside lab namespaces, never in the host's); the tool under test is run inside a lab
// namespace. A lab refuses to start when a name it needs exists or the host itself uses the range, and
// Close removes every namespace, process and nftables table it made — also on SIGINT/SIGTERM/SIGHUP.
package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/lab"
)

// Options configure a lab.
type Options struct {
	// Profiles are the profile files whose allowed IP/port pairs the firewalls admit (guideline V(1)-1).
	Profiles []string
	// Carrier is the initial state of the closed network; the zero value adds no delay, loss or limit.
	Carrier Link
	// Faults are applied once the clean lab is up.
	Faults []Fault
	// Logf receives progress lines (t.Logf in tests); nil discards them.
	Logf func(format string, args ...any)
	// Prefix of the namespace names; default "pfl-PID-N-". It must start with "pfl-PID-" (this process's
	// PID) so that SweepStale can tell a live lab's namespaces from a dead one's.
	Prefix string
}

// Lab is a running lab. Its methods may be called from several goroutines.
type Lab struct {
	Prefix string  // namespace names are Prefix+role, e.g. "pfl-4242-1-patient-ts"
	Dir    string  // configs, keys, certificates and daemon logs; removed by Close
	CA     *lab.CA // signs every certificate of the lab; its PEM is Dir/lab-ca.pem
	CAFile string

	opts  Options
	rules []Rule // allowed pairs taken from the profiles

	mu         sync.Mutex
	namespaces []string // created by this lab, in order
	inodes     []uint64
	procs      map[string]*Proc
	closers    []io.Closer
	listeners  map[string]io.Closer // Listen's, by "role addr", for Unlisten
	added      map[string][]int     // nftables handles of the rules Allow and Block added, by "firewall rule"
	closed     bool                 // set when Close begins: nothing new may start
	closeOnce  sync.Once
	closeErr   error

	relay   *Relay
	ntp     *ntpResponder
	vpnSrv  *vpnServer
	cloud   CloudConfig
	ssh     SSHConfig
	unbound ResolverConfig
}

var (
	labSeq      atomic.Int64
	liveMu      sync.Mutex
	live        = map[*Lab]bool{}
	onInterrupt []func()
	sigOnce     sync.Once
)

// OnInterrupt registers f to run when a signal tears the labs down, just before the process exits (a
// test's own temporary files, which t.Cleanup would have removed).
func OnInterrupt(f func()) {
	liveMu.Lock()
	defer liveMu.Unlock()
	onInterrupt = append(onInterrupt, f)
}

// New starts a lab for a test and registers its Close with t.Cleanup; it fails the test when the lab
// cannot start. Tests that cannot run it (not root, packages missing) should check Usable first.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	l, err := Start(context.Background(), o)
	if l != nil {
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("lab cleanup: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	return l
}

// Start builds a lab: namespaces and links, firewalls, carrier relay, services and daemons, then the
// faults of o. On error the half-built lab is already torn down and the returned *Lab is only for its
// Close (a no-op then).
func Start(ctx context.Context, o Options) (l *Lab, err error) {
	if err := Usable(); err != nil {
		return nil, err
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	conflicts, err := hostConflicts(ctx)
	if err != nil {
		return nil, err
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("the host already uses the lab's range %s (%s): the lab refuses to start", LabNet, strings.Join(conflicts, "; "))
	}
	own := fmt.Sprintf("pfl-%d-", os.Getpid())
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("%s%d-", own, labSeq.Add(1))
	}
	if !strings.HasPrefix(o.Prefix, own) {
		return nil, fmt.Errorf("lab prefix %q must start with %q", o.Prefix, own)
	}
	l = &Lab{Prefix: o.Prefix, opts: o, procs: map[string]*Proc{}}
	if l.Dir, err = os.MkdirTemp("", l.Prefix+"*"); err != nil {
		return nil, err
	}
	register(l)
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	began := time.Now()
	if l.rules, err = RulesFromProfiles(o.Profiles...); err != nil {
		return l, err
	}
	if err := l.buildTopology(ctx); err != nil {
		return l, fmt.Errorf("topology: %w", err)
	}
	if err := l.buildFirewalls(ctx); err != nil {
		return l, fmt.Errorf("firewalls: %w", err)
	}
	if err := l.startCarrier(ctx, o.Carrier); err != nil {
		return l, fmt.Errorf("carrier: %w", err)
	}
	if err := l.startServices(ctx); err != nil {
		return l, fmt.Errorf("services: %w", err)
	}
	o.Logf("lab %s up in %v (dir %s)", l.Prefix, time.Since(began).Round(time.Millisecond), l.Dir)
	for _, f := range o.Faults {
		if err := l.Apply(ctx, f); err != nil {
			return l, err
		}
	}
	return l, nil
}

// register adds l to the labs torn down on SIGINT, SIGTERM or SIGHUP (a test interrupted with Ctrl-C
// runs no t.Cleanup), and installs that handler once.
func register(l *Lab) {
	liveMu.Lock()
	live[l] = true
	liveMu.Unlock()
	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			s := <-ch
			fmt.Fprintf(os.Stderr, "netlab: %v: tearing down the labs\n", s)
			CloseAll()
			liveMu.Lock()
			fs := slices.Clone(onInterrupt)
			liveMu.Unlock()
			for _, f := range fs {
				f()
			}
			os.Exit(128 + int(s.(syscall.Signal)))
		}()
	})
}

// CloseAll tears down every lab this process still has up (signal handler, test deadline watchdogs).
func CloseAll() {
	liveMu.Lock()
	labs := make([]*Lab, 0, len(live))
	for l := range live {
		labs = append(labs, l)
	}
	liveMu.Unlock()
	for _, l := range labs {
		if err := l.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "netlab: %v\n", err)
		}
	}
}

// NS is the namespace name of a role.
func (l *Lab) NS(role string) string { return l.Prefix + role }

// Namespaces are the names of the namespaces this lab created.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.namespaces)
}

// Inodes identify the lab's namespaces; ProcessesIn(l.Inodes()) must be empty after Close.
func (l *Lab) Inodes() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.inodes)
}

// Do runs fn on a thread inside role's namespace: sockets it opens live there.
func (l *Lab) Do(role string, fn func() error) error { return do(l.NS(role), fn) }

// Command prepares argv to run inside role's namespace (`ip netns exec`), e.g. the preflight binary.
func (l *Lab) Command(ctx context.Context, role string, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, sbin("ip"), append([]string{"netns", "exec", l.NS(role)}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Exec runs argv inside role's namespace and returns its combined output.
func (l *Lab) Exec(ctx context.Context, role string, argv ...string) (string, error) {
	return run(ctx, append([]string{"ip", "netns", "exec", l.NS(role)}, argv...)...)
}

// Logf writes a progress line.
func (l *Lab) Logf(format string, args ...any) { l.opts.Logf(format, args...) }

// Close stops the lab's processes (by PID, their own process groups), its in-process servers and relay,
// deletes its namespaces — with them every veth, bridge, TUN device, qdisc and nftables table — and its
// directory. It is safe to call more than once, from several goroutines (a signal handler and a test's
// cleanup: each returns once the lab is gone), and after a failed start.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	l.mu.Lock()
	l.closed = true
	procs := make([]*Proc, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	closers, names := l.closers, l.namespaces
	l.mu.Unlock()

	var errs []error
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range slices.Backward(closers) {
		_ = c.Close()
	}
	if left := ProcessesIn(l.Inodes()); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes still inside the lab's namespaces: %v (not killed: the lab ends only what it started)", left))
	}
	for _, n := range slices.Backward(names) {
		if _, err := run(context.Background(), "ip", "netns", "del", n); err != nil && nsExists(n) {
			errs = append(errs, err)
		}
	}
	if l.Dir != "" && os.Getenv("PFL_LAB_KEEP_DIR") == "" {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	liveMu.Lock()
	delete(live, l)
	liveMu.Unlock()
	return errors.Join(errs...)
}

// staleOwner reports whether name ("pfl-PID-…") belongs to a process that no longer exists.
func staleOwner(name string) bool {
	rest, ok := strings.CutPrefix(name, "pfl-")
	if !ok {
		return false
	}
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	return err == nil && !pidAlive(pid)
}

// SweepStale deletes lab namespaces and directories left by a process that no longer exists (a lab whose
// owner was killed with SIGKILL cannot clean up; its daemons died with it through the parent-death
// signal). A namespace that still holds a process is left alone and reported.
func SweepStale() (removed []string, err error) {
	var errs []error
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pfl-*"))
	for _, d := range dirs {
		if staleOwner(filepath.Base(d)) {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, n := range Namespaces() {
		if !staleOwner(n) {
			continue
		}
		ino, ierr := nsInode(n)
		if ierr == nil {
			if left := ProcessesIn([]uint64{ino}); len(left) > 0 {
				errs = append(errs, fmt.Errorf("stale namespace %s still holds processes %v: not removed", n, left))
				continue
			}
		}
		if _, err := run(context.Background(), "ip", "netns", "del", n); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

// Path is a file in the lab's directory.
func (l *Lab) Path(name string) string { return filepath.Join(l.Dir, name) }

func (l *Lab) addCloser(c io.Closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, c)
}
