package storetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// SealedStore is what RunSealed needs of a store to test its encryption at
// rest beside the conformance suite.
type SealedStore struct {
	// Open returns a view of one backing store that seals with sealer
	// (nil: no encryption). Views opened with different sealers share
	// the sessions.
	Open func(t *testing.T, sealer *session.Sealer) session.Store
	// Dump returns every byte the backing store keeps (the files, the
	// hashes and strings, a pg_dump of the table).
	Dump func(t *testing.T) []byte
	// Raw returns the stored form of the session under key that one seal
	// covers: the whole session, or the field "f" in a hash layout.
	Raw func(t *testing.T, key string) []byte
	// SetRaw replaces what Raw returns with b.
	SetRaw func(t *testing.T, key string, b []byte)
}

// NewSealKey returns a random encryption key.
func NewSealKey() []byte {
	k := make([]byte, session.SealKeySize)
	rand.Read(k)
	return k
}

// NewSealer returns a sealer over a random key that counts the values it
// refuses in *bad.
func NewSealer(t testing.TB, bad *atomic.Int64, previous ...[]byte) *session.Sealer {
	return sealer(t, NewSealKey(), bad, false, previous...)
}

func sealer(t testing.TB, key []byte, bad *atomic.Int64, plain bool, previous ...[]byte) *session.Sealer {
	s, err := session.NewSealer(key, previous, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bad != nil {
		s.OnBadValue = func(error) { bad.Add(1) }
	}
	return s
}

// RunSealed runs the conformance suite on a sealing view of the store, then
// the encryption tests: no plaintext in a dump, values that fail closed
// (moved to another session, truncated, under a removed key, plaintext
// without the migration setting), the migration setting, and rotation.
func RunSealed(t *testing.T, st SealedStore) {
	key := NewSealKey()
	t.Run("Conformance", func(t *testing.T) {
		Run(t, func(t *testing.T) session.Store { return st.Open(t, sealer(t, key, nil, false)) })
	})

	t.Run("DumpHoldsNoPlaintext", func(t *testing.T) {
		s := st.Open(t, sealer(t, key, nil, false))
		secrets := []string{"alice@example.org", "4111111111111111", "Ada Lovelace"}
		k := session.NewKey()
		create(t, s, k, session.Data{"f": raw(`"` + secrets[0] + `"`), "n": raw(`1`)})
		mustSave(t, s, k, session.Change{Mode: session.ModeUpdate, Set: session.Data{"card": raw(`"` + secrets[1] + `"`)}, Incr: map[string]int64{"n": 41}, ExpiresAt: later()}, true)
		mustSave(t, s, k, session.Change{Mode: session.ModeUpdate, Set: session.Data{"name": raw(`{"full":"` + secrets[2] + `"}`)}}, true)
		assertData(t, mustLoad(t, s, k).Data, session.Data{
			"f": raw(`"` + secrets[0] + `"`), "n": raw(`42`), "card": raw(`"` + secrets[1] + `"`), "name": raw(`{"full":"` + secrets[2] + `"}`),
		})
		dump := st.Dump(t)
		if !bytes.Contains(dump, []byte(k)) {
			t.Fatalf("the dump (%d bytes) does not hold the session's key: not a dump of this store", len(dump))
		}
		for _, secret := range secrets {
			if bytes.Contains(dump, []byte(secret)) {
				t.Errorf("the dump holds the session's plaintext %q", secret)
			}
		}
	})

	t.Run("FailsClosed", func(t *testing.T) {
		var bad atomic.Int64
		s := st.Open(t, sealer(t, key, &bad, false))
		a, b := session.NewKey(), session.NewKey()
		create(t, s, a, session.Data{"f": raw(`"a's"`)})
		create(t, s, b, session.Data{"f": raw(`"b's"`)})

		// A value copied into another session.
		st.SetRaw(t, b, st.Raw(t, a))
		assertMissing(t, s, b)

		// A truncated value.
		v := st.Raw(t, a)
		st.SetRaw(t, a, append(bytes.Clone(v[:len(v)-8]), '"'))
		assertMissing(t, s, a)
		if bad.Load() < 2 {
			t.Errorf("%d refusals reported; want at least 2", bad.Load())
		}

		// A value under a key no longer configured.
		c := session.NewKey()
		create(t, st.Open(t, NewSealer(t, nil)), c, session.Data{"f": raw(`1`)})
		assertMissing(t, s, c)

		// A write over a refused value cannot bring it back.
		if _, err := s.Save(t.Context(), c, session.Change{Mode: session.ModeUpdate, Set: session.Data{"g": raw(`2`)}, ExpiresAt: later()}); err == nil {
			if rec, ok, _ := s.Load(t.Context(), c); ok && rec.Data["f"] != nil {
				t.Fatalf("an update over a refused value kept it: %v", rec.Data)
			}
		}
	})

	t.Run("Migration", func(t *testing.T) {
		plain := st.Open(t, nil)
		k := session.NewKey()
		create(t, plain, k, session.Data{"f": raw(`"before"`), "n": raw(`1`)})

		// Without the migration setting, plaintext is refused like a
		// tampered value.
		var bad atomic.Int64
		assertMissing(t, st.Open(t, sealer(t, key, &bad, false)), k)
		if bad.Load() == 0 {
			t.Error("a plaintext value refused without a report")
		}

		// With it, the session reads, and a write seals what it writes.
		migrating := st.Open(t, sealer(t, key, nil, true))
		assertData(t, mustLoad(t, migrating, k).Data, session.Data{"f": raw(`"before"`), "n": raw(`1`)})
		mustSave(t, migrating, k, session.Change{Mode: session.ModeUpdate, Set: session.Data{"f": raw(`"after"`)}, Incr: map[string]int64{"n": 1}}, true)
		if !session.IsSealed(st.Raw(t, k)) {
			t.Fatalf("a write under the migration setting left %.30q unsealed", st.Raw(t, k))
		}
		assertData(t, mustLoad(t, st.Open(t, sealer(t, key, nil, false)), k).Data, session.Data{"f": raw(`"after"`), "n": raw(`2`)})
	})

	t.Run("Rotation", func(t *testing.T) {
		old, cur := NewSealKey(), NewSealKey()
		k := session.NewKey()
		create(t, st.Open(t, sealer(t, old, nil, false)), k, session.Data{"f": raw(`"x"`), "n": raw(`1`)})
		rotated := st.Open(t, sealer(t, cur, nil, false, old))
		assertData(t, mustLoad(t, rotated, k).Data, session.Data{"f": raw(`"x"`), "n": raw(`1`)})
		mustSave(t, rotated, k, session.Change{Mode: session.ModeUpdate, Set: session.Data{"f": raw(`"y"`)}, Incr: map[string]int64{"n": 1}}, true)
		if id := session.KeyID(cur); !strings.Contains(string(st.Raw(t, k)), "."+id+".") {
			t.Fatalf("a write after rotation did not seal with the current key %s: %.30q", id, st.Raw(t, k))
		}
		// Once the old key is dropped, the session still opens.
		assertData(t, mustLoad(t, st.Open(t, sealer(t, cur, nil, false)), k).Data, session.Data{"f": raw(`"y"`), "n": raw(`2`)})
	})

	t.Run("RekeyUnderWrites", func(t *testing.T) {
		runRekey(t, st)
	})
}

// runRekey rotates the key of sessions that concurrent requests keep
// incrementing, and rekeys them meanwhile: afterwards every session opens
// under the new key alone, and holds every increment.
func runRekey(t *testing.T, st SealedStore) {
	old, cur := NewSealKey(), NewSealKey()
	before := st.Open(t, sealer(t, old, nil, false))
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = session.NewKey()
		create(t, before, keys[i], session.Data{"n": raw(`0`), "f": raw(`"x"`)})
	}
	// A plaintext session under the migration setting is rekeyed too.
	plain := session.NewKey()
	create(t, st.Open(t, nil), plain, session.Data{"f": raw(`"plain"`)})
	rotated := st.Open(t, sealer(t, cur, nil, true, old))
	rk, ok := rotated.(session.Rekeyer)
	if !ok {
		t.Fatalf("%T does not implement session.Rekeyer", rotated)
	}
	const writers, incs = 2, 5
	var wg sync.WaitGroup
	errs := make(chan error, len(keys)*writers+1)
	for _, k := range keys {
		for range writers {
			wg.Go(func() {
				for range incs {
					if _, err := rotated.Save(t.Context(), k, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1}}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	var first session.RekeyReport
	wg.Go(func() {
		var err error
		if first, err = rk.Rekey(t.Context()); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if first.Sessions < len(keys)+1 {
		t.Errorf("Rekey read %d sessions; want at least %d", first.Sessions, len(keys)+1)
	}
	again, err := rk.Rekey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed != 0 {
		t.Errorf("a second Rekey = %+v; want nothing changed: everything is under the current key", again)
	}
	after := st.Open(t, sealer(t, cur, nil, false))
	for _, k := range keys {
		assertData(t, mustLoad(t, after, k).Data, session.Data{"n": raw(fmt.Sprint(writers * incs)), "f": raw(`"x"`)})
	}
	assertData(t, mustLoad(t, after, plain).Data, session.Data{"f": raw(`"plain"`)})
}
