package checks

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// portsAround returns a port set of the given ports and a few that were just free, so the scan sees open
// and refused ports without picking up other tests' listeners on neighbouring ports.
func portsAround(t *testing.T, ports ...int) PortSet {
	t.Helper()
	spec := ""
	for _, p := range append(ports, freePorts(t, 3)...) {
		spec += itoa(p) + ","
	}
	ps, err := ParsePortSet(spec[:len(spec)-1])
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// freePorts returns n ports that nothing listened on a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, portOf(l))
		l.Close()
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestPortsScan(t *testing.T) {
	a, b := listen(t), listen(t)
	countAccepts(t, a)
	countAccepts(t, b)
	pa, pb := portOf(a), portOf(b)
	env := loopbackEnv(t, map[string]Target{"host": loopback})
	ps := portsAround(t, pa, pb)

	t.Run("all open ports allowed", func(t *testing.T) {
		r := (&PortsSpec{Target: "host", Ports: ps, Allow: []int{pa, pb}}).Run(context.Background(), env)
		if r.Status != Pass {
			t.Fatalf("status %s: %s", r.Status, r.Summary)
		}
		want := []int{min(pa, pb), max(pa, pb)}
		if got := r.Evidence["open"].([]int); !slices.Contains(got, pa) || !slices.Contains(got, pb) {
			t.Fatalf("open = %v, want it to contain %v", got, want)
		}
		if r.Evidence["scanned"] != ps.Len() {
			t.Fatalf("scanned %v of %d", r.Evidence["scanned"], ps.Len())
		}
	})
	t.Run("one open port not allowed", func(t *testing.T) {
		r := (&PortsSpec{Target: "host", Ports: ps, Allow: []int{pa}}).Run(context.Background(), env)
		if r.Status != Fail {
			t.Fatalf("status %s: %s", r.Status, r.Summary)
		}
		if got := r.Evidence["unexpected"].([]int); !slices.Equal(got, []int{pb}) {
			t.Fatalf("unexpected = %v, want [%d]", got, pb)
		}
	})
	t.Run("rate limit spaces attempts", func(t *testing.T) {
		small := portsAround(t, append(freePorts(t, 5), pa, pb)...)
		start := time.Now()
		r := (&PortsSpec{Target: "host", Ports: small, Allow: []int{pa, pb}, MaxRate: 50}).Run(context.Background(), env)
		// 10 attempts at 50/s cannot finish before the 10th tick at 200ms (a lower bound only).
		if small.Len() != 10 {
			t.Fatalf("want 10 ports, got %d", small.Len())
		}
		if el := time.Since(start); el < 180*time.Millisecond {
			t.Fatalf("10 ports at max_rate 50 took %v, want ≥ 180ms", el)
		}
		if r.Status != Pass && r.Status != Fail {
			t.Fatalf("status %s: %s", r.Status, r.Summary)
		}
	})
	t.Run("cancelled scan is an error, not a pass", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		all, _ := ParsePortSet("1-65535")
		r := (&PortsSpec{Target: "host", Ports: all, Allow: []int{pa, pb}}).Run(ctx, env)
		if r.Status != Error {
			t.Fatalf("status %s: %s", r.Status, r.Summary)
		}
	})
}

func TestPortsOutOfScopeSendsNothing(t *testing.T) {
	l := listen(t)
	accepts := countAccepts(t, l)
	env := loopbackEnv(t, map[string]Target{"host": loopback})
	env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	r := (&PortsSpec{Target: "host", Ports: portsAround(t, portOf(l))}).Run(context.Background(), env)
	if r.Status != Error {
		t.Fatalf("status %s: %s", r.Status, r.Summary)
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepts.Load(); n != 0 {
		t.Fatalf("listener saw %d connections", n)
	}
}

func TestPortsCheck(t *testing.T) {
	targets := map[string]Target{"host": loopback}
	ps, _ := ParsePortSet("1-10")
	for _, tc := range []struct {
		name string
		spec PortsSpec
		want []string // fields with problems
	}{
		{"valid", PortsSpec{Target: "host", Ports: ps, Allow: []int{1}}, nil},
		{"missing target and ports", PortsSpec{}, []string{"target", "ports"}},
		{"unknown target", PortsSpec{Target: "nope", Ports: ps}, []string{"target"}},
		{"bad allow", PortsSpec{Target: "host", Ports: ps, Allow: []int{0, 70000}}, []string{"allow[0]", "allow[1]"}},
		{"negative rate", PortsSpec{Target: "host", Ports: ps, MaxRate: -1}, []string{"max_rate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Validator{Targets: targets}
			tc.spec.Check(v)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("problems %v, want fields %v", v.Problems, tc.want)
			}
		})
	}
}

// BenchmarkPortsFullLoopback scans 1-65535 on 127.0.0.1; scripts/bench-ports.sh compares it with nmap.
func BenchmarkPortsFullLoopback(b *testing.B) {
	env := &Env{Scope: NewScope(netip.MustParsePrefix("127.0.0.0/8")), Targets: map[string]Target{"host": loopback}, Timeout: time.Second}
	all, _ := ParsePortSet("1-65535")
	spec := &PortsSpec{Target: "host", Ports: all}
	for b.Loop() {
		r := spec.Run(context.Background(), env)
		if r.Status == Error {
			b.Fatal(r.Summary)
		}
	}
}

// fullBacklog returns the port of a listener whose accept queue is full, so the kernel drops further
// SYNs and a connect stays in progress: a real "filtered" port on loopback, without root.
func fullBacklog(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	for range 4 { // fill the queue; these dials may themselves block, so give them a short timeout
		c, err := net.DialTimeout("tcp", joinHostPort("127.0.0.1", port), 100*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return port
}

func TestProbeTCPTimeoutIsFiltered(t *testing.T) {
	port := fullBacklog(t)
	d := &Dialer{Scope: NewScope(netip.MustParsePrefix("127.0.0.0/8")), Timeout: 200 * time.Millisecond}
	err := d.ProbeTCP(context.Background(), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	if Classify(err) != "timeout" {
		t.Fatalf("full backlog: %v (%s), want timeout", err, Classify(err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d.Timeout = time.Hour
	start := time.Now()
	err = d.ProbeTCP(ctx, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	if time.Since(start) > 2*time.Second || Classify(err) != "timeout" {
		t.Fatalf("context deadline not honoured: %v after %v", err, time.Since(start))
	}
}
