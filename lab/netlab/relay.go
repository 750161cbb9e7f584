package netlab

import (
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// RelayParams shape what the relay does to each packet passing through it once.
type RelayParams struct {
	Delay  time.Duration // added to every packet
	Jitter time.Duration // each packet's delay varies uniformly within ±Jitter (never below zero)
}

// Relay holds packets read from a device for a while and writes them back, in order. In the carrier, the
// device is a TUN interface that policy routing sends all transit traffic into; what the relay writes
// back is routed on to its destination — a userspace stand-in for netem's delay, which these kernels
// lack. Packets are never reordered: a packet is released no earlier than the one before it, as on a
// real carrier line (netem reorders when jitter exceeds the packet spacing; TCP would suffer for it).
type Relay struct {
	dev io.ReadWriteCloser

	mu     sync.Mutex
	params RelayParams
	rng    *rand.Rand
	last   time.Time // release time of the previous packet

	queue    chan packet
	done     chan struct{}
	wg       sync.WaitGroup
	closing  atomic.Bool
	Relayed  atomic.Int64 // packets written back
	Overflow atomic.Int64 // packets dropped because the queue was full
}

type packet struct {
	data    []byte
	release time.Time
}

// relayQueue bounds the packets in flight: at 10 Gbit/s of small packets and a few hundred ms of delay
// more would be needed, but the lab's links are limited far below that. A full queue drops the newest
// packet, like a tail-drop router queue.
const relayQueue = 16384

// NewRelay starts relaying dev's packets with p. Close stops it and closes dev.
func NewRelay(dev io.ReadWriteCloser, p RelayParams) *Relay {
	r := &Relay{dev: dev, params: p, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		queue: make(chan packet, relayQueue), done: make(chan struct{})}
	r.wg.Add(2)
	go r.read()
	go r.write()
	return r
}

// Set changes the parameters for packets read from now on.
func (r *Relay) Set(p RelayParams) {
	r.mu.Lock()
	r.params = p
	r.mu.Unlock()
}

// Params returns the current parameters.
func (r *Relay) Params() RelayParams {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.params
}

// releaseAt decides when a packet read at now leaves.
func (r *Relay) releaseAt(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.params.Delay
	if j := r.params.Jitter; j > 0 {
		d += time.Duration(r.rng.Int64N(int64(2*j)+1)) - j
	}
	at := now.Add(max(d, 0))
	if at.Before(r.last) {
		at = r.last
	}
	r.last = at
	return at
}

func (r *Relay) read() {
	defer r.wg.Done()
	defer close(r.queue)
	buf := make([]byte, 65536)
	for {
		n, err := r.dev.Read(buf)
		if err != nil { // a TUN read fails only when the device goes away: the lab is being torn down
			return
		}
		p := packet{data: append([]byte(nil), buf[:n]...), release: r.releaseAt(time.Now())}
		select {
		case r.queue <- p:
		default:
			r.Overflow.Add(1)
		}
	}
}

func (r *Relay) write() {
	defer r.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for p := range r.queue {
		if d := time.Until(p.release); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-r.done:
				return
			}
		}
		if _, err := r.dev.Write(p.data); err != nil {
			if r.closing.Load() {
				return
			}
			continue // e.g. no route for this packet any more: drop it, like a router
		}
		r.Relayed.Add(1)
	}
}

// Close stops the relay and closes its device; packets still held are dropped.
func (r *Relay) Close() error {
	if r.closing.Swap(true) {
		return nil
	}
	close(r.done)
	err := r.dev.Close()
	r.wg.Wait()
	return err
}
