//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/telesurgery-preflight/preflight/profiles"
)

// Rule is one allowed pair: traffic from Src to Dst on Proto/Port may cross a firewall.
type Rule struct {
	Src   []string // source prefixes
	Dst   string   // destination address or prefix
	Proto string   // tcp | udp | icmp (echo request)
	Port  int      // 0 with icmp
	Note  string   // where the pair comes from (the profile item), kept as an nftables comment
}

// NFT renders the rule as an nftables rule that accepts the pair.
func (r Rule) NFT() string {
	src := r.Src[0]
	if len(r.Src) > 1 {
		src = "{ " + strings.Join(r.Src, ", ") + " }"
	}
	s := fmt.Sprintf("ip saddr %s ip daddr %s ", src, r.Dst)
	if r.Proto == "icmp" {
		s += "icmp type echo-request"
	} else {
		s += fmt.Sprintf("%s dport %d", r.Proto, r.Port)
	}
	s += " accept"
	if r.Note != "" {
		s += fmt.Sprintf(" comment %q", r.Note)
	}
	return s
}

// segmentSources widens a profile's vantage to every leg of the same segment: the telesurgery segment
// reaches the surgeon side from its own closed-network leg.
var segmentSources = map[string][]string{PatientTSNet: {PatientTSNet, ClosedNetLeg}}

// RulesFromProfiles derives the allowed IP/port pairs of guideline V(1)-1 from what the profiles expect
// to reach from their vantage: a ports item's allow list, a connect item expecting open, an icmp item
// expecting reachable, and the service port of every other probe (dns, ntp, tls, ssh, http, firmware).
// Isolation items (connect closed, icmp unreachable) and the rest of a port range yield nothing: what the
// profile does not name stays closed. A profile's peer block adds the peer link (peerRules).
func RulesFromProfiles(paths ...string) ([]Rule, error) {
	var rules []Rule
	for _, path := range paths {
		p, err := profiles.Load(path)
		if err != nil {
			return nil, err
		}
		if p.Vantage == nil {
			return nil, fmt.Errorf("%s: a lab profile needs a vantage network: the firewall rules are pairs from it", path)
		}
		v := p.Vantage.Network.String()
		src := segmentSources[v]
		if src == nil {
			src = []string{v}
		}
		for _, it := range p.Items() {
			if it.Probe == nil {
				continue
			}
			for _, e := range endpoints(it.Probe.Kind, reflect.ValueOf(it.Probe.Spec)) {
				t, ok := p.Targets[e.target]
				if !ok {
					if ip := net.ParseIP(e.target); ip != nil {
						rules = append(rules, Rule{Src: src, Dst: ip.String(), Proto: e.proto, Port: e.port, Note: it.ID})
					}
					continue
				}
				rules = append(rules, Rule{Src: src, Dst: t.Address.Addr.String(), Proto: e.proto, Port: e.port, Note: it.ID})
			}
		}
		if p.Peer != nil {
			rules = append(rules, peerRules(p.Peer, src)...)
		}
	}
	return rules, nil
}

// peerRules are the two flows of the peer link, which carries the facilities' checklists over the closed
// network: this side's run asks the other facility's serve at peer.endpoint, from this segment; and the
// other facility asks this side's serve at peer.listen — from its endpoint address, the one address of
// the other facility the profile names (a facility whose link leaves from another address needs that
// pair in its own profile, which the lab loads too).
func peerRules(pe *profiles.Peer, src []string) []Rule {
	ep, err := netip.ParseAddrPort(pe.Endpoint)
	if err != nil { // validation refuses this; a profile without an endpoint has no link
		return nil
	}
	rules := []Rule{{Src: src, Dst: ep.Addr().String(), Proto: "tcp", Port: int(ep.Port()), Note: "peer link to " + pe.ID}}
	if ln, err := netip.ParseAddrPort(pe.Listen); err == nil {
		rules = append(rules, Rule{Src: []string{ep.Addr().String()}, Dst: ln.Addr().String(), Proto: "tcp",
			Port: int(ln.Port()), Note: "peer link from " + pe.ID})
	}
	return rules
}

type endpoint struct {
	target, proto string
	port          int
}

// defaultPorts are the service ports of kinds whose port may be left out.
var defaultPorts = map[string]int{"tls": 443, "ssh": 22, "dns": 53, "ntp": 123, "http": 443, "snmp": 161}

// endpoints reads a probe's parameters by their yaml names, so kinds that land later are understood
// without this file knowing their Go types.
func endpoints(kind string, spec reflect.Value) []endpoint {
	for spec.Kind() == reflect.Pointer {
		spec = spec.Elem()
	}
	if spec.Kind() != reflect.Struct {
		return nil
	}
	target := yamlString(spec, "target")
	if target == "" {
		target = yamlString(spec, "server")
	}
	port, _ := yamlInt(spec, "port")
	switch kind {
	case "ports":
		var eps []endpoint
		if f, ok := yamlField(spec, "allow"); ok && f.Kind() == reflect.Slice {
			for i := range f.Len() {
				eps = append(eps, endpoint{target, "tcp", int(f.Index(i).Int())})
			}
		}
		return eps
	case "connect":
		if yamlString(spec, "expect") == "open" {
			return []endpoint{{target, "tcp", port}}
		}
		return nil
	case "icmp":
		if e := yamlString(spec, "expect"); e == "" || e == "reachable" {
			return []endpoint{{target, "icmp", 0}}
		}
		return nil
	case "route":
		return nil // no packet is sent
	case "dns":
		port = cmpPort(port, defaultPorts[kind])
		return []endpoint{{target, "udp", port}, {target, "tcp", port}}
	case "ntp":
		return []endpoint{{target, "udp", cmpPort(port, defaultPorts[kind])}}
	}
	var eps []endpoint
	if target != "" {
		proto := "tcp"
		if yamlString(spec, "method") == "snmp" {
			proto, kind = "udp", "snmp"
		}
		eps = append(eps, endpoint{target, proto, cmpPort(port, defaultPorts[kind])})
	}
	if u := yamlString(spec, "url"); u != "" {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
			p, _ := strconv.Atoi(pu.Port())
			if p == 0 {
				p = map[string]int{"http": 80, "https": 443}[pu.Scheme]
			}
			host := pu.Hostname()
			if target != "" {
				host = target
			}
			eps = append(eps, endpoint{host, "tcp", p})
		}
	}
	for i := range spec.NumField() { // nested parameter blocks, e.g. firmware's source
		f := spec.Field(i)
		if f.Kind() == reflect.Struct && spec.Type().Field(i).IsExported() {
			eps = append(eps, endpoints(kind, f)...)
		}
	}
	return slices.DeleteFunc(eps, func(e endpoint) bool { return e.target == "" || (e.proto != "icmp" && e.port == 0) })
}

func cmpPort(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

func yamlField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == name && t.Field(i).IsExported() {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func yamlString(v reflect.Value, name string) string {
	f, ok := yamlField(v, name)
	if !ok || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

func yamlInt(v reflect.Value, name string) (int, bool) {
	f, ok := yamlField(v, name)
	if !ok || f.Kind() != reflect.Int {
		return 0, false
	}
	return int(f.Int()), true
}

// firewallConfig is the nftables ruleset of one firewall namespace.
func (l *Lab) firewallConfig(role string) string {
	var b strings.Builder
	b.WriteString("# generated by the preflight lab: only the profile's allowed pairs cross (guideline V(1)-1)\n")
	b.WriteString("table inet pfl {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n")
	b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
	if role != PatientVPN {
		for _, r := range l.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.NFT())
		}
	}
	if role == PatientFW {
		b.WriteString("\t\t# the closed-network handoff: the surgeon side's firewall filters what reaches its console\n")
		b.WriteString("\t\tiifname \"cn0\" oifname \"car0\" accept\n")
		b.WriteString("\t\t# hospital policy: the HIS segment may use the internet (never the telesurgery segment)\n")
		b.WriteString("\t\tiifname \"his0\" oifname \"inet0\" accept\n")
	}
	b.WriteString("\t}\n")
	if role == PatientFW {
		b.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
		b.WriteString("\t\toifname \"inet0\" masquerade\n\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// firewalls are the namespaces running a filtering ruleset.
var firewalls = []string{PatientFW, SurgeonFW, PatientVPN}

func (l *Lab) buildFirewalls(ctx context.Context) error {
	for _, role := range firewalls {
		path := l.Path("nft-" + role + ".conf")
		if err := os.WriteFile(path, []byte(l.firewallConfig(role)), 0o644); err != nil {
			return err
		}
		if _, err := l.Exec(ctx, role, "nft", "-f", path); err != nil {
			return err
		}
	}
	return nil
}

// Allow adds an accept rule to a firewall's forward chain (after the generated ones, before the policy).
func (l *Lab) Allow(ctx context.Context, firewall string, rule string) error {
	return l.addRule(ctx, firewall, "add", rule)
}

// Block puts a rule at the top of a firewall's forward chain, ahead of the accept for established flows:
// a drop there cuts connections that are already open, as a changed firewall does.
func (l *Lab) Block(ctx context.Context, firewall string, rule string) error {
	return l.addRule(ctx, firewall, "insert", rule)
}

// Remove deletes a rule that Allow or Block added to a firewall (the one added last, when the same rule
// was added more than once), by the handle nftables gave it.
func (l *Lab) Remove(ctx context.Context, firewall string, rule string) error {
	key := firewall + " " + rule
	l.mu.Lock()
	hs := l.added[key]
	if len(hs) == 0 {
		l.mu.Unlock()
		return fmt.Errorf("%s: no rule %q was added to remove", firewall, rule)
	}
	h := hs[len(hs)-1]
	l.added[key] = hs[:len(hs)-1]
	l.mu.Unlock()
	_, err := l.Exec(ctx, firewall, "nft", fmt.Sprintf("delete rule inet pfl forward handle %d", h))
	return err
}

var nftHandle = regexp.MustCompile(`# handle (\d+)`)

// addRule adds (verb "add": last) or inserts (verb "insert": first) a rule and keeps its handle for Remove.
func (l *Lab) addRule(ctx context.Context, firewall, verb, rule string) error {
	out, err := l.Exec(ctx, firewall, "nft", "--echo", "--handle", verb+" rule inet pfl forward "+rule)
	if err != nil {
		return err
	}
	m := nftHandle.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("%s: nft added the rule but printed no handle: %s", firewall, out)
	}
	h, _ := strconv.Atoi(m[1])
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.added == nil {
		l.added = map[string][]int{}
	}
	l.added[firewall+" "+rule] = append(l.added[firewall+" "+rule], h)
	return nil
}

// Rules are the allowed pairs the lab took from its profiles.
func (l *Lab) Rules() []Rule { return slices.Clone(l.rules) }
