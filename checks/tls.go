package checks

import "context"

// TLSSpec is being written; see the issue for the probe's contract.
type TLSSpec struct {
	Target string `yaml:"target"`
	Port   int    `yaml:"port"`
}

// Check validates the parameters.
func (s *TLSSpec) Check(v *Validator) { v.Target("target", s.Target); v.Port("port", s.Port) }

// Run is not written yet and says so.
func (s *TLSSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "tls probe not implemented yet")
}
