// Package checks is the probe engine of preflight: the registry of probe kinds, the scoped dialer every
// probe must use, the parameter types shared by probes, and the runner that executes items concurrently
// and streams their results.
package checks

import (
	"fmt"
	"time"
)

// Status is the outcome of one checklist item.
type Status string

// The statuses of DESIGN.md. Fail and Error are never blurred: Fail means the probe ran and the network is
// not as required; Error means the probe could not decide.
const (
	Pass    Status = "pass"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Error   Status = "error"
	Skipped Status = "skipped"
	Pending Status = "pending"
)

// Evidence is structured data about what a probe sent and what came back, kept in the run record so a
// reviewer can judge the result later. Values must be JSON-encodable.
type Evidence map[string]any

// Result is what a probe reports for one item.
type Result struct {
	Status   Status        `json:"status"`
	Summary  string        `json:"summary"`
	Evidence Evidence      `json:"evidence,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
}

// Passed builds a pass result.
func Passed(ev Evidence, format string, args ...any) Result {
	return Result{Status: Pass, Summary: fmt.Sprintf(format, args...), Evidence: ev}
}

// Failed builds a fail result: the probe decided the network is not as required.
func Failed(ev Evidence, format string, args ...any) Result {
	return Result{Status: Fail, Summary: fmt.Sprintf(format, args...), Evidence: ev}
}

// Warned builds a warn result: acceptable, but a reviewer should look.
func Warned(ev Evidence, format string, args ...any) Result {
	return Result{Status: Warn, Summary: fmt.Sprintf(format, args...), Evidence: ev}
}

// Errored builds an error result: the probe could not decide.
func Errored(ev Evidence, format string, args ...any) Result {
	return Result{Status: Error, Summary: fmt.Sprintf(format, args...), Evidence: ev}
}

// worse reports whether a is a worse outcome than b, for probes that combine several sub-checks.
func worse(a, b Status) bool { return rank(a) > rank(b) }

func rank(s Status) int {
	switch s {
	case Pass:
		return 1
	case Warn:
		return 2
	case Error:
		return 3
	case Fail:
		return 4
	}
	return 0
}

// verdict accumulates sub-check outcomes of one probe into the worst status and the reasons for it.
type verdict struct {
	status  Status
	reasons []string
	notes   []string
}

func newVerdict() *verdict { return &verdict{status: Pass} }

// add records one sub-check outcome; reasons of non-pass outcomes form the summary.
func (v *verdict) add(s Status, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if s == Pass {
		v.notes = append(v.notes, msg)
		return
	}
	if worse(s, v.status) {
		v.status = s
	}
	v.reasons = append(v.reasons, msg)
}

func (v *verdict) result(ev Evidence, passSummary string) Result {
	if v.status == Pass {
		return Result{Status: Pass, Summary: passSummary, Evidence: ev}
	}
	sum := ""
	for i, r := range v.reasons {
		if i > 0 {
			sum += "; "
		}
		sum += r
	}
	return Result{Status: v.status, Summary: sum, Evidence: ev}
}
