//go:build linux && race

package e2e

// raceEnabled: the tests run with -race, so the preflight binary under test is built with it too, and a
// data race in the tool fails the scenario that provoked it (exit 66 and the report on stderr).
const raceEnabled = true
