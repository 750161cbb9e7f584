package checks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"
)

// ICMPSpec sends a series of ICMP echo requests. With expect "reachable" it gates link quality: loss, the
// RTT percentile and jitter must stay within their thresholds. With expect "unreachable" it is the
// isolation form: no reply at all passes, any reply fails.
type ICMPSpec struct {
	Target   string   `yaml:"target"`
	Count    int      `yaml:"count"`    // echo requests; default 10
	Interval Duration `yaml:"interval"` // between requests; default 200ms, at least 10ms
	Size     int      `yaml:"size"`     // payload bytes; default 56 as ping(8)
	Expect   string   `yaml:"expect"`   // reachable | unreachable
	// Thresholds of expect "reachable". MaxRTT applies to the 95th percentile, so one slow reply among
	// many does not fail the link while a slow link does.
	MaxRTT    Duration `yaml:"max_rtt"`
	MaxJitter Duration `yaml:"max_jitter"`
	MaxLoss   *Percent `yaml:"max_loss"` // a pointer: "0%" (no loss at all) differs from unset
	Timeout   Duration `yaml:"timeout"`  // how long a reply may take; later ones count as lost
	// Privileged is auto (raw socket, else the unprivileged datagram socket), true (raw only) or false
	// (datagram only).
	Privileged string `yaml:"privileged"`

	pinger Pinger // nil: the real socket; tests put a fake here
}

// Defaults and bounds of the icmp probe; README's icmp section gives the sources.
const (
	icmpDefaultCount     = 10
	icmpMaxCount         = 1000
	icmpDefaultInterval  = 200 * time.Millisecond
	icmpMinInterval      = 10 * time.Millisecond // fragile medical devices must not be flooded
	icmpDefaultSize      = 56
	icmpMinSize          = 24 // pro-bing's timestamp and tracker
	icmpMaxSize          = 65507
	icmpDefaultMaxRTT    = 100 * time.Millisecond // Nankaku et al. 2022: acceptable delay ≤ 100 ms
	icmpDefaultMaxJitter = 20 * time.Millisecond
	icmpDefaultMaxLoss   = Percent(1) // image loss with hinotori began at 3 % (Ebihara et al. 2022)
	icmpMaxSamples       = 200        // raw samples kept in the evidence
)

var (
	icmpExpectations = []string{"reachable", "unreachable"}
	icmpPrivileged   = []string{"auto", "true", "false"}
)

// Check validates the parameters.
func (s *ICMPSpec) Check(v *Validator) {
	v.Target("target", s.Target)
	if s.Count < 0 || s.Count > icmpMaxCount {
		v.Errorf("count", "count %d out of range: send 1-%d echo requests", s.Count, icmpMaxCount)
	}
	if s.Interval != 0 && s.Interval.D() < icmpMinInterval {
		v.Errorf("interval", "interval %s is below %s: faster pings can overwhelm fragile devices", s.Interval.D(), icmpMinInterval)
	}
	if s.Size != 0 && (s.Size < icmpMinSize || s.Size > icmpMaxSize) {
		v.Errorf("size", "size %d out of range: payloads are %d-%d bytes", s.Size, icmpMinSize, icmpMaxSize)
	}
	v.Required("expect", s.Expect != "")
	v.OneOf("expect", s.Expect, icmpExpectations...)
	durations := []struct {
		field string
		d     Duration
	}{{"max_rtt", s.MaxRTT}, {"max_jitter", s.MaxJitter}, {"timeout", s.Timeout}}
	for _, f := range durations {
		if f.d < 0 {
			v.Errorf(f.field, "%s must be greater than zero", f.field)
		}
	}
	if s.Expect == "unreachable" {
		for _, f := range []struct {
			field string
			set   bool
		}{{"max_rtt", s.MaxRTT != 0}, {"max_jitter", s.MaxJitter != 0}, {"max_loss", s.MaxLoss != nil}} {
			if f.set {
				v.Errorf(f.field, "%s only applies to expect: reachable (unreachable passes only when nothing answers)", f.field)
			}
		}
	}
	if s.MaxRTT > 0 && s.MaxJitter > s.MaxRTT {
		v.Errorf("max_jitter", "inverted thresholds: max_jitter %s is above max_rtt %s", s.MaxJitter.D(), s.MaxRTT.D())
	}
	v.OneOf("privileged", s.Privileged, icmpPrivileged...)
}

// icmpLimits are the thresholds in force for one run.
type icmpLimits struct {
	rtt, jitter time.Duration
	loss        float64
}

func (s *ICMPSpec) limits() icmpLimits {
	l := icmpLimits{rtt: s.MaxRTT.Or(icmpDefaultMaxRTT), jitter: s.MaxJitter.Or(icmpDefaultMaxJitter), loss: float64(icmpDefaultMaxLoss)}
	if s.MaxLoss != nil {
		l.loss = float64(*s.MaxLoss)
	}
	return l
}

// Run sends the series and judges it.
func (s *ICMPSpec) Run(ctx context.Context, env *Env) Result {
	_, t, err := env.Addr(s.Target, 0)
	ev := Evidence{"target": s.Target, "address": t.Address.String(), "expect": s.Expect}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	addr := t.Address.String()
	req := PingRequest{Addr: t.Address, Count: s.Count, Interval: s.Interval.Or(icmpDefaultInterval),
		Timeout: s.Timeout.Or(env.Timeout), Size: s.Size}
	if req.Count == 0 {
		req.Count = icmpDefaultCount
	}
	if req.Size == 0 {
		req.Size = icmpDefaultSize
	}
	if req.Timeout <= 0 {
		req.Timeout = time.Second
	}
	ev["count"], ev["interval_ms"], ev["timeout_ms"], ev["size"] = req.Count, evidenceMS(req.Interval), evidenceMS(req.Timeout), req.Size
	if ctx.Err() != nil {
		return Errored(ev, "could not decide: %s before the first echo request", stopReason(ctx))
	}

	// Ask the kernel for the route first, through the scoped dialer: a UDP connect sends nothing, names
	// the source address, and turns a missing or prohibited route into an answer before pro-bing opens
	// its socket.
	conn, err := env.Dialer(req.Timeout).DialContext(ctx, "udp", joinHostPort(addr, 9))
	if err != nil {
		return s.judgeNoRoute(ev, addr, err)
	}
	ev["source"] = conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().String()
	conn.Close()

	rep, mode, err := s.ping(ctx, req, ev)
	if err != nil {
		return Errored(ev, "%v", err)
	}
	ev["mode"] = mode
	if ctx.Err() != nil {
		return Errored(ev, "could not decide: %s during the echo series", stopReason(ctx))
	}
	st := pingStatistics(rep, req.Timeout)
	st.fill(ev)
	if st.received == 0 && st.late == 0 && st.sendErr != nil && !decidedSendError(st.sendErr) {
		return Errored(ev, "could not decide: sending to %s failed: %v", addr, st.sendErr)
	}
	if s.Expect == "unreachable" {
		return s.judgeIsolation(ev, addr, st)
	}
	return s.judgeQuality(ev, addr, st)
}

// decidedSendError reports whether a refusal to send is itself an answer about reachability.
func decidedSendError(err error) bool {
	_, decided := routeOutcome(err)
	return decided
}

// judgeNoRoute judges a series that never started because the kernel has no usable route.
func (s *ICMPSpec) judgeNoRoute(ev Evidence, addr string, err error) Result {
	outcome, decided := routeOutcome(err)
	ev["outcome"], ev["error"] = outcome, err.Error()
	if !decided {
		return Errored(ev, "could not decide: route lookup for %s: %v", addr, err)
	}
	ev["sent"], ev["received"], ev["loss_pct"], ev["rtt_ms"], ev["jitter_ms"] = 0, 0, 100.0, nil, nil
	ev["samples_ms"] = []any{}
	if s.Expect == "unreachable" {
		return Passed(ev, "%s is not reachable from here: the kernel has no usable route (%s), nothing was sent", addr, outcome)
	}
	return Failed(ev, "%s is not reachable: the kernel has no usable route (%s: %v), nothing was sent", addr, outcome, err)
}

// ping runs the series on the socket that privileged allows, falling back from raw to datagram in auto.
func (s *ICMPSpec) ping(ctx context.Context, req PingRequest, ev Evidence) (PingReport, string, error) {
	p := s.pinger
	if p == nil {
		p = probingPinger{}
	}
	modes := []bool{true, false}
	switch s.Privileged {
	case "true":
		modes = []bool{true}
	case "false":
		modes = []bool{false}
	}
	var refused []string
	for _, privileged := range modes {
		req.Privileged = privileged
		rep, err := p.Ping(ctx, req)
		if errors.Is(err, ErrPingNotPermitted) {
			refused = append(refused, icmpPermissionFix(privileged, err))
			continue
		}
		if len(refused) > 0 {
			ev["refused"] = refused
		}
		if err != nil {
			return rep, "", fmt.Errorf("could not decide: %w", err)
		}
		return rep, icmpMode(privileged), nil
	}
	ev["refused"] = refused
	return PingReport{}, "", fmt.Errorf("cannot send ICMP from this host: %s", strings.Join(refused, "; "))
}

func icmpMode(privileged bool) string {
	if privileged {
		return "raw"
	}
	return "udp"
}

// icmpPermissionFix says why the socket was refused and what to change.
func icmpPermissionFix(privileged bool, err error) string {
	var cause error = err
	if se := (*os.SyscallError)(nil); errors.As(err, &se) {
		cause = se // "socket: operation not permitted", without pro-bing's wrapping
	}
	if privileged {
		return fmt.Sprintf("raw ICMP socket refused (%v): run preflight as root or give it CAP_NET_RAW "+
			"(sudo setcap cap_net_raw+ep \"$(command -v preflight)\")", cause)
	}
	why := "your group id is outside net.ipv4.ping_group_range"
	if b, rerr := os.ReadFile("/proc/sys/net/ipv4/ping_group_range"); rerr == nil {
		why = fmt.Sprintf("group id %d is outside net.ipv4.ping_group_range (%s)", os.Getgid(), strings.Join(strings.Fields(string(b)), " "))
	}
	return fmt.Sprintf("unprivileged ICMP (UDP ping) socket refused (%v): %s; allow it with "+
		"sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" (or a range holding just your group)", cause, why)
}

// judgeIsolation passes when nothing answered; any reply, even a late one, shows the target is reachable.
func (s *ICMPSpec) judgeIsolation(ev Evidence, addr string, st pingStats) Result {
	if answered := st.received + st.late; answered > 0 {
		ev["outcome"] = "replied"
		return Failed(ev, "%s answered %d of %d echo requests: it is reachable from here", addr, answered, st.sent)
	}
	if st.sendErr != nil && st.sendErrors == st.sent {
		ev["outcome"], _ = routeOutcome(st.sendErr)
		return Passed(ev, "%s is not reachable from here: the kernel refuses to send to it (%s)", addr, ev["outcome"])
	}
	ev["outcome"] = "no-reply"
	return Passed(ev, "%s did not answer any of %d echo requests", addr, st.sent)
}

// judgeQuality fails on every threshold that is exceeded, naming each.
func (s *ICMPSpec) judgeQuality(ev Evidence, addr string, st pingStats) Result {
	lim := s.limits()
	ev["thresholds"] = map[string]any{"max_rtt_ms": evidenceMS(lim.rtt), "rtt_statistic": "p95",
		"max_jitter_ms": evidenceMS(lim.jitter), "max_loss_pct": lim.loss}
	if st.received == 0 {
		why := "no echo reply"
		ev["outcome"] = "no-reply"
		switch {
		case st.sendErr != nil && st.sendErrors == st.sent:
			ev["outcome"], _ = routeOutcome(st.sendErr)
			why = fmt.Sprintf("the kernel refuses to send to it (%s: %v)", ev["outcome"], st.sendErr)
		case st.late > 0:
			why = fmt.Sprintf("no echo reply within the timeout (%d late)", st.late)
		}
		return Failed(ev, "%s is not reachable: %s (%d sent, 100%% loss)", addr, why, st.sent)
	}
	ev["outcome"] = "replied"
	v := newVerdict()
	if st.lossPct > lim.loss {
		v.add(Fail, "loss %s%% over max_loss %s%% (%d of %d lost)", icmpPct(st.lossPct), icmpPct(lim.loss), st.sent-st.received, st.sent)
	}
	if st.p95 > lim.rtt {
		v.add(Fail, "RTT p95 %s ms over max_rtt %s ms", icmpNum(evidenceMS(st.p95)), icmpNum(evidenceMS(lim.rtt)))
	}
	if st.hasJitter && st.jitter > lim.jitter {
		v.add(Fail, "jitter %s ms over max_jitter %s ms", icmpNum(evidenceMS(st.jitter)), icmpNum(evidenceMS(lim.jitter)))
	}
	if v.status != Pass {
		v.reasons[0] = addr + ": " + v.reasons[0]
	}
	jitter := "n/a (fewer than 2 replies)"
	if st.hasJitter {
		jitter = icmpNum(evidenceMS(st.jitter)) + " ms"
	}
	return v.result(ev, fmt.Sprintf("%s: %d/%d replies, loss %s%%, RTT p95 %s ms, jitter %s — within limits",
		addr, st.received, st.sent, icmpPct(st.lossPct), icmpNum(evidenceMS(st.p95)), jitter))
}

// ms turns a duration into milliseconds rounded to the microsecond, as evidence shows them.
func evidenceMS(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func icmpNum(f float64) string { return fmt.Sprintf("%g", f) }

func icmpPct(f float64) string { return fmt.Sprintf("%g", math.Round(f*100)/100) }
