package redisblob

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// The user index of these layouts is redisstore's: one hash per user,
// "<index prefix><user>", whose fields are session keys and values
// "<created> <modified> <expires>" in unix ms, changed by the same
// check-and-set script that writes the session, and dropped of entries
// whose session is gone or expired when listed. As there, the scripts touch
// keys they were not given, which a Redis Cluster refuses.

// The revocation marks (session.Revoker) are redisstore's too: one string
// per user, "<mark prefix><user>", unix ms, raised by
// redisstore.RaiseMark. indexedCasScript reads the user's mark in the
// step that writes the session: a create of a taken session older than the
// mark writes nothing (revoked), a new entry is stamped no earlier than
// the mark.

// casRevoked is indexedCasScript's answer for a create it refused.
const casRevoked = -6

// indexedCasScript is casScript that also keeps the index.
//
// ARGV 1-6 as casScript's (ARGV[5] and ARGV[6] empty for "del"), then the
// index key prefix, the session key, the previous user, the user ("" for
// none), the time of the write and the session's expiry (unix ms), the
// taken session's creation time ("" when none) and the mark key prefix.
// It answers 0 on a conflict, casRevoked, or {1, the creation time of the
// entry a "del" removed ("" when none)}.
var indexedCasScript = redis.NewScript(casCheckLua + `
local ixprefix, skey, prev, user, now, exp = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local taken, rvprefix = ARGV[13], ARGV[14]
local removed = ''
if ARGV[4] == 'put' then
	local ik = ixprefix .. user
	local created = now
	if user ~= '' then
		local cur = false
		if prev == user then cur = redis.call('HGET', ik, skey) end
		if cur then
			created = cur:match('^(%d+)') or now
		else
			local mark = tonumber(redis.call('GET', rvprefix .. user) or '0') or 0
			if taken ~= '' then
				if tonumber(taken) < mark then return -6 end
				created = taken
			elseif tonumber(now) < mark then
				created = tostring(mark)
			end
		end
	end
	redis.call('SET', key, ARGV[5], 'PXAT', ARGV[6])
	if user ~= '' then
		redis.call('HSET', ik, skey, created .. ' ' .. now .. ' ' .. exp)
		local ttl = redis.call('PTTL', ik)
		if ttl < 0 or ttl < tonumber(exp) - tonumber(now) then redis.call('PEXPIREAT', ik, exp) end
	end
else
	redis.call('DEL', key)
	if prev ~= '' then
		local cur = redis.call('HGET', ixprefix .. prev, skey)
		if cur then removed = cur:match('^(%d+)') or '' end
	end
	user = ''
end
if prev ~= '' and prev ~= user then
	redis.call('HDEL', ixprefix .. prev, skey)
end
return {1, removed}
`)

// indexListScript returns the live entries of the index hash KEYS[1] as
// {session key, value, ...}, dropping those whose session key is gone or
// whose expiry passed. ARGV: the head of session key names.
var indexListScript = redis.NewScript(`
local ik, head = KEYS[1], ARGV[1]
local entries = redis.call('HGETALL', ik)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #entries, 2 do
	local skey, val = entries[i], entries[i + 1]
	local exp = tonumber(val:match('(%d+)$')) or 0
	if exp > now and redis.call('EXISTS', head .. skey) == 1 then
		out[#out + 1] = skey
		out[#out + 1] = val
	else
		redis.call('HDEL', ik, skey)
	end
end
return out
`)

// WithIndex makes the backend able to keep a user index (for a blob.Store
// with a UserKey): session values live under head + session key, the
// index hashes under indexPrefix + user, and the revocation marks under
// markPrefix + user. It returns b.
func (b *Backend) WithIndex(head, indexPrefix, markPrefix string) *Backend {
	b.key = func(sessionKey string) string { return head + sessionKey }
	b.head, b.indexPrefix, b.markPrefix = head, indexPrefix, markPrefix
	return b
}

// CanIndexUsers implements blob.UserIndexBackend.
func (b *Backend) CanIndexUsers() error {
	if b.indexPrefix == "" || b.markPrefix == "" {
		return errors.New("this Redis layout was set up without a user index")
	}
	if _, cluster := b.client.(*redis.ClusterClient); cluster {
		return errors.New("a Redis Cluster cannot keep the index of users' sessions atomically with the sessions (they hash to different slots); use a single node or sentinels")
	}
	return nil
}

// indexArgs are indexedCasScript's index arguments for op on key.
func (b *Backend) indexArgs(key string, op blob.Op) []any {
	ix := op.Index
	exp := op.Value.ExpiresAt.UnixMilli()
	taken := ""
	if !ix.Taken.IsZero() {
		taken = strconv.FormatInt(ix.Taken.UnixMilli(), 10)
	}
	return []any{b.indexPrefix, key, ix.Prev, ix.User, strconv.FormatInt(ix.Now.UnixMilli(), 10), strconv.FormatInt(exp, 10), taken, b.markPrefix}
}

// RevokeBefore implements blob.UserIndexBackend.
func (b *Backend) RevokeBefore(ctx context.Context, user string, before time.Time) error {
	return redisstore.RaiseMark(ctx, b.client, b.markPrefix+user, before)
}

// indexedReply reads indexedCasScript's answer: whether it wrote, and the
// removed entry's creation time into op's IndexChange.
func indexedReply(res any, op blob.Op) (bool, error) {
	switch r := res.(type) {
	case int64:
		if r == casRevoked {
			return false, session.ErrRevoked
		}
		return r == 1, nil
	case []any:
		if len(r) == 2 {
			if s, ok := r[1].(string); ok && s != "" && op.Index.WantCreated {
				if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
					op.Index.Created = time.UnixMilli(ms)
				}
			}
			return true, nil
		}
	}
	return false, fmt.Errorf("unexpected reply %T", res)
}

// UserSessions implements blob.UserIndexBackend.
func (b *Backend) UserSessions(ctx context.Context, user string, _ time.Time) ([]session.UserSession, error) {
	res, err := indexListScript.Run(ctx, b.client, []string{b.indexPrefix + user}, b.head).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the user index: %w", err)
	}
	out, err := redisstore.DecodeIndex(res)
	if err != nil {
		return nil, fmt.Errorf("reading the user index: %w", err)
	}
	return out, nil
}

var _ blob.UserIndexBackend = (*Backend)(nil)
