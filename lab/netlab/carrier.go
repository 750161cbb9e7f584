//go:build linux

package netlab

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Link is what the carrier does to traffic between the facilities, in each direction, the way netem on
// both of its interfaces would: a round trip meets Delay and Loss twice.
type Link struct {
	Delay  time.Duration // one way: a ping's round trip grows by 2×Delay
	Jitter time.Duration // ±, uniform, per packet (order is kept)
	Loss   float64       // fraction of packets dropped in each direction (0.05 = 5 %)
	Rate   int64         // bits per second in each direction; 0 = unlimited
}

// carrierLegs are the carrier's interfaces toward each facility.
var carrierLegs = []string{"pat0", "sur0"}

// startCarrier puts a TUN relay into the carrier's forwarding path: transit packets from either facility
// are routed (policy table 100) into tun0, held by the relay, written back, and routed on by the main
// table. Loss comes from nftables (numgen), the rate from tc tbf on the egress legs.
func (l *Lab) startCarrier(ctx context.Context, link Link) error {
	var tun *os.File
	if err := l.Do(Carrier, func() error {
		var err error
		tun, err = OpenTUN("tun0")
		return err
	}); err != nil {
		return err
	}
	l.relay = NewRelay(tun, RelayParams{})
	l.addCloser(l.relay)
	cmds := []string{"link set tun0 up", "route add default dev tun0 table 100"}
	for _, leg := range carrierLegs {
		cmds = append(cmds, "rule add iif "+leg+" lookup 100 pref 100")
	}
	if err := l.ipBatch(ctx, Carrier, cmds); err != nil {
		return err
	}
	// Packets come back out of tun0 with sources that are routed via the legs: reverse-path filtering
	// would drop every one of them.
	for _, iface := range []string{"all", "default", "tun0", "pat0", "sur0"} {
		if err := l.sysctl(Carrier, "net/ipv4/conf/"+iface+"/rp_filter", "0"); err != nil {
			return err
		}
	}
	ruleset := "table inet pfl {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t}\n}\n"
	if err := l.nftFile(ctx, Carrier, "nft-carrier.conf", ruleset); err != nil {
		return err
	}
	return l.SetLink(ctx, link)
}

// SetLink changes the carrier's delay, jitter, loss and rate at once; packets already held keep their
// release time.
func (l *Lab) SetLink(ctx context.Context, link Link) error {
	if link.Loss < 0 || link.Loss > 1 || link.Delay < 0 || link.Jitter < 0 || link.Rate < 0 {
		return fmt.Errorf("bad carrier link %+v: loss is a fraction 0..1, the rest must not be negative", link)
	}
	l.relay.Set(RelayParams{Delay: link.Delay, Jitter: link.Jitter})
	// The loss rule matches packets as they come back out of the relay, so each packet meets it once
	// per direction. numgen over 10000 gives 0.01 % steps.
	rules := "flush chain inet pfl forward\n"
	switch n := int(math.Round(link.Loss * 10000)); {
	case n >= 10000: // the line is cut (numgen's values end at 9999)
		rules += "add rule inet pfl forward iifname \"tun0\" counter drop comment \"carrier loss 100%\"\n"
	case n > 0:
		rules += fmt.Sprintf("add rule inet pfl forward iifname \"tun0\" numgen random mod 10000 < %d counter drop comment \"carrier loss %g%%\"\n", n, link.Loss*100)
	}
	if err := l.nftFile(ctx, Carrier, "nft-carrier-loss.conf", rules); err != nil {
		return err
	}
	for _, leg := range carrierLegs {
		if link.Rate == 0 {
			if out, err := l.Exec(ctx, Carrier, "tc", "qdisc", "del", "dev", leg, "root"); err != nil &&
				!strings.Contains(out, "No such file") && !strings.Contains(out, "Cannot delete qdisc with handle of zero") {
				return err
			}
			continue
		}
		// A burst of 10 ms worth of bytes (at least three full frames) keeps the shaping smooth at low rates.
		burst := max(link.Rate/8/100, 4500)
		if _, err := l.Exec(ctx, Carrier, "tc", "qdisc", "replace", "dev", leg, "root", "tbf",
			"rate", fmt.Sprintf("%dbit", link.Rate), "burst", fmt.Sprintf("%d", burst), "latency", "100ms"); err != nil {
			return err
		}
	}
	l.Logf("carrier: delay %v ±%v one way, loss %g%% each way, rate %s", link.Delay, link.Jitter, link.Loss*100, rateText(link.Rate))
	return nil
}

// Relay is the carrier's delaying relay (for its counters).
func (l *Lab) Relay() *Relay { return l.relay }

func rateText(r int64) string {
	if r == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.1f Mbit/s", float64(r)/1e6)
}

// nftFile loads an nftables script into role's namespace.
func (l *Lab) nftFile(ctx context.Context, role, name, script string) error {
	path := l.Path(name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return err
	}
	_, err := l.Exec(ctx, role, "nft", "-f", path)
	return err
}
