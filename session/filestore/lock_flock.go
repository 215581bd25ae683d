//go:build unix && !aix && (!solaris || illumos)

package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock(2) on path, creating the file if
// needed. The lock belongs to this open file description, so it excludes
// every other opener, in this process or another.
//
// flock has no timeout, and a blocked flock holds an OS thread that no
// context can free, so a held lock is polled without blocking (from 1 ms,
// doubling up to 32 ms) until it is free or ctx ends. Only another process
// makes this wait: writers in this process queue on the stripe first.
func lockFile(ctx context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	wait := time.Millisecond
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the only descriptor of the file releases the lock.
			return func() { _ = f.Close() }, nil
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("waiting for another process's writer: %w", ctx.Err())
		}
		wait = min(2*wait, 32*time.Millisecond)
	}
}
