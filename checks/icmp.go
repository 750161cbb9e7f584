package checks

import "context"

// ICMPSpec is a placeholder until the icmp probe lands (issue 3); it reports that it cannot decide.
type ICMPSpec struct{}

// Check validates the parameters.
func (s *ICMPSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *ICMPSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the icmp probe is not built yet")
}
