//go:build !(unix && !aix && (!solaris || illumos))

package filestore

// lockFile is a no-op where flock(2) is unavailable: the in-process stripe
// mutexes still serialise writers of one process, but several processes
// must not share a session directory on these platforms.
func lockFile(string) (release func(), err error) {
	return func() {}, nil
}
