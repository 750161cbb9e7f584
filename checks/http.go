package checks

import "context"

// HTTPSpec is a placeholder until the http probe lands (issue 3); it reports that it cannot decide.
type HTTPSpec struct{}

// Check validates the parameters.
func (s *HTTPSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *HTTPSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the http probe is not built yet")
}
