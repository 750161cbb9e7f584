//go:build !unix

package runlog

import (
	"errors"
	"os"
)

// flock is unavailable here: the one-writer rule cannot be enforced, so the store refuses to write.
func flock(f *os.File, exclusive bool) (bool, error) {
	return false, errors.New("the run log needs file locking (flock), which this system does not provide")
}
