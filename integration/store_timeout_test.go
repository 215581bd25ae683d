//go:build unix

package integration

// store_timeout on the file store: a writer stuck while holding a session's
// lock (another Caddy sharing the directory, hung) must not hold this
// Caddy's requests for as long. The lock here is a real flock(2) on every
// lock stripe of the directory, held by the test process.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// storeTimeoutBound is far above store_timeout 1s: a request still
// unanswered then waits for the lock, whatever store_timeout says.
const storeTimeoutBound = 60 * time.Second

func TestFileStoreTimeout(t *testing.T) {
	for _, tc := range []struct{ name, opts string }{
		{"own layout", ""},
		{"django layout", "codec django"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "sessions")
			e := startCtEnv(t, &ctStoreFixture{line: "store file " + dir}, "store_timeout 1s", tc.opts)
			client := newClient(t)
			client.Timeout = storeTimeoutBound
			e.write(t, client, "/", "X-Session-Set", `{"user":"alice"}`)

			release := holdStripes(t, filepath.Join(dir, ".locks"))
			r := e.do(t, client, ctCall{answer: ctLines("X-Session-Set", `{"cart":"3 items"}`)})
			if r.resp.StatusCode != http.StatusServiceUnavailable || r.resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a write while another process holds the session's lock: status %d (Retry-After %q), want 503 with Retry-After", r.resp.StatusCode, r.resp.Header.Get("Retry-After"))
			}
			// Reads take no lock: the session still serves, unchanged.
			ctWantData(t, e.read(t, client, "/"), map[string]string{"user": `"alice"`})

			release()
			e.write(t, client, "/", "X-Session-Set", `{"cart":"4 items"}`)
			ctWantData(t, e.read(t, client, "/"), map[string]string{"user": `"alice"`, "cart": `"4 items"`})
		})
	}
}

// holdStripes takes an exclusive flock on every lock stripe file under
// lockDir (the store creates them on first use; so does this) and returns
// their release.
func holdStripes(t *testing.T, lockDir string) (release func()) {
	t.Helper()
	var files []*os.File
	release = func() {
		for _, f := range files {
			_ = f.Close() // closing the only descriptor releases its flock
		}
		files = nil
	}
	t.Cleanup(release)
	for i := range 256 {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("%02x", i)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		// Non-blocking: Caddy holds a stripe only for one write, and no
		// write is under way.
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			t.Fatalf("locking stripe %02x: %v", i, err)
		}
	}
	return release
}
