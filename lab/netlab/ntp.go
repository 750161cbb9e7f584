//go:build linux

package netlab

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// ntpResponder is the segment's time server: a stratum-2 NTP server (RFC 5905 server mode) whose clock is
// the host's plus a settable offset, so a lab can show a facility whose time is off. chrony cannot be
// told to serve a wrong time, which is the fault to simulate.
type ntpResponder struct {
	conn   net.PacketConn
	offset atomic.Int64 // nanoseconds
}

// ntpEpoch is 1900-01-01, where NTP timestamps start.
var ntpEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func ntpTime(t time.Time) uint64 {
	d := t.Sub(ntpEpoch)
	sec := uint64(d / time.Second)
	frac := uint64(d%time.Second) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

func (l *Lab) startNTP() error {
	addr := hostPort(NTPAddr, 123)
	r := &ntpResponder{}
	if err := l.Do(PatientTS, func() error {
		var err error
		r.conn, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		return fmt.Errorf("ntp responder on %s: %w", addr, err)
	}
	l.ntp = r
	l.addCloser(r.conn)
	go r.serve()
	return nil
}

func (r *ntpResponder) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		recv := time.Now().Add(time.Duration(r.offset.Load()))
		if n < 48 || buf[0]&7 != 3 { // client mode only
			continue
		}
		resp := make([]byte, 48)
		vn := buf[0] >> 3 & 7
		resp[0] = 0<<6 | vn<<3 | 4                       // no leap warning, the client's version, server mode
		resp[1] = 2                                      // stratum 2: synchronised to a stratum-1 source
		resp[2] = buf[2]                                 // poll, as asked
		resp[3] = 0xec                                   // precision 2^-20 s
		binary.BigEndian.PutUint32(resp[4:], 0x00000100) // root delay ≈ 4 ms
		binary.BigEndian.PutUint32(resp[8:], 0x00000100) // root dispersion ≈ 4 ms
		copy(resp[12:16], net.ParseIP(PatientGW).To4())  // reference id: the upstream's address
		binary.BigEndian.PutUint64(resp[16:], ntpTime(recv.Add(-32*time.Second)))
		copy(resp[24:32], buf[40:48]) // origin: the client's transmit timestamp
		binary.BigEndian.PutUint64(resp[32:], ntpTime(recv))
		binary.BigEndian.PutUint64(resp[40:], ntpTime(time.Now().Add(time.Duration(r.offset.Load()))))
		_, _ = r.conn.WriteTo(resp, from)
	}
}

// SetClockOffset makes the segment's time server report the host's time plus d.
func (l *Lab) SetClockOffset(d time.Duration) {
	l.ntp.offset.Store(int64(d))
	l.Logf("ntp: time server offset %v", d)
}
