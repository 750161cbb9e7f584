package checks

import "context"

// FirmwareSpec is a placeholder until the firmware probe lands (issue 3); it reports that it cannot decide.
type FirmwareSpec struct{}

// Check validates the parameters.
func (s *FirmwareSpec) Check(v *Validator) {}

// Run says the probe is not built yet: an error, never a pass.
func (s *FirmwareSpec) Run(ctx context.Context, env *Env) Result {
	return Errored(nil, "the firmware probe is not built yet")
}

// AdvisorySet is a placeholder for the offline advisory data set.
type AdvisorySet struct{}
