package profiles

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"

	"github.com/telesurgery-preflight/preflight/checks"
)

// The advisory set ships inside the binary so a facility without internet access still has one; the
// firmware probe warns once it is older than checks.AdvisoryStaleAfter.
//
//go:embed advisories/vpn.yaml
var vpnAdvisories []byte

// DefaultAdvisoriesName is how the embedded set is named in messages and evidence.
const DefaultAdvisoriesName = "builtin:advisories/vpn.yaml"

func init() { checks.RegisterAdvisoryLoader(LoadAdvisories) }

// DefaultAdvisories parses the embedded advisory set.
func DefaultAdvisories() (*checks.AdvisorySet, error) {
	return ParseAdvisories(DefaultAdvisoriesName, vpnAdvisories)
}

// DefaultAdvisoriesBytes returns the embedded advisory file, as a starting point for a newer one.
func DefaultAdvisoriesBytes() []byte { return append([]byte(nil), vpnAdvisories...) }

// LoadAdvisories reads an advisory file (`--advisories FILE`, or a firmware item's `advisories`). The error
// is an ErrorList of file:line:col problems when the file was read.
func LoadAdvisories(path string) (*checks.AdvisorySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read advisories: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f, path)
	if err != nil {
		return nil, err
	}
	return ParseAdvisories(path, data)
}

// ParseAdvisories decodes an advisory set strictly (unknown or duplicate keys, wrong types) and checks it
// against the format's rules (checks.AdvisorySet.Compile), reporting every problem at once with its
// position. It is the profile decoder's, so a set gets the same file:line:col messages as a profile.
func ParseAdvisories(name string, data []byte) (*checks.AdvisorySet, error) {
	if len(bytes.TrimSpace(bytes.TrimPrefix(data, bom))) == 0 {
		return nil, ErrorList{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: "empty advisory file: start from the embedded set (README, \"Keeping the advisory set current\")"}}
	}
	set := new(checks.AdvisorySet)
	loc, err := DecodeStrict(name, data, set)
	errs, _ := err.(ErrorList)
	if err != nil && errs == nil {
		return nil, err
	}
	if loc == nil {
		// The text never reached the decoder (empty, not UTF-8, nested too deep): nothing more to say.
		return nil, err
	}
	// Rule problems where the decoder already complained would only repeat it.
	seen := map[Pos]bool{}
	for _, e := range errs {
		seen[e.Pos] = true
	}
	for _, p := range set.Compile() {
		pos := loc.At(set, p.Field)
		if !seen[pos] {
			errs.Add(pos, "%s", p.Msg)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	set.Path = name
	return set, nil
}
