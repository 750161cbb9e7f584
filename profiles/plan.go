package profiles

import (
	"net/netip"

	"github.com/telesurgery-preflight/preflight/checks"
)

// Items returns every item in profile order.
func (p *Profile) Items() []*Item {
	var out []*Item
	for _, s := range p.Sections {
		out = append(out, s.Items...)
	}
	return out
}

// Section returns the section with id, or nil.
func (p *Profile) Section(id string) *Section {
	for _, s := range p.Sections {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Env is the probe environment the profile defines: its scope, targets and timeouts.
func (p *Profile) Env() *checks.Env {
	prefixes := make([]netip.Prefix, 0, len(p.Scope))
	for _, c := range p.Scope {
		prefixes = append(prefixes, c.Prefix)
	}
	env := &checks.Env{
		Scope:   checks.NewScope(prefixes...),
		Targets: map[string]checks.Target{},
		Dir:     p.Dir,
		Timeout: p.Defaults.Timeout.Or(DefaultTimeout.D()),
	}
	for name, t := range p.Targets {
		env.Targets[name] = checks.Target{Address: t.Address.Addr, Name: t.Name}
	}
	return env
}

// ProbeItems returns the runnable probes of the profile, in profile order, with their deadlines.
func (p *Profile) ProbeItems() []checks.Item {
	var out []checks.Item
	for _, it := range p.Items() {
		if it.Probe == nil {
			continue
		}
		out = append(out, checks.Item{
			ID:       it.ID,
			Spec:     it.Probe.Spec,
			Deadline: it.Probe.Deadline.Or(p.Defaults.Deadline.Or(DefaultDeadline.D())),
			Alone:    checks.Probers[it.Probe.Kind].Alone,
		})
	}
	return out
}

// RunOptions are the runner's bounds from the profile's defaults.
func (p *Profile) RunOptions() checks.Options {
	c := p.Defaults.Concurrency
	if c == 0 {
		c = DefaultConcurrency
	}
	return checks.Options{Concurrency: c, Deadline: p.Defaults.RunDeadline.Or(DefaultRunDeadline.D())}
}
