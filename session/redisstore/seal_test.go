package redisstore_test

import (
	"bytes"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// TestSealed runs the encryption tests on the hash layout, with and
// without a user index, dumping the server with redis-cli.
func TestSealed(t *testing.T) {
	srv := testredis.Start(t)
	raw := client(t, srv)
	base := redisstore.New(client(t, srv), "s")
	cli := testredis.CLIBinary(t)
	for _, withIndex := range []bool{false, true} {
		name := "Plain"
		if withIndex {
			name = "UserIndex"
		}
		t.Run(name, func(t *testing.T) {
			storetest.RunSealed(t, storetest.SealedStore{
				Open: func(t *testing.T, sealer *session.Sealer) session.Store {
					if withIndex {
						return indexed(t, base.WithSealer(sealer))
					}
					return base.WithSealer(sealer)
				},
				Dump: func(t *testing.T) []byte {
					var out bytes.Buffer
					keys, err := exec.Command(cli, "-h", "127.0.0.1", "-p", srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:], "--scan").Output()
					if err != nil {
						t.Fatalf("redis-cli --scan: %v", err)
					}
					for _, k := range strings.Fields(string(keys)) {
						out.WriteString(k + "\n")
						args := []string{"-h", "127.0.0.1", "-p", srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:], "--no-raw", "DUMP", k}
						if typ := raw.Type(t.Context(), k).Val(); typ == "hash" {
							args[len(args)-2] = "HGETALL"
						}
						b, err := exec.Command(cli, args...).Output()
						if err != nil {
							t.Fatalf("redis-cli %s: %v", args[len(args)-2], err)
						}
						out.Write(b)
					}
					return out.Bytes()
				},
				Raw: func(t *testing.T, key string) []byte {
					return []byte(raw.HGet(t.Context(), "s:"+key, "f").Val())
				},
				SetRaw: func(t *testing.T, key string, b []byte) {
					if err := raw.HSet(t.Context(), "s:"+key, "f", b).Err(); err != nil {
						t.Fatal(err)
					}
				},
			})
		})
	}

	// Sealed views keep the index, the limits and the revocation marks.
	t.Run("UserIndexConformance", func(t *testing.T) {
		sealer := storetest.NewSealer(t, nil)
		storetest.RunUserIndex(t, func(t *testing.T) session.UserIndexer { return indexed(t, base.WithSealer(sealer)) })
	})

	// A value moved to another field of its session does not open.
	t.Run("OtherField", func(t *testing.T) {
		var bad atomic.Int64
		s := base.WithSealer(storetest.NewSealer(t, &bad))
		key := session.NewKey()
		if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"role": []byte(`"user"`), "f": []byte(`"admin"`)}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		raw.HSet(t.Context(), "s:"+key, "role", raw.HGet(t.Context(), "s:"+key, "f").Val())
		if rec, ok, err := s.Load(t.Context(), key); ok || err != nil {
			t.Fatalf("Load after a value moved to another field = %v, %v, %v; want no session", rec.Data, ok, err)
		}
		if bad.Load() == 0 {
			t.Error("the moved value was refused without a report")
		}
	})
}
