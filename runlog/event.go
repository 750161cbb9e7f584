package runlog

import "time"

// Event is one thing that happened in a run: an item started or finished, an answer, a waiver, a re-run,
// an interruption, a sign-off. The session emits them; the journal writes each as one line.
type Event struct {
	Type  string    `json:"type"`
	Item  string    `json:"item,omitempty"`
	Actor string    `json:"actor,omitempty"`
	Data  any       `json:"data,omitempty"`
	At    time.Time `json:"at"`
}

// Event types. EvRunStarted is written by the store itself as the first line of every journal; its data
// is the record as it stood when the run began, so a crashed run can be rebuilt from its journal alone.
const (
	EvRunStarted  = "run-started"
	EvStarted     = "item-started"
	EvFinished    = "item-finished"
	EvAnswer      = "answer"
	EvWaiver      = "waiver"
	EvRerun       = "rerun"
	EvInterrupted = "interrupted"
	EvSignoff     = "signoff"
	EvAttest      = "attest" // a value read off a device and typed in (a firmware version), with its result
)
