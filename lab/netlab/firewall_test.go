//go:build linux

package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRulesFromProfilesPeerLink: a profile's peer block is an allowed flow in both directions — this
// segment to the peer's serve (endpoint), the peer's address to this side's serve (listen) — and nothing
// more: the rest of the peer's host stays closed unless an item names it.
func TestRulesFromProfilesPeerLink(t *testing.T) {
	dir := t.TempDir()
	profile := func(name, peerBlock string) string {
		path := filepath.Join(dir, name+".yaml")
		body := fmt.Sprintf(`preflight: 1
facility: {id: lab-patient-site, role: patient-side, name: "Lab patient side"}
scope: ["198.18.0.0/15"]
vantage: {network: %s}
%s
targets:
  peer-console: {address: %s}
sections:
  - id: s
    title: S
    items:
      - {id: peer-link, title: Link, guideline: "V(1)-3", probe: {kind: connect, target: peer-console, port: 18500, expect: open}, remedy: R}
`, PatientTSNet, peerBlock, ConsoleAddr)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := "ed25519:AQMUK+OYdAOhbRj1HVf+HbCBO9ZXznx0vrP0MWboAXY="
	withPeer := profile("with-peer", fmt.Sprintf(`peer: {id: lab-surgeon-site, endpoint: "%s:%d", key: %q, listen: "%s:%d"}`,
		ConsoleAddr, ServePort, key, ClosedNetAddr, ServePort))
	onlyEndpoint := profile("only-endpoint", fmt.Sprintf(`peer: {id: lab-surgeon-site, endpoint: "%s:9443", key: %q}`, ConsoleAddr, key))
	without := profile("without", "")

	nfts := func(path string) []string {
		t.Helper()
		rules, err := RulesFromProfiles(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rules {
			out = append(out, r.NFT())
		}
		return out
	}
	inbound := `ip saddr 198.18.6.10 ip daddr 198.18.10.2 tcp dport 7443 accept comment "peer link from lab-surgeon-site"`
	for _, c := range []struct {
		path       string
		want, lack []string
	}{
		{withPeer, []string{
			inbound,
			`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 tcp dport 7443 accept comment "peer link to lab-surgeon-site"`,
			`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 tcp dport 18500 accept comment "peer-link"`,
		}, nil},
		{onlyEndpoint, []string{
			`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 tcp dport 9443 accept comment "peer link to lab-surgeon-site"`,
			`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 tcp dport 18500 accept comment "peer-link"`,
		}, []string{inbound}},
		{without, []string{`ip saddr { 198.18.1.0/24, 198.18.10.0/30 } ip daddr 198.18.6.10 tcp dport 18500 accept comment "peer-link"`}, nil},
	} {
		got := nfts(c.path)
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: no rule\n  %s\nin %q", filepath.Base(c.path), w, got)
			}
		}
		for _, w := range c.lack {
			if slices.Contains(got, w) {
				t.Errorf("%s: unexpected rule %s", filepath.Base(c.path), w)
			}
		}
		if n := len(got) - len(c.want); n != 0 {
			t.Errorf("%s: %d rules more than expected: %q", filepath.Base(c.path), n, got)
		}
	}
}
