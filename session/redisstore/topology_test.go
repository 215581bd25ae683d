package redisstore_test

// The store on the two other topologies a RedisStore can be configured
// with: Redis Cluster (several addresses) and a sentinel-managed master
// (master_name), each through redis.NewUniversalClient exactly as the Caddy
// module builds its client, against real redis-server processes.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redispipe"
	"github.com/caddy-session/caddy-session/session/redisstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// universal builds the client the way caddymodule.RedisStore does, with
// automatic pipelining (its default).
func universal(t *testing.T, opts *redis.UniversalOptions) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(opts)
	redispipe.Enable(c, 0)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCluster(t *testing.T) {
	cluster := testredis.StartCluster(t, 3)
	uc := universal(t, &redis.UniversalOptions{Addrs: cluster.Addrs()})
	cc, ok := uc.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("NewUniversalClient(%d addresses) = %T; want *redis.ClusterClient", len(cluster.Addrs()), uc)
	}

	t.Run("Conformance", func(t *testing.T) {
		for _, prefix := range []string{"", "session"} {
			t.Run(fmt.Sprintf("Prefix=%q", prefix), func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) session.Store { return redisstore.New(cc, prefix) })
			})
		}
	})

	t.Run("Spread", func(t *testing.T) {
		// Sessions are hashed over the slots, so they land on every node;
		// each save and load is routed to the node owning its key.
		const count = 300
		ctx := t.Context()
		s := redisstore.New(cc, "spread")
		keys := make([]string, count)
		slots := map[int64]bool{}
		expiresAt := time.Now().Add(time.Hour)
		for i := range keys {
			keys[i] = session.NewKey()
			slot, err := cc.ClusterKeySlot(ctx, "spread:"+keys[i]).Result()
			if err != nil {
				t.Fatal(err)
			}
			slots[slot] = true
		}
		if len(slots) < count/2 {
			t.Errorf("%d sessions hash to only %d slots", count, len(slots))
		}
		parallelDo(t, count, func(i int) error {
			_, err := s.Save(ctx, keys[i], session.Change{
				Mode:      session.ModeCreate,
				Set:       session.Data{"i": fmt.Appendf(nil, "%d", i), "key": fmt.Appendf(nil, "%q", keys[i])},
				ExpiresAt: expiresAt,
			})
			return err
		})

		// Ask each node directly, not through the cluster client. (The
		// conformance sub-tests left their own keys behind.)
		total := 0
		for _, addr := range cluster.Addrs() {
			node := redis.NewClient(&redis.Options{Addr: addr})
			stored, err := node.Keys(ctx, "spread:*").Result()
			_ = node.Close()
			if err != nil {
				t.Fatalf("KEYS spread:* on %s: %v", addr, err)
			}
			n := len(stored)
			if n == 0 {
				t.Errorf("node %s holds no session; want them spread over every node", addr)
			}
			t.Logf("node %s holds %d sessions", addr, n)
			total += n
		}
		if total != count {
			t.Errorf("the nodes hold %d keys in all; want %d", total, count)
		}

		parallelDo(t, count, func(i int) error {
			rec, ok, err := s.Load(ctx, keys[i])
			switch {
			case err != nil:
				return err
			case !ok:
				return fmt.Errorf("session %d (%s) not found", i, keys[i])
			case string(rec.Data["i"]) != fmt.Sprint(i) || string(rec.Data["key"]) != fmt.Sprintf("%q", keys[i]):
				return fmt.Errorf("session %d loaded as %q", i, rec.Data)
			case rec.ExpiresAt.Sub(expiresAt).Abs() > time.Second:
				return fmt.Errorf("session %d expires at %v; want %v", i, rec.ExpiresAt, expiresAt)
			}
			return nil
		})

		parallelDo(t, count, func(i int) error { _, err := s.Delete(ctx, keys[i]); return err })
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if left, err := node.Keys(ctx, "spread:*").Result(); err != nil || len(left) != 0 {
				return fmt.Errorf("KEYS spread:* on %s after deleting every session = %q, %v; want none", node.Options().Addr, left, err)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
}

func TestSentinel(t *testing.T) {
	master := testredis.Start(t)
	sentinel := testredis.StartSentinel(t, master, "sessions")
	uc := universal(t, &redis.UniversalOptions{MasterName: sentinel.MasterName, Addrs: []string{sentinel.Addr()}})
	fc, ok := uc.(*redis.Client)
	if !ok || fc.Options().Addr != "FailoverClient" {
		t.Fatalf("NewUniversalClient(master_name) = %T; want a *redis.Client failover client", uc)
	}

	storetest.Run(t, func(t *testing.T) session.Store { return redisstore.New(fc, "session") })

	// The sessions are on the master the sentinel named.
	ctx := t.Context()
	key := session.NewKey()
	if _, err := redisstore.New(fc, "session").Save(ctx, key, session.Change{
		Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: time.Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if got := client(t, master).HGet(ctx, "session:"+key, "a").Val(); got != "1" {
		t.Errorf("HGET session:%s a on the master = %q; want 1", key, got)
	}
}

// parallelDo runs f(0..n-1) on n goroutines and reports every error.
func parallelDo(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
