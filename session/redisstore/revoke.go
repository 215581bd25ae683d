package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
)

// A user's revocation mark is "<prefix>:revoked:<user>" ("revoked:<user>"
// without a prefix): unix ms in Redis's clock, the creation time before
// which the user's sessions are revoked. indexedSaveScript reads it. It
// guards only sessions in flight (taken, not yet stored again) and the
// stamps of later logins, so it expires after a day.

// saveRevoked is indexedSaveScript's code for a create it undid: the
// taken session's user was revoked since.
const saveRevoked = -6 // beside saveScript's codes (redisstore.go)

// markTTL is how long a mark outlives its last raise, in ms.
const markTTL = int64(24 * time.Hour / time.Millisecond)

// markScript raises the mark KEYS[1] to ARGV[1] (unix ms; "" for now + 1,
// past every session already stored) and never lowers it.
var markScript = redis.NewScript(`
local t = tonumber(ARGV[1])
if not t then
	local now = redis.call('TIME')
	t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + 1
end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if t > cur then redis.call('SET', KEYS[1], t) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

func (x *Indexed) markPrefix() string {
	if x.prefix == "" {
		return "revoked:"
	}
	return x.prefix + ":revoked:"
}

// RevokeBefore implements session.Revoker.
func (x *Indexed) RevokeBefore(ctx context.Context, user string, before time.Time) error {
	return RaiseMark(ctx, x.client, x.markPrefix()+user, before)
}

// RaiseMark raises the revocation mark under key to before (unix ms; the
// zero time is Redis's now plus a millisecond), never lowering it, and
// keeps it a day. redisblob's layouts keep their marks with it too.
func RaiseMark(ctx context.Context, client redis.Scripter, key string, before time.Time) error {
	at := ""
	if !before.IsZero() {
		at = strconv.FormatInt(before.UnixMilli(), 10)
	}
	if err := markScript.Run(ctx, client, []string{key}, at, markTTL).Err(); err != nil {
		return fmt.Errorf("writing the user's revocation mark: %w", err)
	}
	return nil
}

var _ session.Revoker = (*Indexed)(nil)
