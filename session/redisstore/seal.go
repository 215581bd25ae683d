package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/session"
)

// Sealed values (encryption at rest): a view made by WithSealer seals each
// field's value under the session key and the field's name, so a value
// copied into another session or field does not open, and opens each
// field it reads; a session with a field it cannot open is no session,
// reported through the sealer.
//
// The save script still applies a change whole and in turn, with two
// differences. Its size limit counts a sealed value's plaintext, whose
// length follows from the sealed one (session.PlainLen). And Redis cannot
// add to a ciphertext, so a counter is a compare-and-set: the client reads
// the counters' stored values (one more round trip, readCounters), opens
// and adds, and sends the sealed sums with the values it read; the script
// refuses the whole change (saveRetry) when one of them changed since, and
// the client reads them again. Under contention on one counter a request
// may take several rounds; without counters a save costs what it did.
//
// With a user index, the index's field is repeated in the clear in
// UserField, which the index's scripts read instead of the sealed value:
// the index, whose keys name the users, holds them in the clear anyway.

// WithSealer returns a view of the store that seals what it writes with
// sealer and opens what it reads.
func (s *Store) WithSealer(sealer *session.Sealer) *Store {
	c := *s
	c.sealer = sealer
	return &c
}

// ownField reports whether the hash field k is the store's own
// (ExpiryField, UserField) rather than a session field.
func ownField(k string) bool { return strings.HasPrefix(k, "\xff") }

// open returns data, read from the hash of key, with every value opened;
// false when one does not open (or is sealed while this view has no
// sealer).
func (s *Store) open(key string, data session.Data) (session.Data, bool) {
	if s.sealer == nil {
		for _, v := range data {
			if session.IsSealed(v) {
				return nil, false
			}
		}
		return data, true
	}
	for k, v := range data {
		plain, _, err := s.sealer.Open(key, k, v)
		if err != nil {
			return nil, false
		}
		data[k] = plain
	}
	return data, true
}

// errRetry is runSave's answer when a sealed counter changed under it.
var errRetry = errors.New("a sealed counter changed during the save")

// maxRetries bounds the rounds of one save under contention on a counter;
// each round is lost only to a save that succeeded.
const maxRetries = 1000

// readCounters returns the stored values of fields in the hash of key, ""
// for a field not stored. A script, so that the client-side cache never
// answers it.
var readCounters = redis.NewScript(`
local out = {}
for i = 1, #ARGV do out[i] = redis.call('HGET', KEYS[1], ARGV[i]) or '' end
return out
`)

// saveSealed is Save for a sealing view: the user field repeated in
// UserField, and the counters added here in rounds of compare-and-set.
func (s *Store) saveSealed(ctx context.Context, key string, c session.Change, script *redis.Script, pre []any, mode, expiresAt string, del []string, incr map[string]int64, set session.Data) (bool, error) {
	if s.indexField != "" {
		if v, ok := set[s.indexField]; ok {
			set = maps.Clone(set)
			set[UserField] = v
		} else if slices.Contains(del, s.indexField) {
			del = append(slices.Clone(del), UserField)
		}
	}
	if len(incr) == 0 {
		return s.runSave(ctx, key, c, script, pre, mode, expiresAt, del, nil, nil, set)
	}
	fields := make([]any, 0, len(incr))
	for k := range incr {
		fields = append(fields, k)
	}
	for range maxRetries {
		stored, err := readCounters.Run(ctx, s.client, []string{s.key(key)}, fields...).StringSlice()
		if err != nil {
			return false, fmt.Errorf("reading sealed counters: %w", err)
		}
		expect := make(map[string]string, len(incr))
		sums := maps.Clone(set)
		if sums == nil {
			sums = session.Data{}
		}
		for i, f := range fields {
			k := f.(string)
			var base []byte
			if stored[i] != "" {
				if base, _, err = s.sealer.Open(key, k, []byte(stored[i])); err != nil {
					// The session no longer opens: as if it had ended.
					return false, session.ErrGone
				}
			}
			v, err := session.AddCounter(base, incr[k])
			if err != nil {
				err.(*session.IncrError).Key = k
				return false, err
			}
			expect[k], sums[k] = stored[i], v
			if k == s.indexField {
				sums[UserField] = v
			}
		}
		left, err := s.runSave(ctx, key, c, script, pre, mode, expiresAt, del, nil, expect, sums)
		if !errors.Is(err, errRetry) {
			return left, err
		}
	}
	return false, fmt.Errorf("writing session hash: a sealed counter changed %d times during the save", maxRetries)
}

// opened is a record read by a script with its values opened: no session
// when one does not open.
func (s *Store) opened(key string, rec session.Record, ok bool) (session.Record, bool) {
	if !ok {
		return rec, false
	}
	if rec.Data, ok = s.open(key, rec.Data); !ok {
		return session.Record{}, false
	}
	return rec, true
}
