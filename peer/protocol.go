// Package peer joins the two facilities of a remote operation over the closed network, without trusting
// the network: each facility serves its sealed records, sign-offs and log checkpoint to the other over
// mutual TLS pinned to the other's facility key (Server), polls the other's state and verifies every
// signature before showing it (Link), witnesses the other's log checkpoints so that neither can later
// rewrite or drop a run unnoticed, and reaches the joint verdict — OPERATION READY only when both sides'
// sealed records are GO, signed by rostered people, fresh, and verified (Judge). The same checks run on a
// bundle file carried across an air gap (Export, ReadBundle).
//
// The protocol is HTTP/1.1 over TLS 1.3, GET only, JSON answers:
//
//	GET /v1/operations/{operation}?since=N   the facility's state for an operation (State)
//	GET /v1/checkpoint?since=N               the latest checkpoint only (State without run and live)
//
// since is the size of the server's log that the client last witnessed; the answer carries the
// consistency proof from it. Every answer names the server's clock ("now"), so the client can measure the
// offset between the two facilities' clocks.
package peer

import (
	"regexp"
	"time"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// Schema identifies the state a facility serves.
const Schema = "preflight.peer/v1"

// Limits of the link. The server refuses larger requests; the client stops reading a larger answer.
const (
	MaxAnswer     = 32 << 20 // bytes of one answer: a record with its evidence is a few hundred kilobytes
	MaxHeader     = 8 << 10  // bytes of a request's header
	MaxConns      = 8        // connections the server holds at once
	RatePerSecond = 10       // requests a second the server answers, after a burst of RateBurst
	RateBurst     = 20
)

// opPattern is what an operation id may look like: it is only ever compared, never used as a path.
var opPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidOperation reports whether id can name an operation on the link.
func ValidOperation(id string) bool { return opPattern.MatchString(id) }

// State is what a facility serves about an operation: everything the other side needs to verify its
// sealed record on its own — the roster (signed by the facility key), the latest checkpoint (signed by
// it), the consistency proof from the size the client saw last, the record with its inclusion proof —
// plus the live progress of a run not sealed yet, which is never more than that.
type State struct {
	Schema      string       `json:"schema"`
	Facility    Facility     `json:"facility"`
	Operation   string       `json:"operation,omitempty"`
	Now         time.Time    `json:"now"`        // the server's clock when it answered
	Roster      string       `json:"roster"`     // signed note
	Checkpoint  string       `json:"checkpoint"` // signed note
	Consistency *Proof       `json:"consistency,omitempty"`
	Run         *Run         `json:"run,omitempty"`
	Live        *runlog.Live `json:"live,omitempty"`
	// Witness is the client's own checkpoint as this facility last witnessed it (cosigned), so the client
	// can keep proof that its log was seen.
	Witness string `json:"witness,omitempty"`
}

// Facility names a facility on the link.
type Facility struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// Proof is a consistency proof from the tree of From leaves to the checkpoint's.
type Proof struct {
	From   int64    `json:"from"`
	Hashes []string `json:"hashes"` // base64
}

// Run is the latest sealed run of the operation: record.json byte for byte and the proof that it is leaf
// Leaf of the tree the checkpoint signs.
type Run struct {
	Leaf      int64    `json:"leaf"`
	Record    []byte   `json:"record"`    // base64 in JSON
	Inclusion []string `json:"inclusion"` // base64 hashes
}

// apiError is the body of every refusal.
type apiError struct {
	Error string `json:"error"`
}
