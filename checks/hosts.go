package checks

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Probes that speak HTTP take URLs, and URLs name hosts. Probes never look names up in DNS: a URL's host is
// an IP address, a target's key, or the DNS name of exactly one target — the profile is the hosts file.

// targetNameError says a host name is not (uniquely) a target's name.
type targetNameError struct {
	host    string
	matches []string
}

func (e *targetNameError) Error() string {
	if len(e.matches) > 1 {
		return fmt.Sprintf("host %q is the name of several targets (%s): set target to say which", e.host, strings.Join(e.matches, ", "))
	}
	return fmt.Sprintf("host %q is not the name of any target in the profile, and probes never look names up in DNS: give a target `name: %s`, set `target`, or write the IP address", e.host, e.host)
}

// targetByName finds the one target whose name is host, as a hosts file would.
func targetByName(targets map[string]Target, host string) (string, netip.Addr, error) {
	var keys []string
	for k, t := range targets {
		if t.Name != "" && strings.EqualFold(strings.TrimSuffix(t.Name, "."), strings.TrimSuffix(host, ".")) {
			keys = append(keys, k)
		}
	}
	if len(keys) != 1 {
		slices.Sort(keys)
		return "", netip.Addr{}, &targetNameError{host: host, matches: keys}
	}
	return keys[0], targets[keys[0]].Address, nil
}

// targetOfHost finds the target a URL host stands for: a target's key, else the one target with that name.
func targetOfHost(targets map[string]Target, host string) (string, netip.Addr, error) {
	if t, ok := targets[host]; ok {
		return host, t.Address, nil
	}
	return targetByName(targets, host)
}

// headerSecret reads the value of a credential header at run time, from an environment variable or a
// file (relative to the profile) — never from the profile itself. from says where it came from, for
// evidence; the value itself never goes into evidence or messages.
func headerSecret(env *Env, header, envVar, file string) (value, from string, err error) {
	if envVar != "" {
		value, from = os.Getenv(envVar), "env:"+envVar
		if value == "" {
			return "", "", fmt.Errorf("environment variable %s (the %s header) is not set: export it before the run", envVar, header)
		}
	} else {
		b, err := os.ReadFile(env.Path(file))
		if err != nil {
			return "", "", fmt.Errorf("the %s header's file: %w", header, err)
		}
		value, from = strings.TrimRight(string(b), "\r\n"), "file:"+file
		if value == "" {
			return "", "", fmt.Errorf("the %s header's file %s is empty", header, env.Path(file))
		}
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", "", fmt.Errorf("the %s header's value holds a line break or NUL: write it on one line", header)
	}
	return value, from, nil
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2), what a header name must be.
func validToken(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
