//go:build linux

package netlab

import (
	"context"
	"os"

	"github.com/telesurgery-preflight/preflight/lab"
)

// startServices issues the lab's CA, starts the in-process stand-ins and the real daemons.
func (l *Lab) startServices(ctx context.Context) error {
	var err error
	if l.CA, err = lab.NewCA("preflight lab CA"); err != nil {
		return err
	}
	l.CAFile = l.Path("lab-ca.pem")
	if err := os.WriteFile(l.CAFile, l.CA.PEM, 0o644); err != nil {
		return err
	}
	l.mu.Lock()
	l.cloud, l.ssh = defaultCloud(), defaultSSH()
	l.mu.Unlock()
	for role, addrs := range standinListeners() {
		for _, a := range addrs {
			if err := l.Listen(role, a); err != nil {
				return err
			}
		}
	}
	if err := l.startOutsideDNS(); err != nil {
		return err
	}
	if err := l.startNTP(); err != nil {
		return err
	}
	if err := l.startVPN(DefaultVPN()); err != nil {
		return err
	}
	return l.startDaemons(ctx)
}
