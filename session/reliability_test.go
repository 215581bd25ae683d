package session_test

// Reliability scenario 2a, "Logout races", in process: a slow request that
// sets, deletes, changes the expiry or cycles the key of a session races a
// logout (flush) of the same session, on every real store. After both have
// finished no live session may hold the ended session's data: neither the
// old key, nor a new key minted by the slow request once the logout has
// succeeded. The loser answers ErrInterrupted (400 at the handler).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-session/caddy-session/internal/relreport"
	"github.com/caddy-session/caddy-session/internal/testredis"
	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/dbstore"
	"github.com/caddy-session/caddy-session/session/filestore"
	"github.com/caddy-session/caddy-session/session/memstore"
	"github.com/caddy-session/caddy-session/session/redisblob"
	"github.com/caddy-session/caddy-session/session/redisstore"
)

// relStores are the real stores of scenario 2a, each opened for one test.
var relStores = []struct {
	name string
	open func(t *testing.T) session.Store
}{
	{"memory", func(*testing.T) session.Store { return memstore.New() }},
	{"file", func(t *testing.T) session.Store {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s, err := filestore.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"redis", func(t *testing.T) session.Store {
		return redisstore.New(relRedis(t), "rel")
	}},
	{"db", func(t *testing.T) session.Store {
		b, err := dbstore.Open(filepath.Join(t.TempDir(), "db.sqlite3"), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return &blob.Store{Backend: b, Codec: session.JSONCodec{}}
	}},
	{"cache", func(t *testing.T) session.Store {
		b := redisblob.New(relRedis(t), redisblob.CacheKey("djc", 1, redisblob.CacheEngine))
		return &blob.Store{Backend: b, Codec: redisblob.CacheJSONCodec{}}
	}},
}

func relRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testredis.Start(t).Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// delayed is a store as one request sees it: before runs ahead of each of
// the request's writes (Save, Delete, Take), so a test can hold the write
// until the other request has finished, or jitter it.
type delayed struct {
	session.Store
	before func()
}

func (d *delayed) Save(ctx context.Context, key string, c session.Change) (bool, error) {
	d.before()
	return d.Store.Save(ctx, key, c)
}

func (d *delayed) Delete(ctx context.Context, key string) (bool, error) {
	d.before()
	return d.Store.Delete(ctx, key)
}

func (d *delayed) Take(ctx context.Context, key string) (session.Record, bool, error) {
	d.before()
	return d.Store.Take(ctx, key)
}

// slowUpdates are what the slow request answers, in turn.
var slowUpdates = []struct {
	name string
	u    session.Update
}{
	{"set", session.Update{Set: session.Data{"cart": []byte(`2`)}}},
	{"delete", session.Update{Delete: []string{"cart"}}},
	{"expiry", session.Update{Expiry: &session.Expiry{Seconds: 7200}}},
	{"cycle", session.Update{CycleKey: true}},
}

func TestReliabilityLogoutRaces(t *testing.T) {
	trials := relreport.Scale(300, 10000)
	for _, st := range relStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			ctx := t.Context()
			cfg := session.Config{Age: time.Hour}
			plain := &session.Manager{Store: store, Config: cfg}
			r := rand.New(rand.NewPCG(uint64(len(st.name)), 7))
			var resurrections, interruptedSlow, interruptedLogout, slowFirst int
			for i := range trials {
				slow := slowUpdates[i%len(slowUpdates)]
				// Half the trials hold the slow request's write until the
				// logout has committed (the interleaving that resurrects a
				// session without the fix); half let both run freely.
				held := i%2 == 0

				login, err := plain.Commit(ctx, mustLoad(t, plain, ""), &session.Update{Set: session.Data{"user": []byte(`"alice"`), "cart": []byte(`1`)}})
				if err != nil || login.Key == "" {
					t.Fatalf("trial %d: login: %v", i, err)
				}
				key := login.Key

				logoutDone := make(chan struct{})
				var mu sync.Mutex
				slowStore := &delayed{Store: store, before: func() {
					if held {
						<-logoutDone
						return
					}
					mu.Lock()
					j := r.IntN(8)
					mu.Unlock()
					for range j {
						runtime.Gosched()
					}
				}}
				logoutStore := &delayed{Store: store, before: func() {}}
				slowM := &session.Manager{Store: slowStore, Config: cfg}
				logoutM := &session.Manager{Store: logoutStore, Config: cfg}

				slowSess := mustLoad(t, slowM, key)
				logoutSess := mustLoad(t, logoutM, key)
				if slowSess.IsNew() || logoutSess.IsNew() {
					t.Fatalf("trial %d: the logged-in session did not load", i)
				}

				var wg sync.WaitGroup
				var slowRes session.Result
				var slowErr, logoutErr error
				wg.Add(2)
				go func() {
					defer wg.Done()
					u := slow.u
					slowRes, slowErr = slowM.Commit(ctx, slowSess, &u)
				}()
				go func() {
					defer wg.Done()
					defer close(logoutDone)
					if !held {
						mu.Lock()
						j := r.IntN(8)
						mu.Unlock()
						for range j {
							runtime.Gosched()
						}
					}
					_, logoutErr = logoutM.Commit(ctx, logoutSess, &session.Update{Flush: true})
				}()
				wg.Wait()

				for who, err := range map[string]error{"slow " + slow.name: slowErr, "logout": logoutErr} {
					if err != nil && !errors.Is(err, session.ErrInterrupted) {
						t.Fatalf("trial %d: %s: %v, want nil or ErrInterrupted", i, who, err)
					}
				}
				if slowErr != nil {
					interruptedSlow++
				}
				if logoutErr != nil {
					interruptedLogout++
					if held {
						t.Fatalf("trial %d: the logout ran first and was interrupted: %v", i, logoutErr)
					}
				}
				if slowErr == nil && !held {
					slowFirst++
				}

				// Resurrection: the old key live, or the logout succeeded and
				// a key the slow request minted holds the login.
				var live []string
				if _, ok := loadRec(t, store, key); ok {
					live = append(live, "the old key")
				}
				if logoutErr == nil && slowErr == nil && slowRes.Key != "" && slowRes.Key != key {
					if _, ok := loadRec(t, store, slowRes.Key); ok {
						live = append(live, "the slow request's new key")
					}
				}
				if len(live) > 0 {
					resurrections++
					t.Errorf("trial %d (%s, held %v): after the logout %v still live (slow: %v, logout: %v)", i, slow.name, held, live, slowErr, logoutErr)
				}
				// Tidy a session cycled before the logout came (not a
				// resurrection: the logout lost and answered 400).
				if slowRes.Key != "" && slowRes.Key != key {
					_, _ = store.Delete(ctx, slowRes.Key)
				}
			}
			relreport.Record(t, relreport.Figure{
				Scenario: "2. Logout races", Name: fmt.Sprintf("resurrections, %d in-process trials, %s", trials, st.name),
				Value: resurrections, Unit: "sessions", Goal: "0", Met: relreport.Met(resurrections == 0),
				Note: "session.Manager on the real store; a slow set/delete/expiry/cycle_key races a flush, its writes held until the logout committed (half) or jittered (half); counted when the old key, or a key the slow request minted after a successful logout, is still live",
			})
			relreport.Record(t, relreport.Figure{
				Scenario: "2. Logout races", Name: fmt.Sprintf("losers answering ErrInterrupted (400), %d in-process trials, %s", trials, st.name),
				Value: interruptedSlow + interruptedLogout, Unit: "requests",
				Note: fmt.Sprintf("slow request interrupted %d times, logout interrupted %d times (a cycle_key that won the race); the slow request won %d free-running trials", interruptedSlow, interruptedLogout, slowFirst),
			})
		})
	}
}

func mustLoad(t *testing.T, m *session.Manager, key string) *session.Session {
	t.Helper()
	s, err := m.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func loadRec(t *testing.T, s session.Store, key string) (session.Record, bool) {
	t.Helper()
	rec, ok, err := s.Load(t.Context(), key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec, ok && len(rec.Data) > 0
}
