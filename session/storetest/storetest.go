// Package storetest is the conformance suite for session.Store
// implementations. Every store runs the same named sub-tests, so a store
// that passes them keeps the promises the session model relies on: data
// round-trips byte-exact, modes guard against resurrecting or clobbering
// sessions, expired sessions are invisible, and concurrent deltas to one
// session neither get lost (different fields) nor torn (the same field).
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// tolerance is how far a loaded ExpiresAt may be from the one saved: stores
// keep milliseconds, and Redis reports a remaining TTL, not a time.
const tolerance = time.Second

// workers is how many goroutines the concurrency tests run at once.
const workers = 32

// Run runs the conformance suite. open returns a store for one sub-test;
// it may return the same backing store each time, since every sub-test uses
// fresh random keys.
func Run(t *testing.T, open func(t *testing.T) session.Store) {
	t.Run("LoadMissing", func(t *testing.T) {
		s := open(t)
		rec, ok, err := s.Load(t.Context(), session.NewKey())
		if err != nil || ok || rec.Data != nil || !rec.ExpiresAt.IsZero() {
			t.Fatalf("Load(missing) = %v, %v, %v; want zero, false, nil", rec, ok, err)
		}
	})

	t.Run("CreateRoundTrip", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		data := session.Data{
			"int":             raw(`9007199254740993`),
			"float":           raw(`1.10`),
			"big":             raw(`1e400`),
			"nested":          raw(`{"a": [1, 2.50, {"b": null}], "c": true}`),
			"utf8":            raw(`"héllo ✓ 日本語"`),
			"escaped":         raw(`"h\u00e9llo \u2713 \ud83d\ude00"`),
			"html":            raw(`"<a href=\"x\">&amp;</a>"`),
			"empty":           raw(`""`),
			"null":            raw(`null`),
			"ключ":            raw(`"non-ASCII field name"`),
			`we"ird:key\`:     raw(`false`),
			session.ExpiryKey: raw(`0`),
		}
		want := clone(data)
		expiresAt := time.Now().Add(time.Hour)
		mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: data, ExpiresAt: expiresAt}, true)
		rec := mustLoad(t, s, key)
		assertData(t, rec.Data, want)
		assertExpiry(t, rec.ExpiresAt, expiresAt)
	})

	t.Run("CreateExisting", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		create(t, s, key, session.Data{"a": raw(`1`)})
		_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": raw(`2`), "b": raw(`3`)}, ExpiresAt: later()})
		if !errors.Is(err, session.ErrKeyExists) {
			t.Fatalf("Save(create, existing) error = %v; want ErrKeyExists", err)
		}
		assertData(t, mustLoad(t, s, key).Data, session.Data{"a": raw(`1`)})
	})

	t.Run("CreateEmpty", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		mustSave(t, s, key, session.Change{Mode: session.ModeCreate, ExpiresAt: later()}, false)
		assertMissing(t, s, key)
	})

	t.Run("CreateWithoutExpiry", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": raw(`1`)}}); err == nil {
			t.Fatal("Save(create, zero ExpiresAt) succeeded; want an error")
		}
		assertMissing(t, s, key)
	})

	t.Run("MissingKeyIsGone", func(t *testing.T) {
		for _, mode := range []session.Mode{session.ModeUpdate, session.ModeReplace} {
			t.Run(mode.String(), func(t *testing.T) {
				s, key := open(t), session.NewKey()
				_, err := s.Save(t.Context(), key, session.Change{Mode: mode, Set: session.Data{"a": raw(`1`)}, ExpiresAt: later()})
				if !errors.Is(err, session.ErrGone) {
					t.Fatalf("Save(%s, missing) error = %v; want ErrGone", mode, err)
				}
				assertMissing(t, s, key)
			})
		}
	})

	t.Run("UpdateDeletesThenSets", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		create(t, s, key, session.Data{"keep": raw(`1`), "drop": raw(`2`), "reset": raw(`3`)})
		mustSave(t, s, key, session.Change{
			Mode:      session.ModeUpdate,
			Delete:    []string{"drop", "reset", "never-there"},
			Set:       session.Data{"reset": raw(`"new"`), "add": raw(`[4]`)},
			ExpiresAt: later(),
		}, true)
		assertData(t, mustLoad(t, s, key).Data, session.Data{"keep": raw(`1`), "reset": raw(`"new"`), "add": raw(`[4]`)})
	})

	t.Run("UpdateExpiry", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			set  session.Data
		}{
			{"WithChanges", session.Data{"b": raw(`2`)}},
			{"WithoutChanges", nil}, // SaveEveryRequest refreshing an unmodified session
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, key := open(t), session.NewKey()
				create(t, s, key, session.Data{"a": raw(`1`)})
				expiresAt := time.Now().Add(2 * time.Hour)
				mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: tc.set, ExpiresAt: expiresAt}, true)
				assertExpiry(t, mustLoad(t, s, key).ExpiresAt, expiresAt)
			})
		}
	})

	t.Run("UpdateZeroExpiryKeepsExpiry", func(t *testing.T) {
		// The session model sends deletes without an expiry when it cannot
		// tell whether fields written concurrently are left.
		s, key := open(t), session.NewKey()
		expiresAt := time.Now().Add(time.Hour)
		mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": raw(`1`), "b": raw(`2`)}, ExpiresAt: expiresAt}, true)
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Delete: []string{"a"}}, true)
		rec := mustLoad(t, s, key)
		assertData(t, rec.Data, session.Data{"b": raw(`2`)})
		assertExpiry(t, rec.ExpiresAt, expiresAt)
	})

	t.Run("DeleteLastField", func(t *testing.T) {
		s, key := open(t), session.NewKey()
		create(t, s, key, session.Data{"a": raw(`1`), "b": raw(`2`)})
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Delete: []string{"a", "b"}, ExpiresAt: later()}, false)
		assertMissing(t, s, key)
		_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": raw(`3`)}, ExpiresAt: later()})
		if !errors.Is(err, session.ErrGone) {
			t.Fatalf("Save(update) after the last field was deleted: error = %v; want ErrGone", err)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			set  session.Data
			left bool
		}{
			{"DropsOldFields", session.Data{"b": raw(`"new"`), "c": raw(`3`)}, true},
			{"WithNothing", nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, key := open(t), session.NewKey()
				create(t, s, key, session.Data{"a": raw(`1`), "b": raw(`2`)})
				expiresAt := time.Now().Add(2 * time.Hour)
				mustSave(t, s, key, session.Change{Mode: session.ModeReplace, Set: tc.set, ExpiresAt: expiresAt}, tc.left)
				if !tc.left {
					assertMissing(t, s, key)
					return
				}
				rec := mustLoad(t, s, key)
				assertData(t, rec.Data, tc.set)
				assertExpiry(t, rec.ExpiresAt, expiresAt)
			})
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Run("InThePast", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": raw(`1`)}, ExpiresAt: time.Now().Add(-time.Second)}, false)
			assertMissing(t, s, key)
		})
		t.Run("UpdateIntoThePast", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"a": raw(`1`)})
			mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": raw(`2`)}, ExpiresAt: time.Now().Add(-time.Second)}, false)
			assertMissing(t, s, key)
		})
		t.Run("Elapsed", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			expiresAt := time.Now().Add(300 * time.Millisecond)
			mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": raw(`1`)}, ExpiresAt: expiresAt}, true)
			mustLoad(t, s, key)
			time.Sleep(time.Until(expiresAt) + 200*time.Millisecond)
			assertMissing(t, s, key)
			_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": raw(`2`)}, ExpiresAt: later()})
			if !errors.Is(err, session.ErrGone) {
				t.Fatalf("Save(update) on an expired session: error = %v; want ErrGone", err)
			}
			// An expired session no longer holds its key.
			create(t, s, key, session.Data{"c": raw(`3`)})
			assertData(t, mustLoad(t, s, key).Data, session.Data{"c": raw(`3`)})
		})
	})

	t.Run("Delete", func(t *testing.T) {
		t.Run("Existing", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"a": raw(`1`)})
			existed, err := s.Delete(t.Context(), key)
			if err != nil || !existed {
				t.Fatalf("Delete = %v, %v; want true, nil", existed, err)
			}
			assertMissing(t, s, key)
			_, err = s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": raw(`2`)}, ExpiresAt: later()})
			if !errors.Is(err, session.ErrGone) {
				t.Fatalf("Save(update) after Delete: error = %v; want ErrGone", err)
			}
			if existed, err := s.Delete(t.Context(), key); err != nil || existed {
				t.Fatalf("second Delete = %v, %v; want false, nil", existed, err)
			}
		})
		t.Run("Missing", func(t *testing.T) {
			s := open(t)
			if existed, err := s.Delete(t.Context(), session.NewKey()); err != nil || existed {
				t.Fatalf("Delete(missing) = %v, %v; want false, nil", existed, err)
			}
		})
	})

	t.Run("Take", func(t *testing.T) {
		t.Run("Existing", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			data := session.Data{"a": raw(`1`), "b": raw(`"two"`)}
			expiresAt := later()
			mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: clone(data), ExpiresAt: expiresAt}, true)
			rec, ok, err := s.Take(t.Context(), key)
			if err != nil || !ok {
				t.Fatalf("Take = %v, %v; want the session", ok, err)
			}
			assertData(t, rec.Data, data)
			assertExpiry(t, rec.ExpiresAt, expiresAt)
			assertMissing(t, s, key)
			_, err = s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": raw(`3`)}, ExpiresAt: later()})
			if !errors.Is(err, session.ErrGone) {
				t.Fatalf("Save(update) after Take: error = %v; want ErrGone", err)
			}
		})
		t.Run("Missing", func(t *testing.T) {
			s := open(t)
			rec, ok, err := s.Take(t.Context(), session.NewKey())
			if err != nil || ok || rec.Data != nil {
				t.Fatalf("Take(missing) = %v, %v, %v; want zero, false, nil", rec, ok, err)
			}
		})
		// Of concurrent Takes and Deletes of one key, exactly one finds
		// the session: a cycle_key racing a logout or another cycle_key
		// never leaves two live copies.
		t.Run("ExactlyOneWins", func(t *testing.T) {
			s := open(t)
			for round := range 5 {
				key := session.NewKey()
				create(t, s, key, session.Data{"user": raw(`"alice"`)})
				var mu sync.Mutex
				wins := 0
				parallel(t, func(i int) error {
					var found bool
					var err error
					if i%2 == 0 {
						_, found, err = s.Take(t.Context(), key)
					} else {
						found, err = s.Delete(t.Context(), key)
					}
					if found {
						mu.Lock()
						wins++
						mu.Unlock()
					}
					return err
				})
				if wins != 1 {
					t.Fatalf("round %d: %d of %d concurrent Take/Delete found the session; want exactly 1", round, wins, workers)
				}
				assertMissing(t, s, key)
			}
		})
	})

	t.Run("Incr", func(t *testing.T) {
		t.Run("AddsAndStartsAtZero", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"n": raw(`40`), "keep": raw(`1`)})
			mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 2, "new": -3}, ExpiresAt: later()}, true)
			assertData(t, mustLoad(t, s, key).Data, session.Data{"n": raw(`42`), "new": raw(`-3`), "keep": raw(`1`)})
		})
		t.Run("AfterSetAndDelete", func(t *testing.T) {
			// Incr applies after Set and Delete of the same change.
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"a": raw(`5`), "b": raw(`7`)})
			mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"a": raw(`10`)}, Delete: []string{"b"}, Incr: map[string]int64{"a": 1, "b": 1}, ExpiresAt: later()}, true)
			assertData(t, mustLoad(t, s, key).Data, session.Data{"a": raw(`11`), "b": raw(`1`)})
		})
		t.Run("Refused", func(t *testing.T) {
			for _, tc := range []struct {
				name, stored string
				delta        int64
				reason       string
			}{
				{"string", `"5"`, 1, session.ReasonNotInteger},
				{"float", `1.5`, 1, session.ReasonNotInteger},
				{"exponent", `1e3`, 1, session.ReasonNotInteger},
				{"object", `{"n":1}`, 1, session.ReasonNotInteger},
				{"past 2^53", `9007199254740992`, 1, session.ReasonNotInteger},
				{"overflow", `9007199254740990`, 2, session.ReasonOverflow},
				{"underflow", `-9007199254740990`, -2, session.ReasonOverflow},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s, key := open(t), session.NewKey()
					before := session.Data{"c": raw(tc.stored), "keep": raw(`1`)}
					create(t, s, key, before)
					_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"keep": raw(`2`), "added": raw(`3`)}, Delete: []string{"keep"}, Incr: map[string]int64{"c": tc.delta}, ExpiresAt: later()})
					ie, ok := errors.AsType[*session.IncrError](err)
					if !ok || ie.Key != "c" || ie.Reason != tc.reason {
						t.Fatalf("Save = %v; want an IncrError for c: %s", err, tc.reason)
					}
					// Nothing of the change was written.
					assertData(t, mustLoad(t, s, key).Data, before)
				})
			}
		})
	})

	t.Run("NoAliasing", func(t *testing.T) {
		// Neither the caller's Set nor a loaded Record may share memory with
		// what is stored.
		s, key := open(t), session.NewKey()
		set := session.Data{"a": raw(`"abc"`)}
		create(t, s, key, set)
		set["a"][1] = 'X'
		set["b"] = raw(`2`)
		rec := mustLoad(t, s, key)
		rec.Data["a"][1] = 'Y'
		rec.Data["c"] = raw(`3`)
		assertData(t, mustLoad(t, s, key).Data, session.Data{"a": raw(`"abc"`)})
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Run("DifferentFields", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"base": raw(`0`)})
			want := session.Data{"base": raw(`0`)}
			for i := range workers {
				want[fmt.Sprintf("f%02d", i)] = raw(fmt.Sprint(i))
			}
			parallel(t, func(i int) error {
				name := fmt.Sprintf("f%02d", i)
				_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{name: want[name]}, ExpiresAt: later()})
				return err
			})
			assertData(t, mustLoad(t, s, key).Data, want)
		})

		t.Run("SameField", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"v": raw(`null`)})
			// Large values make a torn write (half of one, half of another)
			// visible.
			values := make([]session.Data, workers)
			for i := range values {
				values[i] = session.Data{"v": raw(`"` + strings.Repeat(fmt.Sprintf("%02d", i), 8<<10) + `"`)}
			}
			parallel(t, func(i int) error {
				_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: values[i], ExpiresAt: later()})
				return err
			})
			got := mustLoad(t, s, key).Data
			if !slices.ContainsFunc(values, func(d session.Data) bool { return bytes.Equal(d["v"], got["v"]) }) {
				t.Fatalf("final value (%d bytes) is none of the values written", len(got["v"]))
			}
		})

		t.Run("Incr", func(t *testing.T) {
			// 100 increments at once, several per worker, each its own
			// save: every one counts.
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"other": raw(`"x"`)})
			const total = 100
			var next atomic.Int64
			parallel(t, func(int) error {
				for next.Add(1) <= total {
					if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1}, ExpiresAt: later()}); err != nil {
						return err
					}
				}
				return nil
			})
			assertData(t, mustLoad(t, s, key).Data, session.Data{"other": raw(`"x"`), "n": raw(`100`)})
		})

		t.Run("Create", func(t *testing.T) {
			s, key := open(t), session.NewKey()
			var mu sync.Mutex
			won := 0
			parallel(t, func(i int) error {
				_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"by": raw(fmt.Sprint(i))}, ExpiresAt: later()})
				if errors.Is(err, session.ErrKeyExists) {
					return nil
				}
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				}
				return err
			})
			if won != 1 {
				t.Fatalf("%d concurrent creates of one key succeeded; want exactly 1", won)
			}
		})
	})

	runLimits(t, open)
}

func raw(s string) []byte { return []byte(s) }

func later() time.Time { return time.Now().Add(time.Hour) }

func clone(d session.Data) session.Data {
	out := make(session.Data, len(d))
	for k, v := range d {
		out[k] = bytes.Clone(v)
	}
	return out
}

func create(t *testing.T, s session.Store, key string, d session.Data) {
	t.Helper()
	mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: d, ExpiresAt: later()}, true)
}

func mustSave(t *testing.T, s session.Store, key string, c session.Change, wantLeft bool) {
	t.Helper()
	left, err := s.Save(t.Context(), key, c)
	if err != nil {
		t.Fatalf("Save(%s): %v", c.Mode, err)
	}
	if left != wantLeft {
		t.Fatalf("Save(%s) reported data left = %v; want %v", c.Mode, left, wantLeft)
	}
}

func mustLoad(t *testing.T, s session.Store, key string) session.Record {
	t.Helper()
	rec, ok, err := s.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !ok {
		t.Fatal("Load: session not found")
	}
	return rec
}

func assertMissing(t *testing.T, s session.Store, key string) {
	t.Helper()
	rec, ok, err := s.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if ok {
		t.Fatalf("Load found %v; want not found", rec)
	}
}

func assertData(t *testing.T, got, want session.Data) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("fields = %q; want %q", g, w)
	}
	for k, w := range want {
		if !bytes.Equal(got[k], w) {
			t.Errorf("field %q = %s; want %s", k, got[k], w)
		}
	}
}

func assertExpiry(t *testing.T, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want).Abs(); d > tolerance {
		t.Fatalf("ExpiresAt = %v; want %v (off by %v)", got, want, d)
	}
}

// parallel runs f(0..workers-1) at once, released together to maximise
// contention, and reports every error.
func parallel(t *testing.T, f func(i int) error) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			if err := f(i); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}
