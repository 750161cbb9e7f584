//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

// The lab side of every fault, tested on its own with ordinary clients inside the lab — also those whose
// preflight probe is not built yet, so the scenarios that need them work the day the probe lands.

// mechanismLab is a lab without profiles, plus the firewall openings the measurements need: pings and a
// bulk-transfer port from the telesurgery segment to the console, HTTPS to the cloud.
func mechanismLab(t *testing.T) *netlab.Lab {
	t.Helper()
	l := netlab.New(t, netlab.Options{})
	ctx := context.Background()
	for _, r := range []struct{ fw, rule string }{
		{netlab.SurgeonFW, fmt.Sprintf("ip daddr %s icmp type echo-request accept", netlab.ConsoleAddr)},
		{netlab.SurgeonFW, fmt.Sprintf("ip daddr %s tcp dport %d accept", netlab.ConsoleAddr, bulkPort)},
		{netlab.PatientFW, fmt.Sprintf("ip daddr %s tcp dport 443 accept", netlab.CloudAddr)},
	} {
		if err := l.Allow(ctx, r.fw, r.rule); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

const bulkPort = 19000

// ping sends count echo requests from role to addr with pro-bing (the icmp probe's library), privileged.
func ping(t *testing.T, l *netlab.Lab, role, addr string, count int, interval time.Duration) *probing.Statistics {
	t.Helper()
	var st *probing.Statistics
	err := l.Do(role, func() error {
		p, err := probing.NewPinger(addr)
		if err != nil {
			return err
		}
		p.SetPrivileged(true)
		p.Count, p.Interval = count, interval
		p.Timeout = time.Duration(count)*interval + 2*time.Second
		if err := p.Run(); err != nil {
			return err
		}
		st = p.Statistics()
		return nil
	})
	if err != nil {
		t.Fatalf("ping %s from %s: %v", addr, role, err)
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile of the round trips ping measured (nearest rank). Timing bounds use the median and the 95th
// percentile: an early packet is a bug of the relay, a late one may be a busy machine's scheduler.
func percentile(st *probing.Statistics, p float64) time.Duration {
	rtts := slices.Clone(st.Rtts)
	if len(rtts) == 0 {
		return 0
	}
	slices.Sort(rtts)
	return rtts[min(len(rtts)-1, int(math.Ceil(p*float64(len(rtts))))-1)]
}

func TestCarrierRelayDelay(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	ctx := context.Background()
	base := ping(t, l, netlab.PatientTS, netlab.ConsoleAddr, 20, 20*time.Millisecond)
	if base.PacketLoss != 0 || percentile(base, 0.5) > 5*time.Millisecond {
		t.Fatalf("clean carrier: loss %.1f%%, RTT p50 %v; want no loss and < 5 ms", base.PacketLoss, percentile(base, 0.5))
	}
	for _, oneWay := range []time.Duration{25 * time.Millisecond, 75 * time.Millisecond} {
		if err := l.SetLink(ctx, netlab.Link{Delay: oneWay}); err != nil {
			t.Fatal(err)
		}
		st := ping(t, l, netlab.PatientTS, netlab.ConsoleAddr, 30, 20*time.Millisecond)
		want, p50 := 2*oneWay, percentile(st, 0.5)
		t.Logf("delay %v one way: RTT min %.2f p50 %.2f avg %.2f max %.2f ms (want %.0f; clean avg %.2f ms), relay accuracy p50 %+.2f ms",
			oneWay, ms(st.MinRtt), ms(p50), ms(st.AvgRtt), ms(st.MaxRtt), ms(want), ms(base.AvgRtt), ms(p50-want))
		if st.PacketLoss != 0 || st.MinRtt < want || p50 > want+5*time.Millisecond {
			t.Errorf("delay %v one way: loss %.1f%%, RTT min %v p50 %v; want no loss, min ≥ %v, p50 ≤ %v", oneWay,
				st.PacketLoss, st.MinRtt, p50, want, want+5*time.Millisecond)
		}
	}
}

func TestCarrierRelayJitter(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	if err := l.SetLink(context.Background(), netlab.Link{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// 100 ms between pings: more than the jitter, so keeping packets in order does not narrow the spread.
	st := ping(t, l, netlab.PatientTS, netlab.ConsoleAddr, 40, 100*time.Millisecond)
	p5, p95 := percentile(st, 0.05), percentile(st, 0.95)
	t.Logf("30±10 ms one way: RTT min %.2f p5 %.2f avg %.2f p95 %.2f max %.2f stddev %.2f ms",
		ms(st.MinRtt), ms(p5), ms(st.AvgRtt), ms(p95), ms(st.MaxRtt), ms(st.StdDevRtt))
	// Each direction adds 20–40 ms: round trips lie in 40–80 ms, spread out (uniform ±10 twice: σ ≈ 5.8 ms).
	if st.MinRtt < 40*time.Millisecond || p95 > 85*time.Millisecond || p95-p5 < 10*time.Millisecond {
		t.Errorf("RTT min %v p5 %v p95 %v; want min ≥ 40 ms, p95 ≤ 85 ms, and p95−p5 ≥ 10 ms", st.MinRtt, p5, p95)
	}
}

func TestCarrierLoss(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	if err := l.SetLink(context.Background(), netlab.Link{Loss: 0.05}); err != nil {
		t.Fatal(err)
	}
	const n = 1500
	st := ping(t, l, netlab.PatientTS, netlab.ConsoleAddr, n, 2*time.Millisecond)
	// 5 % each way: a round trip survives with 0.95² — 9.75 % of pings lost; σ ≈ 0.77 % at n = 1500.
	t.Logf("loss 5%% each way: %d of %d pings lost (%.2f%%, expected 9.75%%)", st.PacketsSent-st.PacketsRecv, st.PacketsSent, st.PacketLoss)
	if st.PacketLoss < 6.5 || st.PacketLoss > 13 {
		t.Errorf("round-trip loss %.2f%%, want 6.5–13 %% (9.75 %% expected)", st.PacketLoss)
	}
	out, err := l.Exec(context.Background(), netlab.Carrier, "nft", "list", "chain", "inet", "pfl", "forward")
	if err != nil || !strings.Contains(out, "numgen random mod 10000 < 500") {
		t.Errorf("carrier loss rule missing (%v):\n%s", err, out)
	}
	if err := l.SetLink(context.Background(), netlab.Link{}); err != nil {
		t.Fatal(err)
	}
	if st := ping(t, l, netlab.PatientTS, netlab.ConsoleAddr, 200, 2*time.Millisecond); st.PacketLoss != 0 {
		t.Errorf("loss back to 0: still %.2f%% lost", st.PacketLoss)
	}
}

func TestCarrierRate(t *testing.T) {
	needLab(t)
	l := mechanismLab(t)
	const rate = 20_000_000
	if err := l.SetLink(context.Background(), netlab.Link{Rate: rate}); err != nil {
		t.Fatal(err)
	}
	// A sink on the console counts bytes; the patient side sends as fast as TCP lets it for 2 s.
	var ln net.Listener
	if err := l.Do(netlab.SurgeonTS, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(netlab.ConsoleAddr, fmt.Sprint(bulkPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan float64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		// Measure after the first half second, when the shaper's bucket is drained and TCP is steady.
		_, _ = io.CopyN(io.Discard, c, 1)
		warm := time.Now().Add(500 * time.Millisecond)
		_ = c.SetReadDeadline(warm)
		_, _ = io.Copy(io.Discard, c)
		_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		start := time.Now()
		n, _ := io.Copy(io.Discard, c)
		got <- float64(n*8) / time.Since(start).Seconds()
	}()
	var conn net.Conn
	if err := l.Do(netlab.PatientTS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", net.JoinHostPort(netlab.ConsoleAddr, fmt.Sprint(bulkPort)), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	_ = conn.SetWriteDeadline(time.Now().Add(2200 * time.Millisecond))
	for {
		if _, err := conn.Write(buf); err != nil {
			break
		}
	}
	conn.Close()
	bps := <-got
	t.Logf("tbf %d Mbit/s: measured %.2f Mbit/s of TCP payload", rate/1_000_000, bps/1e6)
	if bps < 0.8*rate || bps > 1.05*rate {
		t.Errorf("throughput %.2f Mbit/s, want 80–105 %% of %d Mbit/s", bps/1e6, rate/1_000_000)
	}
}
