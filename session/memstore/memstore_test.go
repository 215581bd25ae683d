package memstore_test

import (
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
	"github.com/caddy-session/caddy-session/session/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return memstore.New() })
}

func TestPurge(t *testing.T) {
	s := memstore.New()
	ctx := t.Context()
	now := time.Now()
	keys := map[string]time.Duration{
		session.NewKey(): time.Minute,
		session.NewKey(): 2 * time.Minute,
		session.NewKey(): time.Hour,
	}
	for key, age := range keys {
		c := session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: now.Add(age)}
		if _, err := s.Save(ctx, key, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Purge(now); n != 0 {
		t.Fatalf("Purge(now) removed %d; want 0", n)
	}
	if n := s.Purge(now.Add(2 * time.Minute)); n != 2 {
		t.Fatalf("Purge(now+2m) removed %d; want 2", n)
	}
	for key, age := range keys {
		_, ok, err := s.Load(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if want := age > 2*time.Minute; ok != want {
			t.Errorf("session aged %v: found = %v; want %v", age, ok, want)
		}
	}
	if n := s.Purge(now.Add(2 * time.Minute)); n != 0 {
		t.Fatalf("second Purge removed %d; want 0", n)
	}
}

func TestUserIndex(t *testing.T) {
	storetest.RunUserIndex(t, func(t *testing.T) session.UserIndexer {
		ix, err := memstore.New().WithUserIndex(storetest.UserField)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

// The store keeps only values that are JSON in UTF-8 (it is a
// session.CheckedValues, whose values the token then embeds unchecked): a
// Save of any other is refused whole, and nothing of it is stored.
func TestSaveRefusesValuesThatAreNotJSON(t *testing.T) {
	s := memstore.New()
	key := session.NewKey()
	later := time.Now().Add(time.Hour)
	if _, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`1,"sid":"forged"`, `{"a":`, "\"\xff\""} {
		_, err := s.Save(t.Context(), key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"ok": []byte(`2`), "b": []byte(v)}, ExpiresAt: later})
		if err == nil {
			t.Errorf("Save of %q: no error", v)
		}
	}
	rec, ok, err := s.Load(t.Context(), key)
	if err != nil || !ok || len(rec.Data) != 1 || string(rec.Data["a"]) != `1` {
		t.Errorf("after refused saves: %v %v %q", ok, err, rec.Data)
	}
	if !s.ValuesChecked() {
		t.Error("memstore does not say it checks values")
	}
}
