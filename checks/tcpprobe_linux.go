package checks

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ProbeTCP finds out whether ap accepts TCP connections, without the cost of a full net.Conn: a
// non-blocking connect whose answer on a near network (loopback, a LAN refusing with RST) is already
// there when connect returns, and Go's poller for the rest. An accepted connection is reset at once
// (SO_LINGER 0), so a scan leaves no TIME_WAIT behind on either side. The scope is checked on the exact
// address before the socket is made, as Control does for DialContext. nil means open; otherwise the error
// classifies with Classify.
func (d *Dialer) ProbeTCP(ctx context.Context, ap netip.AddrPort) error {
	addr := ap.Addr().Unmap()
	if err := d.Scope.Check(addr); err != nil {
		return err
	}
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(ap.Port()), Addr: addr.As16()})
	if addr.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: addr.As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	switch err := unix.Connect(fd, sa); err {
	case nil:
		unix.Close(fd)
		return nil
	case unix.EINPROGRESS:
	default:
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	if soerr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); soerr != 0 {
		unix.Close(fd)
		return os.NewSyscallError("connect", unix.Errno(soerr))
	}
	return d.waitConnect(ctx, fd)
}

// waitConnect waits for a connect in progress through the runtime poller (no thread per socket).
func (d *Dialer) waitConnect(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "tcp-probe") // owns fd from here; non-blocking, so pollable
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = f.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var result error
	werr := rc.Write(func(fd uintptr) bool {
		if soerr, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); soerr != 0 {
			result = os.NewSyscallError("connect", unix.Errno(soerr))
			return true
		}
		if _, err := unix.Getpeername(int(fd)); err == nil {
			return true // connected
		}
		return false // still in progress: wait until writable
	})
	switch {
	case werr == nil:
		return result
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(werr, os.ErrDeadlineExceeded):
		return os.NewSyscallError("connect", unix.ETIMEDOUT)
	}
	return werr
}
