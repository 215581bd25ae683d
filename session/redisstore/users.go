package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
)

// The user index: one hash per user, "<prefix>:user:<user>" ("user:<user>"
// without a prefix), whose fields are the user's session keys and whose
// values are "<created> <modified> <expires>" in unix ms. The scripts below
// change it in the same script as the session, so it never disagrees with
// the sessions; entries whose session expired are dropped by the listing
// script, and the hash's own TTL is the latest expiry of its entries, so an
// index nobody lists goes with its sessions.
//
// The index key is known only once the script has read the session's user,
// so the scripts touch a key they were not given: that is refused on a
// Redis Cluster (WithUserIndex says so) and fine on a single node or
// behind sentinels.

// userLua normalises a user field as session.UserValue does: a JSON string
// is its text, a JSON number its digits; anything else is no user (false).
var userLua = `
local function user_of(v)
	if not v then return false end
	v = v:match('^%s*(.-)%s*$')
	local c = v:sub(1, 1)
	if c == '"' then
		local ok, s = pcall(cjson.decode, v)
		if not ok or type(s) ~= 'string' or s == '' or #s > 255 then return false end
		return s
	end
	local i = 1
	if c == '-' then i = 2 end
	local d = v:match('^%d+', i)
	if not d or (#d > 1 and d:sub(1, 1) == '0') then return false end
	i = i + #d
	local f = v:match('^%.%d+', i)
	if f then i = i + #f end
	local e = v:match('^[eE][-+]?%d+', i)
	if e then i = i + #e end
	if i ~= #v + 1 or #v > 255 then return false end
	return v
end
-- session_user is the user of the session hash key by field: UserField
-- when values are sealed (seal.go), else the field unless it is sealed.
local function session_user(key, field)
	local v = redis.call('HGET', key, '` + UserField + `')
	if v then return user_of(v) end
	v = redis.call('HGET', key, field)
	if v and string.sub(v, 1, ` + strconv.Itoa(len(session.SealPrefix)+1) + `) == '"` + session.SealPrefix + `' then return false end
	return user_of(v)
end
local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function unindex(ixprefix, user, skey)
	if not user then return end
	local ik = ixprefix .. user
	redis.call('HDEL', ik, skey)
end
`

// indexedSaveScript is saveScript that also keeps the index: it reads the
// session's user, runs saveScript's own source as a function (so the two
// never drift apart), and moves the session's entry to the user it has
// afterwards. A create of the session a take in the same commit ended
// (cycle_key, flush) keeps the entry's creation time, and is undone
// (saveRevoked) when the user's revocation mark is past it (revoke.go).
//
// KEYS[1]: the session hash. ARGV: the user field, the index key prefix,
// the session key, the taken session's user and creation time (unix ms;
// "" when none), the mark key prefix, then saveScript's arguments.
var indexedSaveScript = redis.NewScript(userLua + `
local field, ixprefix, skey = ARGV[1], ARGV[2], ARGV[3]
local taken_user, taken_since, rvprefix = ARGV[4], ARGV[5], ARGV[6]
local before = false
if redis.call('EXISTS', KEYS[1]) == 1 then
	before = session_user(KEYS[1], field)
end
local save_argv = {}
for i = 7, #ARGV do save_argv[i - 6] = ARGV[i] end
local function save(KEYS, ARGV)
` + saveLua + `
end
local res = save(KEYS, save_argv)
if type(res) ~= 'number' or res < 0 then return res end
local key = KEYS[1]
if res == 0 then
	unindex(ixprefix, before, skey)
	return 0
end
local after = session_user(key, field)
if before and before ~= after then unindex(ixprefix, before, skey) end
if after then
	local now = now_ms()
	local exp = now + redis.call('PTTL', key)
	local ik = ixprefix .. after
	local created = now
	local mark = tonumber(redis.call('GET', rvprefix .. after) or '0') or 0
	if save_argv[1] == 'create' and taken_since ~= '' and taken_user == after then
		created = tonumber(taken_since)
		if created < mark then
			redis.call('DEL', key)
			return -6
		end
	elseif before == after then
		local cur = redis.call('HGET', ik, skey)
		if cur then created = tonumber(cur:match('^(%d+)')) or now end
	elseif created < mark then
		created = mark
	end
	redis.call('HSET', ik, skey, created .. ' ' .. now .. ' ' .. exp)
	local ttl = redis.call('PTTL', ik)
	if ttl < 0 or ttl < exp - now then redis.call('PEXPIREAT', ik, exp) end
end
return res
`)

// indexedTakeScript is takeScript that also drops the session from the
// index, and returns the index entry's creation time (unix ms, "" when
// none) after takeScript's reply. KEYS[1]: the session hash; ARGV: the
// user field, the index key prefix, the session key.
var indexedTakeScript = redis.NewScript(userLua + `
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
local pttl = redis.call('PTTL', KEYS[1])
local user = session_user(KEYS[1], ARGV[1])
local created = ''
if user then
	local cur = redis.call('HGET', ARGV[2] .. user, ARGV[3])
	if cur then created = cur:match('^(%d+)') or '' end
end
unindex(ARGV[2], user, ARGV[3])
redis.call('DEL', KEYS[1])
return {pttl, fields, created}
`)

// listScript returns the live entries of the index hash KEYS[1] as
// {session key, value, ...}, dropping those whose session expired, ended
// or belongs to someone else. ARGV: the session key prefix ("" or
// "<prefix>:"), the user field, the user.
var listScript = redis.NewScript(userLua + `
local ik, sprefix, field, user = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local entries = redis.call('HGETALL', ik)
local now = now_ms()
local out = {}
for i = 1, #entries, 2 do
	local skey, val = entries[i], entries[i + 1]
	local exp = tonumber(val:match('(%d+)$')) or 0
	local live = exp > now and session_user(sprefix .. skey, field) == user
	if live then
		out[#out + 1] = skey
		out[#out + 1] = val
	else
		redis.call('HDEL', ik, skey)
	end
end
return out
`)

// Indexed is the store with the index of its sessions by a user field.
type Indexed struct {
	*Store
	field string
}

// WithUserIndex implements session.UserIndexable. It refuses a cluster
// client: the index and the session live under keys of different slots.
func (s *Store) WithUserIndex(field string) (session.UserIndexer, error) {
	if field == "" {
		return nil, session.ErrNoUserIndex
	}
	if _, cluster := s.client.(*redis.ClusterClient); cluster {
		return nil, errors.New("a Redis Cluster cannot keep the index of users' sessions atomically with the sessions (they hash to different slots); use a single node or sentinels")
	}
	c := *s
	c.indexField = field
	return &Indexed{Store: &c, field: field}, nil
}

func (x *Indexed) indexPrefix() string {
	if x.prefix == "" {
		return "user:"
	}
	return x.prefix + ":user:"
}

// Save implements session.Store, keeping the index in the same script.
func (x *Indexed) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	takenUser, takenSince := "", ""
	if c.Mode == session.ModeCreate {
		if user, ok := session.UserOf(c.Set, x.field); ok {
			if since, ok := session.TakenSince(ctx, user); ok {
				takenUser, takenSince = user, strconv.FormatInt(since.UnixMilli(), 10)
			}
		}
	}
	return x.saveWith(ctx, key, c, indexedSaveScript, x.field, x.indexPrefix(), key, takenUser, takenSince, x.markPrefix())
}

// Take implements session.Store, dropping the session from the index in
// the same script.
func (x *Indexed) Take(ctx context.Context, key string) (session.Record, bool, error) {
	args := []any{x.field, x.indexPrefix(), key}
	defer x.evict(x.key(key))
	var res []any
	var err error
	if x.waitReplicas > 0 {
		var cmd *redis.Cmd
		if cmd, err = x.runAndWait(ctx, indexedTakeScript, []string{x.key(key)}, args); err == nil {
			res, err = cmd.Slice()
		}
	} else {
		res, err = indexedTakeScript.Run(ctx, x.client, []string{x.key(key)}, args...).Slice()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return session.Record{}, false, fmt.Errorf("taking session hash: %w", err)
	}
	created := ""
	if len(res) == 3 {
		created, _ = res[2].(string)
		res = res[:2]
	}
	rec, ok, err := decodeReply(res, time.Now())
	if err != nil {
		return session.Record{}, false, fmt.Errorf("taking session hash: %w", err)
	}
	rec, ok = x.opened(key, rec, ok)
	if ms, perr := strconv.ParseInt(created, 10, 64); ok && perr == nil {
		if user, indexed := session.UserOf(rec.Data, x.field); indexed {
			session.NoteTaken(ctx, user, time.UnixMilli(ms))
		}
	}
	return rec, ok, nil
}

// Delete implements session.Store as Take.
func (x *Indexed) Delete(ctx context.Context, key string) (bool, error) {
	_, ok, err := x.Take(ctx, key)
	return ok, err
}

// UserSessions implements session.UserIndexer.
func (x *Indexed) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	sprefix := ""
	if x.prefix != "" {
		sprefix = x.prefix + ":"
	}
	res, err := listScript.Run(ctx, x.client, []string{x.indexPrefix() + user}, sprefix, x.field, user).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("listing the user's sessions: %w", err)
	}
	out, err := DecodeIndex(res)
	if err != nil {
		return nil, fmt.Errorf("listing the user's sessions: %w", err)
	}
	return out, nil
}

// DecodeIndex reads a user's index hash as a list script returns it:
// session key, then "<created> <modified> <expires>" in unix milliseconds,
// pair after pair. The sessions come out oldest first. Django's Redis
// layouts (session/redisblob) keep their index the same way.
func DecodeIndex(res []string) ([]session.UserSession, error) {
	out := make([]session.UserSession, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		f := strings.Fields(res[i+1])
		if len(f) != 3 {
			return nil, errors.New("malformed index entry")
		}
		var ms [3]int64
		for j := range ms {
			var err error
			if ms[j], err = strconv.ParseInt(f[j], 10, 64); err != nil {
				return nil, errors.New("malformed index entry")
			}
		}
		out = append(out, session.UserSession{Key: res[i], Created: time.UnixMilli(ms[0]), Modified: time.UnixMilli(ms[1]), ExpiresAt: time.UnixMilli(ms[2])})
	}
	slices.SortFunc(out, func(a, b session.UserSession) int { return a.Created.Compare(b.Created) })
	return out, nil
}

var (
	_ session.UserIndexable = (*Store)(nil)
	_ session.UserIndexer   = (*Indexed)(nil)
)
