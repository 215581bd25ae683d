package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/redispipe"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// BenchmarkPipeline: one op is a request's store work, a Load (HGETALL)
// then a Save (the save script) of one of 1024 sessions, by 1, 8, 32 and
// 128 concurrent callers, with pipelining off and on in turn (-count
// repeats the pairs, so they alternate). Besides ns/op it reports ops/s,
// the p99 of one op's latency, Redis' round trips per op (INFO stats
// total_reads_processed), and the CPU time per op of this process (the
// client) and of redis-server (INFO used_cpu_*).
//
//	go test -run '^$' -bench BenchmarkPipeline -benchtime 20000x -count 3 ./session/redisstore
func BenchmarkPipeline(b *testing.B) {
	srv := testredis.Start(b)
	info := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 1})
	b.Cleanup(func() { _ = info.Close() })
	for _, conns := range []int{1, 8, 32, 128} {
		for _, pipe := range []bool{false, true} {
			name := fmt.Sprintf("conns=%d/pipeline=%s", conns, map[bool]string{false: "off", true: "on"}[pipe])
			b.Run(name, func(b *testing.B) {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				defer c.Close()
				if pipe {
					redispipe.Enable(c, 0)
				}
				benchLoadSave(b, srv, info, redisstore.New(c, "bench"), conns)
			})
		}
	}
}

func benchLoadSave(b *testing.B, srv *testredis.Server, info *redis.Client, s *redisstore.Store, conns int) {
	ctx := context.Background()
	keys := make([]string, 1024)
	expires := time.Now().Add(time.Hour)
	for i := range keys {
		keys[i] = session.NewKey()
		if _, err := s.Save(ctx, keys[i], session.Change{Mode: session.ModeCreate, Set: session.Data{"user": []byte(`"alice"`), "n": []byte("0")}, ExpiresAt: expires}); err != nil {
			b.Fatal(err)
		}
	}
	// Warm the pools: as many connections as the callers will use.
	var warm sync.WaitGroup
	for range conns {
		warm.Go(func() { _, _, _ = s.Load(ctx, keys[0]) })
	}
	warm.Wait()

	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var failed atomic.Value
	reads0, server0 := redisStats(b, info)
	client0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range conns {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/conns+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				key := keys[int(i)%len(keys)]
				t0 := time.Now()
				if _, _, err := s.Load(ctx, key); err != nil {
					failed.Store(err)
					return
				}
				c := session.Change{Mode: session.ModeUpdate, Set: session.Data{"n": []byte(strconv.FormatInt(i, 10))}, ExpiresAt: expires}
				if _, err := s.Save(ctx, key, c); err != nil {
					failed.Store(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[g] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	client := processCPU() - client0
	reads, server := redisStats(b, info)
	all := slices.Concat(lat...)
	slices.Sort(all)
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(reads-reads0-1)/n, "roundtrips/op")
	b.ReportMetric((server-server0).Seconds()*1e6/n, "redis-cpu-µs/op")
	b.ReportMetric(client.Seconds()*1e6/n, "client-cpu-µs/op")
}

// redisStats reads total_reads_processed and the CPU time redis-server has
// used.
func redisStats(b *testing.B, info *redis.Client) (reads int, cpu time.Duration) {
	text, err := info.Info(context.Background(), "stats", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "total_reads_processed":
			reads, _ = strconv.Atoi(v)
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += time.Duration(f * float64(time.Second))
		}
	}
	return reads, cpu
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
