//go:build !linux

package checks

import (
	"context"
	"net/netip"
)

// ProbeTCP finds out whether ap accepts TCP connections (portable form: a full dial through DialContext).
func (d *Dialer) ProbeTCP(ctx context.Context, ap netip.AddrPort) error {
	c, err := d.DialContext(ctx, "tcp", ap.String())
	if err == nil {
		c.Close()
	}
	return err
}
