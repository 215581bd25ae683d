package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// With WaitReplicas, the store is the same store against a primary with a
// replica; every save it reports done is on the replica.
func TestWaitReplicas(t *testing.T) {
	primary := testredis.Start(t)
	replica := testredis.StartReplica(t, primary)

	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) session.Store {
			return redisstore.New(client(t, primary), "w", redisstore.WaitReplicas(1, time.Second))
		})
	})

	t.Run("saved is on the replica", func(t *testing.T) {
		s := redisstore.New(client(t, primary), "r", redisstore.WaitReplicas(1, time.Second))
		rs := redisstore.New(client(t, replica), "r")
		exp := time.Now().Add(time.Hour)
		for i := range 50 {
			key := fmt.Sprintf("k%d", i)
			if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, ExpiresAt: exp, Set: session.Data{"n": []byte("1")}}); err != nil {
				t.Fatalf("save %d: %v", i, err)
			}
			// WAIT returned: the replica has applied the write.
			if _, ok, err := rs.Load(t.Context(), key); !ok || err != nil {
				t.Fatalf("save %d acknowledged but not on the replica: %v, %v", i, ok, err)
			}
		}
	})

	t.Run("too few replicas is an error", func(t *testing.T) {
		s := redisstore.New(client(t, primary), "e", redisstore.WaitReplicas(2, 100*time.Millisecond))
		_, err := s.Save(t.Context(), "k", session.Change{Mode: session.ModeCreate, ExpiresAt: time.Now().Add(time.Hour), Set: session.Data{"n": []byte("1")}})
		if err == nil || !strings.Contains(err.Error(), "1 of 2 acknowledged") {
			t.Fatalf("save with 1 of 2 replicas: err %v; want an error saying 1 of 2 acknowledged", err)
		}
		if _, _, err := s.Take(t.Context(), "k"); err == nil {
			t.Fatal("take (cycle_key) with 1 of 2 replicas: no error")
		}
		if _, err := s.Delete(t.Context(), "k"); err == nil {
			t.Fatal("delete with 1 of 2 replicas: no error")
		}
	})

	t.Run("NOSCRIPT after SCRIPT FLUSH", func(t *testing.T) {
		c := client(t, primary)
		s := redisstore.New(c, "f", redisstore.WaitReplicas(1, time.Second))
		if err := c.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(t.Context(), "k", session.Change{Mode: session.ModeCreate, ExpiresAt: time.Now().Add(time.Hour), Set: session.Data{"n": []byte("1")}}); err != nil {
			t.Fatalf("save after SCRIPT FLUSH: %v", err)
		}
	})
}
