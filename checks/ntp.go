package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/beevik/ntp"
)

// NTPSpec asks the facility's time server for the time (one NTPv4 client exchange, github.com/beevik/ntp)
// and passes when this host's clock is within max_offset of it and the server itself is synchronised.
// The offset is also what lets the two facilities' run logs be lined up in an incident review.
type NTPSpec struct {
	Server     string   `yaml:"server"`      // target name of the time server
	Port       int      `yaml:"port"`        // default 123
	MaxOffset  Duration `yaml:"max_offset"`  // default 500ms
	MaxRTT     Duration `yaml:"max_rtt"`     // optional
	MaxStratum int      `yaml:"max_stratum"` // default 15, the highest synchronised stratum
	Timeout    Duration `yaml:"timeout"`     // for the answer; default the profile's timeout
}

const (
	ntpDefaultPort = 123
	// Each side within 500 ms keeps the two facilities' logs within a second of each other: the
	// resolution of classic syslog timestamps (RFC 3164), enough to line up events for a review.
	ntpDefaultMaxOffset  = 500 * time.Millisecond
	ntpDefaultMaxStratum = 15
)

// Check validates the parameters.
func (s *NTPSpec) Check(v *Validator) {
	v.Target("server", s.Server)
	if s.Port != 0 {
		v.Port("port", s.Port)
	}
	for _, f := range []struct {
		field string
		d     Duration
	}{{"max_offset", s.MaxOffset}, {"max_rtt", s.MaxRTT}, {"timeout", s.Timeout}} {
		if f.d < 0 {
			v.Errorf(f.field, "%s must be greater than zero", f.field)
		}
	}
	if s.MaxStratum < 0 || s.MaxStratum > ntpDefaultMaxStratum {
		v.Errorf("max_stratum", "max_stratum %d out of range: strata 1-15 are synchronised (16 means unsynchronised)", s.MaxStratum)
	}
}

// Run makes the exchange and judges the answer.
func (s *NTPSpec) Run(ctx context.Context, env *Env) Result {
	port := s.Port
	if port == 0 {
		port = ntpDefaultPort
	}
	addr, _, err := env.Addr(s.Server, port)
	ev := Evidence{"server": s.Server, "address": addr}
	if err != nil {
		return Errored(ev, "%v", err)
	}
	timeout := s.Timeout.Or(env.Timeout)
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	r, err := ntpQuery(ctx, env.Dialer(timeout), addr, timeout)
	if err != nil {
		ev["error"] = err.Error()
		if ctx.Err() != nil {
			return Errored(ev, "could not decide: %s while waiting for %s", stopReason(ctx), addr)
		}
		return Errored(ev, "could not decide: %s", ntpErrorText(err, addr, timeout))
	}
	ntpFill(ev, r)
	maxOffset, maxStratum := s.MaxOffset.Or(ntpDefaultMaxOffset), s.MaxStratum
	if maxStratum == 0 {
		maxStratum = ntpDefaultMaxStratum
	}
	ev["max_offset_ms"], ev["max_stratum"] = evidenceMS(maxOffset), maxStratum

	v := newVerdict()
	if r.IsKissOfDeath() {
		// A kiss-of-death carries no time; its reference ID is the reason (RFC 5905 §7.4).
		ev["offset_ms"], ev["kiss_code"] = nil, r.KissCode
		return Failed(ev, "%s answered with a kiss-of-death (stratum 0, code %s): it refuses to serve this host", addr, r.KissCode)
	}
	if r.Leap == ntp.LeapNotInSync {
		v.add(Fail, "server reports leap indicator 3 (alarm): its own clock is not synchronised")
	}
	if int(r.Stratum) > maxStratum {
		v.add(Fail, "stratum %d above max_stratum %d", r.Stratum, maxStratum)
	}
	if off := r.ClockOffset; off > maxOffset || off < -maxOffset {
		v.add(Fail, "this host's clock is %s the server's by %s, over max_offset %s", aheadBehind(off), ntpRound(ntpAbs(off)), maxOffset)
	}
	if s.MaxRTT > 0 && r.RTT > s.MaxRTT.D() {
		v.add(Fail, "round trip %s over max_rtt %s", ntpRound(r.RTT), s.MaxRTT.D())
	}
	// What else beevik/ntp finds unusable for synchronisation: a stale reference time (over ~36 h), a
	// root distance over 16 s, a transmit time before the reference time.
	if err := r.Validate(); err != nil && v.status == Pass {
		ev["validate_error"] = err.Error()
		v.add(Fail, "the server's time is not usable for synchronisation: %v", err)
	}
	if v.status != Pass {
		v.reasons[0] = addr + ": " + v.reasons[0]
	}
	return v.result(ev, fmt.Sprintf("%s: offset %s (%s), stratum %d, within max_offset %s", addr,
		ntpSigned(r.ClockOffset), aheadBehindServer(r.ClockOffset), r.Stratum, maxOffset))
}

// ntpQuery makes one NTPv4 exchange over a socket from the scoped dialer, so the scope is enforced on the
// socket itself; cancelling ctx closes the socket, which ends beevik/ntp's wait.
func ntpQuery(ctx context.Context, d *Dialer, addr string, timeout time.Duration) (*ntp.Response, error) {
	var (
		mu   sync.Mutex
		stop func() bool
	)
	opt := ntp.QueryOptions{Timeout: timeout, Dialer: func(_, remote string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "udp", remote)
		if err == nil {
			mu.Lock()
			stop = context.AfterFunc(ctx, func() { c.Close() })
			mu.Unlock()
		}
		return c, err // the *net.UDPConn itself, so beevik/ntp can read kernel receive timestamps
	}}
	r, err := ntp.QueryWithOptions(addr, opt)
	mu.Lock()
	if stop != nil {
		stop()
	}
	mu.Unlock()
	return r, err
}

// ntpErrorText says what a failed exchange means for the operator.
func ntpErrorText(err error, addr string, timeout time.Duration) string {
	switch Classify(err) {
	case "timeout":
		return fmt.Sprintf("no answer from %s within %s: is the time server running, and does the firewall pass NTP (UDP) to it?", addr, timeout)
	case "refused":
		return fmt.Sprintf("%s refused the query (ICMP port unreachable): nothing serves NTP on that port", addr)
	case "out-of-scope":
		return err.Error()
	}
	for _, bad := range []error{ntp.ErrServerResponseMismatch, ntp.ErrInvalidMode, ntp.ErrInvalidTransmitTime,
		ntp.ErrServerTickedBackwards, ntp.ErrInvalidTime, ntp.ErrInvalidProtocolVersion} {
		if errors.Is(err, bad) {
			return fmt.Sprintf("%s sent an invalid NTP answer: %v", addr, err)
		}
	}
	return fmt.Sprintf("NTP query to %s: %v", addr, err)
}

// ntpFill records the answer under the evidence keys the run record header and reviewers use.
// offset_ms is server minus local: positive means this host's clock is behind.
func ntpFill(ev Evidence, r *ntp.Response) {
	ev["offset_ms"] = evidenceMS(r.ClockOffset)
	ev["rtt_ms"] = evidenceMS(r.RTT)
	ev["stratum"] = int(r.Stratum)
	ev["leap"] = ntpLeapName(r.Leap)
	ev["leap_indicator"] = int(r.Leap)
	ev["reference_id"] = r.ReferenceString()
	ev["server_time"] = r.Time.UTC().Format(time.RFC3339Nano)
	ev["reference_time"] = r.ReferenceTime.UTC().Format(time.RFC3339Nano)
	ev["root_distance_ms"] = evidenceMS(r.RootDistance)
	ev["root_delay_ms"] = evidenceMS(r.RootDelay)
	ev["root_dispersion_ms"] = evidenceMS(r.RootDispersion)
	ev["precision_ms"] = evidenceMS(r.Precision)
	ev["version"] = r.Version
}

func ntpLeapName(l ntp.LeapIndicator) string {
	switch l {
	case ntp.LeapNoWarning:
		return "none"
	case ntp.LeapAddSecond:
		return "insert-second"
	case ntp.LeapDelSecond:
		return "delete-second"
	}
	return "not-synchronised"
}

func ntpAbs(d time.Duration) time.Duration { return max(d, -d) }

func ntpSigned(d time.Duration) string {
	if d >= 0 {
		return "+" + ntpRound(d).String()
	}
	return ntpRound(d).String()
}

// ntpRound keeps summaries readable: milliseconds from a second up, microseconds below.
func ntpRound(d time.Duration) time.Duration {
	if ntpAbs(d) >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// aheadBehind says where this host's clock stands for a server-minus-local offset.
func aheadBehind(off time.Duration) string {
	if off > 0 {
		return "behind"
	}
	return "ahead of"
}

func aheadBehindServer(off time.Duration) string {
	if off > 0 {
		return "this host behind"
	}
	if off < 0 {
		return "this host ahead"
	}
	return "in step"
}
