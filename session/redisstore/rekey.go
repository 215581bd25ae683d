package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
)

// rekeyScript writes sealed values again when they are still the ones
// read: KEYS[1] the session hash, ARGV field/old/new triples. It returns
// 0, writing nothing, when one of them changed since.
var rekeyScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
	if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
for i = 1, #ARGV, 3 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
return 1
`)

// Rekey implements session.Rekeyer: it scans the session hashes (on every
// primary of a cluster) and seals again each field that is not under the
// view's current key, in one compare-and-set per session that it retries
// when a concurrent save changed one of those fields.
func (s *Store) Rekey(ctx context.Context) (session.RekeyReport, error) {
	var r session.RekeyReport
	if s.sealer == nil {
		return r, errors.New("rekeying: encryption is off")
	}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		match := "*"
		if s.prefix != "" {
			match = s.prefix + ":*"
		}
		it := c.ScanType(ctx, 0, match, 500, "hash").Iterator()
		for it.Next(ctx) {
			rkey := it.Val()
			key := rkey
			if s.prefix != "" {
				key = strings.TrimPrefix(rkey, s.prefix+":")
			}
			if !session.ValidKey(key) {
				continue // a user index, or another application's hash
			}
			if err := s.rekey(ctx, key, &r); err != nil {
				return err
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err != nil {
		return r, fmt.Errorf("rekeying: %w", err)
	}
	return r, nil
}

func (s *Store) rekey(ctx context.Context, key string, r *session.RekeyReport) error {
	rkey := s.key(key)
	defer s.evict(rkey)
	for range maxRetries {
		s.evict(rkey) // a compare-and-set must read what is stored
		fields, err := s.client.HGetAll(ctx, rkey).Result()
		if err != nil {
			return err
		}
		if len(fields) == 0 {
			return nil // ended meanwhile
		}
		var args []any
		refused := false
		for k, v := range fields {
			if ownField(k) {
				continue
			}
			plain, current, err := s.sealer.Open(key, k, []byte(v))
			if err != nil {
				refused = true
				break
			}
			if !current {
				args = append(args, k, v, s.sealer.Seal(key, k, plain))
			}
		}
		switch {
		case refused:
			r.Sessions++
			r.Refused++
			return nil
		case len(args) == 0:
			r.Sessions++
			return nil
		}
		ok, err := rekeyScript.Run(ctx, s.client, []string{rkey}, args...).Int()
		if err != nil {
			return err
		}
		if ok == 1 {
			r.Sessions++
			r.Changed++
			return nil
		}
	}
	return fmt.Errorf("a session changed %d times while it was rekeyed", maxRetries)
}
