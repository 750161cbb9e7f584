//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Namespace roles: the lab's machines and segments. A lab's namespace is named Prefix+role.
const (
	PatientTS  = "patient-ts"  // telesurgery segment: engineer's host, robot, resolver, time server
	PatientVPN = "patient-vpn" // the maintenance VPN appliance, inside leg on the telesurgery segment
	PatientHIS = "patient-his" // hospital information system segment
	PatientFW  = "patient-fw"  // the facility's firewall between TS, HIS, closed network and internet
	Carrier    = "carrier"     // the closed network between the facilities (delay, jitter, loss, rate)
	SurgeonFW  = "surgeon-fw"  // the surgeon facility's firewall
	SurgeonTS  = "surgeon-ts"  // the surgeon console
	Vendor     = "vendor"      // the maintenance contractor, behind the VPN's outside leg
	Internet   = "internet"    // sentinels and an outside DNS
	Cloud      = "cloud"       // the vendor's cloud log store (nginx)
)

// Roles lists every namespace of the lab in the order they are created.
var Roles = []string{PatientTS, PatientVPN, PatientHIS, PatientFW, Carrier, SurgeonFW, SurgeonTS, Vendor, Internet, Cloud}

// Addresses of the lab's hosts and services, all in LabNet. Profiles name them as targets.
const (
	EngineerAddr   = "198.18.1.100" // where preflight runs on the patient side (primary address of the segment)
	RobotAddr      = "198.18.1.10"
	ResolverAddr   = "198.18.1.53"  // unbound
	NTPAddr        = "198.18.1.123" // the harness's NTP responder
	VPNInsideAddr  = "198.18.1.2"   // status API (HTTPS 8443), maintenance SSH (22), SNMP (161)
	PatientGW      = "198.18.1.1"   // patient-fw on the telesurgery segment
	ClosedNetAddr  = "198.18.10.2"  // the telesurgery segment's own leg to the closed network
	ClosedNetGW    = "198.18.10.1"
	HISAddr        = "198.18.2.20"
	CloudAddr      = "198.18.3.10" // nginx: logs.cloud.lab.test
	ConsoleAddr    = "198.18.6.10" // surgeon console
	VPNOutsideAddr = "198.18.20.1" // SSL-VPN portal (HTTPS 443)
	VendorAddr     = "198.18.20.10"
	SentinelAddr   = "198.19.255.1"  // "the internet": TCP 80 and 443
	OutsideDNSAddr = "198.19.255.53" // a public resolver that answers every name
	OutsideAnswer  = "198.19.255.80" // what it answers
)

// Networks of the lab, for profiles' vantage and the firewall rules.
const (
	PatientTSNet  = "198.18.1.0/24"
	ClosedNetLeg  = "198.18.10.0/30"
	HISNet        = "198.18.2.0/24"
	SurgeonTSNet  = "198.18.6.0/24"
	VendorNet     = "198.18.20.0/24"
	CloudNet      = "198.18.3.0/24"
	InternetNet   = "198.19.0.0/16"
	patientCarLeg = "198.18.100.0/30"
)

// ServePort is where each facility's `preflight serve` answers the other (the peer link): the patient
// side on its closed-network leg (ClosedNetAddr), the surgeon side on the console's host (ConsoleAddr).
const ServePort = 7443

// Ports of the stand-in services.
var (
	RobotPorts   = []int{18022, 18443, 18444} // maintenance, control, video
	ConsolePorts = []int{18500, 18501}        // control, video
	ConsoleDebug = 18999                      // listening on the console, filtered by the surgeon firewall
	HISPorts     = []int{22, 80, 104, 443, 2575, 3389}
)

// link is a veth pair between two namespaces. An empty address on the A side means the end is a port
// of A's bridge br0 (the telesurgery segment is one bridge that the firewall and the VPN plug into).
type link struct {
	a, aIf, aAddr string
	b, bIf, bAddr string
}

var links = []link{
	{PatientTS, "to-fw", "", PatientFW, "ts0", "198.18.1.1/24"},
	{PatientTS, "to-vpn", "", PatientVPN, "in0", "198.18.1.2/24"},
	{PatientTS, "cn0", "198.18.10.2/30", PatientFW, "cn0", "198.18.10.1/30"},
	{PatientFW, "his0", "198.18.2.1/24", PatientHIS, "eth0", "198.18.2.20/24"},
	{PatientFW, "car0", "198.18.100.1/30", Carrier, "pat0", "198.18.100.2/30"},
	{PatientFW, "inet0", "198.19.0.2/30", Internet, "hosp0", "198.19.0.1/30"},
	{Carrier, "sur0", "198.18.101.1/30", SurgeonFW, "car0", "198.18.101.2/30"},
	{SurgeonFW, "ts0", "198.18.6.1/24", SurgeonTS, "eth0", "198.18.6.10/24"},
	{PatientVPN, "out0", "198.18.20.1/24", Vendor, "eth0", "198.18.20.10/24"},
	{Internet, "cl0", "198.18.3.1/24", Cloud, "eth0", "198.18.3.10/24"},
}

// Extra addresses: the telesurgery segment's hosts share one namespace on its bridge (the engineer's
// address first, so the kernel picks it as the source), the internet's services sit on its loopback.
var extraAddrs = map[string][]string{
	PatientTS: {"br0 198.18.1.100/24", "br0 198.18.1.10/24", "br0 198.18.1.53/24", "br0 198.18.1.123/24"},
	Internet:  {"lo 198.19.255.1/32", "lo 198.19.255.53/32"},
}

// routes per namespace. The telesurgery segment has no default route: it reaches HIS and the cloud through
// patient-fw, the surgeon side only over its own closed-network leg, the vendor only through the VPN.
var routes = map[string][]string{
	PatientTS: {
		"198.18.2.0/24 via 198.18.1.1", "198.18.3.0/24 via 198.18.1.1",
		"198.18.20.0/24 via 198.18.1.2", "198.18.6.0/24 via 198.18.10.1",
	},
	PatientHIS: {"default via 198.18.2.1"},
	PatientFW:  {"198.18.6.0/24 via 198.18.100.2", "198.18.20.0/24 via 198.18.1.2", "default via 198.19.0.1"},
	Carrier:    {"198.18.1.0/24 via 198.18.100.1", "198.18.10.0/30 via 198.18.100.1", "198.18.6.0/24 via 198.18.101.2"},
	SurgeonFW:  {"198.18.1.0/24 via 198.18.101.1", "198.18.10.0/30 via 198.18.101.1"},
	SurgeonTS:  {"default via 198.18.6.1"},
	Vendor:     {"default via 198.18.20.1"},
	Cloud:      {"default via 198.18.3.1"},
}

// routers forward packets; the other namespaces are hosts.
var routers = []string{PatientFW, PatientVPN, Carrier, SurgeonFW, Internet}

// buildTopology creates the namespaces, links, addresses, routes and sysctls. It records each namespace
// as soon as it exists, so a failure half-way is cleaned up like a finished lab.
func (l *Lab) buildTopology(ctx context.Context) error {
	for _, role := range Roles {
		name := l.NS(role)
		if nsExists(name) {
			return fmt.Errorf("namespace %s already exists: another lab (or a leftover) holds the name; the lab refuses to start", name)
		}
		if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
			return err
		}
		ino, err := nsInode(name)
		if err != nil {
			return err
		}
		l.mu.Lock()
		closed := l.closed
		if !closed {
			l.namespaces = append(l.namespaces, name)
			l.inodes = append(l.inodes, ino)
		}
		l.mu.Unlock()
		if closed { // torn down by a signal while starting
			_, _ = run(ctx, "ip", "netns", "del", name)
			return errors.New("lab closed while starting")
		}
	}
	// IPv4 only: the lab's address plan is IPv4, and IPv6 link-local chatter would only add noise.
	// Loose reverse-path filtering everywhere, whatever the host's setting (a new namespace inherits it,
	// and the stricter of all/ and the interface's own applies): the surgeon side reaches the robot in over
	// patient-fw's segment leg, and the segment answers over its own closed-network leg — a strict filter
	// would drop the one or the other.
	for _, role := range Roles {
		for _, key := range []string{"all", "default"} {
			if err := l.sysctl(role, "net/ipv6/conf/"+key+"/disable_ipv6", "1"); err != nil {
				return err
			}
		}
		if err := l.sysctl(role, "net/ipv4/conf/all/rp_filter", "2"); err != nil {
			return err
		}
	}
	batches := map[string][]string{}
	add := func(role string, cmds ...string) { batches[role] = append(batches[role], cmds...) }
	for _, role := range Roles {
		add(role, "link set lo up")
	}
	add(PatientTS, "link add name br0 type bridge", "link set br0 up")
	// veths are created inside the A namespace with their peer placed straight into B: no end ever
	// exists in the host's namespace, not even for a moment.
	for _, k := range links {
		if _, err := run(ctx, "ip", "-n", l.NS(k.a), "link", "add", "name", k.aIf, "type", "veth",
			"peer", "name", k.bIf, "netns", l.NS(k.b)); err != nil {
			return err
		}
		if k.aAddr == "" {
			add(k.a, "link set "+k.aIf+" master br0")
		} else {
			add(k.a, "addr add "+k.aAddr+" dev "+k.aIf)
		}
		add(k.a, "link set "+k.aIf+" up")
		add(k.b, "addr add "+k.bAddr+" dev "+k.bIf, "link set "+k.bIf+" up")
	}
	for role, as := range extraAddrs {
		for _, a := range as {
			dev, addr, _ := strings.Cut(a, " ")
			add(role, "addr add "+addr+" dev "+dev)
		}
	}
	for _, role := range Roles {
		if err := l.ipBatch(ctx, role, batches[role]); err != nil {
			return err
		}
	}
	for role, rs := range routes {
		var cmds []string
		for _, r := range rs {
			cmds = append(cmds, "route add "+r)
		}
		if err := l.ipBatch(ctx, role, cmds); err != nil {
			return err
		}
	}
	for _, role := range routers {
		if err := l.sysctl(role, "net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	return nil
}

// ipBatch runs `ip` commands in one namespace with one process.
func (l *Lab) ipBatch(ctx context.Context, role string, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	path := filepath.Join(l.Dir, "ip-"+role+".batch")
	if err := os.WriteFile(path, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	_, err := run(ctx, "ip", "-n", l.NS(role), "-batch", path)
	return err
}

// sysctl sets a per-namespace sysctl (a path under /proc/sys) inside role's namespace.
func (l *Lab) sysctl(role, key, value string) error {
	return l.Do(role, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// IP runs `ip ARGS` in role's namespace, e.g. l.IP(ctx, PatientTS, "route", "add", "default", "via", PatientGW).
func (l *Lab) IP(ctx context.Context, role string, args ...string) (string, error) {
	return run(ctx, append([]string{"ip", "-n", l.NS(role)}, args...)...)
}
