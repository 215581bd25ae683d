package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
)

// runRevocation is RunUserIndex's part for session.Revoker: a revocation
// or an eviction that runs while cycle_key has taken a session and not yet
// stored it under its new key ends that session too.
func runRevocation(t *testing.T, open func(t *testing.T) session.UserIndexer) {
	t.Run("Revocation", func(t *testing.T) {
		if _, ok := open(t).(session.Revoker); !ok {
			t.Fatal("the store indexes users but is no session.Revoker: a revocation may lose to a concurrent cycle_key")
		}

		// cycle_key as Manager.Commit runs it: take the old key, then
		// store the data under a new one, in one tracking context.
		cycle := func(s session.UserIndexer, old, key string) error {
			ctx := session.TrackTakes(context.Background())
			rec, ok, err := s.Take(ctx, old)
			if err != nil || !ok {
				return errors.Join(err, session.ErrInterrupted)
			}
			_, err = s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt})
			return err
		}

		t.Run("DuringCycleKey", func(t *testing.T) {
			s, user := open(t).(session.Revoker), newUser()
			old, key := session.NewKey(), session.NewKey()
			create(t, s, old, owned(user))
			ctx := session.TrackTakes(t.Context())
			rec, ok, err := s.Take(ctx, old)
			if err != nil || !ok {
				t.Fatalf("Take = %v, %v", ok, err)
			}
			if n, err := session.RevokeUser(t.Context(), s, user); err != nil || n != 0 {
				t.Fatalf("RevokeUser = %d, %v; want 0 (the session is in flight)", n, err)
			}
			_, err = s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt})
			if !errors.Is(err, session.ErrRevoked) || !errors.Is(err, session.ErrInterrupted) {
				t.Fatalf("storing the taken session after the revocation: %v; want ErrRevoked", err)
			}
			// Nor can it be put back under its old key.
			_, err = s.Save(ctx, old, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt})
			if !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("restoring the taken session after the revocation: %v; want ErrRevoked", err)
			}
			assertListed(t, s, user)
			assertMissing(t, s, key)
			assertMissing(t, s, old)
		})

		t.Run("DuringFlush", func(t *testing.T) {
			// flush as Manager.Commit runs it when the same response logs
			// the user in again (Django's login after a flush): Delete the
			// old key, then create a new session of the user.
			s, user := open(t).(session.Revoker), newUser()
			old, key := session.NewKey(), session.NewKey()
			create(t, s, old, owned(user))
			ctx := session.TrackTakes(t.Context())
			if ok, err := s.Delete(ctx, old); err != nil || !ok {
				t.Fatalf("Delete = %v, %v", ok, err)
			}
			if n, err := session.RevokeUser(t.Context(), s, user); err != nil || n != 0 {
				t.Fatalf("RevokeUser = %d, %v; want 0 (the session is in flight)", n, err)
			}
			_, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: owned(user), ExpiresAt: later()})
			if !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("storing the flushed user's new session after the revocation: %v; want ErrRevoked", err)
			}
			assertListed(t, s, user)
			assertMissing(t, s, key)
		})

		t.Run("LoginAfterRevocation", func(t *testing.T) {
			// A login after the revocation is a new session: it is stored,
			// listed, and cycles its key as any other.
			s, user := open(t).(session.Revoker), newUser()
			create(t, s, session.NewKey(), owned(user))
			if n, err := session.RevokeUser(t.Context(), s, user); err != nil || n != 1 {
				t.Fatalf("RevokeUser = %d, %v; want 1", n, err)
			}
			old, key := session.NewKey(), session.NewKey()
			create(t, s, old, owned(user))
			if err := cycle(s, old, key); err != nil {
				t.Fatalf("cycle_key of a login after the revocation: %v", err)
			}
			assertListed(t, s, user, key)
			mustLoad(t, s, key)
		})

		t.Run("CycleKeyKeepsTheAge", func(t *testing.T) {
			s, user := open(t).(session.Revoker), newUser()
			old, key := session.NewKey(), session.NewKey()
			create(t, s, old, owned(user))
			created := listed(t, s, user)[0].Created
			waitPast(created)
			if err := cycle(s, old, key); err != nil {
				t.Fatal(err)
			}
			if got := assertListed(t, s, user, key)[0].Created; !got.Equal(created) {
				t.Fatalf("cycle_key made the session %v old; want the login's %v", got, created)
			}
		})

		t.Run("EvictionDuringCycleKey", func(t *testing.T) {
			// max 2: a, then b, then a login c while a is in flight: a is
			// the oldest of three and must not come back.
			s, user := open(t).(session.Revoker), newUser()
			a, b, c, moved := session.NewKey(), session.NewKey(), session.NewKey(), session.NewKey()
			for _, k := range []string{a, b} {
				create(t, s, k, owned(user))
				list := listed(t, s, user)
				waitPast(list[len(list)-1].Created)
			}
			ctx := session.TrackTakes(t.Context())
			rec, ok, err := s.Take(ctx, a)
			if err != nil || !ok {
				t.Fatalf("Take = %v, %v", ok, err)
			}
			create(t, s, c, owned(user))
			if _, err := session.EvictOldest(t.Context(), s, user, c, 2); err != nil {
				t.Fatal(err)
			}
			_, err = s.Save(ctx, moved, session.Change{Mode: session.ModeCreate, Set: rec.Data, ExpiresAt: rec.ExpiresAt})
			if !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("storing the oldest session after the eviction: %v; want ErrRevoked", err)
			}
			assertListed(t, s, user, b, c)
		})

		t.Run("RacingCycleKeys", func(t *testing.T) {
			// Each round: a revocation against a cycle_key of the user's
			// session. Whichever wins, nothing of the user is left.
			s := open(t).(session.Revoker)
			for round := range 20 {
				user, old, key := newUser(), session.NewKey(), session.NewKey()
				create(t, s, old, owned(user))
				var wg sync.WaitGroup
				var cerr, rerr error
				start := make(chan struct{})
				wg.Go(func() { <-start; cerr = cycle(s, old, key) })
				wg.Go(func() { <-start; _, rerr = session.RevokeUser(t.Context(), s, user) })
				close(start)
				wg.Wait()
				if rerr != nil || (cerr != nil && !errors.Is(cerr, session.ErrInterrupted)) {
					t.Fatalf("round %d: revoke %v, cycle_key %v", round, rerr, cerr)
				}
				assertListed(t, s, user)
				assertMissing(t, s, old)
				assertMissing(t, s, key)
			}
		})
	})
}

// waitPast waits until the clock is past stamp by a millisecond, the
// resolution of the stores' stamps.
func waitPast(stamp time.Time) {
	for !time.Now().After(stamp.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
}
