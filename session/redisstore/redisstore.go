// Package redisstore keeps sessions in Redis, one hash per session under
// "<prefix>:<key>" (or "<key>" with no prefix): each field is a session
// field, each value the exact JSON text of its value, and the key's TTL is
// the session's expiry. One more field, ExpiryField, repeats that expiry
// (unix milliseconds) so that a plain HGETALL reads a whole session: no
// script, and a reply that Redis' client-side caching can hold
// (ClientCache). Its name is not valid UTF-8, so no session field, which
// comes from JSON, can take it. Save runs one Lua script that checks the mode,
// applies the deletes and sets with HDEL and HSET, and sets the expiry, so
// Redis applies every delta whole and in turn: concurrent requests that
// change different fields of one session all survive, with no read-modify-
// write in the client. Each script touches a single key, which keeps it
// correct on Redis Cluster.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
)

// saveScript applies one session.Change to the hash KEYS[1].
//
// ARGV: mode, expiry (unix ms, or "" to keep the current one), the size
// limit (0: none), the number of fields to delete, those fields, the
// number of counters to increment, field/delta pairs, then field/value
// pairs to set. It returns one of the save* codes below, or {code, field}
// for a counter that cannot take its increment (saveNotInteger,
// saveOverflow), or {saveTooLarge, size} for a session the change would
// leave over the limit, having written nothing. Fields are written one
// call at a time, because unpack() of a large session would overflow Lua's
// stack.
var saveScript = redis.NewScript(saveLua)

// saveLua is saveScript's source; the user index wraps it (users.go).
var saveLua = `
local key, mode, expires_at = KEYS[1], ARGV[1], ARGV[2]
local expf = '` + ExpiryField + `'
local userf = '` + UserField + `'
local exists = redis.call('EXISTS', key) == 1
if mode == 'create' then
	if exists then return -1 end
elseif not exists then
	return -2
end
local maxsize, sealed = string.match(ARGV[3], '^(%d+)(s?)$')
maxsize, sealed = tonumber(maxsize), sealed == 's'
local ndel = tonumber(ARGV[4])
local ninc = tonumber(ARGV[5 + ndel])
local inc1, set1 = 6 + ndel, 6 + ndel + 2 * ninc
-- Sealed values (seal.go): the client has added the counters and sends
-- their new values among the sets, each counter here with the value it
-- read; a counter changed since fails the change whole, and the client
-- reads it again (saveRetry).
if sealed then
	for i = inc1, set1 - 1, 2 do
		if (redis.call('HGET', key, ARGV[i]) or '') ~= ARGV[i + 1] then return -7 end
	end
end
-- The length of a stored value as the session's size counts it: a sealed
-- value's plaintext (session.PlainLen).
local function vlen_of(v)
	if sealed and string.sub(v, 1, ` + strconv.Itoa(len(session.SealPrefix)+1) + `) == '"` + session.SealPrefix + `' then
		return math.floor((#v - ` + strconv.Itoa(session.SealedFixedLen) + `) * 3 / 4) - ` + strconv.Itoa(session.SealedBinaryLen) + `
	end
	return #v
end
-- Counters first, before any write: one that fails fails the change whole.
-- Lua's numbers are doubles: exact for every counter (at most 2^53-1).
local lim = 9007199254740991
for i = inc1, set1 - 1, 2 do
	if sealed then break end
	local cur = redis.call('HGET', key, ARGV[i])
	local n = 0
	if cur then
		if #cur > 17 or not (cur == '0' or string.match(cur, '^%-?[1-9]%d*$')) then
			return {-3, ARGV[i]}
		end
		n = tonumber(cur)
		if n > lim or n < -lim then return {-3, ARGV[i]} end
	end
	local sum = n + tonumber(ARGV[i + 1])
	if sum > lim or sum < -lim then return {-4, ARGV[i]} end
end
if maxsize > 0 and (ninc > 0 or set1 <= #ARGV) then
	-- session.Size of the hash as the change leaves it, before any write:
	-- {"k":v,...} with each value verbatim, keys JSON-quoted.
	local function qlen(s)
		if not string.find(s, '[%c"\\]') then return #s + 2 end
		local _, e = string.gsub(s, '["\\\n\r\t]', '')
		local _, c = string.gsub(s, '[%z\1-\8\11\12\14-\31]', '')
		return #s + 2 + e + 5 * c
	end
	local vlen = {}
	if mode == 'update' then
		local cur = redis.call('HGETALL', key)
		for i = 1, #cur, 2 do
			if string.byte(cur[i], 1) ~= 255 then vlen[cur[i]] = vlen_of(cur[i + 1]) end
		end
		for i = 5, 4 + ndel do vlen[ARGV[i]] = nil end
	end
	for i = set1, #ARGV, 2 do
		if string.byte(ARGV[i], 1) ~= 255 then vlen[ARGV[i]] = vlen_of(ARGV[i + 1]) end
	end
	for i = inc1, set1 - 1, 2 do
		if sealed then break end
		local cur = tonumber(redis.call('HGET', key, ARGV[i]) or '0')
		vlen[ARGV[i]] = #string.format('%.0f', cur + tonumber(ARGV[i + 1]))
	end
	local size, n = 2, 0
	for k, l in pairs(vlen) do
		size = size + qlen(k) + l + 2
		n = n + 1
	end
	if n > 0 then size = size - 1 end
	if size > maxsize then return {-5, size} end
end
if mode == 'replace' then
	redis.call('DEL', key)
end
for i = 5, 4 + ndel do
	redis.call('HDEL', key, ARGV[i])
end
for i = set1, #ARGV, 2 do
	redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
for i = inc1, set1 - 1, 2 do
	if sealed then break end
	redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
end
if redis.call('HLEN', key) - redis.call('HEXISTS', key, expf) - redis.call('HEXISTS', key, userf) == 0 then
	redis.call('DEL', key)
	return 0
end
if expires_at ~= '' then
	redis.call('HSET', key, expf, expires_at)
	redis.call('PEXPIREAT', key, expires_at)
elseif redis.call('HEXISTS', key, expf) == 0 then
	-- A hash an earlier version wrote: record the expiry it has.
	redis.call('HSET', key, expf, redis.call('PEXPIRETIME', key))
end
return redis.call('EXISTS', key)
`

// ExpiryField is the hash field that holds the session's expiry in unix
// milliseconds, beside the session's own fields. Session field names come
// from JSON text and are valid UTF-8; this one is not, so none can clash
// with it. Readers leave it out of the session's data.
const ExpiryField = "\xffexpires_at"

// UserField is the hash field that repeats, in the clear, the value of the
// user index's field when values are sealed (seal.go), so that the index's
// scripts can read whose session it is; like ExpiryField, readers leave it
// out. Field names that start with \xff are the store's own.
const UserField = "\xffuser"

// Codes returned by saveScript.
const (
	saveExists = -1 // ModeCreate on a key that is taken
	saveGone   = -2 // ModeUpdate or ModeReplace on a key that is not stored
	saveEmpty  = 0  // no data left: the hash is gone (or already expired)
	saveKept   = 1  // the hash holds data

	saveNotInteger = -3 // a counter holds something else
	saveOverflow   = -4 // a counter's sum would pass session.MaxCounter
	saveTooLarge   = -5 // the session would pass Change.MaxSize
	saveRetry      = -7 // a sealed counter changed since the client read it
)

// loadScript returns {PTTL, HGETALL} of KEYS[1], or an empty array when the
// key does not exist, in one round trip and one atomic read: Load's way to
// read a hash that has no ExpiryField yet.
var loadScript = redis.NewScript(`
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
return {redis.call('PTTL', KEYS[1]), fields}
`)

// takeScript is loadScript that also deletes KEYS[1]: a read and a removal
// in one atomic step, so that of two takers only one gets the session.
var takeScript = redis.NewScript(`
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
local pttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
return {pttl, fields}
`)

// Store keeps sessions in Redis.
type Store struct {
	client redis.UniversalClient
	prefix string

	// waitReplicas > 0 makes each save wait for that many replicas to
	// acknowledge it, for up to waitTimeout (WaitReplicas).
	waitReplicas int
	waitTimeout  time.Duration

	// cache is the client's client-side cache, and cacheNS the namespace
	// go-redis gives this client's keys in it (ClientCache).
	cache   redis.Cache
	cacheNS string

	// sealer seals the values this view writes (seal.go); indexField is
	// the user index's field, repeated in UserField when values are sealed.
	sealer     *session.Sealer
	indexField string
}

var _ session.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WaitReplicas makes every save wait, with Redis's WAIT on the connection
// that ran it, until n replicas have acknowledged it, for at most timeout
// (0: forever). Fewer acknowledgements make the save an error, though the
// primary applied it: a write the caller may lose in a failover is never
// reported as done. WAIT has no key, so this needs a single node or a
// sentinel client, not a cluster client.
func WaitReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) { s.waitReplicas, s.waitTimeout = n, timeout }
}

// ClientCache tells the store that client serves reads from cache, the
// client-side cache (go-redis' Options.ClientSideCache, with RESP3) of a
// client that logs in as username on database db. Redis then invalidates
// a cached session when any client changes it, and MaxStaleness bounds how
// long a copy whose invalidation was lost is served; the store also drops
// its own copy at once after each of its writes, so that a request that
// follows a write on this instance never reads the session as it was
// before. go-redis keys its cache by "<db>\x00<len(username)>:<username>\x00"
// plus the Redis key; TestClientCacheReadsOwnWrites fails if that changes.
func ClientCache(cache redis.Cache, db int, username string) Option {
	ns := strconv.Itoa(db) + "\x00" + strconv.Itoa(len(username)) + ":" + username + "\x00"
	return func(s *Store) { s.cache, s.cacheNS = cache, ns }
}

// evict drops the client-side cache's copy of the session under the Redis
// key rkey, after this store wrote it.
func (s *Store) evict(rkey string) {
	if s.cache != nil {
		s.cache.DeleteByRedisKey(s.cacheNS + rkey)
	}
}

// New returns a store using client, which may be a single node, sentinel or
// cluster client. Keys are prefix + ":" + session key, or just the session
// key when prefix is empty, as django-redis-sessions lays them out.
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{client: client, prefix: prefix}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) key(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + ":" + key
}

// Load returns the session under key with one HGETALL, which the client's
// client-side cache may answer (ClientCache). A hash an earlier version
// wrote has no ExpiryField: it is read again with loadScript, which gets
// its TTL.
func (s *Store) Load(ctx context.Context, key string) (session.Record, bool, error) {
	fields, err := s.client.HGetAll(ctx, s.key(key)).Result()
	if err != nil {
		return session.Record{}, false, fmt.Errorf("reading session hash: %w", err)
	}
	if len(fields) == 0 {
		return session.Record{}, false, nil
	}
	exp, ok := fields[ExpiryField]
	if !ok {
		return s.read(ctx, loadScript, key)
	}
	ms, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return session.Record{}, false, fmt.Errorf("reading session hash: expiry field %q is not unix milliseconds", exp)
	}
	expiresAt := time.UnixMilli(ms)
	if !expiresAt.After(time.Now()) {
		// Expired: Redis removes it at its own pace, and a cached copy may
		// outlive it until then.
		return session.Record{}, false, nil
	}
	// The reply's strings cannot become the session's []byte values
	// without a copy: copy them all into one array, not one each.
	n := 0
	for k, v := range fields {
		if !ownField(k) {
			n += len(v)
		}
	}
	buf := make([]byte, 0, n)
	data := make(session.Data, len(fields)-1)
	for k, v := range fields {
		if !ownField(k) {
			start := len(buf)
			buf = append(buf, v...)
			data[k] = buf[start:len(buf):len(buf)]
		}
	}
	if data, ok = s.open(key, data); !ok {
		return session.Record{}, false, nil
	}
	return session.Record{Data: data, ExpiresAt: expiresAt}, true, nil
}

// Take removes the session under key and returns it, in one script.
func (s *Store) Take(ctx context.Context, key string) (session.Record, bool, error) {
	defer s.evict(s.key(key))
	if s.waitReplicas == 0 {
		return s.read(ctx, takeScript, key)
	}
	// A cycle_key a failover undid would leave the old key alive beside the
	// new one: wait as Save does.
	cmd, err := s.runAndWait(ctx, takeScript, []string{s.key(key)}, nil)
	if err != nil {
		return session.Record{}, false, fmt.Errorf("taking session hash: %w", err)
	}
	res, err := cmd.Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return session.Record{}, false, fmt.Errorf("taking session hash: %w", err)
	}
	rec, ok, err := decodeReply(res, time.Now())
	if err != nil {
		return session.Record{}, false, fmt.Errorf("taking session hash: %w", err)
	}
	rec, ok = s.opened(key, rec, ok)
	return rec, ok, nil
}

func (s *Store) read(ctx context.Context, script *redis.Script, key string) (session.Record, bool, error) {
	res, err := script.Run(ctx, s.client, []string{s.key(key)}).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return session.Record{}, false, fmt.Errorf("reading session hash: %w", err)
	}
	rec, ok, err := decodeReply(res, time.Now())
	if err != nil {
		return session.Record{}, false, fmt.Errorf("reading session hash: %w", err)
	}
	rec, ok = s.opened(key, rec, ok)
	return rec, ok, nil
}

// decodeReply reads the {PTTL, HGETALL} reply of loadScript or takeScript,
// received at now.
func decodeReply(res []any, now time.Time) (session.Record, bool, error) {
	if len(res) == 0 {
		return session.Record{}, false, nil
	}
	if len(res) != 2 {
		return session.Record{}, false, fmt.Errorf("unexpected reply of %d elements", len(res))
	}
	pttl, ok1 := res[0].(int64)
	fields, ok2 := res[1].([]any)
	if !ok1 || !ok2 || len(fields)%2 != 0 {
		return session.Record{}, false, fmt.Errorf("unexpected reply types %T, %T", res[0], res[1])
	}
	if pttl <= 0 {
		// No TTL (-1) is not a session this store wrote; -2 cannot happen
		// in a script that has just read the hash.
		return session.Record{}, false, nil
	}
	data := make(session.Data, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		k, ok1 := fields[i].(string)
		v, ok2 := fields[i+1].(string)
		if !ok1 || !ok2 {
			return session.Record{}, false, fmt.Errorf("unexpected field types %T, %T", fields[i], fields[i+1])
		}
		if !ownField(k) {
			data[k] = []byte(v)
		}
	}
	return session.Record{Data: data, ExpiresAt: now.Add(time.Duration(pttl) * time.Millisecond)}, true, nil
}

// Save applies c to the session under key in one script.
func (s *Store) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	return s.saveWith(ctx, key, c, saveScript)
}

// saveWith is Save with script, which takes saveScript's arguments after
// pre: the user index's script (users.go).
func (s *Store) saveWith(ctx context.Context, key string, c session.Change, script *redis.Script, pre ...any) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	mode := c.Mode.String() // the script's names
	var expiresAt string
	if !c.ExpiresAt.IsZero() {
		expiresAt = strconv.FormatInt(c.ExpiresAt.UnixMilli(), 10)
	}

	// The script increments only fields the change leaves as stored: a
	// counter this change also sets or deletes is summed here.
	set, del, incr := c.Set, c.Delete, map[string]int64{}
	copied := false
	for k, d := range c.Incr {
		base, inSet := set[k]
		if !inSet && !slices.Contains(del, k) && c.Mode == session.ModeUpdate {
			incr[k] = d
			continue
		}
		v, err := session.AddCounter(base, d)
		if err != nil {
			err.(*session.IncrError).Key = k
			return false, err
		}
		if !copied { // the caller's maps stay as they are
			set, del, copied = maps.Clone(set), slices.Clone(del), true
			if set == nil {
				set = session.Data{}
			}
		}
		set[k] = v
		del = slices.DeleteFunc(del, func(x string) bool { return x == k })
	}

	defer s.evict(s.key(key))
	if s.sealer == nil {
		return s.runSave(ctx, key, c, script, pre, mode, expiresAt, del, incr, nil, set)
	}
	return s.saveSealed(ctx, key, c, script, pre, mode, expiresAt, del, incr, set)
}

// runSave runs the save script once: with expect nil, it adds incr to the
// stored counters; otherwise (sealed values) the sets hold the counters'
// new values and expect the stored values they were added to.
func (s *Store) runSave(ctx context.Context, key string, c session.Change, script *redis.Script, pre []any, mode, expiresAt string, del []string, incr map[string]int64, expect map[string]string, set session.Data) (bool, error) {
	args := make([]any, 0, 5+len(pre)+len(del)+2*len(incr)+2*len(set))
	args = append(args, pre...)
	maxSize := strconv.Itoa(c.MaxSize)
	if s.sealer != nil {
		maxSize += "s" // stored lengths are sealed values'
	}
	args = append(args, mode, expiresAt, maxSize, len(del))
	for _, k := range del {
		args = append(args, k)
	}
	if expect == nil {
		args = append(args, len(incr))
		for k, d := range incr {
			args = append(args, k, d)
		}
	} else {
		args = append(args, len(expect))
		for k, v := range expect {
			args = append(args, k, v)
		}
	}
	for k, v := range set {
		// []byte, not json.RawMessage: go-redis only writes the former raw.
		if s.sealer != nil && !ownField(k) {
			v = s.sealer.Seal(key, k, v)
		}
		args = append(args, k, []byte(v))
	}

	var reply any
	var err error
	if s.waitReplicas > 0 {
		var cmd *redis.Cmd
		if cmd, err = s.runAndWait(ctx, script, []string{s.key(key)}, args); err == nil {
			reply, err = cmd.Result()
		}
	} else {
		reply, err = script.Run(ctx, s.client, []string{s.key(key)}, args...).Result()
	}
	if err != nil {
		return false, fmt.Errorf("writing session hash: %w", err)
	}
	code, ok := reply.(int64)
	if r, isPair := reply.([]any); isPair && len(r) == 2 {
		field, _ := r[1].(string)
		switch r[0] {
		case int64(saveNotInteger):
			return false, &session.IncrError{Key: field, Reason: session.ReasonNotInteger}
		case int64(saveOverflow):
			return false, &session.IncrError{Key: field, Reason: session.ReasonOverflow}
		case int64(saveTooLarge):
			size, _ := r[1].(int64)
			return false, &session.LimitError{What: "session size", Size: int(size), Limit: c.MaxSize}
		}
	}
	if !ok {
		return false, fmt.Errorf("writing session hash: unexpected reply %v", reply)
	}
	switch code {
	case saveRetry:
		return false, errRetry
	case saveExists:
		return false, session.ErrKeyExists
	case saveGone:
		return false, session.ErrGone
	case saveRevoked:
		return false, session.ErrRevoked
	case saveEmpty:
		return false, nil
	case saveKept:
		return true, nil
	}
	return false, fmt.Errorf("writing session hash: unexpected reply %d", code)
}

// runAndWait runs script and WAIT in one pipeline, so that both go over one
// connection and WAIT counts the acknowledgements of this very write. WAIT
// cannot run inside the script. A script Redis does not hold yet
// (NOSCRIPT) is sent whole once. It returns the script's reply.
func (s *Store) runAndWait(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	run := func(eval func(redis.Pipeliner) *redis.Cmd) (*redis.Cmd, *redis.Cmd, error) {
		var save *redis.Cmd
		var wait *redis.Cmd
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			save = eval(p)
			wait = p.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
			return nil
		})
		return save, wait, err
	}
	save, wait, err := run(func(p redis.Pipeliner) *redis.Cmd {
		return script.EvalSha(ctx, p, keys, args...)
	})
	if save != nil && redis.HasErrorPrefix(save.Err(), "NOSCRIPT") {
		save, wait, err = run(func(p redis.Pipeliner) *redis.Cmd {
			return script.Eval(ctx, p, keys, args...)
		})
	}
	if save == nil || wait == nil {
		return nil, err
	}
	if serr := save.Err(); serr != nil && !errors.Is(serr, redis.Nil) {
		return nil, serr
	}
	acks, werr := wait.Int64()
	if werr != nil {
		return nil, fmt.Errorf("waiting for replicas: %w", werr)
	}
	if acks < int64(s.waitReplicas) {
		return nil, fmt.Errorf("waiting for replicas: %d of %d acknowledged within %s", acks, s.waitReplicas, s.waitTimeout)
	}
	return save, nil
}

// Delete removes the session under key and reports whether it was stored.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	defer s.evict(s.key(key))
	if s.waitReplicas == 0 {
		n, err := s.client.Del(ctx, s.key(key)).Result()
		if err != nil {
			return false, fmt.Errorf("deleting session hash: %w", err)
		}
		return n > 0, nil
	}
	// A logout a failover undid would bring the session back: wait as Save.
	var del *redis.IntCmd
	var wait *redis.Cmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.key(key))
		wait = p.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("deleting session hash: %w", err)
	}
	if acks, _ := wait.Int64(); acks < int64(s.waitReplicas) {
		return false, fmt.Errorf("deleting session hash: waiting for replicas: %d of %d acknowledged within %s", acks, s.waitReplicas, s.waitTimeout)
	}
	return del.Val() > 0, nil
}
