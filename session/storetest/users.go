package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// UserField is the field the index suite keys users by: Django's.
const UserField = "_auth_user_id"

// RunUserIndex is the conformance suite of session.UserIndexer: the index
// lists exactly a user's live sessions through creates, user changes,
// deletes, takes (cycle_key), expiry and concurrent writers. open returns
// the store's view indexed by UserField; every sub-test uses fresh users.
func RunUserIndex(t *testing.T, open func(t *testing.T) session.UserIndexer) {
	t.Run("ListsTheUsersSessions", func(t *testing.T) {
		s, user, other := open(t), newUser(), newUser()
		mine := map[string]time.Time{}
		for i := range 3 {
			key, exp := session.NewKey(), time.Now().Add(time.Duration(i+1)*time.Hour)
			mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: owned(user), ExpiresAt: exp}, true)
			mine[key] = exp
		}
		create(t, s, session.NewKey(), owned(other))
		create(t, s, session.NewKey(), session.Data{"anonymous": raw(`true`)})
		list := listed(t, s, user)
		if len(list) != len(mine) {
			t.Fatalf("UserSessions listed %d sessions; want %d", len(list), len(mine))
		}
		for _, us := range list {
			exp, ok := mine[us.Key]
			if !ok {
				t.Fatal("UserSessions listed a session that is not the user's")
			}
			assertExpiry(t, us.ExpiresAt, exp)
			if us.Created.IsZero() || us.Modified.Before(us.Created) {
				t.Errorf("Created %v, Modified %v: want a creation time no later than the modification", us.Created, us.Modified)
			}
		}
		if !slices.IsSortedFunc(list, func(a, b session.UserSession) int { return a.Created.Compare(b.Created) }) {
			t.Error("UserSessions is not oldest first")
		}
		if n := len(listed(t, s, other)); n != 1 {
			t.Fatalf("the other user has %d sessions listed; want 1", n)
		}
		if n := len(listed(t, s, newUser())); n != 0 {
			t.Fatalf("a user without sessions has %d listed; want 0", n)
		}
	})

	t.Run("NumberAndStringAreOneUser", func(t *testing.T) {
		s, n := open(t), strconv.FormatInt(time.Now().UnixNano(), 10)
		create(t, s, session.NewKey(), session.Data{UserField: raw(n)})
		create(t, s, session.NewKey(), session.Data{UserField: raw(`"` + n + `"`)})
		create(t, s, session.NewKey(), session.Data{UserField: raw(`{"id":` + n + `}`)}) // not a user
		if got := len(listed(t, s, n)); got != 2 {
			t.Fatalf("listed %d sessions of user %s; want 2 (a number and a string)", got, n)
		}
	})

	t.Run("LoginLogoutAndUserChange", func(t *testing.T) {
		s, alice, bob := open(t), newUser(), newUser()
		key := session.NewKey()
		create(t, s, key, session.Data{"cart": raw(`[1]`)})
		assertListed(t, s, alice)
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: owned(alice), ExpiresAt: later()}, true)
		assertListed(t, s, alice, key)
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: owned(bob), ExpiresAt: later()}, true)
		assertListed(t, s, alice)
		assertListed(t, s, bob, key)
		// Saves that do not touch the user keep the session listed, with
		// the new expiry.
		exp := time.Now().Add(3 * time.Hour)
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"cart": raw(`[2]`)}, ExpiresAt: exp}, true)
		list := assertListed(t, s, bob, key)
		assertExpiry(t, list[0].ExpiresAt, exp)
		mustSave(t, s, key, session.Change{Mode: session.ModeUpdate, Delete: []string{UserField}}, true)
		assertListed(t, s, bob)
		mustSave(t, s, key, session.Change{Mode: session.ModeReplace, Set: owned(alice), ExpiresAt: later()}, true)
		assertListed(t, s, alice, key)
		mustSave(t, s, key, session.Change{Mode: session.ModeReplace, Set: session.Data{"x": raw(`1`)}, ExpiresAt: later()}, true)
		assertListed(t, s, alice)
	})

	t.Run("EndsLeaveTheIndex", func(t *testing.T) {
		s, user := open(t), newUser()
		deleted, taken, emptied, past, kept := session.NewKey(), session.NewKey(), session.NewKey(), session.NewKey(), session.NewKey()
		for _, k := range []string{deleted, taken, emptied, past, kept} {
			create(t, s, k, owned(user))
		}
		if ok, err := s.Delete(t.Context(), deleted); err != nil || !ok {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		if _, ok, err := s.Take(t.Context(), taken); err != nil || !ok {
			t.Fatalf("Take = %v, %v", ok, err)
		}
		mustSave(t, s, emptied, session.Change{Mode: session.ModeUpdate, Delete: []string{UserField, "name"}}, false)
		mustSave(t, s, past, session.Change{Mode: session.ModeUpdate, Set: session.Data{"a": raw(`1`)}, ExpiresAt: time.Now().Add(-time.Second)}, false)
		assertListed(t, s, user, kept)
	})

	t.Run("CycleKey", func(t *testing.T) {
		// cycle_key as the session model runs it: take the old key, store
		// the data under a new one.
		s, user := open(t), newUser()
		old := session.NewKey()
		create(t, s, old, owned(user))
		rec, ok, err := s.Take(t.Context(), old)
		if err != nil || !ok {
			t.Fatalf("Take = %v, %v", ok, err)
		}
		key := session.NewKey()
		mustSave(t, s, key, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt}, true)
		assertListed(t, s, user, key)
	})

	t.Run("Expiry", func(t *testing.T) {
		s, user := open(t), newUser()
		short, long := session.NewKey(), session.NewKey()
		expiresAt := time.Now().Add(300 * time.Millisecond)
		mustSave(t, s, short, session.Change{Mode: session.ModeCreate, Set: owned(user), ExpiresAt: expiresAt}, true)
		create(t, s, long, owned(user))
		assertListed(t, s, user, short, long)
		time.Sleep(time.Until(expiresAt) + 200*time.Millisecond)
		assertListed(t, s, user, long)
		assertListed(t, s, user, long) // and once more, after any pruning
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Run("Logins", func(t *testing.T) {
			s, user := open(t), newUser()
			keys := make([]string, workers)
			for i := range keys {
				keys[i] = session.NewKey()
			}
			parallel(t, func(i int) error {
				_, err := s.Save(t.Context(), keys[i], session.Change{Mode: session.ModeCreate, Set: owned(user), ExpiresAt: later()})
				return err
			})
			assertListed(t, s, user, keys...)
		})

		t.Run("CycleKeys", func(t *testing.T) {
			s, user := open(t), newUser()
			olds, news := make([]string, workers), make([]string, workers)
			for i := range olds {
				olds[i], news[i] = session.NewKey(), session.NewKey()
				create(t, s, olds[i], owned(user))
			}
			parallel(t, func(i int) error {
				rec, ok, err := s.Take(t.Context(), olds[i])
				if err != nil || !ok {
					return fmt.Errorf("Take = %v, %v", ok, err)
				}
				_, err = s.Save(t.Context(), news[i], session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt})
				return err
			})
			assertListed(t, s, user, news...)
		})

		t.Run("UserChanges", func(t *testing.T) {
			// Writers give one session to different users: it ends listed
			// under exactly the user it holds.
			s, key := open(t), session.NewKey()
			create(t, s, key, session.Data{"a": raw(`1`)})
			users := make([]string, workers)
			for i := range users {
				users[i] = newUser()
			}
			parallel(t, func(i int) error {
				_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: owned(users[i]), ExpiresAt: later()})
				return err
			})
			final, ok := session.UserOf(mustLoad(t, s, key).Data, UserField)
			if !ok {
				t.Fatal("the session holds no user")
			}
			for _, u := range users {
				if u == final {
					assertListed(t, s, u, key)
				} else {
					assertListed(t, s, u)
				}
			}
		})

		t.Run("RevokeRacingWrites", func(t *testing.T) {
			// Saves racing a revocation either finish first (and are
			// revoked) or find the session gone; none brings it back.
			s, user := open(t), newUser()
			keys := make([]string, workers/2)
			for i := range keys {
				keys[i] = session.NewKey()
				create(t, s, keys[i], owned(user))
			}
			parallel(t, func(i int) error {
				if i == 0 {
					_, err := session.RevokeUser(t.Context(), s, user)
					return err
				}
				_, err := s.Save(t.Context(), keys[i%len(keys)], session.Change{Mode: session.ModeUpdate, Set: session.Data{"n": raw(strconv.Itoa(i))}, ExpiresAt: later()})
				if errors.Is(err, session.ErrGone) {
					return nil
				}
				return err
			})
			assertListed(t, s, user)
			for _, k := range keys {
				assertMissing(t, s, k)
			}
		})
	})

	t.Run("RevokeUser", func(t *testing.T) {
		s, user, other := open(t), newUser(), newUser()
		for range 3 {
			create(t, s, session.NewKey(), owned(user))
		}
		keep := session.NewKey()
		create(t, s, keep, owned(other))
		n, err := session.RevokeUser(t.Context(), s, user)
		if err != nil || n != 3 {
			t.Fatalf("RevokeUser = %d, %v; want 3", n, err)
		}
		assertListed(t, s, user)
		assertListed(t, s, other, keep)
		mustLoad(t, s, keep)
	})

	t.Run("EvictOldest", func(t *testing.T) {
		s, user := open(t), newUser()
		var keys []string
		for range 5 {
			key := session.NewKey()
			create(t, s, key, owned(user))
			keys = append(keys, key)
			// Distinct creation times, whatever the store's resolution
			// (milliseconds): wait for the clock to move past the stamp.
			list := listed(t, s, user)
			stamp := list[len(list)-1].Created
			for !time.Now().After(stamp.Add(time.Millisecond)) {
				time.Sleep(time.Millisecond)
			}
		}
		// The oldest session is the one logging in: it is kept whatever
		// its stamp, and the newest of the others with it.
		ended, err := session.EvictOldest(t.Context(), s, user, keys[0], 2)
		if err != nil || len(ended) != 3 {
			t.Fatalf("EvictOldest ended %d, %v; want 3", len(ended), err)
		}
		if want := slices.Sorted(slices.Values(keys[1:4])); !slices.Equal(slices.Sorted(slices.Values(ended)), want) {
			t.Fatal("EvictOldest ended other sessions than the 3 oldest but the kept one")
		}
		assertListed(t, s, user, keys[0], keys[4])
		for _, k := range keys[1:4] {
			assertMissing(t, s, k)
		}
	})

	runRevocation(t, open) // revoke.go
}

var userSeq struct {
	sync.Mutex
	n int
}

// newUser returns a user no other test uses, also across runs on a shared
// store.
func newUser() string {
	userSeq.Lock()
	defer userSeq.Unlock()
	userSeq.n++
	return fmt.Sprintf("u%d-%s", userSeq.n, session.NewKey()[:8])
}

func owned(user string) session.Data {
	return session.Data{UserField: raw(strconv.Quote(user)), "name": raw(`"x"`)}
}

func listed(t *testing.T, s session.UserIndexer, user string) []session.UserSession {
	t.Helper()
	list, err := s.UserSessions(t.Context(), user)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	return list
}

// assertListed checks that exactly keys are listed for user.
func assertListed(t *testing.T, s session.UserIndexer, user string, keys ...string) []session.UserSession {
	t.Helper()
	list := listed(t, s, user)
	var got []string
	for _, us := range list {
		got = append(got, us.Key)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		t.Fatalf("user's sessions: listed %d, want %d (listed-not-wanted %d, wanted-not-listed %d)", len(got), len(want), len(diff(got, want)), len(diff(want, got)))
	}
	return list
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
