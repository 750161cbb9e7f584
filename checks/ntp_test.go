package checks

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ntpResponder is an in-process NTP server on 127.0.0.1: it answers each mode-3 (client) packet with a
// mode-4 (server) packet whose clock runs offset from this host's, as a real server does on the wire.
type ntpResponder struct {
	offset   time.Duration // the server's clock minus this host's
	stratum  uint8
	leap     uint8
	refID    string        // 4 bytes: a reference clock name for stratum 1, the kiss code for stratum 0
	refAge   time.Duration // how long ago the server last set its clock; default 1 minute
	delay    time.Duration // on the "network", before the server stamps the request
	silent   bool          // read every query, answer none
	badReply bool          // answer with a client-mode packet, which is no valid answer

	hits atomic.Int32
}

// serveNTP starts r on 127.0.0.1:0 and returns the port.
func serveNTP(t *testing.T, r *ntpResponder) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			r.hits.Add(1)
			if n < 48 || buf[0]&7 != 3 || r.silent {
				continue
			}
			time.Sleep(r.delay)
			pc.WriteTo(r.answer(buf[:48]), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func (r *ntpResponder) answer(req []byte) []byte {
	now := time.Now().Add(r.offset)
	age := r.refAge
	if age == 0 {
		age = time.Minute
	}
	b := make([]byte, 48)
	mode := byte(4)
	if r.badReply {
		mode = 3
	}
	b[0] = r.leap<<6 | 4<<3 | mode
	b[1] = r.stratum
	b[2] = 6                                       // poll 64 s
	b[3] = 0xec                                    // precision 2^-20 s
	binary.BigEndian.PutUint32(b[4:], 0x0000_0100) // root delay ≈ 3.9 ms
	binary.BigEndian.PutUint32(b[8:], 0x0000_0080) // root dispersion ≈ 2 ms
	copy(b[12:16], r.refID)
	binary.BigEndian.PutUint64(b[16:], ntpStamp(now.Add(-age)))
	copy(b[24:32], req[40:48]) // origin: the client's transmit stamp, which it checks
	binary.BigEndian.PutUint64(b[32:], ntpStamp(now))
	binary.BigEndian.PutUint64(b[40:], ntpStamp(time.Now().Add(r.offset)))
	return b
}

// ntpStamp is an NTP timestamp: seconds since 1900 and a 32-bit fraction.
func ntpStamp(t time.Time) uint64 {
	secs := uint64(t.Unix() + 2208988800)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func runNTP(t *testing.T, spec *NTPSpec, port int) Result {
	t.Helper()
	spec.Server, spec.Port = "clock", port
	if spec.Timeout == 0 {
		spec.Timeout = Duration(time.Second)
	}
	return spec.Run(context.Background(), loopbackEnv(t, map[string]Target{"clock": loopback}))
}

// offsetMS reads offset_ms back, failing the test when it is missing.
func offsetMS(t *testing.T, r Result) float64 {
	t.Helper()
	off, ok := r.Evidence["offset_ms"].(float64)
	if !ok {
		t.Fatalf("no offset_ms in %v", r.Evidence)
	}
	return off
}

func TestNTPInSyncPasses(t *testing.T) {
	srv := &ntpResponder{stratum: 2, refID: string([]byte{198, 18, 0, 123})}
	r := runNTP(t, &NTPSpec{}, serveNTP(t, srv))
	wantStatus(t, r, Pass)
	wantSummary(t, r, "stratum 2", "within max_offset 500ms")
	if off := offsetMS(t, r); math.Abs(off) > 50 {
		t.Errorf("offset_ms %v against a server in step with this host", off)
	}
	for key, want := range map[string]any{"stratum": 2, "leap": "none", "leap_indicator": 0, "reference_id": "198.18.0.123",
		"max_offset_ms": 500, "max_stratum": 15, "version": 4} {
		wantEvidence(t, r, key, want)
	}
	st, err := time.Parse(time.RFC3339Nano, r.Evidence["server_time"].(string))
	if err != nil || time.Since(st).Abs() > 5*time.Second {
		t.Errorf("server_time %v (%v), want about now", r.Evidence["server_time"], err)
	}
	if rtt := r.Evidence["rtt_ms"].(float64); rtt < 0 || rtt > 100 {
		t.Errorf("rtt_ms %v on loopback", rtt)
	}
	// root distance = (rtt + root delay)/2 + root dispersion ≈ 2 + 2 ms
	if rd := r.Evidence["root_distance_ms"].(float64); rd < 3.9 || rd > 60 {
		t.Errorf("root_distance_ms %v, want about 4", rd)
	}
	if _, err := json.Marshal(r.Evidence); err != nil {
		t.Errorf("evidence is not JSON-encodable: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("server saw %d queries, want 1", n)
	}
}

func TestNTPJudgements(t *testing.T) {
	for _, tc := range []struct {
		name    string
		srv     *ntpResponder
		spec    NTPSpec
		want    Status
		summary []string
		offset  float64 // expected offset_ms, ±50; NaN: no offset
	}{
		{"5 s fast server", &ntpResponder{stratum: 2, offset: 5 * time.Second}, NTPSpec{}, Fail,
			[]string{"this host's clock is behind the server's by ", "over max_offset 500ms"}, 5000},
		// (the figure itself, 5s or 4.999s with scheduling, is judged through offset_ms ±50 below)
		{"5 s slow server", &ntpResponder{stratum: 2, offset: -5 * time.Second}, NTPSpec{}, Fail,
			[]string{"ahead of the server's by "}, -5000},
		{"within a wider bound", &ntpResponder{stratum: 2, offset: 2 * time.Second}, NTPSpec{MaxOffset: Duration(3 * time.Second)}, Pass,
			[]string{"offset +", "this host behind"}, 2000},
		{"tight bound", &ntpResponder{stratum: 1, refID: "GPS", offset: 300 * time.Millisecond}, NTPSpec{MaxOffset: Duration(100 * time.Millisecond)}, Fail,
			[]string{"over max_offset 100ms"}, 300},
		{"unsynchronised server", &ntpResponder{stratum: 2, leap: 3}, NTPSpec{}, Fail,
			[]string{"leap indicator 3", "not synchronised"}, 0},
		{"kiss of death", &ntpResponder{stratum: 0, refID: "RATE"}, NTPSpec{}, Fail,
			[]string{"kiss-of-death", "code RATE", "refuses to serve this host"}, math.NaN()},
		{"stratum 16", &ntpResponder{stratum: 16}, NTPSpec{}, Fail, []string{"stratum 16 above max_stratum 15"}, 0},
		{"stratum over max_stratum", &ntpResponder{stratum: 4}, NTPSpec{MaxStratum: 3}, Fail, []string{"stratum 4 above max_stratum 3"}, 0},
		{"slow answer", &ntpResponder{stratum: 2, delay: 30 * time.Millisecond}, NTPSpec{MaxRTT: Duration(10 * time.Millisecond)}, Fail,
			[]string{"round trip", "over max_rtt 10ms"}, math.Inf(1)},
		{"stale server", &ntpResponder{stratum: 2, refAge: 72 * time.Hour}, NTPSpec{}, Fail,
			[]string{"not usable for synchronisation", "not fresh"}, 0},
		{"every fault named", &ntpResponder{stratum: 9, leap: 3, offset: -time.Minute}, NTPSpec{MaxStratum: 5}, Fail,
			[]string{"leap indicator 3", "stratum 9 above max_stratum 5", "ahead of the server's by "}, -60000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runNTP(t, &tc.spec, serveNTP(t, tc.srv))
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary...)
			wantEvidence(t, r, "stratum", int(tc.srv.stratum))
			switch {
			case math.IsNaN(tc.offset):
				wantEvidence(t, r, "offset_ms", nil)
			case math.IsInf(tc.offset, 1): // the delay is one-way only, so it shows in the offset
			default:
				if off := offsetMS(t, r); math.Abs(off-tc.offset) > 50 {
					t.Errorf("offset_ms %v, want %v", off, tc.offset)
				}
			}
		})
	}
}

func TestNTPKissOfDeathEvidence(t *testing.T) {
	r := runNTP(t, &NTPSpec{}, serveNTP(t, &ntpResponder{stratum: 0, refID: "DENY"}))
	wantStatus(t, r, Fail)
	wantEvidence(t, r, "kiss_code", "DENY")
	wantEvidence(t, r, "reference_id", "DENY")
}

func TestNTPNoAnswerIsError(t *testing.T) {
	srv := &ntpResponder{silent: true}
	start := time.Now()
	r := runNTP(t, &NTPSpec{Timeout: Duration(200 * time.Millisecond)}, serveNTP(t, srv))
	wantStatus(t, r, Error)
	wantSummary(t, r, "could not decide", "no answer from 127.0.0.1:", "within 200ms")
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %s, want about the 200ms timeout", d)
	}
	if srv.hits.Load() != 1 {
		t.Errorf("server saw %d queries, want 1", srv.hits.Load())
	}
	if _, ok := r.Evidence["offset_ms"]; ok {
		t.Errorf("an offset is reported without an answer: %v", r.Evidence)
	}
}

func TestNTPRefusedIsError(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close() // nothing listens: the kernel answers with ICMP port unreachable
	r := runNTP(t, &NTPSpec{}, port)
	wantStatus(t, r, Error)
	wantSummary(t, r, "refused the query", "nothing serves NTP")
}

func TestNTPInvalidAnswerIsError(t *testing.T) {
	r := runNTP(t, &NTPSpec{}, serveNTP(t, &ntpResponder{stratum: 2, badReply: true}))
	wantStatus(t, r, Error)
	wantSummary(t, r, "sent an invalid NTP answer", "invalid mode")
}

func TestNTPOutOfScopeSendsNothing(t *testing.T) {
	srv := &ntpResponder{stratum: 2}
	port := serveNTP(t, srv)
	env := loopbackEnv(t, map[string]Target{"clock": loopback})
	env.Scope = NewScope(netip.MustParsePrefix("127.0.0.2/32"))
	r := (&NTPSpec{Server: "clock", Port: port}).Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "outside the profile's scope")
	// The dialer's own check is the second line: even a direct query is stopped before the socket connects.
	_, err := ntpQuery(context.Background(), env.Dialer(time.Second), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if Classify(err) != "out-of-scope" {
		t.Errorf("direct query: %v, want out-of-scope", err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the out-of-scope server received %d packets", n)
	}
}

func TestNTPCancelledWhileWaiting(t *testing.T) {
	srv := &ntpResponder{silent: true}
	port := serveNTP(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := (&NTPSpec{Server: "clock", Port: port, Timeout: Duration(5 * time.Second)}).Run(ctx, loopbackEnv(t, map[string]Target{"clock": loopback}))
	wantStatus(t, r, Error)
	wantSummary(t, r, "deadline exceeded")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the probe waited %s after its deadline of 100ms", d)
	}
}

func TestNTPCheck(t *testing.T) {
	targets := map[string]Target{"clock": {Address: netip.MustParseAddr("198.18.1.123")}}
	for _, tc := range []struct {
		name   string
		spec   NTPSpec
		fields []string
	}{
		{"minimal", NTPSpec{Server: "clock"}, nil},
		{"full", NTPSpec{Server: "clock", Port: 1123, MaxOffset: Duration(50 * time.Millisecond), MaxRTT: Duration(20 * time.Millisecond),
			MaxStratum: 4, Timeout: Duration(time.Second)}, nil},
		{"missing server", NTPSpec{}, []string{"server"}},
		{"unknown server", NTPSpec{Server: "ntp1"}, []string{"server"}},
		{"bad port", NTPSpec{Server: "clock", Port: -1}, []string{"port"}},
		{"negative durations", NTPSpec{Server: "clock", MaxOffset: -1, MaxRTT: -1, Timeout: -1}, []string{"max_offset", "max_rtt", "timeout"}},
		{"stratum 16", NTPSpec{Server: "clock", MaxStratum: 16}, []string{"max_stratum"}},
		{"negative stratum", NTPSpec{Server: "clock", MaxStratum: -2}, []string{"max_stratum"}},
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
			for _, p := range v.Problems {
				if !strings.Contains(p.Msg, p.Field) && p.Field != "server" && p.Field != "port" {
					t.Errorf("message %q does not name its field", p.Msg)
				}
			}
		})
	}
}

// TestNTPAgainstChrony queries Debian's chronyd, started by the test on 127.0.0.1 only, with no upstream
// servers and no control of the system clock (-x): it serves its own clock as a local reference.
func TestNTPAgainstChrony(t *testing.T) {
	port := startChrony(t)
	r := runNTP(t, &NTPSpec{}, port)
	wantStatus(t, r, Pass)
	wantEvidence(t, r, "stratum", 8)
	wantEvidence(t, r, "leap", "none")
	wantEvidence(t, r, "reference_id", "127.127.1.1")
	if off := offsetMS(t, r); math.Abs(off) > 50 {
		t.Errorf("offset_ms %v against a server on this host's own clock", off)
	}
	r = runNTP(t, &NTPSpec{MaxStratum: 5}, port)
	wantStatus(t, r, Fail)
	wantSummary(t, r, "stratum 8 above max_stratum 5")
}

// startChrony runs chronyd in the foreground on a free loopback port and returns the port once it answers.
func startChrony(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("chronyd")
	if err != nil {
		t.Skip("chronyd not installed: apt-get install chrony")
	}
	if os.Geteuid() != 0 {
		t.Skip("chronyd needs root to start")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	// No server or pool lines: chronyd contacts nobody. cmdport 0 and bindcmdaddress / close its
	// command sockets, so it opens one socket, on 127.0.0.1.
	err = os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n"+
		"cmdport 0\nbindcmdaddress /\npidfile %s\n", port, filepath.Join(dir, "chronyd.pid"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(bin, "-x", "-d", "-f", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	env := loopbackEnv(t, map[string]Target{"clock": loopback})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := ntpQuery(context.Background(), env.Dialer(time.Second), addr, 200*time.Millisecond); err == nil {
			return port
		}
	}
	t.Fatalf("chronyd did not answer on %s: %s", addr, log.String())
	return 0
}
