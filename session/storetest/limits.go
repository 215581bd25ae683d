package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-session/caddy-session/session"
)

// runLimits checks Change.MaxSize: the store refuses, in its atomic step,
// a change that would leave the session over the limit, against what is
// stored at that moment (issue 15, defect 8: six concurrent 1.5 KB sets
// each passed a check made on the session as loaded).
func runLimits(t *testing.T, open func(t *testing.T) session.Store) {
	const limit = 2048
	big := func(n int) []byte { return raw(`"` + strings.Repeat("x", n) + `"`) }
	refused := func(t *testing.T, err error) {
		t.Helper()
		le, ok := errors.AsType[*session.LimitError](err)
		if !ok || le.Limit != limit || le.Size <= limit {
			t.Fatalf("Save = %v; want a LimitError over %d", err, limit)
		}
	}

	t.Run("MaxSize", func(t *testing.T) {
		t.Run("CreateOver", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": big(limit)}, ExpiresAt: later(), MaxSize: limit})
			refused(t, err)
			assertMissing(t, s, key)
		})
		t.Run("UpdateOverWhatIsStored", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			before := session.Data{"a": big(1200), "b": raw(`1`)}
			create(t, s, key, before)
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": big(1000)}, Delete: []string{"b"}, ExpiresAt: later(), MaxSize: limit})
			refused(t, err)
			assertData(t, mustLoad(t, s, key).Data, before)
			// What fits is written; a delete makes room.
			mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": big(1000)}, Delete: []string{"a"}, ExpiresAt: later(), MaxSize: limit}, true)
		})
		t.Run("IncrOver", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			// {"a":"x…x","n":9} is exactly the limit; one more digit is over.
			pad := limit - len(`{"a":"","n":9}`)
			before := session.Data{"a": big(pad), "n": raw(`9`)}
			create(t, s, key, before)
			if n := session.Size(before); n != limit {
				t.Fatalf("test data is %d bytes; want %d", n, limit)
			}
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1}, ExpiresAt: later(), MaxSize: limit})
			refused(t, err)
			assertData(t, mustLoad(t, s, key).Data, before)
			mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": -1}, ExpiresAt: later(), MaxSize: limit}, true)
		})
		t.Run("ReplaceOver", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			before := session.Data{"a": raw(`1`)}
			create(t, s, key, before)
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeReplace, Set: session.Data{"b": big(limit)}, ExpiresAt: later(), MaxSize: limit})
			refused(t, err)
			assertData(t, mustLoad(t, s, key).Data, before)
		})
		t.Run("EscapedKeysCount", func(t *testing.T) {
			// Size counts a key as JSON text: each of these escapes
			// takes more than one byte.
			s, key := open(t), session.NewKey()
			k := "q\"\\\n\x01"
			d := session.Data{k: big(limit - session.Size(session.Data{k: raw(`""`)}))}
			if n := session.Size(d); n != limit {
				t.Fatalf("test data is %d bytes; want %d", n, limit)
			}
			mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: d, ExpiresAt: later(), MaxSize: limit}, true)
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"z": raw(`1`)}, ExpiresAt: later(), MaxSize: limit})
			refused(t, err)
		})
		t.Run("Concurrent", func(t *testing.T) {
			// Every worker adds its own 300-byte field to one session: the
			// limit holds, and each save that reported success is stored.
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"user": raw(`"bob"`)})
			var won atomic.Int64
			parallel(t, func(i int) error {
				_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{fmt.Sprintf("f%02d", i): big(300)}, ExpiresAt: later(), MaxSize: limit})
				if _, ok := errors.AsType[*session.LimitError](err); ok {
					return nil
				}
				if err == nil {
					won.Add(1)
				}
				return err
			})
			got := mustLoad(t, s, key).Data
			if n := session.Size(got); n > limit {
				t.Fatalf("stored session is %d bytes; over the limit of %d", n, limit)
			}
			if int64(len(got)-1) != won.Load() || won.Load() == 0 {
				t.Fatalf("%d fields stored, %d saves succeeded", len(got)-1, won.Load())
			}
		})
	})
}
