//go:build unix && !aix && (!solaris || illumos)

package filestore

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on path, creating the file if
// needed. The lock belongs to this open file description, so it excludes
// every other opener, in this process or another.
func lockFile(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	// Closing the only descriptor of the file releases the lock.
	return func() { _ = f.Close() }, nil
}
