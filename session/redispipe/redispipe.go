// Package redispipe pipelines the commands of concurrent callers to one
// Redis node automatically, beneath any store built on go-redis: a
// go-redis hook on each node's client (the single node, the Sentinel
// master's failover client, each Cluster node) that lets a command go out
// at once, as before, while the node has a free round trip, and queues it
// while the round trips are all in flight. When one returns, everything
// queued meanwhile leaves as one pipeline: one write and one read for many
// requests, and an idle node adds no wait (no timer, as rueidis flushes as
// soon as its writer is free).
//
// What the stores rely on is unchanged. Only the commands of batchable go
// through the queue: single-key reads, writes and scripts; everything else
// (WATCH, MULTI, EXEC, blocking commands, WAIT, pub/sub, SCRIPT, INFO, ...)
// goes out on its own as before, and pipelines and transactions the
// stores build themselves never pass through here. Each queued command
// keeps its own reply and error (a script's error, NOSCRIPT for the
// EVALSHA-then-EVAL fallback, a Cluster MOVED or ASK that the cluster
// client then follows), as in any go-redis pipeline. A caller whose
// context ends while its command is still queued leaves at once and its
// command is never sent; once the command is on the wire the caller waits
// for the pipeline's reply, which the latest deadline of its callers
// bounds, so no caller's deadline or cancellation cuts another's command
// short. A caller issues its next command only after the last one
// answered, so a request's own commands keep their order.
package redispipe

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultInFlight is how many round trips each node's client keeps in
// flight before it queues commands: two, so that one pipeline is on the
// wire while the last one's callers wake. In BenchmarkPipeline
// (session/redisstore) two did as well as one at 32 and 128 callers and
// better at 8; four sent more round trips for no gain.
const DefaultInFlight = 2

// Enable makes client pipeline the concurrent commands to each of its
// nodes, with at most inFlight round trips in flight per node (0:
// DefaultInFlight). Call it right after creating the client, before its
// first command: a Cluster node's client gets the hook when it is created.
func Enable(client redis.UniversalClient, inFlight int) {
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	switch c := client.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(newBatcher(node, inFlight)) })
	case *redis.Client:
		c.AddHook(newBatcher(c, inFlight))
	}
}

// batchable are the commands that may share a pipeline: they touch one
// key, do not block, and leave no state on the connection. The stores'
// loads (HGETALL, GET, the read scripts) and saves (the save scripts, DEL)
// are among them.
var batchable = map[string]bool{
	"get": true, "set": true, "del": true, "unlink": true, "exists": true,
	"hgetall": true, "hget": true, "hset": true, "hdel": true,
	"pttl": true, "ttl": true, "expire": true, "pexpire": true, "pexpireat": true,
	"evalsha": true, "eval": true, "evalsha_ro": true, "eval_ro": true,
}

// batcher is the hook of one node's client.
type batcher struct {
	client *redis.Client // the node's client, which sends the pipelines
	max    int           // round trips in flight before commands queue

	mu       sync.Mutex
	inFlight int       // round trips in flight: direct commands and pipelines
	queue    []*waiter // commands waiting for a round trip, in arrival order
}

// waiter is one queued command and its caller.
type waiter struct {
	ctx  context.Context
	cmd  redis.Cmder
	done chan struct{} // closed once cmd has its reply or error
	sent bool          // taken into a pipeline (under batcher.mu)
}

func newBatcher(client *redis.Client, max int) *batcher {
	return &batcher{client: client, max: max}
}

func (b *batcher) DialHook(next redis.DialHook) redis.DialHook { return next }

func (b *batcher) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (b *batcher) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !batchable[strings.ToLower(cmd.Name())] {
			return next(ctx, cmd)
		}
		b.mu.Lock()
		if b.inFlight < b.max {
			// A free round trip: go now, alone, on the caller's context.
			b.inFlight++
			b.mu.Unlock()
			err := next(ctx, cmd)
			b.release()
			return err
		}
		w := &waiter{ctx: ctx, cmd: cmd, done: make(chan struct{})}
		b.queue = append(b.queue, w)
		b.mu.Unlock()
		select {
		case <-w.done:
			return cmd.Err()
		case <-ctx.Done():
		}
		b.mu.Lock()
		if !w.sent {
			// Still queued: leave, and it is never sent.
			for i, q := range b.queue {
				if q == w {
					b.queue = append(b.queue[:i], b.queue[i+1:]...)
					break
				}
			}
			b.mu.Unlock()
			return ctx.Err()
		}
		b.mu.Unlock()
		// On the wire: the pipeline writes its reply into cmd, so wait for
		// it (bounded by the pipeline's deadline) rather than race it.
		<-w.done
		return cmd.Err()
	}
}

// release ends a round trip. What queued meanwhile takes it over at once,
// as one pipeline sent from a new goroutine, so that the caller that ends
// the round trip returns without waiting for the next one.
func (b *batcher) release() {
	b.mu.Lock()
	batch := b.take()
	if batch == nil {
		b.inFlight--
	}
	b.mu.Unlock()
	if batch != nil {
		go b.flush(batch)
	}
}

// take empties the queue, marking its commands sent; nil when empty.
// Called under b.mu.
func (b *batcher) take() []*waiter {
	if len(b.queue) == 0 {
		return nil
	}
	batch := b.queue
	b.queue = nil
	for _, w := range batch {
		w.sent = true
	}
	return batch
}

// flush sends batch as one pipeline and answers its callers; then, while
// commands queued meanwhile, sends those, keeping the round trip it holds.
func (b *batcher) flush(batch []*waiter) {
	for batch != nil {
		b.send(batch)
		b.mu.Lock()
		if batch = b.take(); batch == nil {
			b.inFlight--
		}
		b.mu.Unlock()
	}
}

// send runs batch as one pipeline. Its context carries the values of the
// first caller's, no cancellation, and the latest of the callers'
// deadlines (none if one has none: the client's read timeout then bounds
// it). A caller whose context ended before its command was sent gets its
// context's error, and its command is left out.
func (b *batcher) send(batch []*waiter) {
	var latest time.Time
	bounded := true
	pipe := b.client.Pipeline()
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.cmd.SetErr(err)
			close(w.done)
			continue
		}
		if d, ok := w.ctx.Deadline(); !ok {
			bounded = false
		} else if d.After(latest) {
			latest = d
		}
		_ = pipe.BatchProcess(w.ctx, w.cmd)
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, latest)
		defer cancel()
	}
	// Each command gets its own reply or error; Exec's is the first of
	// those.
	_, _ = pipe.Exec(ctx)
	for _, w := range live {
		close(w.done)
	}
}

var _ redis.Hook = (*batcher)(nil)
