package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// Pinger sends ICMP echo requests and reports what came back. It is the one piece of the icmp probe that
// needs a privileged socket, so the statistics and thresholds are tested with a fake that returns chosen
// round-trip times, and the real socket (pro-bing) is tested where the tests run as root.
type Pinger interface {
	// Ping sends req.Count echo requests to req.Addr, one every req.Interval, and waits up to req.Timeout
	// after the last for replies. Failures to send are data in the report (no route is an answer); an
	// error means nothing could be measured — ErrPingNotPermitted when the socket itself was refused.
	Ping(ctx context.Context, req PingRequest) (PingReport, error)
}

// PingRequest is one series of echo requests.
type PingRequest struct {
	Addr       netip.Addr
	Count      int
	Interval   time.Duration
	Timeout    time.Duration // how long a reply may take after its request
	Size       int           // payload bytes
	Privileged bool          // raw ICMP socket; false: the unprivileged ICMP datagram ("UDP ping") socket
}

// PingReport is what a series of echo requests produced.
type PingReport struct {
	Sent       int         // requests the kernel accepted
	SendErrors int         // requests the kernel refused to send (no route, prohibited, …)
	SendErr    error       // the first such refusal
	Replies    []PingReply // in the order they arrived
	Duplicates int         // replies to a sequence number already answered
}

// PingReply is one echo reply.
type PingReply struct {
	Seq int
	RTT time.Duration
}

// ErrPingNotPermitted is returned (wrapped) when the kernel refuses to open the ICMP socket: a raw socket
// needs CAP_NET_RAW, a datagram socket needs the group id inside net.ipv4.ping_group_range.
var ErrPingNotPermitted = errors.New("ICMP socket not permitted")

// probingPinger is the real Pinger, on github.com/prometheus-community/pro-bing.
type probingPinger struct{}

// Ping runs one pro-bing series. pro-bing opens its own socket, so the caller must have checked the scope
// of req.Addr; the address is handed over as an IP, never resolved.
func (probingPinger) Ping(ctx context.Context, req PingRequest) (PingReport, error) {
	p := probing.New(req.Addr.String())
	p.SetIPAddr(&net.IPAddr{IP: req.Addr.Unmap().AsSlice(), Zone: req.Addr.Zone()})
	p.SetPrivileged(req.Privileged)
	p.SetLogger(slogPingLogger{})
	p.Count, p.Interval, p.Size = req.Count, req.Interval, req.Size
	// pro-bing's Timeout bounds the whole series; the last request gets req.Timeout for its reply.
	p.Timeout = time.Duration(req.Count-1)*req.Interval + req.Timeout
	p.RecordRtts, p.RecordTTLs = false, false

	var (
		mu    sync.Mutex
		rep   PingReport
		setup bool
	)
	p.OnSetup = func() { mu.Lock(); setup = true; mu.Unlock() }
	p.OnRecv = func(pkt *probing.Packet) {
		mu.Lock()
		rep.Replies = append(rep.Replies, PingReply{Seq: pkt.Seq, RTT: pkt.Rtt})
		mu.Unlock()
	}
	p.OnDuplicateRecv = func(*probing.Packet) { mu.Lock(); rep.Duplicates++; mu.Unlock() }
	p.OnSendError = func(_ *probing.Packet, err error) {
		mu.Lock()
		rep.SendErrors++
		if rep.SendErr == nil {
			rep.SendErr = err
		}
		mu.Unlock()
	}
	err := p.RunWithContext(ctx)

	mu.Lock()
	defer mu.Unlock()
	rep.Sent = p.Statistics().PacketsSent
	switch {
	case err == nil:
		return rep, nil
	case !setup && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)):
		return rep, fmt.Errorf("%w: %w", ErrPingNotPermitted, err)
	case !setup:
		return rep, fmt.Errorf("open ICMP socket: %w", err)
	case rep.SendErr != nil && errors.Is(err, rep.SendErr):
		// pro-bing stops at the first refused send and reports it; it is an answer, not a failure.
		return rep, nil
	}
	return rep, err
}

// slogPingLogger sends pro-bing's messages to slog at debug level: its own logger writes to stderr, which
// would tear the TUI frame, and it logs recoverable conditions as "FATAL".
type slogPingLogger struct{}

func (slogPingLogger) Fatalf(format string, v ...any) { slogPing(format, v...) }
func (slogPingLogger) Errorf(format string, v ...any) { slogPing(format, v...) }
func (slogPingLogger) Warnf(format string, v ...any)  { slogPing(format, v...) }
func (slogPingLogger) Infof(format string, v ...any)  { slogPing(format, v...) }
func (slogPingLogger) Debugf(format string, v ...any) { slogPing(format, v...) }

func slogPing(format string, v ...any) {
	slog.Debug("pro-bing", "msg", fmt.Sprintf(format, v...))
}
