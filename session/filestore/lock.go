package filestore

import (
	"fmt"
	"hash/fnv"
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
// flock has nothing else, so every Store on a directory shares these.
type stripes [numStripes]sync.Mutex

var (
	stripesMu    sync.Mutex
	stripesByDir = map[string]*stripes{}
)

// stripesFor returns the mutexes of the absolute directory dir.
func stripesFor(dir string) *stripes {
	stripesMu.Lock()
	defer stripesMu.Unlock()
	st := stripesByDir[dir]
	if st == nil {
		st = new(stripes)
		stripesByDir[dir] = st
	}
	return st
}

// lock takes the stripe lock of key, first in this process, then across
// processes, and returns its release.
func (s *Store) lock(key string) (unlock func(), err error) {
	return lockStripe(s.dir, s.stripes, key)
}

// lockStripe takes the stripe lock of key in dir.
func lockStripe(dir string, st *stripes, key string) (unlock func(), err error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	i := h.Sum32() % numStripes
	mu := &st[i]
	mu.Lock()
	release, err := lockFile(filepath.Join(dir, lockDir, fmt.Sprintf("%02x", i)))
	if err != nil {
		mu.Unlock()
		return nil, fmt.Errorf("locking session: %w", err)
	}
	return func() {
		release()
		mu.Unlock()
	}, nil
}
