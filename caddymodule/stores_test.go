package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/filestore"
)

// The file store's expired sessions are swept in the background, and the
// sweeper stops with the store.
func TestPurgerSweepsExpiredFiles(t *testing.T) {
	old := purgeInterval
	purgeInterval = 10 * time.Millisecond
	t.Cleanup(func() { purgeInterval = old })

	dir := dirWithMode(t, 0o700) // the store refuses a directory others can list
	fs, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := session.NewKey()
	if _, err := fs.Save(t.Context(), key, session.Change{
		Mode:      session.ModeCreate,
		Set:       session.Data{"a": json.RawMessage("1")},
		ExpiresAt: time.Now().Add(50 * time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, key)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the session file was not written: %v", err)
	}

	var runs atomic.Int64
	stop := runPurger(zap.NewNop(), func(now time.Time) (int, error) {
		runs.Add(1)
		return fs.Purge(now)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired session file was never purged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	after := runs.Load()
	time.Sleep(50 * time.Millisecond)
	if runs.Load() != after {
		t.Fatal("the purger kept running after stop")
	}
}
