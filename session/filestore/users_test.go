package filestore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/filestore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestUserIndex(t *testing.T) {
	t.Run("JSON", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "s")
		open := func(t *testing.T) session.UserIndexer {
			s, err := filestore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := s.WithUserIndex(storetest.UserField)
			if err != nil {
				t.Fatal(err)
			}
			return ix
		}
		storetest.RunUserIndex(t, open)
		t.Run("Store", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) session.Store { return open(t) })
		})
	})
	t.Run("Django", func(t *testing.T) {
		b, err := filestore.NewDjango(filepath.Join(t.TempDir(), "s"), "sessionid")
		if err != nil {
			t.Fatal(err)
		}
		s := &blob.Store{Backend: b, Codec: &django.Codec{Key: []byte("django-insecure-user-index-test"), Salt: django.SessionSalt}}
		open := func(t *testing.T) session.UserIndexer {
			ix, err := s.WithUserIndex(storetest.UserField)
			if err != nil {
				t.Fatal(err)
			}
			return ix
		}
		storetest.RunUserIndex(t, open)
	})
}

// An entry whose session file went without the index hearing of it (a
// crash between the two writes, Django's own logout) is not listed, and a
// purge removes it and its emptied user directory.
func TestUserIndexDanglingEntries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := s.WithUserIndex(storetest.UserField)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	key := session.NewKey()
	if _, err := ix.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{storetest.UserField: []byte(`"9"`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	users, _ := os.ReadDir(filepath.Join(dir, ".users"))
	if len(users) != 1 {
		t.Fatalf("%d user directories; want 1", len(users))
	}
	if err := os.Remove(filepath.Join(dir, key)); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, ".users", users[0].Name(), key)
	if _, err := os.Stat(entry); err != nil {
		t.Fatalf("entry missing before the purge: %v", err)
	}
	if _, err := s.Purge(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(entry)); !os.IsNotExist(err) {
		t.Fatalf("the user's directory is still there after the purge (%v)", err)
	}
	list, err := ix.UserSessions(ctx, "9")
	if err != nil || len(list) != 0 {
		t.Fatalf("UserSessions = %d, %v; want none", len(list), err)
	}
}
