package filestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/filestore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func newDjango(t *testing.T) (*filestore.DjangoBackend, *blob.Store, string) {
	t.Helper()
	dir := privateDir(t)
	b, err := filestore.NewDjango(dir, "sessionid")
	if err != nil {
		t.Fatal(err)
	}
	return b, &blob.Store{Backend: b, Codec: session.JSONCodec{}, Age: time.Hour}, dir
}

func TestDjangoConformance(t *testing.T) {
	_, s, _ := newDjango(t)
	storetest.Run(t, func(*testing.T) session.Store { return s })
}

// Files are named as Django's file engine names them, hold the encoded
// session only, and are private to their owner.
func TestDjangoLayout(t *testing.T) {
	_, s, dir := newDjango(t)
	key := session.NewKey()
	if _, err := s.Save(context.Background(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sessionid"+key)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no file %s: %v", filepath.Base(path), err)
	}
	if string(b) != `{"a":1}` {
		t.Errorf("file holds %q; want the encoded session only", b)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o; want 0600", info.Mode().Perm())
	}
	// Django's empty placeholder (during its create) is not a session.
	ph := session.NewKey()
	if err := os.WriteFile(filepath.Join(dir, "sessionid"+ph), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(context.Background(), ph); ok || err != nil {
		t.Fatalf("placeholder loaded as %v, %v", ok, err)
	}
}

func TestDjangoRefusesWorldReadableDir(t *testing.T) {
	dir := privateDir(t)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := filestore.NewDjango(dir, "sessionid"); err != nil {
		t.Fatalf("group access (shared with Django's user) refused: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := filestore.NewDjango(dir, "sessionid"); err == nil {
		t.Fatal("a world-readable directory was accepted")
	}
}

// Purge removes exactly the expired sessions, dated by modification time,
// and leaves other files alone.
func TestDjangoPurge(t *testing.T) {
	b, s, dir := newDjango(t)
	ctx := context.Background()
	live, old := session.NewKey(), session.NewKey()
	for _, k := range []string{live, old} {
		if _, err := s.Save(ctx, k, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "sessionid"+old), past, past); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "unrelated")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := b.Purge(time.Now(), s.Expired)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	if _, ok, _ := s.Load(ctx, live); !ok {
		t.Error("Purge removed a live session")
	}
	if _, err := os.Stat(filepath.Join(dir, "sessionid"+old)); !os.IsNotExist(err) {
		t.Error("Purge kept an expired session")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("Purge removed a file that is not a session")
	}
}
