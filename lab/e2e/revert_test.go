//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telesurgery-preflight/preflight/lab/netlab"
)

// TestFaultsRevert: the faults TestJointOperation plants one after the other in one lab are undone
// exactly — the lab is as it was after each revert — and the flows between the facilities pass whatever
// reverse-path filtering the host has.
func TestFaultsRevert(t *testing.T) {
	needLab(t)
	l := netlab.New(t, netlab.Options{})
	ctx := context.Background()
	serve := net.JoinHostPort(netlab.ConsoleAddr, strconv.Itoa(netlab.ServePort))
	robot := net.JoinHostPort(netlab.RobotAddr, "18443")
	for _, r := range []struct{ fw, rule string }{
		{netlab.SurgeonFW, fmt.Sprintf("ip daddr %s tcp dport %d accept", netlab.ConsoleAddr, netlab.ServePort)},
		{netlab.SurgeonFW, fmt.Sprintf("ip saddr %s ip daddr %s tcp dport 18443 accept", netlab.SurgeonTSNet, netlab.RobotAddr)},
		{netlab.PatientFW, fmt.Sprintf("ip saddr %s ip daddr %s tcp dport 18443 accept", netlab.SurgeonTSNet, netlab.RobotAddr)},
	} {
		if err := l.Allow(ctx, r.fw, r.rule); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Listen(netlab.SurgeonTS, serve); err != nil {
		t.Fatal(err)
	}
	// A host with strict reverse-path filtering hands it to every interface of a new namespace; the lab's
	// loose setting (all/) must still carry the surgeon side's flows, which enter the telesurgery segment
	// over patient-fw's segment leg and leave it over the closed-network leg.
	for role, ifaces := range map[string][]string{netlab.PatientFW: {"ts0", "cn0", "car0"}, netlab.PatientTS: {"br0", "cn0"}} {
		if err := l.Do(role, func() error {
			for _, i := range ifaces {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+i+"/rp_filter", []byte("1"), 0o644); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Each flow, from where it starts, and whether it must connect.
	type flow struct {
		name, role, addr string
		open             bool
	}
	clean := []flow{
		{"TS → HIS RDP", netlab.PatientTS, net.JoinHostPort(netlab.HISAddr, "3389"), false},
		{"console VNC", netlab.SurgeonTS, net.JoinHostPort(netlab.ConsoleAddr, "5900"), false},
		{"patient → surgeon serve", netlab.PatientTS, serve, true},
		{"surgeon → robot control", netlab.SurgeonTS, robot, true},
	}
	expect := func(stage string, flows []flow, changed map[string]bool) {
		t.Helper()
		for _, f := range flows {
			want := f.open != changed[f.name]
			err := l.Do(f.role, func() error {
				c, err := net.DialTimeout("tcp", f.addr, 500*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err
			})
			if (err == nil) != want {
				t.Errorf("%s: %s connects: %v, want %v (%v)", stage, f.name, err == nil, want, err)
			}
		}
	}
	expect("clean lab", clean, nil)
	for _, c := range []struct {
		fault   netlab.Fault
		changes []string
	}{
		{netlab.HISExtraPort(), []string{"TS → HIS RDP"}},
		{netlab.ConsoleExtraPort(5900), []string{"console VNC"}},
		{netlab.ServePortBlocked(netlab.SurgeonFW), []string{"patient → surgeon serve"}},
		{netlab.CarrierLink("carrier-cut", netlab.Link{Loss: 1}), []string{"patient → surgeon serve", "surgeon → robot control"}},
	} {
		if err := l.Apply(ctx, c.fault); err != nil {
			t.Fatal(err)
		}
		changed := map[string]bool{}
		for _, n := range c.changes {
			changed[n] = true
		}
		expect(c.fault.Name, clean, changed)
		if err := l.Revert(ctx, c.fault); err != nil {
			t.Fatal(err)
		}
		expect("after reverting "+c.fault.Name, clean, nil)
	}
	if err := l.Revert(ctx, netlab.ResolverForwards()); err == nil || !strings.Contains(err.Error(), "cannot be reverted") {
		t.Errorf("reverting a fault without Revert: %v", err)
	}
	if err := l.Remove(ctx, netlab.PatientFW, "tcp dport 1 accept"); err == nil {
		t.Error("removing a rule that was never added: no error")
	}
}
