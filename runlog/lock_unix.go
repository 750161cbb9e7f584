//go:build unix

package runlog

import (
	"errors"
	"os"
	"syscall"
)

// flock takes an advisory lock on f without waiting; busy reports that another open file holds it.
func flock(f *os.File, exclusive bool) (busy bool, err error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}
