package lab

import (
	"net"
	"os"
	"strings"
	"testing"
)

// TestStartDemoFailsCleanly: when an address the demo needs is taken, starting says which and what to do,
// and releases everything it had already started, its files included. The layout lives on 127.79.x.y so
// it never collides with the real demo that cmd/preflight's tests run.
func TestStartDemoFailsCleanly(t *testing.T) {
	held, err := net.Listen("tcp", "127.79.1.2:18443")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	l := layout{listeners: []string{"127.79.1.1:18500", "127.79.1.2:18443"}, dns: dnsService{addr: "127.79.5.53:18053"}}
	d, err := startLayout("test", l, "demo-surgeon")
	if err == nil {
		d.Close()
		t.Fatal("started with an address taken")
	}
	if !strings.Contains(err.Error(), "127.79.1.2:18443") || !strings.Contains(err.Error(), "another `preflight demo`") {
		t.Fatalf("error %q does not name the address and the next step", err)
	}
	again, err := net.Listen("tcp", "127.79.1.1:18500")
	if err != nil {
		t.Fatalf("the listener started before the failure is still open: %v", err)
	}
	again.Close()
}

func TestStartLayoutCloses(t *testing.T) {
	l := layout{listeners: []string{"127.79.2.1:18500"}, dns: dnsService{addr: "127.79.2.53:18053"}, ntp: "127.79.2.123:18123",
		ssh: []sshService{{"127.79.2.2:18022", true}}, portals: []portalService{{"127.79.2.3:18443", "127.79.2.3:18080", "portal.test"}}}
	d, err := startLayout("test", l, "demo-surgeon")
	if err != nil {
		t.Fatal(err)
	}
	dir := d.Dir
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.79.2.1:18500", "127.79.2.53:18053", "127.79.2.2:18022", "127.79.2.3:18443", "127.79.2.3:18080"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still in use after Close: %v", a, err)
			continue
		}
		ln.Close()
	}
	for _, a := range []string{"127.79.2.53:18053", "127.79.2.123:18123"} {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Errorf("udp %s still in use after Close: %v", a, err)
			continue
		}
		pc.Close()
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo directory %s left behind", dir)
	}
}
