//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTUN wraps the real TUN file and notes when the relay writes each of the test's packets back
// (the kernel may route other packets into the device too).
type recordingTUN struct {
	*os.File
	mu sync.Mutex
	at []time.Time
}

func (r *recordingTUN) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "through the relay") {
		r.mu.Lock()
		r.at = append(r.at, time.Now())
		r.mu.Unlock()
	}
	return r.File.Write(b)
}

// TestRelayOverRealTUN runs the relay on a real TUN device in a throw-away namespace: packets the kernel
// routes into the device are read, held for the delay and written back.
func TestRelayOverRealTUN(t *testing.T) {
	if err := Usable(); err != nil {
		t.Skipf("needs root and the lab's tools: %v", err)
	}
	ctx := context.Background()
	ns := fmt.Sprintf("pfl-%d-relaytest", os.Getpid())
	if nsExists(ns) {
		t.Fatalf("namespace %s exists already", ns)
	}
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			t.Error(err)
		}
	})
	var tun *os.File
	if err := do(ns, func() error {
		var err error
		tun, err = OpenTUN("tun0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dev := &recordingTUN{File: tun}
	relay := NewRelay(dev, RelayParams{Delay: 30 * time.Millisecond})
	for _, c := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "198.18.250.1/30", "dev", "tun0"}, {"link", "set", "tun0", "up"}} {
		if _, err := run(ctx, append([]string{"ip", "-n", ns}, c...)...); err != nil {
			t.Fatal(err)
		}
	}
	var sent []time.Time
	if err := do(ns, func() error {
		c, err := net.Dial("udp", "198.18.250.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		for range 5 {
			sent = append(sent, time.Now())
			if _, err := c.Write([]byte("through the relay")); err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		dev.mu.Lock()
		n := len(dev.at)
		dev.mu.Unlock()
		if n >= 5 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := relay.Close(); err != nil {
		t.Fatal(err)
	}
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if len(dev.at) < 5 {
		t.Fatalf("relay wrote %d of 5 packets back to the TUN device", len(dev.at))
	}
	for i := range 5 {
		if d := dev.at[i].Sub(sent[i]); d < 30*time.Millisecond || d > 45*time.Millisecond {
			t.Errorf("packet %d held %v, want 30–45 ms", i, d)
		}
	}
	// Closing the file removes the (non-persistent) device.
	if out, err := run(ctx, "ip", "-n", ns, "link", "show", "tun0"); err == nil {
		t.Errorf("tun0 still exists after Close: %s", out)
	}
}

func TestConflictsIn(t *testing.T) {
	addrs := `[{"ifname":"lo","addr_info":[{"local":"127.0.0.1","prefixlen":8}]},
		{"ifname":"eth0","addr_info":[{"local":"10.0.0.5","prefixlen":24},{"local":"198.19.4.4","prefixlen":24}]}]`
	routes := `[{"dst":"default","dev":"eth0"},{"dst":"10.0.0.0/24","dev":"eth0"},{"dst":"198.18.0.0/16","dev":"eth1"},
		{"dst":"198.19.4.4","dev":"eth0"},{"dst":"0.0.0.0/0","dev":"eth0"}]`
	got, err := conflictsIn([]byte(addrs), []byte(routes))
	if err != nil {
		t.Fatal(err)
	}
	want := "address 198.19.4.4/24 on host interface eth0; host route 198.18.0.0/16 dev eth1; host route 198.19.4.4 dev eth0"
	if s := strings.Join(got, "; "); s != want {
		t.Errorf("conflicts\n got %s\nwant %s", s, want)
	}
	if got, err := conflictsIn([]byte(`[{"ifname":"eth0","addr_info":[{"local":"192.0.2.1","prefixlen":24}]}]`), []byte(`[{"dst":"default"}]`)); err != nil || len(got) != 0 {
		t.Errorf("clean host: %v %v", got, err)
	}
	if _, err := conflictsIn([]byte(`{`), []byte(`[]`)); err == nil {
		t.Error("broken ip output accepted")
	}
}

func TestRuleNFT(t *testing.T) {
	for _, c := range []struct {
		r    Rule
		want string
	}{
		{Rule{Src: []string{"198.18.1.0/24"}, Dst: "198.18.2.20", Proto: "tcp", Port: 2575, Note: "his-ports"},
			`ip saddr 198.18.1.0/24 ip daddr 198.18.2.20 tcp dport 2575 accept comment "his-ports"`},
		{Rule{Src: []string{"198.18.1.0/24", "198.18.10.0/30"}, Dst: "198.18.6.10", Proto: "icmp"},
			`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 icmp type echo-request accept`},
	} {
		if got := c.r.NFT(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
