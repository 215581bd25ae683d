package filestore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// lockDir holds the lock files, one per stripe. They are created on first
// use and never deleted: deleting a lock file while another process waits
// on it would let two writers hold "the" lock at once.
const lockDir = ".locks"

// numStripes bounds both the lock files and the contention between
// unrelated sessions that hash to the same stripe.
const numStripes = 256

// stripes are the in-process halves of the stripe locks. flock does not
// exclude goroutines that share one descriptor, and a platform without
// flock has nothing else, so every Store on a directory shares these. Each
// is a channel of one slot rather than a mutex, so that a writer can give
// up waiting when its context ends.
type stripes [numStripes]chan struct{}

var (
	stripesMu    sync.Mutex
	stripesByDir = map[string]*stripes{}
)

// stripesFor returns the in-process locks of the absolute directory dir.
func stripesFor(dir string) *stripes {
	stripesMu.Lock()
	defer stripesMu.Unlock()
	st := stripesByDir[dir]
	if st == nil {
		st = new(stripes)
		for i := range st {
			st[i] = make(chan struct{}, 1)
		}
		stripesByDir[dir] = st
	}
	return st
}

// lock takes the stripe lock of key, first in this process, then across
// processes, and returns its release. It gives up when ctx ends: a writer
// stuck while holding the stripe (a hung process on a shared directory)
// must not hold every later request for as long.
func (s *Store) lock(ctx context.Context, key string) (unlock func(), err error) {
	return lockStripeContext(ctx, s.dir, s.stripes, key)
}

// lockStripe takes the stripe lock of key in dir, waiting as long as it
// takes: for background work (purges, the user index's pruning), which no
// request waits on.
func lockStripe(dir string, st *stripes, key string) (unlock func(), err error) {
	return lockStripeContext(context.Background(), dir, st, key)
}

// lockStripeContext takes the stripe lock of key in dir, or fails with
// ctx's error once ctx ends.
func lockStripeContext(ctx context.Context, dir string, st *stripes, key string) (unlock func(), err error) {
	i := stripeOf(key)
	select {
	case st[i] <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("locking session: waiting for another writer: %w", ctx.Err())
	}
	path := filepath.Join(dir, lockDir, stripeName(i))
	release, err := lockFile(ctx, path)
	if errors.Is(err, fs.ErrNotExist) {
		// The first write makes the directory: opening a store does not,
		// so that checking a config creates nothing.
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			release, err = lockFile(ctx, path)
		}
	}
	if err != nil {
		<-st[i]
		return nil, fmt.Errorf("locking session: %w", err)
	}
	return func() {
		release()
		<-st[i]
	}, nil
}

// stripeOf is the stripe of key.
func stripeOf(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32() % numStripes
}

// stripeName is the name of stripe i's lock file.
func stripeName(i uint32) string { return fmt.Sprintf("%02x", i) }
