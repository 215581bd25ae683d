package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// TestPipelinedTopologies: on a single node, a Cluster and behind a
// Sentinel, the store on a pipelining client (universal, as the module
// builds it) loads concurrent requests' sessions in fewer round trips than
// loads, each request gets its own session, and concurrent saves of
// different fields of one session all survive.
func TestPipelinedTopologies(t *testing.T) {
	single := testredis.Start(t)
	cluster := testredis.StartCluster(t, 3)
	master := testredis.Start(t)
	sentinel := testredis.StartSentinel(t, master, "sessions")
	for _, tc := range []struct {
		name  string
		opts  *redis.UniversalOptions
		nodes []*testredis.Server
	}{
		{"single", &redis.UniversalOptions{Addrs: []string{single.Addr()}}, []*testredis.Server{single}},
		{"cluster", &redis.UniversalOptions{Addrs: cluster.Addrs()}, cluster.Nodes},
		{"sentinel", &redis.UniversalOptions{MasterName: sentinel.MasterName, Addrs: []string{sentinel.Addr()}}, []*testredis.Server{master}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := redisstore.New(universal(t, tc.opts), "pipe")
			const count = 200
			keys := make([]string, count)
			expiresAt := time.Now().Add(time.Hour)
			for i := range keys {
				keys[i] = session.NewKey()
			}
			parallelDo(t, count, func(i int) error {
				_, err := s.Save(ctx, keys[i], session.Change{Mode: session.ModeCreate, Set: session.Data{"i": fmt.Appendf(nil, "%d", i)}, ExpiresAt: expiresAt})
				return err
			})

			trips := clientReads(t, tc.nodes)
			parallelDo(t, count, func(i int) error {
				rec, ok, err := s.Load(ctx, keys[i])
				if err != nil || !ok || string(rec.Data["i"]) != fmt.Sprint(i) {
					return fmt.Errorf("session %d loaded as %q, %v, %v", i, rec.Data, ok, err)
				}
				return nil
			})
			if trips := trips(); trips >= count {
				t.Errorf("%d concurrent loads took %d round trips; want fewer (pipelined)", count, trips)
			} else {
				t.Logf("%d concurrent loads took %d round trips", count, trips)
			}

			// One session, a field per request: no lost update.
			parallelDo(t, count, func(i int) error {
				_, err := s.Save(ctx, keys[0], session.Change{Mode: session.ModeUpdate, Set: session.Data{fmt.Sprintf("f%d", i): []byte("1")}, ExpiresAt: expiresAt})
				return err
			})
			rec, _, err := s.Load(ctx, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			for i := range count {
				if _, ok := rec.Data[fmt.Sprintf("f%d", i)]; !ok {
					t.Errorf("field f%d of a concurrent save is lost", i)
				}
			}
		})
	}
}

// clientReads returns a counter of the requests and pipelines nodes read
// from clients (INFO stats total_reads_processed, summed), less its own.
func clientReads(t *testing.T, nodes []*testredis.Server) func() int {
	t.Helper()
	var infos []*redis.Client
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr(), PoolSize: 1})
		t.Cleanup(func() { _ = c.Close() })
		infos = append(infos, c)
	}
	read := func() int {
		total := 0
		for _, c := range infos {
			total += testredis.TotalReads(t, c)
		}
		return total
	}
	last := read()
	return func() int {
		now := read()
		n := now - last - len(infos)
		last = now
		return n
	}
}
