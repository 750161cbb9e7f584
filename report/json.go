package report

import (
	"encoding/json"
	"io"

	"github.com/telesurgery-preflight/preflight/runlog"
)

// JSON writes the run record, indented, followed by a newline.
func JSON(w io.Writer, r *runlog.Record) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
