package checks

import "context"

// SSHSpec is a placeholder until the ssh probe lands (issue 3); it reports that it cannot decide.
type SSHSpec struct{}

// Check validates the parameters.
func (s *SSHSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *SSHSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the ssh probe is not built yet")
}
