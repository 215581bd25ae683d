package dbstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/django"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestUserIndex(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := open(t, e.dsn(t), "")
			for _, c := range []struct {
				name  string
				codec session.Codec
			}{
				{"JSON", session.JSONCodec{}},
				{"Django", &django.Codec{Key: []byte("django-insecure-user-index-test"), Salt: django.SessionSalt}},
			} {
				t.Run(c.name, func(t *testing.T) {
					s := &blob.Store{Backend: b, Codec: c.codec}
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
		})
	}
}

// cached_db's store (blob.Cached: this table, and Django's cache layout
// in a real Redis) keeps the index, and revokes, through its database.
func TestCachedUserIndex(t *testing.T) {
	srv := testredis.Start(t)
	for _, e := range engines[:2] { // PostgreSQL, SQLite: the table is dbstore's either way
		t.Run(e.name, func(t *testing.T) {
			rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = rc.Close() })
			c := &blob.Cached{
				DB:         &blob.Store{Backend: open(t, e.dsn(t), ""), Codec: session.JSONCodec{}},
				Cache:      redisblob.New(rc, redisblob.CacheKey("", 1, redisblob.CachedDBEngine)),
				CacheCodec: redisblob.CacheJSONCodec{},
			}
			storetest.RunUserIndex(t, func(t *testing.T) session.UserIndexer {
				ix, err := c.WithUserIndex(storetest.UserField)
				if err != nil {
					t.Fatal(err)
				}
				return ix
			})
		})
	}
}

// A session Django itself deletes from its table (its logout, its
// clearsessions) leaves the listing at once, and the purge drops its entry.
func TestUserIndexFollowsDjangosDeletes(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			b := open(t, dsn, "")
			s := &blob.Store{Backend: b, Codec: session.JSONCodec{}}
			ix, err := s.WithUserIndex(storetest.UserField)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			gone, kept := session.NewKey(), session.NewKey()
			for _, k := range []string{gone, kept} {
				if _, err := ix.Save(ctx, k, session.Change{Mode: session.ModeCreate, Set: session.Data{storetest.UserField: []byte(`"7"`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			db := rawDB(t, dsn)
			q := `DELETE FROM django_session WHERE session_key = $1`
			if e.name != "PostgreSQL" {
				q = `DELETE FROM django_session WHERE session_key = ?`
			}
			if _, err := db.Exec(q, gone); err != nil {
				t.Fatal(err)
			}
			list, err := ix.UserSessions(ctx, "7")
			if err != nil || len(list) != 1 || list[0].Key != kept {
				t.Fatalf("UserSessions = %d sessions, %v; want only the one left", len(list), err)
			}
			if n := count(t, db, "django_session_users"); n != 2 {
				t.Fatalf("index rows before the purge = %d; want 2", n)
			}
			if _, err := b.Purge(ctx, time.Now()); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "django_session_users"); n != 1 {
				t.Fatalf("index rows after the purge = %d; want 1", n)
			}
		})
	}
}
