//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is a daemon the lab started inside one of its namespaces.
type Proc struct {
	Name string
	Role string
	PID  int
	Log  string // its stdout and stderr

	argv []string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs argv in role's namespace as a daemon named name (a name already running is stopped first).
// The process gets its own process group, which Stop signals, and dies with the lab's process
// (parent-death signal), so even a killed test leaves no daemon behind.
func (l *Lab) Start(role, name string, argv ...string) (*Proc, error) {
	l.mu.Lock()
	old, closed := l.procs[name], l.closed
	l.mu.Unlock()
	if closed {
		return nil, errors.New("lab is closed")
	}
	if old != nil {
		if err := old.Stop(); err != nil {
			return nil, err
		}
	}
	logPath := l.Path(name + ".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(sbin("ip"), append([]string{"netns", "exec", l.NS(role)}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = l.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Role: role, PID: cmd.Process.Pid, Log: logPath, argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs[name] = p
	l.mu.Unlock()
	return p, nil
}

// Restart stops a daemon and starts it again with the same command line (after a config change).
func (l *Lab) Restart(name string) (*Proc, error) {
	l.mu.Lock()
	p := l.procs[name]
	l.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("no daemon %q", name)
	}
	return l.Start(p.Role, p.Name, p.argv...)
}

// Procs lists the daemons the lab started and still tracks.
func (l *Lab) Procs() []*Proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	ps := make([]*Proc, 0, len(l.procs))
	for _, p := range l.procs {
		ps = append(ps, p)
	}
	return ps
}

// Exited reports whether the daemon has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the daemon: SIGTERM to its process group, SIGKILL after three seconds.
func (p *Proc) Stop() error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(3 * time.Second):
		return fmt.Errorf("%s (pid %d) did not end after SIGKILL", p.Name, p.PID)
	}
}

// tail returns the end of the daemon's log, for error messages.
func (p *Proc) tail() string {
	b, _ := os.ReadFile(p.Log)
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}

// WaitListening waits until something listens on addr ("ip:port", proto "tcp" or "udp") in role's
// namespace, failing early with the daemon's log when p has exited.
func (l *Lab) WaitListening(ctx context.Context, p *Proc, role, proto, addr string) error {
	flag := "-Hltn"
	if proto == "udp" {
		flag = "-Hlun"
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := l.Exec(ctx, role, "ss", flag, "src", addr)
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before listening on %s (%v): %s", p.Name, addr, p.err, p.tail())
		}
		if time.Now().After(deadline) {
			msg := ""
			if p != nil {
				msg = ": " + p.tail()
			}
			return fmt.Errorf("nothing listens on %s/%s in %s after 10s%s", proto, addr, role, msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
