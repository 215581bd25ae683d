//go:build unix && !aix && (!solaris || illumos)

package filestore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// hung is far beyond any deadline below: a write still waiting then
// ignores its context.
const hung = 2 * time.Minute

// TestWriterGivesUpOnHeldLock holds every lock stripe of a directory, in
// this process or in another one, and asserts that each kind of write ends
// with its context's error instead of waiting for the holder, and that it
// works again once the holder lets go.
func TestWriterGivesUpOnHeldLock(t *testing.T) {
	writes := map[string]func(ctx context.Context, dir, key string) error{
		"save": func(ctx context.Context, dir, key string) error {
			s, err := New(dir)
			if err != nil {
				return err
			}
			_, err = s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)})
			return err
		},
		"take": func(ctx context.Context, dir, key string) error {
			s, err := New(dir)
			if err != nil {
				return err
			}
			_, _, err = s.Take(ctx, key)
			return err
		},
		"django modify": func(ctx context.Context, dir, key string) error {
			b, err := NewDjango(dir, "sessionid")
			if err != nil {
				return err
			}
			return b.Modify(ctx, key, func(blob.Value, bool) (blob.Op, error) {
				return blob.Op{Kind: blob.Put, Value: blob.Value{Data: []byte("x"), ModTime: time.Now()}}, nil
			})
		},
	}
	holders := map[string]func(t *testing.T, dir string) (release func()){
		"this process":    holdInProcess,
		"another process": holdInProcessOf,
	}
	for hname, hold := range holders {
		for wname, write := range writes {
			t.Run(hname+"/"+wname, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "s")
				if _, err := New(dir); err != nil {
					t.Fatal(err)
				}
				key := session.NewKey()
				release := hold(t, dir)
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				err := within(t, func() error { return write(ctx, dir, key) })
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("write under a held lock: got %v, want the context's deadline", err)
				}
				release()
				if err := within(t, func() error { return write(t.Context(), dir, key) }); err != nil {
					t.Fatalf("write once the lock is free: %v", err)
				}
			})
		}
	}
}

// within runs f and fails the test if it has not returned after hung.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hung):
		t.Fatalf("write still waiting after %s: the lock ignores the context", hung)
		return nil
	}
}

// holdInProcess takes every stripe through this process's own locks, as a
// stuck writer in this Caddy would hold them.
func holdInProcess(t *testing.T, dir string) func() {
	st := stripesFor(dir)
	var unlocks []func()
	for i := range numStripes {
		// A key for each stripe: any key works through the stripe's file.
		unlock, err := lockStripe(dir, st, stripeKey(t, i))
		if err != nil {
			t.Fatal(err)
		}
		unlocks = append(unlocks, unlock)
	}
	return func() {
		for _, u := range unlocks {
			u()
		}
	}
}

// stripeKey finds a session key whose stripe is i.
func stripeKey(t *testing.T, i int) string {
	t.Helper()
	keysOnce.Do(func() {
		for n := 0; n < numStripes; {
			k := session.NewKey()
			if s := stripeOf(k); keys[s] == "" {
				keys[s] = k
				n++
			}
		}
	})
	return keys[i]
}

// keys holds a key of each stripe.
var (
	keysOnce sync.Once
	keys     [numStripes]string
)

// holdInProcessOf takes every stripe's flock in a child process (this test
// binary run as TestHelperLockHolder), as another Caddy sharing the
// directory would hold them, and releases them by ending it.
func holdInProcessOf(t *testing.T, dir string) func() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLockHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FILESTORE_LOCK_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	var got strings.Builder
	for !strings.Contains(got.String(), "locked\n") {
		n, err := stdout.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("lock holder: %v (output %q)", err, got.String())
		}
	}
	released := false
	release := func() {
		if !released {
			released = true
			_ = stdin.Close()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(release)
	return release
}

// TestHelperLockHolder is the other process of holdInProcessOf: it takes
// the flock of every stripe, says so, and holds them until its stdin ends.
func TestHelperLockHolder(t *testing.T) {
	dir := os.Getenv("FILESTORE_LOCK_DIR")
	if dir == "" {
		t.Skip("only run by TestWriterGivesUpOnHeldLock")
	}
	// As another Caddy's first write would, make the directory.
	if err := os.MkdirAll(filepath.Join(dir, lockDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range numStripes {
		if _, err := lockFile(t.Context(), filepath.Join(dir, lockDir, stripeName(uint32(i)))); err != nil {
			t.Fatal(err)
		}
	}
	os.Stdout.WriteString("locked\n")
	_, _ = os.Stdin.Read(make([]byte, 1)) // EOF when the test is done
}
