//go:build !(unix && !aix && (!solaris || illumos))

package filestore

import "context"

// lockFile is a no-op where flock(2) is unavailable: the in-process stripe
// locks still serialise writers of one process, but several processes
// must not share a session directory on these platforms.
func lockFile(context.Context, string) (release func(), err error) {
	return func() {}, nil
}
