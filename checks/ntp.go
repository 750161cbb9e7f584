package checks

import "context"

// NTPSpec is a placeholder until the ntp probe lands (issue 3); it reports that it cannot decide.
type NTPSpec struct{}

// Check validates the parameters.
func (s *NTPSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *NTPSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the ntp probe is not built yet")
}
