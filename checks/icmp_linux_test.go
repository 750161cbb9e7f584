package checks

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The real socket: pro-bing against 127.0.0.1. Raw ICMP needs CAP_NET_RAW (the tests run as root); the
// datagram socket needs the group id inside net.ipv4.ping_group_range, which the namespace tests set
// both ways. Every address pinged here is a loopback address, also inside the test namespaces, so a
// mistake that ran a series in the host's namespace would still not leave the machine.

// fastPing is a short series that keeps the suite quick.
func fastPing(expect string) *ICMPSpec {
	return &ICMPSpec{Target: "robot", Expect: expect, Count: 5, Interval: Duration(10 * time.Millisecond),
		Timeout: Duration(300 * time.Millisecond)}
}

func icmpLoopbackEnv(addrs ...string) *Env {
	targets := map[string]Target{}
	for i, a := range addrs {
		name := "robot"
		if i > 0 {
			name = "robot" + strconv.Itoa(i)
		}
		targets[name] = Target{Address: netip.MustParseAddr(a)}
	}
	return &Env{Scope: NewScope(netip.MustParsePrefix("127.0.0.0/8")), Targets: targets, Timeout: time.Second}
}

func needRawSocket(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) for a raw ICMP socket")
	}
}

func TestICMPRealRawPingLoopback(t *testing.T) {
	needRawSocket(t)
	spec := fastPing("reachable")
	spec.Privileged = "true"
	r := spec.Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "mode", "raw")
	wantEvidence(t, r, "sent", 5)
	wantEvidence(t, r, "received", 5)
	wantEvidence(t, r, "loss_pct", 0)
	wantEvidence(t, r, "source", "127.0.0.1")
	rtt, ok := r.Evidence["rtt_ms"].(map[string]float64)
	if !ok || rtt["p95"] <= 0 || rtt["p95"] > 50 || rtt["max"] < rtt["p95"] || rtt["p50"] > rtt["p95"] {
		t.Errorf("rtt_ms %v: want loopback RTTs, 0 < p50 ≤ p95 ≤ max, p95 under 50 ms", r.Evidence["rtt_ms"])
	}
	if j, ok := r.Evidence["jitter_ms"].(float64); !ok || j < 0 || j > 50 {
		t.Errorf("jitter_ms %v, want a small number", r.Evidence["jitter_ms"])
	}
	for _, s := range r.Evidence["samples_ms"].([]any) {
		if s == nil {
			t.Errorf("samples %v: a loopback reply is missing", r.Evidence["samples_ms"])
		}
	}
}

func TestICMPRealRawPingIPv6Loopback(t *testing.T) {
	needRawSocket(t)
	if !routeHasIPv6Loopback() {
		t.Skip("no IPv6 loopback on this host")
	}
	env := &Env{Scope: NewScope(netip.MustParsePrefix("::1/128")), Timeout: time.Second,
		Targets: map[string]Target{"robot": {Address: netip.MustParseAddr("::1")}}}
	r := fastPing("reachable").Run(context.Background(), env)
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "mode", "raw")
	wantEvidence(t, r, "received", 5)
	wantEvidence(t, r, "source", "::1")
}

func TestICMPRealIsolationFailsWhenAnswered(t *testing.T) {
	needRawSocket(t)
	r := fastPing("unreachable").Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	wantStatus(t, r, Fail)
	wantSummary(t, r, "answered 5 of 5 echo requests", "reachable from here")
}

func TestICMPRealCancelled(t *testing.T) {
	needRawSocket(t)
	spec := fastPing("unreachable")
	spec.Count = 200
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := spec.Run(ctx, icmpLoopbackEnv("127.0.0.1"))
	wantStatus(t, r, Error)
	wantSummary(t, r, "could not decide")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the series ran %s after its context ended", d)
	}
}

// TestICMPRealDatagramHost uses the unprivileged socket in the host's namespace: it must either ping or
// say exactly what to change, depending on this machine's sysctl.
func TestICMPRealDatagramHost(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Skip("no net.ipv4.ping_group_range on this system")
	}
	var lo, hi int
	fmt.Sscan(string(b), &lo, &hi)
	spec := fastPing("reachable")
	spec.Privileged = "false"
	r := spec.Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	if gid := os.Getgid(); gid >= lo && gid <= hi {
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "mode", "udp")
		wantEvidence(t, r, "received", 5)
		return
	}
	wantStatus(t, r, Error)
	wantSummary(t, r, "unprivileged ICMP (UDP ping) socket refused", "outside net.ipv4.ping_group_range",
		`sysctl -w net.ipv4.ping_group_range="0 2147483647"`)
	if _, ok := r.Evidence["sent"]; ok {
		t.Errorf("evidence reports a series that could not have run: %v", r.Evidence)
	}
}

func TestICMPRealPermissionsInNamespace(t *testing.T) {
	allow := map[string]string{"net.ipv4.ping_group_range": "0 2147483647"}
	deny := map[string]string{"net.ipv4.ping_group_range": "1 0"}
	var raw, udpFallback, neither, neitherIsolation, udpOnly Result
	privateNetns{sysctl: allow}.run(t, func() {
		raw = fastPing("reachable").Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	})
	privateNetns{sysctl: allow, dropNetRaw: true}.run(t, func() {
		udpFallback = fastPing("reachable").Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
		s := fastPing("reachable")
		s.Privileged = "false"
		udpOnly = s.Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	})
	privateNetns{sysctl: deny, dropNetRaw: true}.run(t, func() {
		neither = fastPing("reachable").Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
		neitherIsolation = fastPing("unreachable").Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	})

	wantStatus(t, raw, Pass)
	wantEvidence(t, raw, "mode", "raw")

	wantStatus(t, udpFallback, Pass)
	wantEvidence(t, udpFallback, "mode", "udp")
	wantEvidence(t, udpFallback, "received", 5)
	if refused := fmt.Sprint(udpFallback.Evidence["refused"]); !strings.Contains(refused, "raw ICMP socket refused (socket: operation not permitted)") {
		t.Errorf("refused = %s, want why the raw socket was not used", refused)
	}
	wantStatus(t, udpOnly, Pass)
	wantEvidence(t, udpOnly, "mode", "udp")

	for _, r := range []Result{neither, neitherIsolation} {
		wantStatus(t, r, Error)
		wantSummary(t, r, "cannot send ICMP from this host",
			"raw ICMP socket refused (socket: operation not permitted)", "CAP_NET_RAW",
			"unprivileged ICMP (UDP ping) socket refused (socket: permission denied)", "ping_group_range (1 0)",
			`sysctl -w net.ipv4.ping_group_range="0 2147483647"`)
	}
}

func TestICMPRealSilentTargetInNamespace(t *testing.T) {
	var reachable, isolated Result
	privateNetns{sysctl: map[string]string{"net.ipv4.icmp_echo_ignore_all": "1"}}.run(t, func() {
		spec := fastPing("reachable")
		spec.Count, spec.Timeout = 3, Duration(100*time.Millisecond)
		reachable = spec.Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
		spec = fastPing("unreachable")
		spec.Count, spec.Timeout = 3, Duration(100*time.Millisecond)
		isolated = spec.Run(context.Background(), icmpLoopbackEnv("127.0.0.1"))
	})
	wantStatus(t, reachable, Fail)
	wantSummary(t, reachable, "127.0.0.1 is not reachable: no echo reply (3 sent, 100% loss)")
	wantEvidence(t, reachable, "outcome", "no-reply")
	wantEvidence(t, reachable, "samples_ms", []any{nil, nil, nil})
	wantStatus(t, isolated, Pass)
	wantSummary(t, isolated, "did not answer any of 3 echo requests")
	wantEvidence(t, isolated, "mode", "raw")
}

// TestICMPRealNoRouteInNamespace: the kernel's refusals are answers. The local route for 127.0.0.0/8 is
// removed in the namespace so that other loopback addresses can carry no, prohibit, unreachable and
// blackhole routes.
func TestICMPRealNoRouteInNamespace(t *testing.T) {
	lab := privateNetns{ip: [][]string{
		{"route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"},
		{"route", "add", "blackhole", "127.0.0.7/32"},
		{"route", "add", "prohibit", "127.0.0.8/32"},
		{"route", "add", "unreachable", "127.0.0.9/32"},
	}}
	addrs := []string{"127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"}
	outcomes := []string{"no-route", "blackhole", "prohibited", "unreachable"}
	env := icmpLoopbackEnv(addrs...)
	var reachable, isolated []Result
	var direct PingReport
	var directErr error
	lab.run(t, func() {
		for i := range addrs {
			name := "robot"
			if i > 0 {
				name += strconv.Itoa(i)
			}
			spec := fastPing("reachable")
			spec.Target = name
			reachable = append(reachable, spec.Run(context.Background(), env))
			spec = fastPing("unreachable")
			spec.Target = name
			isolated = append(isolated, spec.Run(context.Background(), env))
		}
		// Past the probe's route check, the real pinger reports a refused send as data, not an error.
		direct, directErr = probingPinger{}.Ping(context.Background(), PingRequest{Addr: netip.MustParseAddr("127.0.0.6"),
			Count: 2, Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond, Size: 56, Privileged: true})
	})
	for i, outcome := range outcomes {
		wantStatus(t, reachable[i], Fail)
		wantEvidence(t, reachable[i], "outcome", outcome)
		wantSummary(t, reachable[i], "no usable route ("+outcome, "nothing was sent")
		wantStatus(t, isolated[i], Pass)
		wantEvidence(t, isolated[i], "outcome", outcome)
		wantEvidence(t, isolated[i], "sent", 0)
	}
	if directErr != nil || direct.Sent != 0 || direct.SendErrors != 1 || Classify(direct.SendErr) != "no-route" {
		t.Errorf("direct series: %+v, %v; want one refused send classified no-route", direct, directErr)
	}
}
