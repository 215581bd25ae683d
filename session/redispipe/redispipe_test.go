package redispipe

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/testredis"
)

// pipelined returns a client of srv with the batcher installed, and the
// batcher.
func pipelined(t *testing.T, srv *testredis.Server) (*redis.Client, *batcher) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	b := newBatcher(c, 1)
	c.AddHook(b)
	return c, b
}

// hold takes b's round trip as a command in flight would, so that the
// commands issued meanwhile queue; release (b.release) sends them. It
// waits for an earlier pipeline's goroutine to let go of the round trip
// it holds (its callers return just before).
func hold(t *testing.T, b *batcher) {
	t.Helper()
	for {
		b.mu.Lock()
		if b.inFlight == 0 {
			b.inFlight = b.max
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		runtime.Gosched()
	}
}

// callers runs the test's callers and counts those that returned.
type callers struct {
	wg       sync.WaitGroup
	returned atomic.Int32
}

func (cs *callers) Go(f func()) {
	cs.wg.Go(func() {
		defer cs.returned.Add(1)
		f()
	})
}

func (cs *callers) Wait() { cs.wg.Wait() }

// queued waits until n commands are queued on b while its round trip is
// held; a caller of cs that returns meanwhile did not queue.
func queued(t *testing.T, b *batcher, n int, cs *callers) {
	t.Helper()
	for {
		if r := cs.returned.Load(); r > 0 {
			t.Fatalf("%d callers returned while the round trip was held: their commands did not queue", r)
		}
		b.mu.Lock()
		got := len(b.queue)
		b.mu.Unlock()
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d commands queued; want %d", got, n)
		}
		runtime.Gosched()
	}
}

// roundTrips counts the requests and pipelines clients sent srv since the
// last call (INFO stats total_reads_processed), less its own INFO.
func roundTrips(t *testing.T, srv *testredis.Server) func() int {
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 1})
	t.Cleanup(func() { _ = raw.Close() })
	reads := func() int { return testredis.TotalReads(t, raw) }
	last := reads()
	return func() int {
		now := reads()
		n := now - last - 1
		last = now
		return n
	}
}

// TestConcurrentCommandsShareOneRoundTrip: the commands issued while the
// node's round trip is taken leave together, as one pipeline, when it is
// free, and each caller gets its own reply.
func TestConcurrentCommandsShareOneRoundTrip(t *testing.T) {
	srv := testredis.Start(t)
	c, b := pipelined(t, srv)
	ctx := t.Context()
	const n = 40
	for i := range n {
		c.HSet(ctx, fmt.Sprintf("h%d", i), "v", i)
	}
	// Warm the pipeline connection: its first use dials and says HELLO.
	hold(t, b)
	var warm callers
	warm.Go(func() { c.HGetAll(ctx, "h0") })
	queued(t, b, 1, &warm)
	b.release()
	warm.Wait()
	calls := roundTrips(t, srv)

	hold(t, b)
	got := make([]map[string]string, n)
	errs := make([]error, n)
	var wg callers
	for i := range n {
		wg.Go(func() { got[i], errs[i] = c.HGetAll(ctx, fmt.Sprintf("h%d", i)).Result() })
	}
	queued(t, b, n, &wg)
	b.release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i]["v"] != strconv.Itoa(i) {
			t.Errorf("HGETALL h%d = %v, %v; want v=%d", i, got[i], errs[i], i)
		}
	}
	if rt := calls(); rt != 1 {
		t.Errorf("%d concurrent HGETALLs took %d round trips; want 1", n, rt)
	}

	// Idle: a lone command goes at once, on its own round trip.
	if err := c.HGetAll(ctx, "h1").Err(); err != nil {
		t.Fatal(err)
	}
	if rt := calls(); rt != 1 {
		t.Errorf("a lone HGETALL took %d round trips; want 1", rt)
	}
	// Every round trip is free again (hold would wait for ever on one
	// leaked), and nothing is left queued.
	hold(t, b)
	b.mu.Lock()
	left := len(b.queue)
	b.mu.Unlock()
	b.release()
	if left != 0 {
		t.Errorf("after the calls: %d commands queued; want none", left)
	}
}

// TestEachCallerKeepsItsOwnResult: in one pipeline, a script's error, a
// script Redis does not hold yet (NOSCRIPT, then EVAL) and a wrong-type
// read fail only their own callers.
func TestEachCallerKeepsItsOwnResult(t *testing.T) {
	srv := testredis.Start(t)
	c, b := pipelined(t, srv)
	ctx := t.Context()
	c.Set(ctx, "str", "x", 0)
	c.HSet(ctx, "hash", "f", "v")
	fresh := redis.NewScript(`return 'fresh ' .. KEYS[1]`) // not loaded: NOSCRIPT first
	failing := redis.NewScript(`return redis.error_reply('ERR boom')`)

	hold(t, b)
	type result struct {
		val any
		err error
	}
	cases := []struct {
		name    string
		run     func() (any, error)
		want    any
		wantErr string
	}{
		{"script error", func() (any, error) { return failing.Run(ctx, c, []string{"k"}).Result() }, nil, "ERR boom"},
		{"hgetall", func() (any, error) { return c.HGetAll(ctx, "hash").Result() }, map[string]string{"f": "v"}, ""},
		{"wrong type", func() (any, error) { return c.HGetAll(ctx, "str").Result() }, nil, "WRONGTYPE"},
		{"get", func() (any, error) { return c.Get(ctx, "str").Result() }, "x", ""},
		{"missing", func() (any, error) { return c.Get(ctx, "none").Result() }, nil, redis.Nil.Error()},
	}
	results := make([]result, len(cases)+1)
	var wg callers
	for i, tc := range cases {
		wg.Go(func() {
			v, err := tc.run()
			results[i] = result{v, err}
		})
	}
	queued(t, b, len(cases), &wg)
	// The NOSCRIPT one: its EVALSHA queues with the others; its EVAL follows
	// on the next round trip.
	wg.Go(func() {
		v, err := fresh.Run(ctx, c, []string{"k1"}).Result()
		results[len(cases)] = result{v, err}
	})
	queued(t, b, len(cases)+1, &wg)
	b.release()
	wg.Wait()
	for i, tc := range cases {
		r := results[i]
		if tc.wantErr != "" {
			if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v; want %q", tc.name, r.err, tc.wantErr)
			}
			continue
		}
		if r.err != nil || fmt.Sprint(r.val) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.name, r.val, r.err, tc.want)
		}
	}
	if r := results[len(cases)]; r.err != nil || r.val != "fresh k1" {
		t.Errorf("unloaded script = %v, %v; want %q (EVAL after NOSCRIPT)", r.val, r.err, "fresh k1")
	}
}

// TestCancelledCallerLeavesOthersAlone: a caller whose context ends while
// its command is queued returns at once with its context's error, its
// command is never sent, and the commands queued with it run.
func TestCancelledCallerLeavesOthersAlone(t *testing.T) {
	srv := testredis.Start(t)
	c, b := pipelined(t, srv)
	ctx := t.Context()

	hold(t, b)
	var wg callers
	before := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { before[i] = c.Set(ctx, fmt.Sprintf("k%d", i), "v", 0).Err() })
	}
	queued(t, b, 3, &wg)
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error)
	go func() { gone <- c.Set(cctx, "cancelled", "v", 0).Err() }()
	queued(t, b, 4, &wg)
	after := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { after[i] = c.Set(ctx, fmt.Sprintf("k%d", 3+i), "v", 0).Err() })
	}
	queued(t, b, 7, &wg)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled SET: %v; want context.Canceled", err)
	}
	queued(t, b, 6, &wg)
	b.release()
	wg.Wait()
	for i, err := range append(before, after...) {
		if err != nil {
			t.Errorf("SET k%d: %v", i, err)
		}
		if v := c.Get(ctx, fmt.Sprintf("k%d", i)).Val(); v != "v" {
			t.Errorf("k%d = %q; want v", i, v)
		}
	}
	if n := c.Exists(ctx, "cancelled").Val(); n != 0 {
		t.Errorf("the cancelled caller's SET was sent")
	}
}

// TestOwnWritesKeepTheirOrder: each caller's writes to its own key, one
// after the other among many concurrent callers, land in the order it
// issued them.
func TestOwnWritesKeepTheirOrder(t *testing.T) {
	srv := testredis.Start(t)
	c, _ := pipelined(t, srv)
	ctx := t.Context()
	appendScript := redis.NewScript(`return redis.call('APPEND', KEYS[1], ARGV[1])`)
	const nCallers, writes = 16, 40
	var wg callers
	for i := range nCallers {
		wg.Go(func() {
			for j := range writes {
				if err := appendScript.Run(ctx, c, []string{fmt.Sprintf("o%d", i)}, fmt.Sprintf("%d,", j)).Err(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var want strings.Builder
	for j := range writes {
		fmt.Fprintf(&want, "%d,", j)
	}
	for i := range nCallers {
		if got := c.Get(ctx, fmt.Sprintf("o%d", i)).Val(); got != want.String() {
			t.Errorf("o%d = %q; want %q", i, got, want.String())
		}
	}
}

// TestTransactionsKeepTheirConnection: WATCH, MULTI and EXEC never queue:
// a transaction whose key another client changes after WATCH fails, as
// without pipelining, even while the node's round trip is taken.
func TestTransactionsKeepTheirConnection(t *testing.T) {
	srv := testredis.Start(t)
	c, b := pipelined(t, srv)
	other := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = other.Close() })
	ctx := t.Context()

	hold(t, b)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, func(tx *redis.Tx) error {
			if err := other.Set(ctx, "w", "changed", 0).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "w", "tx", 0)
				return nil
			})
			return err
		}, "w")
	}()
	// The transaction must finish without the held round trip: a WATCH that
	// queued would wait here for ever.
	for {
		select {
		case err := <-done:
			if !errors.Is(err, redis.TxFailedErr) {
				t.Errorf("transaction after a concurrent change: %v; want redis.TxFailedErr", err)
			}
			b.release()
			return
		default:
		}
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n > 0 {
			b.release()
			t.Fatal("a command of the transaction queued for the pipeline")
		}
		runtime.Gosched()
	}
}
