package netlab

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// pipeDevice is an in-memory packet device: the test feeds packets the relay reads, and records when each
// packet the relay writes comes out.
type pipeDevice struct {
	in     chan []byte
	mu     sync.Mutex
	out    [][]byte
	at     []time.Time
	closed chan struct{}
	once   sync.Once
}

func newPipeDevice() *pipeDevice {
	return &pipeDevice{in: make(chan []byte, 1024), closed: make(chan struct{})}
}

func (d *pipeDevice) Read(b []byte) (int, error) {
	select {
	case p := <-d.in:
		return copy(b, p), nil
	case <-d.closed:
		return 0, io.EOF
	}
}

func (d *pipeDevice) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out = append(d.out, append([]byte(nil), b...))
	d.at = append(d.at, time.Now())
	return len(b), nil
}

func (d *pipeDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

// written waits for n packets to come out and returns them with their times.
func (d *pipeDevice) written(t *testing.T, n int) ([][]byte, []time.Time) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		if len(d.out) >= n {
			out, at := d.out, d.at
			d.mu.Unlock()
			return out, at
		}
		d.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("relay wrote fewer than %d packets in 5 s", n)
	return nil, nil
}

func seqPacket(i int) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

func TestRelayDelayKeepsOrder(t *testing.T) {
	dev := newPipeDevice()
	r := NewRelay(dev, RelayParams{Delay: 40 * time.Millisecond})
	defer r.Close()
	const n = 50
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		dev.in <- seqPacket(i)
		time.Sleep(time.Millisecond)
	}
	out, at := dev.written(t, n)
	late := make([]time.Duration, n)
	for i := range n {
		if got := int(binary.BigEndian.Uint32(out[i])); got != i {
			t.Fatalf("packet %d came out as number %d: the relay reordered", i, got)
		}
		d := at[i].Sub(sent[i])
		if d < 40*time.Millisecond {
			t.Errorf("packet %d held %v, less than the 40 ms delay", i, d)
		}
		late[i] = d - 40*time.Millisecond
	}
	// Early is a bug; late is the scheduler. Judge the median and the 90th percentile, so one stall of a
	// busy machine does not fail the test.
	slices.Sort(late)
	p50, p90 := late[n/2], late[n*9/10]
	t.Logf("40 ms delay: lateness p50 %v p90 %v max %v over %d packets", p50, p90, late[n-1], n)
	if p50 > 3*time.Millisecond || p90 > 10*time.Millisecond {
		t.Errorf("lateness p50 %v p90 %v, want under 3 ms and 10 ms", p50, p90)
	}
	if r.Relayed.Load() != n || r.Overflow.Load() != 0 {
		t.Errorf("counters relayed %d overflow %d, want %d and 0", r.Relayed.Load(), r.Overflow.Load(), n)
	}
}

func TestRelayJitterBounds(t *testing.T) {
	dev := newPipeDevice()
	r := NewRelay(dev, RelayParams{Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond})
	defer r.Close()
	const n = 40
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		dev.in <- seqPacket(i)
		time.Sleep(45 * time.Millisecond) // wider than the jitter: order never clamps a delay
	}
	_, at := dev.written(t, n)
	delays := make([]time.Duration, n)
	for i := range n {
		delays[i] = at[i].Sub(sent[i])
	}
	slices.Sort(delays)
	lo, p90 := delays[0], delays[n*9/10]
	t.Logf("30±20 ms: delays from %v, p90 %v, max %v", lo, p90, delays[n-1])
	if lo < 10*time.Millisecond { // never earlier than delay−jitter: that would be a bug, not the scheduler
		t.Errorf("a packet held %v, less than 30−20 ms", lo)
	}
	if p90 > 55*time.Millisecond {
		t.Errorf("p90 delay %v, want at most 50 ms (+5 ms scheduling slack)", p90)
	}
	if p90-lo < 15*time.Millisecond {
		t.Errorf("delays spread only %v: jitter has no effect", p90-lo)
	}
}

func TestRelaySetAppliesToNewPackets(t *testing.T) {
	dev := newPipeDevice()
	r := NewRelay(dev, RelayParams{})
	defer r.Close()
	start := time.Now()
	dev.in <- seqPacket(0)
	_, at := dev.written(t, 1)
	if d := at[0].Sub(start); d > 10*time.Millisecond {
		t.Errorf("no delay configured, packet held %v", d)
	}
	r.Set(RelayParams{Delay: 60 * time.Millisecond})
	if r.Params().Delay != 60*time.Millisecond {
		t.Fatalf("Params() = %+v after Set", r.Params())
	}
	start = time.Now()
	dev.in <- seqPacket(1)
	_, at = dev.written(t, 2)
	if d := at[1].Sub(start); d < 60*time.Millisecond {
		t.Errorf("after Set(60 ms) packet held %v", d)
	}
}

func TestRelayCloseDropsHeldPackets(t *testing.T) {
	dev := newPipeDevice()
	r := NewRelay(dev, RelayParams{Delay: time.Hour})
	dev.in <- seqPacket(0)
	time.Sleep(20 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked with a packet held for an hour")
	}
	if r.Relayed.Load() != 0 {
		t.Errorf("a packet held for an hour was written")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// failingDevice fails writes: the relay drops the packet and carries on, like a router without a route.
type failingDevice struct{ *pipeDevice }

func (failingDevice) Write([]byte) (int, error) { return 0, errors.New("no route") }

func TestRelaySurvivesWriteErrors(t *testing.T) {
	dev := failingDevice{newPipeDevice()}
	r := NewRelay(dev, RelayParams{})
	for i := range 3 {
		dev.in <- seqPacket(i)
	}
	time.Sleep(50 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Relayed.Load() != 0 {
		t.Errorf("relayed %d packets through a failing device", r.Relayed.Load())
	}
}
