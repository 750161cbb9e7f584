package checks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a positive Go duration written as a string in profiles ("250ms", "2s").
type Duration time.Duration

// UnmarshalText parses and requires a positive duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: write a Go duration such as 250ms, 2s or 1m30s", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be greater than zero", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Or returns d, or def when d is unset.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// Percent is a percentage written as a string ("5%"), 0–100.
type Percent float64

// UnmarshalText parses "5%" or "0.5%".
func (p *Percent) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return fmt.Errorf("bad percentage %q: write it with a percent sign, e.g. \"5%%\"", s)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v < 0 || v > 100 {
		return fmt.Errorf("bad percentage %q: must be between 0%% and 100%%", s)
	}
	*p = Percent(v)
	return nil
}

// MarshalText writes "5%".
func (p Percent) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"), nil
}

// PortSet is a set of TCP/UDP ports written as "22,80,443" or "1-1024,3389" in profiles.
type PortSet struct {
	spec   string
	ranges [][2]uint16 // sorted, merged, inclusive
}

// ParsePortSet parses a port specification.
func ParsePortSet(spec string) (PortSet, error) {
	ps := PortSet{spec: spec}
	if strings.TrimSpace(spec) == "" {
		return ps, fmt.Errorf("empty port list: write ports like \"22,443\" or \"1-1024\"")
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return ps, err
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return ps, err
			}
			if b < a {
				return ps, fmt.Errorf("reversed port range %q: write the lower port first (%d-%d)", part, b, a)
			}
		}
		ps.ranges = append(ps.ranges, [2]uint16{a, b})
	}
	slices.SortFunc(ps.ranges, func(x, y [2]uint16) int { return int(x[0]) - int(y[0]) })
	merged := ps.ranges[:1]
	for _, r := range ps.ranges[1:] {
		last := &merged[len(merged)-1]
		if uint32(r[0]) <= uint32(last[1])+1 {
			last[1] = max(last[1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	ps.ranges = merged
	return ps, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("bad port %q: ports are numbers 1-65535", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range: ports are 1-65535", n)
	}
	return uint16(n), nil
}

// UnmarshalText parses the profile form.
func (p *PortSet) UnmarshalText(b []byte) error {
	v, err := ParsePortSet(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes the profile form back.
func (p PortSet) MarshalText() ([]byte, error) { return []byte(p.spec), nil }

// Len is the number of ports in the set.
func (p PortSet) Len() int {
	n := 0
	for _, r := range p.ranges {
		n += int(r[1]) - int(r[0]) + 1
	}
	return n
}

// Contains reports whether port is in the set.
func (p PortSet) Contains(port int) bool {
	for _, r := range p.ranges {
		if port >= int(r[0]) && port <= int(r[1]) {
			return true
		}
	}
	return false
}

// All yields the ports in ascending order.
func (p PortSet) All(yield func(int) bool) {
	for _, r := range p.ranges {
		for port := int(r[0]); port <= int(r[1]); port++ {
			if !yield(port) {
				return
			}
		}
	}
}

// String is the profile form.
func (p PortSet) String() string { return p.spec }
