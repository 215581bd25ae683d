package memstore_test

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-session/caddy-session/session"
	"github.com/caddy-session/caddy-session/session/memstore"
)

// deepCopy copies d and every value, to compare against later.
func deepCopy(d session.Data) session.Data {
	out := make(session.Data, len(d))
	for k, v := range d {
		out[k] = slices.Clone(v)
	}
	return out
}

func equalData(a, b session.Data) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return string(x) == string(y) })
}

// LoadAt hands out the stored map itself (no copy): that is only sound
// while no update of any kind writes into a map a load handed out. Each
// kind of update, through the Manager as the handler commits it, leaves
// the map an earlier load holds exactly as it was.
func TestLoadedMapIsNeverWritten(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		cfg  session.Config
		u    session.Update
	}{
		{"set", session.Config{}, session.Update{Set: session.Data{"a": []byte(`"changed"`), "new": []byte(`1`)}}},
		{"set checked", session.Config{}, session.Update{Set: session.Data{"a": []byte(`"changed"`)}, Checked: true}},
		{"delete", session.Config{}, session.Update{Delete: []string{"a"}}},
		{"delete all", session.Config{}, session.Update{Delete: []string{"a", "n", "user"}}},
		{"incr", session.Config{}, session.Update{Incr: map[string]int64{"n": 5}}},
		{"incr of a set field", session.Config{}, session.Update{Set: session.Data{"n": []byte(`10`)}, Incr: map[string]int64{"n": 1}}},
		{"clear", session.Config{}, session.Update{Clear: true, Set: session.Data{"b": []byte(`2`)}}},
		{"clear all", session.Config{}, session.Update{Clear: true}},
		{"flush", session.Config{}, session.Update{Flush: true, Set: session.Data{"b": []byte(`2`)}}},
		{"cycle key", session.Config{}, session.Update{CycleKey: true, Set: session.Data{"a": []byte(`3`)}}},
		{"expiry", session.Config{}, session.Update{Expiry: &session.Expiry{Seconds: 60}}},
		{"expiry default", session.Config{}, session.Update{Expiry: &session.Expiry{Default: true}}},
		{"save every request", session.Config{SaveEveryRequest: true}, session.Update{}},
		{"timeouts touch", session.Config{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, session.Update{}},
		{"timeouts set", session.Config{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, session.Update{Set: session.Data{"a": []byte(`4`)}}},
		{"size limit refused", session.Config{MaxSize: 60}, session.Update{Set: session.Data{"big": []byte(`"0123456789012345678901234567890123456789"`)}}},
		{"logout all", session.Config{UserKey: "user"}, session.Update{LogoutAll: true}},
		{"logout others", session.Config{UserKey: "user"}, session.Update{LogoutOthers: true, Set: session.Data{"a": []byte(`5`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Age = time.Hour
			var store session.Store = memstore.New()
			if cfg.UserKey != "" {
				ix, err := memstore.New().WithUserIndex(cfg.UserKey)
				if err != nil {
					t.Fatal(err)
				}
				store = ix
			}
			m := &session.Manager{Store: store, Config: cfg}
			fresh, err := m.Load(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Commit(ctx, fresh, &session.Update{Set: session.Data{"a": []byte(`"x"`), "n": []byte(`1`), "user": []byte(`"7"`)}})
			if err != nil {
				t.Fatal(err)
			}
			// Two loads of the session, as two concurrent requests hold it:
			// one commits, the other's map must not move.
			held, err := m.Load(ctx, res.Key)
			if err != nil || held.IsNew() {
				t.Fatalf("load: %v, new %v", err, held.IsNew())
			}
			s, err := m.Load(ctx, res.Key)
			if err != nil {
				t.Fatal(err)
			}
			before := deepCopy(held.Data())
			u := tc.u
			m.Commit(ctx, s, &u) // refused or not: nothing may write into a loaded map
			if !equalData(held.Data(), before) {
				t.Errorf("a %s update wrote into a loaded map: %q, was %q", tc.name, held.Data(), before)
			}
			if !equalData(s.Data(), before) {
				t.Errorf("a %s update wrote into its own session's loaded map: %q, was %q", tc.name, s.Data(), before)
			}
		})
	}
}

// The race detector's view of the same rule: loads that read every byte
// of what they were handed, while updates of every field run. A Save that
// wrote into a stored map, or a value a map shares, is a data race here
// (go test -race).
func TestLoadAtRacesNoWriter(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	key := session.NewKey()
	later := time.Now().Add(time.Hour)
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`"aaaa"`), "n": []byte(`0`)}, ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec, ok, err := s.LoadAt(ctx, key, time.Now())
				if err != nil || !ok {
					t.Errorf("LoadAt: %v %v", ok, err)
					return
				}
				n := 0
				for k, v := range rec.Data {
					n += len(k)
					for _, b := range v {
						n += int(b)
					}
				}
				_ = n
			}
		})
	}
	set := session.Data{"a": []byte(`"bbbb"`)}
	for i := range 300 {
		var c session.Change
		switch i % 4 {
		case 0:
			c = session.Change{Mode: session.ModeUpdate, Set: set}
		case 1:
			c = session.Change{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1}}
		case 2:
			c = session.Change{Mode: session.ModeUpdate, Delete: []string{"a"}, Set: session.Data{"b": []byte(`1`)}}
		case 3:
			c = session.Change{Mode: session.ModeReplace, Set: session.Data{"a": []byte(`"cccc"`), "n": []byte(`0`)}, ExpiresAt: later, Checked: true}
		}
		if _, err := s.Save(ctx, key, c); err != nil {
			t.Fatal(err)
		}
		// The caller's Set is the caller's: writing into it after the
		// Save must not reach what loads see.
		set["a"][1] = 'z'
		set["a"][1] = 'b'
	}
	close(stop)
	wg.Wait()
}

// LoadAt judges expiry at the caller's instant, not the store's clock,
// and hands out the stored map with no allocation; Load still gives a
// copy the caller owns.
func TestLoadAt(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	key := session.NewKey()
	exp := time.Now().Add(time.Hour)
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LoadAt(ctx, key, exp.Add(-time.Second)); !ok {
		t.Error("LoadAt a second before expiry: not found")
	}
	if _, ok, _ := s.LoadAt(ctx, key, exp); ok {
		t.Error("LoadAt at expiry: found")
	}
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		if _, ok, _ := s.LoadAt(ctx, key, now); !ok {
			t.Fatal("not found")
		}
	}); n != 0 {
		t.Errorf("LoadAt allocates %v times; want 0 (no copy)", n)
	}
	a, _, _ := s.LoadAt(ctx, key, now)
	b, _, _ := s.Load(ctx, key)
	b.Data["a"][0] = '2'
	if string(a.Data["a"]) != `1` {
		t.Errorf("writing into Load's copy reached the stored map: %q", a.Data["a"])
	}
}

// A Change marked Checked skips the store's JSON check (the update
// parser made it); any other Change is still checked, and one with a
// value that is not JSON is refused whole.
func TestSaveChecksUncheckedChanges(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	key := session.NewKey()
	later := time.Now().Add(time.Hour)
	bad := session.Data{"a": []byte(`1,"sid":"forged"`)}
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: bad, ExpiresAt: later}); err == nil {
		t.Error("an unchecked create with a value that is not JSON was stored")
	}
	if _, ok, _ := s.Load(ctx, key); ok {
		t.Error("the refused create left a session")
	}
	// Through the Manager: an Update that no parser checked is checked.
	m := &session.Manager{Store: s, Config: session.Config{Age: time.Hour}}
	fresh, _ := m.Load(ctx, "")
	if _, err := m.Commit(ctx, fresh, &session.Update{Set: bad}); err == nil {
		t.Error("an unchecked Update with a value that is not JSON was committed")
	}
	res, err := m.Commit(ctx, fresh, &session.Update{Set: session.Data{"a": []byte(`1`)}})
	if err != nil {
		t.Fatal(err)
	}
	loaded, _ := m.Load(ctx, res.Key)
	if _, err := m.Commit(ctx, loaded, &session.Update{Set: bad}); err == nil {
		t.Error("an unchecked Update of a stored session with a value that is not JSON was committed")
	}
	// What Checked promises is not checked again: this Change breaks the
	// promise on purpose, to see the check skipped.
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`"unchecked"`)}, ExpiresAt: later, Checked: true}); err != nil {
		t.Fatal(err)
	}
	if err := (session.Change{Set: bad, Checked: true}).CheckValues(); err != nil {
		t.Errorf("a Checked change was checked again: %v", err)
	}
}

// LoadAt tells the session's size, measured when it was stored, so that
// a read under max_session_size need not walk the session; it is the
// size of what LoadAt hands out, after every kind of change.
func TestLoadAtKnowsTheSize(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	key := session.NewKey()
	later := time.Now().Add(time.Hour)
	for i, c := range []session.Change{
		{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`"x"`), "n": []byte(`1`)}, ExpiresAt: later},
		{Mode: session.ModeUpdate, Set: session.Data{"b\n": []byte(`[1,2,3]`)}},
		{Mode: session.ModeUpdate, Incr: map[string]int64{"n": 1000}},
		{Mode: session.ModeUpdate, Delete: []string{"a"}},
		{Mode: session.ModeReplace, Set: session.Data{"c": []byte(`{"d":null}`)}, ExpiresAt: later},
	} {
		if _, err := s.Save(ctx, key, c); err != nil {
			t.Fatal(err)
		}
		rec, ok, err := s.LoadAt(ctx, key, time.Now())
		if err != nil || !ok {
			t.Fatalf("change %d: LoadAt %v %v", i, ok, err)
		}
		if want := session.Size(rec.Data); rec.Size != want {
			t.Errorf("change %d: Size %d, want %d", i, rec.Size, want)
		}
	}
}

// A Change whose From is still the stored map stores its View as it is
// (no second copy); one whose From is stale (the session changed since
// its load) is applied to what is stored, View ignored, so a concurrent
// write survives.
func TestSaveTakesTheViewOfAnUnchangedSession(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	key := session.NewKey()
	later := time.Now().Add(time.Hour)
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeCreate, Set: session.Data{"a": []byte(`1`)}, ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	loaded, _, _ := s.LoadAt(ctx, key, time.Now())
	view := session.Data{"a": []byte(`1`), "b": []byte(`2`)}
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"b": []byte(`2`)}, From: loaded.Data, View: view}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.LoadAt(ctx, key, time.Now())
	if !sameMapForTest(got.Data, view) {
		t.Errorf("an unchanged session's View was copied: stored %q", got.Data)
	}
	// Stale: loaded before another write.
	stale := got.Data
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"c": []byte(`3`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, key, session.Change{Mode: session.ModeUpdate, Set: session.Data{"d": []byte(`4`)}, From: stale, View: session.Data{"a": []byte(`1`), "b": []byte(`2`), "d": []byte(`4`)}}); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.LoadAt(ctx, key, time.Now())
	if want := (session.Data{"a": []byte(`1`), "b": []byte(`2`), "c": []byte(`3`), "d": []byte(`4`)}); !equalData(got.Data, want) {
		t.Errorf("a stale View was stored: %q, want %q", got.Data, want)
	}
	// Two requests through the Manager, each setting its own field on
	// the session both loaded: both fields survive.
	m := &session.Manager{Store: s, Config: session.Config{Age: time.Hour}}
	r1, _ := m.Load(ctx, key)
	r2, _ := m.Load(ctx, key)
	for i, r := range []*session.Session{r1, r2} {
		f := []string{"x", "y"}[i]
		if _, err := m.Commit(ctx, r, &session.Update{Set: session.Data{f: []byte(`true`)}, Checked: true}); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ = s.LoadAt(ctx, key, time.Now())
	if string(got.Data["x"]) != "true" || string(got.Data["y"]) != "true" {
		t.Errorf("concurrent requests' fields: %q", got.Data)
	}
}

func sameMapForTest(a, b session.Data) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	a["\x00probe"] = nil // the stored map is never written but by this test
	_, same := b["\x00probe"]
	delete(a, "\x00probe")
	return same
}
