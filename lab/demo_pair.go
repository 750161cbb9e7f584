package lab

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/telesurgery-preflight/preflight/peer"
	"github.com/telesurgery-preflight/preflight/runlog"
)

// The two-facility demo: both simulated facilities on loopback (patient side on 127.77.x.y, surgeon side
// on 127.78.x.y), each with its run log, its facility key and TLS identity, and its `preflight serve`
// on its profile's listen address (127.77.7.1:17443, 127.78.7.1:17443), each profile pinning the other's
// freshly made facility key — so the cross-site probes reach the other side's services, and the peer link
// carries signed records between two real servers.

// OtherSide names the other facility of the demo.
var OtherSide = map[string]string{"patient": "surgeon", "surgeon": "patient"}

// PairOptions configure the two-facility demo.
type PairOptions struct {
	// Flawed lists the sides that keep their planted flaws ("patient", "surgeon"); the others are clean.
	Flawed map[string]bool
	// LogDirs are the run logs by side; a side without one gets a temporary log, removed by Close.
	LogDirs map[string]string
	// DemoSigners makes a demo engineer's signing key for each side and puts it in the roster, for a demo
	// signed off in the checklist without keys of one's own.
	DemoSigners bool
}

// Pair is the two facilities of the demo, running.
type Pair struct {
	Sides map[string]*Facility // "patient", "surgeon"
	tmp   string
}

// Facility is one side of the demo: its simulated services and profile (peer key pinned), its run log
// (open for writing), its identity on the peer link, its peer server, and the demo engineer's key.
type Facility struct {
	*Demo
	Store     *runlog.Store
	Identity  *peer.Identity
	Server    *peer.Server
	Temporary bool        // the log is removed by Close
	Signer    *runlog.Key // the demo engineer's key (DemoSigners)
	served    chan error
}

// DemoPassphrase protects the demo engineers' keys, which live in the demo's temporary directory.
const DemoPassphrase = "preflight demo only"

// StartPair starts both facilities. Close stops them and removes what is temporary.
func StartPair(o PairOptions) (*Pair, error) {
	tmp, err := os.MkdirTemp("", "preflight-demo-pair-")
	if err != nil {
		return nil, err
	}
	p := &Pair{Sides: map[string]*Facility{}, tmp: tmp}
	if err := p.start(o); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Pair) start(o PairOptions) error {
	for _, side := range []string{"patient", "surgeon"} {
		d, err := startSide(side, o.Flawed[side])
		if err != nil {
			return err
		}
		f := &Facility{Demo: d}
		p.Sides[side] = f
		dir := o.LogDirs[side]
		if dir == "" {
			dir, f.Temporary = filepath.Join(p.tmp, d.Profile.Facility.ID), true
		}
		if f.Store, err = runlog.Open(dir, d.Profile.Facility.ID); err != nil {
			return fmt.Errorf("demo %s side: open the run log: %w", side, err)
		}
		if f.Identity, _, err = peer.EnsureIdentity(f.Store); err != nil {
			return fmt.Errorf("demo %s side: %w", side, err)
		}
		if o.DemoSigners {
			if f.Signer, err = p.demoSigner(f, side); err != nil {
				return err
			}
		}
	}
	for side, f := range p.Sides {
		other := p.Sides[OtherSide[side]]
		f.Profile.Peer.Key = other.Identity.Key.Pin()
	}
	for side, f := range p.Sides {
		if err := f.serve(); err != nil {
			return fmt.Errorf("demo %s side: %w", side, err)
		}
	}
	return nil
}

// demoSigner makes the demo engineer's key of one side and puts it in that side's roster.
func (p *Pair) demoSigner(f *Facility, side string) (*runlog.Key, error) {
	names := map[string][2]string{"patient": {"Hanako Sato (demo)", "hanako.sato.demo"}, "surgeon": {"Taro Tanaka (demo)", "taro.tanaka.demo"}}
	n := names[side]
	file, line, err := runlog.GenerateKey(rand.Reader, n[0], n[1], "Network engineer on duty", []byte(DemoPassphrase), time.Now())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(p.tmp, "keys-"+side)
	path, _, err := runlog.WriteKeyFiles(dir, n[1], file, line)
	if err != nil {
		return nil, err
	}
	k, err := runlog.LoadKey(path, []byte(DemoPassphrase))
	if err != nil {
		return nil, err
	}
	sg, _ := runlog.ParseSignerLine(line)
	if err := f.Store.AddSigner(sg); err != nil {
		return nil, fmt.Errorf("demo %s side: roster: %w", side, err)
	}
	return k, nil
}

// serve starts the facility's peer server on its profile's listen address.
func (f *Facility) serve() error {
	pin, err := peer.PinOf(f.Profile)
	if err != nil {
		return err
	}
	addr := f.Profile.Peer.Listen
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenErr(addr, err)
	}
	f.Server = &peer.Server{Dir: f.Store.Dir, Identity: f.Identity, Peer: pin,
		Facility: peer.Facility{ID: f.Profile.Facility.ID, Role: f.Profile.Facility.Role}}
	f.served = make(chan error, 1)
	go func() { f.served <- f.Server.Serve(ln) }()
	return nil
}

// Close stops both facilities' servers and services, closes their logs, and removes temporary files.
func (p *Pair) Close() error {
	for _, f := range p.Sides {
		if f.Server != nil {
			f.Server.Close()
			<-f.served
		}
		if f.Store != nil {
			f.Store.Close()
		}
		if f.Demo != nil {
			f.Demo.Close()
		}
	}
	return os.RemoveAll(p.tmp)
}
