package dbstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testpg"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/dbstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// BenchmarkIndexedCycleKey is a logged-in session's cycle_key as
// Manager.Commit runs it on an indexed table: take the old key, create
// the new one, in one tracking context. With the revocation marks the
// create also upserts and reads the user's mark row, and the take reads
// the entry's creation time: what the marks cost a login.
func BenchmarkIndexedCycleKey(b *testing.B) {
	for _, name := range []string{"PostgreSQL", "SQLite"} {
		b.Run(name, func(b *testing.B) {
			dsn := filepath.Join(b.TempDir(), "db.sqlite3")
			if name == "PostgreSQL" {
				_, dsn = testpg.Database(b, "dbstore_bench_")
			}
			be, err := dbstore.Open(dsn, "")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { be.Close() })
			ix, err := (&blob.Store{Backend: be, Codec: session.JSONCodec{}}).WithUserIndex(storetest.UserField)
			if err != nil {
				b.Fatal(err)
			}
			data := session.Data{storetest.UserField: []byte(`"42"`), "cart": []byte(`[1,2]`)}
			key := session.NewKey()
			if _, err := ix.Save(context.Background(), key, session.Change{Mode: session.ModeCreate, Set: data, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				ctx := session.TrackTakes(context.Background())
				rec, ok, err := ix.Take(ctx, key)
				if err != nil || !ok {
					b.Fatalf("Take = %v, %v", ok, err)
				}
				key = session.NewKey()
				if _, err := ix.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
