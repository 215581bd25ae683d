//go:build !(unix && !aix && (!solaris || illumos))

package filestore

import (
	"context"
	"os"
	"path/filepath"
)

// lockFile is a no-op where flock(2) is unavailable: the in-process stripe
// locks still serialise writers of one process, but several processes
// must not share a session directory on these platforms. It still makes
// the lock file's directory, which the first write counts on (New does
// not create the session directory).
func lockFile(_ context.Context, path string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return func() {}, nil
}
