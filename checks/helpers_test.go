package checks

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
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

// wantStatus stops the test when a probe ended with another status, printing its evidence.
func wantStatus(t *testing.T, r Result, want Status) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %s, want %s: %s\nevidence: %v", r.Status, want, r.Summary, r.Evidence)
	}
}

// wantEvidence checks one evidence value by its printed form.
func wantEvidence(t *testing.T, r Result, key string, want any) {
	t.Helper()
	// Printed forms are compared so []string{} and an int read back as what a reviewer would see.
	if got, ok := r.Evidence[key]; !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("evidence %s = %v, want %v (summary: %s)", key, r.Evidence[key], want, r.Summary)
	}
}

// wantSummary checks that the summary mentions every part.
func wantSummary(t *testing.T, r Result, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.Summary, p) {
			t.Errorf("summary %q does not mention %q", r.Summary, p)
		}
	}
}
