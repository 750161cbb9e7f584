package checks

import "context"

// RouteSpec is a placeholder until the route probe lands (issue 3); it reports that it cannot decide.
type RouteSpec struct{}

// Check validates the parameters.
func (s *RouteSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *RouteSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the route probe is not built yet")
}
