package checks

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// loopbackEnv is an Env whose scope is 127.0.0.0/8 with the given targets.
func loopbackEnv(t *testing.T, targets map[string]Target) *Env {
	t.Helper()
	return &Env{
		Scope:   NewScope(netip.MustParsePrefix("127.0.0.0/8")),
		Targets: targets,
		Dir:     t.TempDir(),
		Timeout: 2 * time.Second,
	}
}

// listen opens a TCP listener on 127.0.0.1:0 that is closed with the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// portOf returns the port a listener is bound to.
func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// loopback is the target at 127.0.0.1.
var loopback = Target{Address: netip.MustParseAddr("127.0.0.1"), Name: "localhost"}
