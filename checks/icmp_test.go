package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rtts builds a series of round-trip times from milliseconds; a negative number is a lost request.
func rttSeries(msecs ...float64) []time.Duration {
	out := make([]time.Duration, len(msecs))
	for i, m := range msecs {
		out[i] = time.Duration(m * float64(time.Millisecond))
	}
	return out
}

func TestPingStatistics(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // sent slowest first: percentiles must not depend on order
	}
	for _, tc := range []struct {
		name                     string
		series                   []time.Duration
		dups                     int
		sent, received, late     int
		loss                     float64
		p50, p95, p99, max, jitt float64 // ms; jitt < 0: no jitter
	}{
		{"steady", rttSeries(10, 12, 11, 15, 10), 0, 5, 5, 0, 0, 11, 15, 15, 15, 3},
		{"one lost in the middle", rttSeries(10, -1, 14, 12), 0, 4, 3, 0, 25, 12, 14, 14, 14, 3},
		{"late reply is lost", rttSeries(10, 150), 0, 2, 1, 1, 50, 10, 10, 10, 10, -1},
		{"all lost", rttSeries(-1, -1, -1), 0, 3, 0, 0, 100, 0, 0, 0, 0, -1},
		{"duplicates ignored", rttSeries(5, 7), 2, 2, 2, 0, 0, 5, 7, 7, 7, 2},
		{"hundred samples", rttSeries(hundred...), 0, 100, 100, 0, 0, 50, 95, 99, 100, 1},
		{"single reply", rttSeries(42), 0, 1, 1, 0, 0, 42, 42, 42, 42, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := (&fakePinger{series: tc.series, dups: tc.dups}).report()
			st := pingStatistics(rep, 100*time.Millisecond)
			if st.sent != tc.sent || st.received != tc.received || st.late != tc.late || st.lossPct != tc.loss {
				t.Errorf("sent %d received %d late %d loss %g%%, want %d %d %d %g%%",
					st.sent, st.received, st.late, st.lossPct, tc.sent, tc.received, tc.late, tc.loss)
			}
			got := []float64{evidenceMS(st.p50), evidenceMS(st.p95), evidenceMS(st.p99), evidenceMS(st.max)}
			if want := []float64{tc.p50, tc.p95, tc.p99, tc.max}; !slices.Equal(got, want) {
				t.Errorf("p50/p95/p99/max = %v, want %v", got, want)
			}
			if (tc.jitt < 0) == st.hasJitter || (st.hasJitter && evidenceMS(st.jitter) != tc.jitt) {
				t.Errorf("jitter %v (computed %v), want %v", evidenceMS(st.jitter), st.hasJitter, tc.jitt)
			}
			if st.duplicates != tc.dups {
				t.Errorf("duplicates %d, want %d", st.duplicates, tc.dups)
			}
			if len(st.samples) != min(tc.sent, icmpMaxSamples) {
				t.Errorf("%d samples, want one per request", len(st.samples))
			}
		})
	}
}

func TestPingStatisticsBoundsSamples(t *testing.T) {
	series := make([]time.Duration, 1000)
	for i := range series {
		series[i] = time.Millisecond
	}
	ev := Evidence{}
	pingStatistics((&fakePinger{series: series}).report(), time.Second).fill(ev)
	if n := len(ev["samples_ms"].([]any)); n != icmpMaxSamples || ev["samples_truncated"] != true {
		t.Fatalf("%d samples kept, truncated %v; want %d and true", n, ev["samples_truncated"], icmpMaxSamples)
	}
}

func TestICMPLinkQuality(t *testing.T) {
	steady := rttSeries(20, 22, 21, 25, 20, 21, 22, 20, 23, 21)
	for _, tc := range []struct {
		name    string
		spec    ICMPSpec
		series  []time.Duration
		want    Status
		summary []string
		absent  []string
	}{
		{"within defaults", ICMPSpec{}, steady, Pass, []string{"10/10 replies", "loss 0%", "RTT p95 25 ms", "within limits"}, nil},
		{"one loss in ten over 1%", ICMPSpec{}, rttSeries(20, 21, -1, 20, 22, 21, 20, 22, 21, 20), Fail,
			[]string{"loss 10% over max_loss 1% (1 of 10 lost)"}, []string{"RTT", "jitter"}},
		{"one loss in ten within 10%", ICMPSpec{MaxLoss: percentPtr(Percent(10))}, rttSeries(20, 21, -1, 20, 22, 21, 20, 22, 21, 20), Pass, nil, nil},
		{"slow link", ICMPSpec{}, rttSeries(120, 121, 119, 122, 120, 121, 120, 119, 122, 120), Fail,
			[]string{"RTT p95 122 ms over max_rtt 100 ms"}, []string{"loss", "jitter"}},
		{"one spike does not move p95 of 100", ICMPSpec{Count: 100, MaxJitter: Duration(50 * time.Millisecond)},
			append(rttSeries(500), slices.Repeat(rttSeries(20), 99)...), Pass, nil, nil},
		{"jittery link", ICMPSpec{}, rttSeries(10, 60, 10, 60, 10, 60, 10, 60, 10, 60), Fail,
			[]string{"jitter 50 ms over max_jitter 20 ms"}, []string{"loss", "RTT p95"}},
		{"everything wrong names everything", ICMPSpec{MaxRTT: Duration(50 * time.Millisecond)},
			rttSeries(10, 90, -1, 10, 90, 10, 90, 10, 90, 10), Fail,
			[]string{"loss 10%", "RTT p95 90 ms over max_rtt 50 ms", "jitter 80 ms over max_jitter 20 ms"}, nil},
		{"no replies", ICMPSpec{}, rttSeries(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1), Fail,
			[]string{"not reachable", "no echo reply", "100% loss"}, nil},
		{"only late replies", ICMPSpec{Timeout: Duration(100 * time.Millisecond)}, slices.Repeat(rttSeries(150), 10), Fail,
			[]string{"not reachable", "10 late"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePinger{series: tc.series}
			tc.spec.Expect = "reachable"
			r := runICMP(t, &tc.spec, f)
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary...)
			for _, a := range tc.absent {
				if strings.Contains(r.Summary, a) {
					t.Errorf("summary %q mentions %q, which held", r.Summary, a)
				}
			}
			wantEvidence(t, r, "sent", len(tc.series))
			if _, err := json.Marshal(r.Evidence); err != nil {
				t.Errorf("evidence is not JSON-encodable: %v", err)
			}
			if len(f.calls) != 1 || !f.calls[0].Privileged {
				t.Errorf("pinger calls %+v, want one raw series", f.calls)
			}
		})
	}
}

func TestICMPEvidence(t *testing.T) {
	f := &fakePinger{series: rttSeries(10, -1, 14, 12)}
	r := runICMP(t, &ICMPSpec{Expect: "reachable", Count: 4, MaxLoss: percentPtr(Percent(30))}, f)
	wantStatus(t, r, Pass)
	for key, want := range map[string]any{
		"sent": 4, "received": 3, "loss_pct": 25, "jitter_ms": 3, "mode": "raw", "source": "127.0.0.1",
		"rtt_ms":     map[string]float64{"p50": 12, "p95": 14, "p99": 14, "max": 14, "min": 10},
		"samples_ms": []any{10.0, nil, 14.0, 12.0},
		"thresholds": map[string]any{"max_rtt_ms": 100.0, "rtt_statistic": "p95", "max_jitter_ms": 20.0, "max_loss_pct": 30.0},
		"count":      4, "interval_ms": 200, "size": 56, "outcome": "replied", "late": 0, "address": "127.0.0.1",
	} {
		wantEvidence(t, r, key, want)
	}
	if req := f.calls[0]; req.Count != 4 || req.Interval != 200*time.Millisecond || req.Size != 56 || req.Timeout != 2*time.Second ||
		req.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("request %+v, want the defaults and the profile timeout", req)
	}
}

func TestICMPIsolation(t *testing.T) {
	t.Run("silence passes", func(t *testing.T) {
		r := runICMP(t, &ICMPSpec{Expect: "unreachable", Count: 3}, &fakePinger{series: rttSeries(-1, -1, -1)})
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "outcome", "no-reply")
		wantEvidence(t, r, "received", 0)
		wantEvidence(t, r, "rtt_ms", nil)
	})
	t.Run("one reply fails", func(t *testing.T) {
		r := runICMP(t, &ICMPSpec{Expect: "unreachable", Count: 3}, &fakePinger{series: rttSeries(-1, 3, -1)})
		wantStatus(t, r, Fail)
		wantSummary(t, r, "answered 1 of 3", "reachable from here")
	})
	t.Run("a late reply still proves reachability", func(t *testing.T) {
		r := runICMP(t, &ICMPSpec{Expect: "unreachable", Count: 2, Timeout: Duration(50 * time.Millisecond)},
			&fakePinger{series: rttSeries(-1, 900)})
		wantStatus(t, r, Fail)
		wantEvidence(t, r, "late", 1)
	})
	t.Run("no route passes", func(t *testing.T) {
		f := &fakePinger{sendErr: &os.SyscallError{Syscall: "sendto", Err: syscall.ENETUNREACH}}
		r := runICMP(t, &ICMPSpec{Expect: "unreachable", Count: 3}, f)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "outcome", "no-route")
	})
}

func TestICMPSendErrors(t *testing.T) {
	noRoute := &os.SyscallError{Syscall: "sendto", Err: syscall.ENETUNREACH}
	r := runICMP(t, &ICMPSpec{Expect: "reachable", Count: 3}, &fakePinger{sendErr: noRoute})
	wantStatus(t, r, Fail)
	wantSummary(t, r, "refuses to send", "no-route")
	wantEvidence(t, r, "send_errors", 1)

	// A refusal that says nothing about the path (no buffer space) cannot decide either way.
	for _, expect := range icmpExpectations {
		f := &fakePinger{sendErr: &os.SyscallError{Syscall: "sendto", Err: syscall.ENOBUFS}}
		r := runICMP(t, &ICMPSpec{Expect: expect, Count: 3}, f)
		wantStatus(t, r, Error)
		wantSummary(t, r, "could not decide", "no buffer space")
	}
}

func TestICMPPermissions(t *testing.T) {
	t.Run("auto falls back to the datagram socket", func(t *testing.T) {
		f := &fakePinger{series: rttSeries(1, 1, 1), refuse: map[bool]bool{true: true}}
		r := runICMP(t, &ICMPSpec{Expect: "reachable", Count: 3}, f)
		wantStatus(t, r, Pass)
		wantEvidence(t, r, "mode", "udp")
		if refused := fmt.Sprint(r.Evidence["refused"]); !strings.Contains(refused, "CAP_NET_RAW") {
			t.Errorf("refused %s does not record why raw was not used", refused)
		}
		if len(f.calls) != 2 || !f.calls[0].Privileged || f.calls[1].Privileged {
			t.Errorf("calls %+v, want raw then datagram", f.calls)
		}
	})
	t.Run("neither socket is an error naming both fixes", func(t *testing.T) {
		for _, expect := range icmpExpectations { // never a silent pass of the isolation form
			f := &fakePinger{refuse: map[bool]bool{true: true, false: true}}
			r := runICMP(t, &ICMPSpec{Expect: expect}, f)
			wantStatus(t, r, Error)
			wantSummary(t, r, "cannot send ICMP", "CAP_NET_RAW", "setcap cap_net_raw+ep",
				`sysctl -w net.ipv4.ping_group_range="0 2147483647"`)
		}
	})
	t.Run("privileged true does not fall back", func(t *testing.T) {
		f := &fakePinger{refuse: map[bool]bool{true: true}}
		r := runICMP(t, &ICMPSpec{Expect: "reachable", Privileged: "true"}, f)
		wantStatus(t, r, Error)
		wantSummary(t, r, "CAP_NET_RAW")
		if strings.Contains(r.Summary, "ping_group_range") || len(f.calls) != 1 {
			t.Errorf("summary %q after %d calls, want only the raw socket tried", r.Summary, len(f.calls))
		}
	})
	t.Run("privileged false uses only the datagram socket", func(t *testing.T) {
		f := &fakePinger{refuse: map[bool]bool{false: true}}
		r := runICMP(t, &ICMPSpec{Expect: "reachable", Privileged: "false"}, f)
		wantStatus(t, r, Error)
		wantSummary(t, r, "ping_group_range")
		if len(f.calls) != 1 || f.calls[0].Privileged {
			t.Errorf("calls %+v, want one datagram series", f.calls)
		}
	})
}

func TestICMPOutOfScopeSendsNothing(t *testing.T) {
	f := &fakePinger{series: rttSeries(1)}
	env := loopbackEnv(t, map[string]Target{"robot": loopback})
	env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	r := (&ICMPSpec{Target: "robot", Expect: "unreachable", pinger: f}).Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "outside the profile's scope")
	if len(f.calls) != 0 {
		t.Fatalf("the pinger was called %d times for an out-of-scope target", len(f.calls))
	}
}

func TestICMPCancelledIsError(t *testing.T) {
	f := &fakePinger{series: rttSeries(1)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := (&ICMPSpec{Target: "robot", Expect: "unreachable", pinger: f}).Run(ctx, loopbackEnv(t, map[string]Target{"robot": loopback}))
	wantStatus(t, r, Error)
	if len(f.calls) != 0 {
		t.Fatalf("the pinger was called after cancellation")
	}
	// Cancelled during the series: the silence it saw proves nothing.
	f = &fakePinger{series: rttSeries(-1, -1), cancelDuring: true}
	r = runICMP(t, &ICMPSpec{Expect: "unreachable"}, f)
	wantStatus(t, r, Error)
	wantSummary(t, r, "could not decide", "canceled")
}

func TestICMPCheck(t *testing.T) {
	targets := map[string]Target{"robot": {Address: netip.MustParseAddr("198.18.1.10")}}
	msd := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name   string
		spec   ICMPSpec
		fields []string
	}{
		{"minimal", ICMPSpec{Target: "robot", Expect: "reachable"}, nil},
		{"full", ICMPSpec{Target: "robot", Expect: "reachable", Count: 50, Interval: msd(20), Size: 1400,
			MaxRTT: msd(80), MaxJitter: msd(10), MaxLoss: percentPtr(Percent(0)), Timeout: msd(500), Privileged: "auto"}, nil},
		{"isolation", ICMPSpec{Target: "robot", Expect: "unreachable", Count: 3, Privileged: "false"}, nil},
		{"missing target", ICMPSpec{Expect: "reachable"}, []string{"target"}},
		{"unknown target", ICMPSpec{Target: "robt", Expect: "reachable"}, []string{"target"}},
		{"missing expect", ICMPSpec{Target: "robot"}, []string{"expect"}},
		{"bad expect", ICMPSpec{Target: "robot", Expect: "open"}, []string{"expect"}},
		{"negative count", ICMPSpec{Target: "robot", Expect: "reachable", Count: -1}, []string{"count"}},
		{"count too big", ICMPSpec{Target: "robot", Expect: "reachable", Count: 1001}, []string{"count"}},
		{"interval too short", ICMPSpec{Target: "robot", Expect: "reachable", Interval: msd(5)}, []string{"interval"}},
		{"size too small", ICMPSpec{Target: "robot", Expect: "reachable", Size: 8}, []string{"size"}},
		{"size too big", ICMPSpec{Target: "robot", Expect: "reachable", Size: 70000}, []string{"size"}},
		{"inverted thresholds", ICMPSpec{Target: "robot", Expect: "reachable", MaxRTT: msd(20), MaxJitter: msd(30)}, []string{"max_jitter"}},
		{"thresholds with isolation", ICMPSpec{Target: "robot", Expect: "unreachable", MaxRTT: msd(20), MaxJitter: msd(5),
			MaxLoss: percentPtr(Percent(1))}, []string{"max_rtt", "max_jitter", "max_loss"}},
		{"negative durations", ICMPSpec{Target: "robot", Expect: "reachable", MaxRTT: -1, Timeout: -1}, []string{"max_rtt", "timeout"}},
		{"bad privileged", ICMPSpec{Target: "robot", Expect: "reachable", Privileged: "yes"}, []string{"privileged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Validator{Targets: targets, Scope: NewScope(netip.MustParsePrefix("198.18.0.0/15"))}
			tc.spec.Check(v)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("problems %v, want fields %v", v.Problems, tc.fields)
			}
			if tc.name == "inverted thresholds" && !strings.Contains(v.Problems[0].Msg, "inverted thresholds") {
				t.Errorf("message %q does not say inverted thresholds", v.Problems[0].Msg)
			}
		})
	}
}

// fakePinger answers with a chosen series of round-trip times instead of a socket.
type fakePinger struct {
	series       []time.Duration // per request; negative: no reply
	dups         int             // extra copies of the first reply
	refuse       map[bool]bool   // privileged → the socket is refused
	sendErr      error           // the kernel refuses the first request; the series stops there
	cancelDuring bool            // the series ends because the context was cancelled

	mu    sync.Mutex
	calls []PingRequest
}

func (f *fakePinger) Ping(ctx context.Context, req PingRequest) (PingReport, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	if f.refuse[req.Privileged] {
		call := "socket(raw)"
		errno := syscall.EPERM
		if !req.Privileged {
			call, errno = "socket(dgram)", syscall.EACCES
		}
		return PingReport{}, fmt.Errorf("%w: %w", ErrPingNotPermitted, &os.SyscallError{Syscall: call, Err: errno})
	}
	if f.sendErr != nil {
		return PingReport{SendErrors: 1, SendErr: f.sendErr}, nil
	}
	rep := f.report()
	if f.cancelDuring {
		// The runner cancels ctx at the item deadline; the probe must notice.
		return rep, context.Canceled
	}
	return rep, nil
}

func (f *fakePinger) report() PingReport {
	rep := PingReport{Sent: len(f.series)}
	for seq, rtt := range f.series {
		if rtt >= 0 {
			rep.Replies = append(rep.Replies, PingReply{Seq: seq, RTT: rtt})
		}
	}
	for range f.dups {
		rep.Replies = append(rep.Replies, rep.Replies[0])
	}
	return rep
}

// runICMP runs spec against the loopback target with pinger f.
func runICMP(t *testing.T, spec *ICMPSpec, f Pinger) Result {
	t.Helper()
	spec.Target, spec.pinger = "robot", f
	if spec.Count == 0 {
		if fp, ok := f.(*fakePinger); ok && len(fp.series) > 0 {
			spec.Count = len(fp.series)
		}
	}
	return spec.Run(context.Background(), loopbackEnv(t, map[string]Target{"robot": loopback}))
}

func percentPtr(p Percent) *Percent { return &p }
