package checks

import "context"

// DNSSpec is being written; see the issue for the probe's contract.
type DNSSpec struct {
	Target string `yaml:"target"`
	Port   int    `yaml:"port"`
}

// Check validates the parameters.
func (s *DNSSpec) Check(v *Validator) { v.Target("target", s.Target); v.Port("port", s.Port) }

// Run is not written yet and says so.
func (s *DNSSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "dns probe not implemented yet")
}
