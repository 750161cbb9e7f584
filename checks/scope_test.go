package checks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countAccepts accepts connections on l until the test ends and counts them.
func countAccepts(t *testing.T, l net.Listener) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return &n
}

func TestScopeContains(t *testing.T) {
	s := NewScope(netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("::ffff:127.0.0.0/104"))
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.20.0.0", false},
		{"::ffff:198.18.3.4", true}, // IPv4-mapped form of an in-scope address
		{"::ffff:8.8.8.8", false},   // and of an outside one: judged as 8.8.8.8
		{"127.0.0.5", true},         // the mapped prefix was normalised to 127.0.0.0/8
		{"::1", false},
		{"fe80::1%eth0", false},
	} {
		if got := s.Contains(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if (Scope{}).Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the zero scope must allow nothing")
	}
}

// TestDialerRefusesOutOfScopeWithoutConnecting is the proof DESIGN.md asks for: an address outside the
// scope gets an error and the listener never sees a connection, whichever way the address is written.
func TestDialerRefusesOutOfScopeWithoutConnecting(t *testing.T) {
	l := listen(t)
	accepts := countAccepts(t, l)
	port := portOf(l)
	d := &Dialer{Scope: NewScope(netip.MustParsePrefix("127.0.0.2/32")), Timeout: time.Second}
	for _, addr := range []string{
		joinHostPort("127.0.0.1", port),
		joinHostPort("::ffff:127.0.0.1", port),
	} {
		_, err := d.DialContext(context.Background(), "tcp", addr)
		if !errors.Is(err, ErrOutOfScope) {
			t.Errorf("dial %s: err = %v, want ErrOutOfScope", addr, err)
		}
	}
	if _, err := d.DialContext(context.Background(), "tcp", joinHostPort("localhost", port)); err == nil {
		t.Error("a host name must be refused: probes address targets by IP")
	}
	// Libraries that take a *net.Dialer resolve names themselves; Control still sees the resolved IP.
	if _, err := d.NetDialer().DialContext(context.Background(), "tcp", joinHostPort("localhost", port)); !errors.Is(err, ErrOutOfScope) {
		t.Errorf("net dialer to localhost: err = %v, want ErrOutOfScope", err)
	}
	if _, err := d.NetDialer().DialContext(context.Background(), "udp", joinHostPort("127.0.0.1", port)); !errors.Is(err, ErrOutOfScope) {
		t.Errorf("udp: err = %v, want ErrOutOfScope", err)
	}
	time.Sleep(50 * time.Millisecond) // let a connection that slipped through be counted
	if n := accepts.Load(); n != 0 {
		t.Fatalf("listener saw %d connection(s) from out-of-scope dials", n)
	}
	// The same dialer reaches the listener once it is in scope: the refusals above were the scope's doing.
	d.Scope = NewScope(netip.MustParsePrefix("127.0.0.1/32"))
	c, err := d.DialContext(context.Background(), "tcp", joinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for accepts.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("in-scope dial: listener saw %d connections, want 1", n)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "open"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "refused"},
		{&net.OpError{Op: "dial", Err: syscall.ENETUNREACH}, "no-route"},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, "unreachable"},
		{&net.OpError{Op: "dial", Err: syscall.ETIMEDOUT}, "timeout"},
		{&net.OpError{Op: "dial", Err: syscall.EACCES}, "prohibited"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "cancelled"},
		{&OutOfScopeError{Addr: "192.0.2.1"}, "out-of-scope"},
		{errors.New("something else"), "error"},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestPortSet(t *testing.T) {
	ps, err := ParsePortSet("443, 20-22,21, 8000-8002,1")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for p := range ps.All {
		got = append(got, p)
	}
	want := []int{1, 20, 21, 22, 443, 8000, 8001, 8002}
	if len(got) != len(want) || ps.Len() != len(want) {
		t.Fatalf("ports = %v (len %d), want %v", got, ps.Len(), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ports = %v, want %v", got, want)
		}
	}
	if !ps.Contains(21) || ps.Contains(23) {
		t.Error("Contains is wrong")
	}
	all, _ := ParsePortSet("1-65535")
	if all.Len() != 65535 {
		t.Errorf("1-65535 has %d ports", all.Len())
	}
	for _, bad := range []string{"", "0", "65536", "10-5", "http", "1-", "-5", "1,,2"} {
		if _, err := ParsePortSet(bad); err == nil {
			t.Errorf("ParsePortSet(%q) accepted", bad)
		}
	}
}

func TestDurationAndPercent(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("250ms")); err != nil || d.D() != 250*time.Millisecond {
		t.Errorf("250ms: %v %v", d, err)
	}
	for _, bad := range []string{"0", "-1s", "2x", ""} {
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("duration %q accepted", bad)
		}
	}
	var p Percent
	if err := p.UnmarshalText([]byte("2.5%")); err != nil || p != 2.5 {
		t.Errorf("2.5%%: %v %v", p, err)
	}
	for _, bad := range []string{"5", "101%", "-1%", "x%"} {
		if err := p.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("percent %q accepted", bad)
		}
	}
}
