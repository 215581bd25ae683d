// Package redisblob keeps one opaque value per session in a Redis string,
// as the Redis layouts Django shares do: Django's cache engine through
// django-redis ("<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache<key>",
// the session dict as JSON) and django-redis-sessions ("<prefix>:<key>",
// Django's signed encoding). The key's TTL is the session's expiry.
//
// Backend implements blob.Backend. Modify is an optimistic check-and-set
// without WATCH: it reads the value, runs the caller's function, and
// writes with one Lua script that first checks that the key still holds
// exactly what was read; on a conflict it reads again and retries. Each
// script touches one key, so it works unchanged on Redis Cluster.
package redisblob

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
)

// The session engines' cache key prefixes: Django's cache engine and its
// cached_db engine keep the session under "<engine prefix><session key>"
// inside the cache.
const (
	CacheEngine    = "django.contrib.sessions.cache"
	CachedDBEngine = "django.contrib.sessions.cached_db"
)

// CacheKey returns the key function of Django's cache engine (enginePrefix
// CacheEngine) or of the cache half of cached_db (CachedDBEngine) on
// django-redis with its default KEY_FUNCTION: Django's
// "%s:%s:%s" % (KEY_PREFIX, VERSION, key), where key is the engine prefix
// followed by the session key.
func CacheKey(keyPrefix string, version int, enginePrefix string) func(sessionKey string) string {
	head := CacheHead(keyPrefix, version, enginePrefix)
	return func(sessionKey string) string { return head + sessionKey }
}

// CacheHead is what CacheKey puts before the session key.
func CacheHead(keyPrefix string, version int, enginePrefix string) string {
	return keyPrefix + ":" + strconv.Itoa(version) + ":" + enginePrefix
}

// SessionsHead is what SessionsKey puts before the session key.
func SessionsHead(prefix string) string {
	if prefix == "" {
		return ""
	}
	return prefix + ":"
}

// SessionsKey returns the key function of django-redis-sessions:
// "<prefix>:<session key>", or the bare session key when prefix is empty.
func SessionsKey(prefix string) func(sessionKey string) string {
	if prefix == "" {
		return func(sessionKey string) string { return sessionKey }
	}
	head := prefix + ":"
	return func(sessionKey string) string { return head + sessionKey }
}

// MaxAttempts is how many times Modify runs its function when concurrent
// writers keep changing the value between its read and its write. Each
// conflict means another writer succeeded, so n writers racing on one key
// all finish within n attempts; the bound only stops a pathological storm.
const MaxAttempts = 100

// ErrContended is returned by Modify when every attempt met a concurrent
// write. Nothing was written; the caller may try again later.
var ErrContended = errors.New("writing session value: too many concurrent writers, gave up")

// readScript returns what KEYS[1] holds, in one atomic step: {} when it
// does not exist, {type} when it is not a string, {value, PTTL} when it is.
var readScript = redis.NewScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {} end
if t ~= 'string' then return {t} end
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
`)

// casCheckLua begins every check-and-set script: it returns 0 unless
// KEYS[1] still holds what readScript saw (ARGV 1-3 below), and leaves the
// key's name in the local key.
const casCheckLua = `
local key = KEYS[1]
local t = redis.call('TYPE', key)['ok']
local seen = ARGV[1]
if seen == 'none' then
	if t ~= 'none' then return 0 end
elseif seen == 'string' then
	if t ~= 'string' or redis.call('GET', key) ~= ARGV[2] then return 0 end
	if (redis.call('PTTL', key) >= 0) ~= (ARGV[3] == '1') then return 0 end
elseif t == 'none' or t == 'string' then
	return 0
end`

// casScript writes KEYS[1] only if it still holds what readScript saw.
//
// ARGV: the state seen ("none", "other", or "string"), the value seen, "1"
// if that value had a TTL, then the write: "put" with the new value and its
// expiry (unix ms), or "del". Returns 1 when written, 0 on a conflict.
var casScript = redis.NewScript(casCheckLua + `
if ARGV[4] == 'put' then
	redis.call('SET', key, ARGV[5], 'PXAT', ARGV[6])
else
	redis.call('DEL', key)
end
return 1
`)

// Backend keeps one value per session key in a Redis string whose TTL is
// the session's expiry.
type Backend struct {
	client redis.UniversalClient
	key    func(sessionKey string) string
	now    func() time.Time
	// head and indexPrefix are set by WithIndex (users.go).
	head, indexPrefix, markPrefix string
}

var _ blob.Backend = (*Backend)(nil)

// New returns a backend on client (single node, sentinel or cluster) that
// keeps the session sessionKey under keyFunc(sessionKey): CacheKey for
// Django's cache engine, SessionsKey for django-redis-sessions.
func New(client redis.UniversalClient, keyFunc func(sessionKey string) string) *Backend {
	return &Backend{client: client, key: keyFunc, now: time.Now}
}

// snapshot is what readScript saw under one key.
type snapshot struct {
	state string // "none", "string" or "other" (a hash, a list, ...)
	data  []byte
	pttl  int64 // milliseconds; -1 when the string has no TTL
}

// session reports the value as a blob.Value, and whether it is a session
// this layout wrote: a string with a TTL. Django's engines always set one;
// a string without a TTL, or a key of another type, was written by
// something else and is not read as a session (it is overwritten only by
// a new session drawn under the same key, and never deleted).
func (s snapshot) session(now time.Time) (blob.Value, bool) {
	if s.state != "string" || s.pttl <= 0 {
		return blob.Value{}, false
	}
	return blob.Value{Data: s.data, ExpiresAt: now.Add(time.Duration(s.pttl) * time.Millisecond)}, true
}

func (b *Backend) read(ctx context.Context, key string) (snapshot, error) {
	res, err := readScript.Run(ctx, b.client, []string{key}).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return snapshot{}, err
	}
	switch len(res) {
	case 0:
		return snapshot{state: "none"}, nil
	case 1:
		return snapshot{state: "other"}, nil
	case 2:
		data, ok1 := res[0].(string)
		pttl, ok2 := res[1].(int64)
		if ok1 && ok2 {
			return snapshot{state: "string", data: []byte(data), pttl: pttl}, nil
		}
		return snapshot{}, fmt.Errorf("unexpected reply types %T, %T", res[0], res[1])
	}
	return snapshot{}, fmt.Errorf("unexpected reply of %d elements", len(res))
}

// Read implements blob.Backend: the value and its TTL in one script, so
// they are read at one instant (a pipeline of GET and PTTL could see a
// write land between the two). ExpiresAt is now plus the remaining TTL.
func (b *Backend) Read(ctx context.Context, key string) (blob.Value, bool, error) {
	snap, err := b.read(ctx, b.key(key))
	if err != nil {
		return blob.Value{}, false, fmt.Errorf("reading session value: %w", err)
	}
	v, ok := snap.session(b.now())
	return v, ok, nil
}

// Modify implements blob.Backend as an optimistic check-and-set: read,
// run fn, then write in one script only if the key still holds exactly
// what was read (same bytes, same TTL presence; or still absent). On a
// conflict fn runs again on the newer value, at most MaxAttempts times.
func (b *Backend) Modify(ctx context.Context, key string, fn blob.ModifyFunc) error {
	rkey := b.key(key)
	for attempt := 1; ; attempt++ {
		snap, err := b.read(ctx, rkey)
		if err != nil {
			return fmt.Errorf("reading session value: %w", err)
		}
		cur, exists := snap.session(b.now())
		op, err := fn(cur, exists)
		if err != nil {
			return err
		}
		args := []any{snap.state, snap.data, "0"}
		if snap.pttl >= 0 {
			args[2] = "1"
		}
		switch op.Kind {
		case blob.Keep:
			return nil
		case blob.Put:
			if op.Value.ExpiresAt.IsZero() {
				return errors.New("writing session value: no expiry")
			}
			at := op.Value.ExpiresAt.UnixMilli()
			if at <= 0 {
				at = 1 // long past: Redis drops the key at once
			}
			args = append(args, "put", op.Value.Data, strconv.FormatInt(at, 10))
		case blob.Remove:
			if !exists {
				return nil // nothing of ours to remove
			}
			args = append(args, "del")
		default:
			return fmt.Errorf("writing session value: unknown operation %d", op.Kind)
		}
		var ok bool
		if op.Index != nil && b.indexPrefix != "" {
			for len(args) < 6 {
				args = append(args, "")
			}
			args = append(args, b.indexArgs(key, op)...)
			res, err := indexedCasScript.Run(ctx, b.client, []string{rkey}, args...).Result()
			if err == nil {
				ok, err = indexedReply(res, op) // users.go
			}
			if errors.Is(err, session.ErrRevoked) {
				return err
			}
			if err != nil {
				return fmt.Errorf("writing session value: %w", err)
			}
		} else {
			n, err := casScript.Run(ctx, b.client, []string{rkey}, args...).Int()
			if err != nil {
				return fmt.Errorf("writing session value: %w", err)
			}
			ok = n == 1
		}
		if ok {
			return nil
		}
		if attempt == MaxAttempts {
			return ErrContended
		}
		if err := backoff(ctx, attempt); err != nil {
			return fmt.Errorf("writing session value: %w", err)
		}
	}
}

// backoff waits a random time that grows with the number of conflicts
// (up to 3.2 ms), so that writers racing on one key spread out instead of
// reading and failing in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(100*time.Microsecond) << min(attempt, 5)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
