package checks

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestRouteLoopback(t *testing.T) {
	lo := routeLoopbackIface(t)
	for _, tc := range []struct {
		name      string
		target    string
		spec      RouteSpec
		want      Status
		source    string
		summary   []string
		matchedTo string
	}{
		{"inside the loopback network", "127.0.0.1", RouteSpec{ExpectSource: []string{"127.0.0.0/8"}}, Pass, "127.0.0.1",
			[]string{"source 127.0.0.1 on " + lo, "inside 127.0.0.0/8"}, "127.0.0.0/8"},
		{"second prefix matches", "127.0.0.1", RouteSpec{ExpectSource: []string{"198.18.1.0/24", "127.0.0.1"}}, Pass, "127.0.0.1",
			nil, "127.0.0.1/32"},
		{"outside the closed network", "127.0.0.1", RouteSpec{ExpectSource: []string{"198.18.0.0/15"}}, Fail, "127.0.0.1",
			[]string{"source 127.0.0.1 on " + lo, "outside expect_source [198.18.0.0/15]"}, ""},
		// The kernel answers for 127.0.0.2 from 127.0.0.1: the probe reports the source, not the target.
		{"second loopback address", "127.0.0.2", RouteSpec{ExpectSource: []string{"127.0.0.1/32"}}, Pass, "127.0.0.1",
			[]string{"to reach 127.0.0.2"}, "127.0.0.1/32"},
		{"second loopback address is not its own source", "127.0.0.2", RouteSpec{ExpectSource: []string{"127.0.0.2"}}, Fail, "127.0.0.1",
			[]string{"outside expect_source [127.0.0.2]"}, ""},
		{"interface as expected", "127.0.0.1", RouteSpec{ExpectSource: []string{"127.0.0.0/8"}, ExpectInterface: lo}, Pass, "127.0.0.1", nil, "127.0.0.0/8"},
		{"interface not as expected", "127.0.0.1", RouteSpec{ExpectSource: []string{"127.0.0.0/8"}, ExpectInterface: "eth9"}, Fail, "127.0.0.1",
			[]string{"not on interface eth9", "it belongs to " + lo}, "127.0.0.0/8"},
		{"port given", "127.0.0.1", RouteSpec{Port: 5004, ExpectSource: []string{"127.0.0.0/8"}}, Pass, "127.0.0.1", nil, "127.0.0.0/8"},
		{"IPv6 loopback", "::1", RouteSpec{ExpectSource: []string{"::1/128"}}, Pass, "::1", nil, "::1/128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.target == "::1" && !routeHasIPv6Loopback() {
				t.Skip("no IPv6 loopback on this host")
			}
			env := loopbackEnv(t, map[string]Target{"robot": {Address: netip.MustParseAddr(tc.target)}})
			env.Scope = NewScope(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
			tc.spec.Target = "robot"
			r := tc.spec.Run(context.Background(), env)
			wantStatus(t, r, tc.want)
			wantSummary(t, r, tc.summary...)
			wantEvidence(t, r, "source", tc.source)
			wantEvidence(t, r, "interface", lo)
			wantEvidence(t, r, "outcome", "routed")
			wantEvidence(t, r, "expect_source", tc.spec.ExpectSource)
			if tc.matchedTo != "" {
				wantEvidence(t, r, "matched", tc.matchedTo)
			} else if _, ok := r.Evidence["matched"]; ok {
				t.Errorf("evidence names a matched prefix for a source outside expect_source: %v", r.Evidence)
			}
			if _, err := json.Marshal(r.Evidence); err != nil {
				t.Errorf("evidence is not JSON-encodable: %v", err)
			}
		})
	}
}

func TestRouteOutOfScopeIsError(t *testing.T) {
	env := loopbackEnv(t, map[string]Target{"robot": loopback})
	env.Scope = NewScope(netip.MustParsePrefix("198.18.0.0/15"))
	r := (&RouteSpec{Target: "robot", ExpectSource: []string{"127.0.0.0/8"}}).Run(context.Background(), env)
	wantStatus(t, r, Error)
	wantSummary(t, r, "outside the profile's scope")
	if _, ok := r.Evidence["source"]; ok {
		t.Fatalf("a route was looked up for an out-of-scope target: %v", r.Evidence)
	}
}

func TestRouteCancelledIsError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := (&RouteSpec{Target: "robot", ExpectSource: []string{"127.0.0.0/8"}}).Run(ctx, loopbackEnv(t, map[string]Target{"robot": loopback}))
	wantStatus(t, r, Error)
	wantEvidence(t, r, "outcome", "cancelled")
}

func TestRouteCheck(t *testing.T) {
	targets := map[string]Target{
		"robot": {Address: netip.MustParseAddr("198.18.1.10")},
		"v6":    {Address: netip.MustParseAddr("2001:db8::10")},
	}
	for _, tc := range []struct {
		name   string
		spec   RouteSpec
		fields []string
	}{
		{"minimal", RouteSpec{Target: "robot", ExpectSource: []string{"198.18.1.0/24"}}, nil},
		{"full", RouteSpec{Target: "robot", Port: 5004, ExpectSource: []string{"198.18.1.0/24", "10.1.2.3", "2001:db8::/32"},
			ExpectInterface: "bond0.120"}, nil},
		{"mapped prefix", RouteSpec{Target: "robot", ExpectSource: []string{"::ffff:198.18.1.0/120"}}, nil},
		{"IPv6", RouteSpec{Target: "v6", ExpectSource: []string{"2001:db8::/64"}}, nil},
		{"missing target", RouteSpec{ExpectSource: []string{"198.18.1.0/24"}}, []string{"target"}},
		{"unknown target", RouteSpec{Target: "robt", ExpectSource: []string{"198.18.1.0/24"}}, []string{"target"}},
		{"bad port", RouteSpec{Target: "robot", Port: 65536, ExpectSource: []string{"198.18.1.0/24"}}, []string{"port"}},
		{"missing expect_source", RouteSpec{Target: "robot"}, []string{"expect_source"}},
		{"bad prefixes", RouteSpec{Target: "robot", ExpectSource: []string{"198.18.1.0/24", "198.18.1.0/33", "closed-net"}},
			[]string{"expect_source[1]", "expect_source[2]"}},
		{"wrong family", RouteSpec{Target: "robot", ExpectSource: []string{"2001:db8::/32"}}, []string{"expect_source"}},
		{"bad interface", RouteSpec{Target: "robot", ExpectSource: []string{"198.18.1.0/24"}, ExpectInterface: "eth0 eth1"},
			[]string{"expect_interface"}},
		{"interface too long", RouteSpec{Target: "robot", ExpectSource: []string{"198.18.1.0/24"}, ExpectInterface: "abcdefghijklmnop"},
			[]string{"expect_interface"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Validator{Targets: targets, Scope: NewScope(netip.MustParsePrefix("198.18.0.0/15"))}
			tc.spec.Check(v)
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("problems %v, want fields %v", v.Problems, tc.fields)
			}
		})
	}
}

// loopbackInterface names this host's loopback interface (lo on Linux, lo0 elsewhere).
func routeLoopbackIface(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			return ifc.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

func routeHasIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}
