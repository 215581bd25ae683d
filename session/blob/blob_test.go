package blob_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/blob"
	"github.com/caddy-session/caddy-session/session/storetest"
)

// lockedMap is the simplest Backend: a map under a mutex, its Modify a
// critical section. It exercises the Store's delta logic; the real
// backends (db, redis, file) run the same suite in their own packages.
type lockedMap struct {
	mu sync.Mutex
	m  map[string]blob.Value
}

func (b *lockedMap) Read(_ context.Context, key string) (blob.Value, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[key]
	return v, ok, nil
}

func (b *lockedMap) Modify(_ context.Context, key string, fn blob.ModifyFunc) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.m[key]
	op, err := fn(cur, ok)
	if err != nil {
		return err
	}
	switch op.Kind {
	case blob.Put:
		b.m[key] = op.Value
	case blob.Remove:
		delete(b.m, key)
	}
	return nil
}

func TestConformance(t *testing.T) {
	s := &blob.Store{Backend: &lockedMap{m: map[string]blob.Value{}}, Codec: session.JSONCodec{}}
	storetest.Run(t, func(*testing.T) session.Store { return s })
}

// A value the codec rejects is no session, reported as a security event,
// and never overwritten by an update (the key is gone as far as a request
// is concerned).
func TestBadValueIsNoSession(t *testing.T) {
	b := &lockedMap{m: map[string]blob.Value{}}
	var reported []error
	s := &blob.Store{Backend: b, Codec: session.JSONCodec{}, OnBadValue: func(err error) { reported = append(reported, err) }}
	key := session.NewKey()
	b.m[key] = blob.Value{Data: []byte("not json"), ExpiresAt: time.Now().Add(time.Hour)}
	if _, ok, err := s.Load(context.Background(), key); ok || err != nil {
		t.Fatalf("Load of a rejected value = %v, %v; want not found", ok, err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], session.ErrBadValue) {
		t.Fatalf("reported %v; want one ErrBadValue", reported)
	}
	_, err := s.Save(context.Background(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"a": []byte("1")}})
	if !errors.Is(err, session.ErrGone) {
		t.Fatalf("Save(update) over a rejected value: %v; want ErrGone", err)
	}
}

// Values dated by modification time (Django's file engine) expire after
// the age, or after their own _session_expiry seconds.
func TestExpiryFromModTime(t *testing.T) {
	b := &lockedMap{m: map[string]blob.Value{}}
	s := &blob.Store{Backend: b, Codec: session.JSONCodec{}, Age: time.Hour}
	now := time.Now()
	for _, tc := range []struct {
		data string
		mod  time.Time
		live bool
	}{
		{`{"a":1}`, now.Add(-30 * time.Minute), true},
		{`{"a":1}`, now.Add(-90 * time.Minute), false},
		{`{"a":1,"_session_expiry":60}`, now.Add(-30 * time.Second), true},
		{`{"a":1,"_session_expiry":60}`, now.Add(-90 * time.Second), false},
		{`{"a":1,"_session_expiry":"` + session.FormatTime(now.Add(time.Hour)) + `"}`, now.Add(-10 * time.Hour), true},
	} {
		key := session.NewKey()
		b.m[key] = blob.Value{Data: []byte(tc.data), ModTime: tc.mod}
		if _, ok, _ := s.Load(context.Background(), key); ok != tc.live {
			t.Errorf("%s modified %v ago: live = %v, want %v", tc.data, now.Sub(tc.mod).Round(time.Second), ok, tc.live)
		}
	}
}

func newCached() (*blob.Cached, *lockedMap, *lockedMap) {
	db := &lockedMap{m: map[string]blob.Value{}}
	cache := &lockedMap{m: map[string]blob.Value{}}
	return &blob.Cached{
		DB:         &blob.Store{Backend: db, Codec: session.JSONCodec{}},
		Cache:      cache,
		CacheCodec: session.JSONCodec{},
	}, db, cache
}

func TestCachedConformance(t *testing.T) {
	c, _, _ := newCached()
	storetest.Run(t, func(*testing.T) session.Store { return c })
}

// Reads fill the cache; writes go to the database and empty the cache, so
// the next read sees the write; an ended session is marked ended in the
// cache, so a read that loaded the database before the end cannot put it
// back.
func TestCachedReadsAndEnds(t *testing.T) {
	ctx := context.Background()
	c, db, cache := newCached()
	key := session.NewKey()
	exp := time.Now().Add(time.Hour)
	if _, err := c.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.m[key]; ok {
		t.Fatal("a save filled the cache; only reads should")
	}
	if _, ok, err := c.Load(ctx, key); !ok || err != nil {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	if _, ok := cache.m[key]; !ok {
		t.Fatal("a read did not fill the cache")
	}
	// Served from the cache: the database copy is not consulted.
	delete(db.m, key)
	if _, ok, _ := c.Load(ctx, key); !ok {
		t.Fatal("a cached session was not served from the cache")
	}
	db.m[key] = cache.m[key]

	if _, err := c.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte(`2`)}}); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := c.Load(ctx, key)
	if string(rec.Data["b"]) != "2" {
		t.Fatalf("read after a write = %s; want the write", rec.Data)
	}

	if ok, err := c.Delete(ctx, key); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	// A read that loaded the database before the delete now tries to fill
	// the cache: it must not succeed.
	stale, _ := session.JSONCodec{}.Encode(session.Data{"a": []byte(`1`)})
	_ = cache.Modify(ctx, key, func(_ blob.Value, exists bool) (blob.Op, error) {
		if exists {
			return blob.Op{Kind: blob.Keep}, nil
		}
		return blob.Op{Kind: blob.Put, Value: blob.Value{Data: stale, ExpiresAt: exp}}, nil
	})
	if _, ok, _ := c.Load(ctx, key); ok {
		t.Fatal("an ended session came back through a late cache fill")
	}
}
